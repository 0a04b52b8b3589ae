"""The guide's dataset and protocol plugin examples, run as written: the registry loads them,
the dataset lists its clips, and a run plans under the protocol with its settings."""

from __future__ import annotations

import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

import atr_bench
from atr_bench.plugins.registry import Origin, Registry
from atr_bench.run.config import RunRequest
from atr_bench.run.plan import plan

GUIDE = Path(atr_bench.__file__).parent.parent / "docs" / "writing-plugins.md"


def _example(marker: str) -> types.ModuleType:
    """The guide's code block that starts with ``# guide: <marker>``, as a module."""
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)
    (source,) = [b for b in blocks if b.startswith(f"# guide: {marker}\n")]
    module = types.ModuleType("guide_" + marker.replace(" ", "_"))
    sys.modules[module.__name__] = module  # as an import would (dataclasses look it up)
    exec(compile(source, f"{GUIDE}:{marker}", "exec"), module.__dict__)  # the guide's own code
    return module


@pytest.fixture(scope="module")
def registry() -> Iterator[Registry]:
    modules = [
        (_example("dataset plugin"), Origin("guide-dataset", "guide-dataset", "1.0")),
        (_example("protocol plugin"), Origin("guide-protocol", "guide-protocol", "1.0")),
    ]
    from atr_bench.plugins.registry import _builtin_modules

    yield Registry([*_builtin_modules(), *modules])
    for module, _ in modules:
        sys.modules.pop(module.__name__, None)


def test_the_examples_load_without_a_failure(registry: Registry) -> None:
    assert registry.failures == []
    assert registry.find("dataset", "listed").origin.plugin == "guide-dataset"
    assert registry.find("protocol", "long-vlad").origin.plugin == "guide-protocol"


def test_the_dataset_example_lists_its_clips_and_names_a_missing_dump(registry, tmp_path):
    root = tmp_path / "data"
    (root / "Listed").mkdir(parents=True)
    rows = ["clip_id,split,caption", "a,train,a dog barks", "a,train,barking", "b,test,rain"]
    (root / "Listed" / "clips.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    dataset = registry.get("dataset", "listed").create(root)
    (clip,) = dataset.clips("train")
    assert clip.clip_id == "a" and clip.captions == ("a dog barks", "barking")
    assert [c.clip_id for c in dataset.clips("test")] == ["b"] and dataset.clips("val") == []
    lms = registry.get("extractor", "lms")
    assert dataset.defaults.frames_for(lms) == 100
    with pytest.raises(atr_bench.AtrBenchError, match="no lms features; put them there"):
        dataset.ensure_audio_features(lms, {})


def test_a_run_plans_under_the_protocol_example(registry, tmp_path) -> None:
    the_plan = plan(RunRequest(protocol="long-vlad", pooling="netrvlad"), registry, tmp_path)
    assert the_plan.config.epochs == 60 and the_plan.config.lr == 0.005
    assert dict(the_plan.config.pooling_options)["clusters"] == 16
    assert dict(the_plan.config.text_pooling_options)["clusters"] == 24
