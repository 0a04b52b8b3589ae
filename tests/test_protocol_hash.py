"""The run hash: what makes two runs comparable (and share a leaderboard row), and its one
compatibility policy (``atr_bench.run.hashing``)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from types import ModuleType

import pytest

from atr_bench import hookimpl
from atr_bench.components.poolings.simple import MeanPooling
from atr_bench.errors import AtrBenchError
from atr_bench.plugins import registry as plugins
from atr_bench.plugins.registry import registry
from atr_bench.plugins.specs import Option, PoolingSpec
from atr_bench.run.config import RunConfig, RunRequest
from atr_bench.run.hashing import LEGACY_FIELDS, run_hash
from atr_bench.run.plan import plan


def _registry(with_later: bool = True) -> plugins.Registry:
    """The built-ins plus a pooling with an execution-only option, a result option and
    (``with_later``) one added later, whose legacy value is not its default."""
    module = ModuleType("fastmean_plugin")

    @hookimpl
    def atr_bench_poolings() -> list[PoolingSpec]:
        options = (
            Option("compiled", bool, False, "execution only", affects_results=False),
            Option("scale", float, 1.0, "changes the numbers"),
        )
        if with_later:
            later = Option("later", str, "new", "added later; 'old' was before", legacy="old")
            options = (*options, later)
        return [PoolingSpec("fastmean", "mean", lambda d, **o: MeanPooling(d), options)]

    module.atr_bench_poolings = atr_bench_poolings
    origin = plugins.Origin("fastmean_plugin", "fastmean", "1.0")
    return plugins.Registry([*plugins._builtin_modules(), (module, origin)])


def test_execution_only_options_keep_the_hash_and_run_id(tmp_path):
    reg = _registry()
    base = RunRequest(pooling="fastmean")
    plain = plan(base, reg, tmp_path)
    compiled = plan(
        dataclasses.replace(base, pooling_options=(("compiled", "yes"),)), reg, tmp_path
    )
    assert dict(compiled.config.pooling_options)["compiled"] is True  # still used to build
    assert compiled.run_hash == plain.run_hash
    assert compiled.run_id(0) == plain.run_id(0)


def test_result_options_and_protocol_settings_change_the_hash(tmp_path):
    reg = _registry()
    base = plan(RunRequest(pooling="fastmean"), reg, tmp_path).run_hash
    scaled = RunRequest(pooling="fastmean", pooling_options=(("scale", "2"),))
    assert plan(scaled, reg, tmp_path).run_hash != base
    assert plan(RunRequest(pooling="fastmean", lr=0.001), reg, tmp_path).run_hash != base
    text_side = RunRequest(pooling="fastmean", text_pooling="mean")
    assert plan(text_side, reg, tmp_path).run_hash != base


def test_an_option_added_later_keeps_old_hashes_at_its_legacy_value(tmp_path):
    """With ``later`` at its legacy value, a run hashes as it did before the option existed."""
    before = RunRequest(pooling="fastmean", text_pooling="mean", pooling_options=(("scale", "2"),))
    old_hash = plan(before, _registry(with_later=False), tmp_path).run_hash
    reg = _registry()
    legacy = dataclasses.replace(before, pooling_options=(("scale", "2"), ("later", "old")))
    assert plan(legacy, reg, tmp_path).run_hash == old_hash
    assert plan(before, reg, tmp_path).run_hash != old_hash  # at its default, "new"


def _covered(config: RunConfig) -> dict:
    """``config`` as the hash saw it before the fields in ``LEGACY_FIELDS`` existed."""
    return {k: v for k, v in config.as_dict().items() if k not in LEGACY_FIELDS}


def _hash(fields: dict) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]


def test_fields_added_later_keep_old_hashes_at_their_legacy_values(tmp_path):
    """``gate_batch_norm`` and the protocol fields came after the first records: a run of the
    ``pairs`` protocol (what those records ran) hashes as its config did without them."""
    the_plan = plan(RunRequest(protocol="pairs"), registry(), tmp_path)
    config = the_plan.config
    assert {name: getattr(config, name) for name in LEGACY_FIELDS} == LEGACY_FIELDS
    first_options = {  # what the first records' VLAD options were; the others came later
        "pooling_options": {"clusters": 12, "ghost_clusters": 0},
        "text_pooling_options": {"clusters": 20, "ghost_clusters": 0},
    }
    specs = {name: found.spec for name, found in the_plan.components.items()}
    without_code = run_hash(config, specs, the_plan.weights)
    assert without_code == _hash({**_covered(config), **first_options})
    other = dataclasses.replace(config, gate_batch_norm=True)
    assert run_hash(other, specs, None) != run_hash(config, specs, None)


def test_the_same_checkpoint_by_another_path_gives_the_same_run_id(tmp_path):
    checkpoint = tmp_path / "a" / "model.pth"
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(b"weights")
    copy = tmp_path / "elsewhere.pth"
    copy.write_bytes(b"weights")
    other = tmp_path / "other.pth"
    other.write_bytes(b"other weights")
    plans = [plan(RunRequest(weights=str(p)), registry(), tmp_path) for p in (checkpoint, copy)]
    assert plans[0].run_id(0) == plans[1].run_id(0)
    assert plans[0].settings == {"weights": "sha256:" + hashlib.sha256(b"weights").hexdigest()}
    changed = plan(RunRequest(weights=str(other)), registry(), tmp_path)
    random = plan(RunRequest(weights="random"), registry(), tmp_path)
    assert len({random.run_id(0), plans[0].run_id(0), changed.run_id(0)}) == 3


def test_weights_that_are_not_a_file_are_a_clear_error(tmp_path):
    with pytest.raises(AtrBenchError, match=r"^--weights '.*nosuch.pth': no such file"):
        plan(RunRequest(weights=str(tmp_path / "nosuch.pth")), registry(), tmp_path)


def test_settings_name_what_differs_from_the_protocol(tmp_path):
    reg = _registry()
    assert plan(RunRequest(pooling="fastmean"), reg, tmp_path).settings == {}
    options = (("scale", "2"), ("compiled", "yes"), ("later", "new"))
    changed = RunRequest(pooling="fastmean", pooling_options=options, lr=0.001)
    assert plan(changed, reg, tmp_path).settings == {"lr": 0.001, "audio_pooling.scale": 2.0}
    netvlad = plan(RunRequest(pooling="netvlad"), reg, tmp_path)
    assert netvlad.settings == {}  # 20 text clusters are the text side's default
    frames = plan(RunRequest(audio_frames=7, text_pooling="mean"), reg, tmp_path)
    assert frames.settings == {"audio_frames": 7}  # text pooling has a column of its own
