"""The protocol hash: what makes two runs comparable (and share a leaderboard row)."""

from __future__ import annotations

import dataclasses
from types import ModuleType

from atr_bench import hookimpl, plugins
from atr_bench.config import RunConfig
from atr_bench.pooling.simple import MeanPooling
from atr_bench.protocol import plan
from atr_bench.specs import Option, PoolingSpec


def _registry() -> plugins.Registry:
    """The built-ins plus a pooling with one execution-only and one result option."""
    module = ModuleType("fastmean_plugin")

    @hookimpl
    def atr_bench_poolings() -> list[PoolingSpec]:
        options = (
            Option("compiled", bool, False, "execution only", affects_results=False),
            Option("scale", float, 1.0, "changes the numbers"),
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
