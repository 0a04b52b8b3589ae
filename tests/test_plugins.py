"""The plugin manager: built-ins through the hooks, clashes, unknown names, broken plugins."""

from __future__ import annotations

import types

import pytest
from torch import nn

from atr_bench import hookimpl
from atr_bench.cli.main import main
from atr_bench.components.poolings.simple import MeanPooling
from atr_bench.errors import AtrBenchError
from atr_bench.plugins import registry as plugins
from atr_bench.plugins.contract import Pooling, TextEncoder
from atr_bench.plugins.registry import KINDS, Origin, Registry, load_registry
from atr_bench.plugins.specs import ExtractorSpec, PoolingSpec, TextEncoderSpec


def _module(name: str, **hooks) -> tuple[types.ModuleType, Origin]:
    module = types.ModuleType(name)
    for hook, value in hooks.items():
        setattr(module, hook, hookimpl(value))
    return module, Origin(name, f"dist-{name}", "1.0")


def _pooling(name: str) -> PoolingSpec:
    return PoolingSpec(name=name, description=f"{name} pooling", build=lambda in_dim: None)


def test_builtins_register_through_the_hooks():
    reg = load_registry()
    poolings = {f.spec.name for f in reg.all("pooling")}
    assert {"mean", "max", "lstm", "transformer", "netvlad", "netrvlad"} <= poolings
    assert reg.find("extractor", "lms").origin.distribution == "atr-bench"
    assert reg.find("dataset", "synthcaps").origin.plugin == "atr_bench.datasets"
    assert {"word2vec", "w2v"} <= {f.spec.name for f in reg.all("text_encoder")}


def test_builtins_load_from_their_tuple_without_an_install_and_ignore_the_filter(monkeypatch):
    """Built-ins are the modules of ``BUILTINS`` (hooks as a third party implements them),
    loaded with no package metadata at all (a source tree that is not installed), and a
    filter that names only other plugins still loads them."""
    assert {m.__name__ for m, _ in plugins._builtin_modules()} == set(plugins.BUILTINS.values())
    monkeypatch.setattr(plugins, "entry_points", lambda group: [])  # nothing installed
    monkeypatch.setenv("ATR_BENCH_PLUGINS", "")
    reg = load_registry()
    assert reg.find("protocol", "lou2022").origin.plugin == "atr_bench.protocols"
    assert {"mean", "max", "lstm", "transformer", "netvlad", "netrvlad"} <= {
        f.spec.name for f in reg.all("pooling")
    }
    assert reg.find("extractor", "lms").origin.distribution == "atr-bench"
    assert not reg.failures


def test_spec_kinds_are_the_registry_kinds():
    assert {kind: spec_type.kind for kind, (_, spec_type) in KINDS.items()} == {k: k for k in KINDS}
    word2vec = load_registry().find("text_encoder", "word2vec").spec
    with pytest.raises(AtrBenchError, match=r"^text encoder 'word2vec' has no option 'nope'"):
        word2vec.resolve_options({"nope": "1"})


def test_what_build_returns_is_checked_against_the_contract():
    mean = PoolingSpec(name="m", description="mean", build=MeanPooling).create(4)
    assert isinstance(mean, Pooling) and mean.out_dim == 4
    bare = PoolingSpec(name="bare", description="no out_dim", build=lambda in_dim: nn.Identity())
    lacks = r"^pooling 'bare': build returned Identity, which lacks out_dim \(the Pooling protocol"
    with pytest.raises(AtrBenchError, match=lacks):
        bare.create(4)
    mute = TextEncoderSpec(name="mute", description="nothing", build=lambda: object())
    lacks = r"'mute': build returned object, which lacks dim, encode"
    with pytest.raises(AtrBenchError, match=lacks):
        mute.create()
    assert not isinstance(object(), TextEncoder)


