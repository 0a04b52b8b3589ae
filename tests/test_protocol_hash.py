"""The protocol hash: what makes two runs comparable (and share a leaderboard row)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from types import ModuleType

from atr_bench import hookimpl
from atr_bench.components.poolings.simple import MeanPooling
from atr_bench.plugins import registry as plugins
from atr_bench.plugins.registry import registry
from atr_bench.plugins.specs import Option, PoolingSpec
from atr_bench.run.config import LATER_FIELDS, RunConfig
from atr_bench.run.plan import plan


def _registry() -> plugins.Registry:
    """The built-ins plus a pooling with one execution-only and one result option."""
    module = ModuleType("fastmean_plugin")

    @hookimpl
    def atr_bench_poolings() -> list[PoolingSpec]:
        options = (
            Option("compiled", bool, False, "execution only", affects_results=False),
            Option("scale", float, 1.0, "changes the numbers"),
            Option("later", str, "old", "added later", hashed_at_default=False),
        )
        return [PoolingSpec("fastmean", "mean", lambda d, **o: MeanPooling(d), options)]

    module.atr_bench_poolings = atr_bench_poolings
    origin = plugins.Origin("fastmean_plugin", "fastmean", "1.0")
    return plugins.Registry([*plugins._builtin_modules(), (module, origin)])


def test_execution_only_options_keep_the_hash_and_run_id(tmp_path):
    reg = _registry()
    base = RunConfig(pooling="fastmean")
    plain = plan(base, reg, tmp_path)
    compiled = plan(
        dataclasses.replace(base, pooling_options=(("compiled", "yes"),)), reg, tmp_path
    )
    assert dict(compiled.config.pooling_options)["compiled"] is True  # still used to build
    assert compiled.protocol_hash == plain.protocol_hash
    assert compiled.run_id(0) == plain.run_id(0)


def test_result_options_and_protocol_settings_change_the_hash(tmp_path):
    reg = _registry()
    base = plan(RunConfig(pooling="fastmean"), reg, tmp_path).protocol_hash
    scaled = RunConfig(pooling="fastmean", pooling_options=(("scale", "2"),))
    assert plan(scaled, reg, tmp_path).protocol_hash != base
    assert plan(RunConfig(pooling="fastmean", lr=0.001), reg, tmp_path).protocol_hash != base
    text_side = RunConfig(pooling="fastmean", text_pooling="mean")
    assert plan(text_side, reg, tmp_path).protocol_hash != base


def test_an_option_added_later_keeps_old_hashes_at_its_default(tmp_path):
    reg = _registry()
    base = RunConfig(pooling="fastmean", pooling_options=(("scale", "2"),))
    old = plan(base, reg, tmp_path)
    assert "later" not in old.components["pooling"].spec.result_options(old.config.pooling_options)
    explicit = dataclasses.replace(base, pooling_options=(("scale", "2"), ("later", "old")))
    assert plan(explicit, reg, tmp_path).protocol_hash == old.protocol_hash
    new = dataclasses.replace(base, pooling_options=(("scale", "2"), ("later", "new")))
    assert plan(new, reg, tmp_path).protocol_hash != old.protocol_hash


def test_fields_added_later_keep_old_hashes_at_their_old_values(tmp_path):
    """``gate_batch_norm`` and the protocol fields came after the first records: a run of the
    ``pairs`` protocol (what those records ran) hashes as its config did without them."""
    config = plan(RunConfig(protocol="pairs"), registry(), tmp_path).config
    fields = config.as_dict()
    later = {name: fields.pop(name) for name in LATER_FIELDS}
    assert later == LATER_FIELDS
    before = json.dumps(fields, sort_keys=True, default=str).encode()
    assert config.protocol_hash() == hashlib.sha256(before).hexdigest()[:12]
    other = dataclasses.replace(config, gate_batch_norm=True)
    assert other.protocol_hash() != config.protocol_hash()


def test_settings_name_what_differs_from_the_protocol(tmp_path):
    reg = _registry()
    assert plan(RunConfig(pooling="fastmean"), reg, tmp_path).settings == {}
    options = (("scale", "2"), ("compiled", "yes"), ("later", "old"))
    changed = RunConfig(pooling="fastmean", pooling_options=options, lr=0.001)
    assert plan(changed, reg, tmp_path).settings == {"lr": 0.001, "pooling.scale": 2.0}
    netvlad = plan(RunConfig(pooling="netvlad"), reg, tmp_path)
    assert netvlad.settings == {}  # 20 text clusters are the text side's default
    frames = plan(RunConfig(audio_frames=7, text_pooling="mean"), reg, tmp_path)
    assert frames.settings == {"audio_frames": 7}  # text pooling has a column of its own
