"""``atr-bench new-plugin``: the written distributions install, pass their own conformance
tests, show up in ``atr-bench list`` and run the protocol as they are."""

from __future__ import annotations

import json
import subprocess
import sys
import types

import pytest

from atr_bench import hookimpl
from atr_bench.cli.main import main
from atr_bench.dev.scaffold import new_plugin
from atr_bench.errors import AtrBenchError

KINDS = {"pooling": "my_pool", "extractor": "my_frames", "text-encoder": "my_words"}


def test_writes_a_distribution_with_entry_point_and_test(tmp_path, capsys):
    assert main(["new-plugin", "pooling", "my_pool", "--dest", str(tmp_path)]) == 0
    root = tmp_path / "atr-bench-my-pool"
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*.*")) == [
        "README.md",
        "atr_bench_my_pool/__init__.py",
        "atr_bench_my_pool/plugin.py",
        "pyproject.toml",
        "tests/test_my_pool.py",
    ]
    assert (
        '[project.entry-points.atr_bench]\nmy_pool = "atr_bench_my_pool.plugin"'
        in (root / "pyproject.toml").read_text()
    )
    assert "atr-bench run --pooling my_pool" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("kind", "name", "message"),
    [
        ("pooling", "my.pool", "single '_' or '-' between them"),
        ("dataset", "mine", "unknown kind 'dataset'"),
        ("pooling", "pool_", "single '_' or '-' between them"),  # no project ends in -
        ("pooling", "a__b", "single '_' or '-' between them"),
        ("pooling", "x" * 65, "up to 64"),
        ("pooling", "mine\nrm", "single '_' or '-'"),
        ("pooling", "../up", "single '_' or '-'"),
        ("pooling", "netrvlad", "built-in pooling called 'netrvlad'"),
        ("extractor", "lms", "built-in extractor called 'lms'"),
    ],
)
def test_bad_requests_name_the_fix(tmp_path, kind, name, message):
    with pytest.raises(AtrBenchError, match=message):
        new_plugin(kind, name, tmp_path)


def test_never_overwrites(tmp_path):
    new_plugin("pooling", "mine", tmp_path)
    with pytest.raises(AtrBenchError, match="already exists; pick another name or --dest"):
        new_plugin("pooling", "mine", tmp_path)


def test_a_failed_scaffold_leaves_nothing_that_blocks_a_retry(tmp_path, monkeypatch):
    from atr_bench.dev import scaffold

    real = scaffold.Template

    class Failing(real):
        def substitute(self, *args, **kwargs):
            if "[project]" in self.template:
                raise OSError(28, "No space left on device")
            return super().substitute(*args, **kwargs)

    monkeypatch.setattr(scaffold, "Template", Failing)
    with pytest.raises(OSError):
        new_plugin("pooling", "mine", tmp_path)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(scaffold, "Template", real)
    assert new_plugin("pooling", "mine", tmp_path).is_dir()


@pytest.mark.slow
def test_every_kind_installs_conforms_and_runs(
    install_plugins, tiny_data, tiny_args, tmp_path, capsys
):
    folders = [new_plugin(kind, name, tmp_path / "new") for kind, name in KINDS.items()]
    site = install_plugins(*folders)
    own_tests = [str(folder / "tests") for folder in folders]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *own_tests],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (site / "atr_bench_my_words" / "plugin.py").exists()
    assert main(["list"]) == 0
    listed = capsys.readouterr()
    for name in KINDS.values():
        assert f"({name})" in listed.out
    assert "not loaded" not in listed.err
    runs = tmp_path / "runs"
    args = ("--pooling", "my_pool", "--text-encoder", "my_words", "--epochs", "1")
    assert main(tiny_args(tiny_data, runs, *args)) == 0
    (record,) = [json.loads(p.read_text()) for p in runs.glob("*.json")]
    assert record["plugins"]["pooling"]["distribution"] == "atr-bench-my-pool"
    assert record["plugins"]["text_encoder"]["distribution"] == "atr-bench-my-words"


@pytest.mark.parametrize("name", ["my.pool", "MyPool", "9lives", "pool_"])
def test_one_name_rule_for_the_registry_the_kit_and_the_scaffold(tmp_path, name):
    """The registry, the conformance kit and the scaffold give a name the same verdict."""
    from atr_bench import PoolingSpec
    from atr_bench.components.poolings.simple import MeanPooling
    from atr_bench.dev.conformance import check_spec
    from atr_bench.dev.conformance.base import ConformanceError
    from atr_bench.plugins.registry import Origin, Registry

    def hook():
        return [PoolingSpec(name=name, description="a mean", build=MeanPooling)]

    module = types.ModuleType("namecheck")
    module.atr_bench_poolings = hookimpl(hook)
    registry = Registry([(module, Origin("namecheck", "namecheck", "1.0"))])
    by_registry = any(f.spec.name == name for f in registry.all("pooling"))
    try:
        check_spec(PoolingSpec(name=name, description="a mean", build=MeanPooling))
        by_kit = True
    except ConformanceError:
        by_kit = False
    try:
        new_plugin("pooling", name, tmp_path)
        by_scaffold = True
    except AtrBenchError:
        by_scaffold = False
    assert by_registry == by_kit == by_scaffold == (name in ("MyPool", "9lives"))