def test_unknown_name_lists_the_known_ones():
    reg = Registry([_module("a", atr_bench_poolings=lambda: [_pooling("p1"), _pooling("p2")])])
    with pytest.raises(AtrBenchError, match=r"unknown pooling 'nosuch'; known: p1, p2"):
        reg.find("pooling", "nosuch")


def test_name_clash_names_both_plugins_and_spares_the_rest():
    reg = Registry(
        [
            _module("one", atr_bench_poolings=lambda: [_pooling("same"), _pooling("mine")]),
            _module("two", atr_bench_poolings=lambda: [_pooling("same"), _pooling("yours")]),
            _module("three", atr_bench_poolings=lambda: [_pooling("same")]),
        ]
    )
    assert [f.spec.name for f in reg.all("pooling")] == ["mine", "yours"]
    with pytest.raises(AtrBenchError, match=r"'same' is defined by two plugins, 'one' and 'two'"):
        reg.find("pooling", "same")
    assert [f.plugin for f in reg.failures] == ["two"]


def test_hook_returning_wrong_type_is_reported_not_fatal():
    good = _module("good", atr_bench_poolings=lambda: [_pooling("fine")])
    bad = _module("bad", atr_bench_poolings=lambda: ["not a spec"])
    wrong_kind = _module(
        "wrong",
        atr_bench_poolings=lambda: [
            ExtractorSpec(name="x", description="x", build=lambda **_: None)
        ],
    )
    reg = Registry([good, bad, wrong_kind])
    assert [f.spec.name for f in reg.all("pooling")] == ["fine"]
    assert {f.plugin for f in reg.failures} == {"bad", "wrong"}


def test_hook_that_raises_is_reported():
    def boom():
        raise RuntimeError("no GPU driver")

    reg = Registry([_module("boom", atr_bench_poolings=boom)])
    assert reg.all("pooling") == []
    assert "no GPU driver" in reg.failures[0].reason


class _EntryPoint:
    def __init__(self, name: str, target):
        self.name, self.value, self._target, self.dist = name, f"{name}_mod", target, None

    def load(self):
        if isinstance(self._target, Exception):
            raise self._target
        return self._target


def test_broken_entry_point_is_reported_and_others_load(monkeypatch):
    module, _ = _module("ext", atr_bench_poolings=lambda: [_pooling("thirdparty")])
    eps = [
        _EntryPoint("broken", ImportError("No module named 'missing_dep'")),
        _EntryPoint("ok", module),
    ]
    monkeypatch.setattr(plugins, "entry_points", lambda group: eps)
    monkeypatch.delenv(plugins.ENV_FILTER, raising=False)
    reg = load_registry()
    assert reg.find("pooling", "thirdparty").origin.plugin == "ok"
    assert reg.find("pooling", "netrvlad")  # built-ins unaffected
    assert [f.plugin for f in reg.failures] == ["broken"]
    assert "missing_dep" in reg.failures[0].reason


def test_env_filter_restricts_installed_plugins(monkeypatch):
    module, _ = _module("ext", atr_bench_poolings=lambda: [_pooling("thirdparty")])
    broken = _EntryPoint("broken", ImportError("boom"))
    points = [broken, _EntryPoint("ok", module)]
    monkeypatch.setattr(plugins, "entry_points", lambda group: points)
    monkeypatch.setenv(plugins.ENV_FILTER, "ok")
    reg = load_registry()
    assert reg.failures == []
    assert reg.find("pooling", "thirdparty")
    monkeypatch.setenv(plugins.ENV_FILTER, "")
    with pytest.raises(AtrBenchError):
        load_registry().find("pooling", "thirdparty")


GOOD = """
from atr_bench import PoolingSpec, hookimpl
from atr_bench.components.poolings.simple import MeanPooling


class Wrong(MeanPooling):
    def __init__(self, in_dim):
        super().__init__(in_dim)
        self.out_dim = in_dim + 1  # forward returns in_dim: a broken contract


@hookimpl
def atr_bench_poolings():
    return [
        PoolingSpec(name="good_mean", description="fine", build=MeanPooling),
        PoolingSpec(name="wrong_shape", description="out_dim lies", build=Wrong),
    ]
"""
CLASH = """
from atr_bench import PoolingSpec, hookimpl
from atr_bench.components.poolings.simple import MaxPooling


@hookimpl
def atr_bench_poolings():
    return [PoolingSpec(name="mean", description="clashes with the built-in", build=MaxPooling)]
"""
MISSING = "import not_installed_dependency\n"


def test_broken_installed_plugins_are_reported_and_the_rest_run(
    tmp_path, capsys, tiny_data, tiny_args, loose_plugins
):
    for name, source in (("goodplug", GOOD), ("clashplug", CLASH), ("missingplug", MISSING)):
        loose_plugins(name, source)
    assert main(["list"]) == 0
    out = capsys.readouterr()
    assert "good_mean" in out.out and "netrvlad" in out.out
    assert "plugin 'missingplug' not loaded: failed to import missingplug" in out.err
    assert "not_installed_dependency" in out.err
    clash = "pooling name 'mean' is a built-in of atr-bench 0.1.0; clashplug 1.0's pooling"
    assert f"plugin 'clashplug' not loaded: {clash} of that name is not loaded" in out.err
    runs = tmp_path / "runs"
    args = tiny_args(tiny_data, runs, "--pooling", "mean", "--epochs", "1")
    assert main(args) == 0  # the built-in stays in place
    capsys.readouterr()
    wrong = tiny_args(tiny_data, runs, "--pooling", "wrong_shape")
    assert main(wrong) == 2  # stopped by the soundness check before training
    (error,) = capsys.readouterr().err.strip().splitlines()
    assert "audio pooling 'wrong_shape' (plugin 'goodplug', goodplug 1.0) fails" in error
    assert "check(s) shape: in_dim=128: forward returned (3, 128)" in error
    assert main([*wrong, "--allow-unsound"]) == 2  # then by the model, in training
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "audio pooling Wrong returned [32, 128]" in error and "out_dim is 129" in error
    assert main(tiny_args(tiny_data, runs, "--pooling", "good_mean", "--epochs", "1")) == 0


RAISES = """
from atr_bench import PoolingSpec, hookimpl
from atr_bench.components.poolings.simple import MeanPooling


class Raises(MeanPooling):
    def forward(self, x, mask):
        if x.shape[0] > 4:  # a batch as training makes it, larger than the checks' ones
            raise ZeroDivisionError("the plugin divided by zero")
        return super().forward(x, mask)


@hookimpl
def atr_bench_poolings():
    return [PoolingSpec(name="raises", description="fails in training", build=Raises)]
"""


def test_an_exception_from_a_plugins_code_is_one_line_naming_where(
    tmp_path, capsys, tiny_data, tiny_args, loose_plugins
):
    site = loose_plugins("raiseplug", RAISES)
    args = tiny_args(tiny_data, tmp_path / "runs", "--pooling", "raises", "--epochs", "1")
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "ZeroDivisionError" in err
    assert "the plugin divided by zero" in err and f"{site / 'raiseplug.py'}:9" in err
    assert "--debug" in err


def test_a_plugin_that_exits_or_interrupts_at_import_stops_nothing(tmp_path, capsys, loose_plugins):
    loose_plugins("exitplug", "import sys\nsys.exit(3)\n")
    loose_plugins("ctrlcplug", "raise KeyboardInterrupt\n")
    assert main(["list"]) == 0
    out = capsys.readouterr()
    assert "netrvlad" in out.out
    assert "plugin 'exitplug' not loaded: failed to import exitplug: SystemExit(3)" in out.err
    assert "plugin 'ctrlcplug' not loaded" in out.err and "KeyboardInterrupt" in out.err
