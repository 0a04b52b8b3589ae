"""Conformance checks of datasets: the protocol, consistent splits and captions, the order set,
and (given an extractor) feature files that hold every clip. Each builds the dataset under
``root``, a fresh folder (pytest's ``tmp_path``) holding whatever the dataset reads."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from atr_bench.data.feature_store import feature_dim, stored_clips
from atr_bench.data.layout import SPLITS
from atr_bench.dev.conformance.base import check_spec, conforms, fail
from atr_bench.errors import AtrBenchError
from atr_bench.plugins.contract import (
    Clip,
    Dataset,
    Defaults,
    Extractor,
    Indexed,
    Layout,
    OrderContrast,
)
from atr_bench.plugins.specs import DatasetSpec, ExtractorSpec


def _unbuilt(**_: Any) -> Extractor:
    raise AtrBenchError("the conformance kit's probe extractor is only asked about, never built")


PROBE = ExtractorSpec(
    name="conformance_probe",
    description="an extractor no dataset knows, 10 frames per second",
    build=_unbuilt,
    dim=1,
    frames_per_second=10.0,
)
"""What ``defaults.frames_for`` is asked about: a dataset must give frames to any extractor."""


def build_dataset(spec: DatasetSpec, options: Mapping[str, Any] | None, root: Path) -> Dataset:
    """Build as the harness does; the result satisfies ``Dataset``, is named as its spec, and
    keeps its files under ``root``."""
    dataset = spec.build(Path(root), **spec.resolve_options(options))
    conforms(spec, dataset, Dataset, "build(root, **options)")
    conforms(spec, dataset.layout, Layout, "build(root, **options).layout")
    conforms(spec, dataset.defaults, Defaults, "build(root, **options).defaults")
    if dataset.name != spec.name:
        fail(spec, f"the dataset is named {dataset.name!r}; name it as its spec, {spec.name!r}")
    if not Path(dataset.layout.path).resolve().is_relative_to(Path(root).resolve()):
        fail(spec, f"layout.path {dataset.layout.path} is outside root {root}; keep files there")
    return dataset


def _clips(spec: DatasetSpec, clips: Sequence[Clip], where: str) -> list[tuple[str, list[str]]]:
    """``(clip id, captions)`` of each clip; ids are non-empty and unique, captions non-empty."""
    out: list[tuple[str, list[str]]] = []
    for clip in clips:
        conforms(spec, clip, Clip, f"{where} item {len(out)}")
        captions = list(clip.captions)
        if not isinstance(clip.clip_id, str) or not clip.clip_id:
            fail(spec, f"{where} item {len(out)} has clip id {clip.clip_id!r}; give it a name")
        if not captions or not all(isinstance(c, str) and c.strip() for c in captions):
            fail(spec, f"{where}: clip {clip.clip_id!r} needs one or more non-empty captions")
        out.append((clip.clip_id, captions))
    ids = [clip_id for clip_id, _ in out]
    if twice := sorted({i for i in ids if ids.count(i) > 1}):
        fail(spec, f"{where} lists clip {twice[0]!r} twice; ids must be unique")
    return out


def _splits(spec: DatasetSpec, dataset: Dataset) -> dict[str, list[tuple[str, list[str]]]]:
    out = {split: _clips(spec, dataset.clips(split), f"clips({split!r})") for split in SPLITS}
    for split, clips in out.items():
        if not clips:
            fail(spec, f"clips({split!r}) is empty; every one of {', '.join(SPLITS)} needs clips")
    return out


def check_dataset_splits(
    spec: DatasetSpec, options: Mapping[str, Any] | None = None, *, root: Path, **_ignored: Any
) -> None:
    """``train``, ``val`` and ``test`` list clips with ids and captions, no id in two splits;
    another split is an ``AtrBenchError``; a second build lists the same clips and captions;
    an ``Indexed`` dataset's ``index_format`` is ``csv`` or ``json``."""
    dataset = build_dataset(spec, options, root)
    if isinstance(dataset, Indexed) and dataset.index_format not in ("csv", "json"):
        fail(spec, f"index_format is {dataset.index_format!r}; Index files are 'csv' or 'json'")
    splits = _splits(spec, dataset)
    seen: dict[str, str] = {}
    for split, clips in splits.items():
        for clip_id, _ in clips:
            if clip_id in seen:
                fail(spec, f"clip {clip_id!r} is in {seen[clip_id]} and {split}; keep splits apart")
            seen[clip_id] = split
    try:
        dataset.clips("no_such_split")
    except AtrBenchError:
        pass
    else:
        fail(spec, "clips('no_such_split') returned; raise AtrBenchError naming the splits")
    if _splits(spec, build_dataset(spec, options, root)) != splits:
        fail(spec, "two builds with the same options list different clips or captions")


def check_dataset_defaults(
    spec: DatasetSpec, options: Mapping[str, Any] | None = None, *, root: Path, **_ignored: Any
) -> None:
    """``defaults`` name a text encoder and give any extractor one frame or more per clip."""
    defaults = build_dataset(spec, options, root).defaults
    if not isinstance(defaults.text_encoder, str) or not defaults.text_encoder:
        fail(spec, f"defaults.text_encoder is {defaults.text_encoder!r}; name a text encoder")
    frames = defaults.frames_for(PROBE)
    if not isinstance(frames, int) or isinstance(frames, bool) or frames < 1:
        fail(spec, f"defaults.frames_for(an extractor it does not know) gave {frames!r}, not >= 1")


def check_dataset_order(
    spec: DatasetSpec, options: Mapping[str, Any] | None = None, *, root: Path, **_ignored: Any
) -> None:
    """A dataset with an order-contrast set (``OrderContrast``) lists pairs of clips, with
    captions, none of them in a split. (A dataset without one passes.)"""
    dataset = build_dataset(spec, options, root)
    if not isinstance(dataset, OrderContrast):
        return
    order = _clips(spec, dataset.order_clips(), "order_clips()")
    if len(order) % 2:
        fail(spec, f"order_clips() lists {len(order)} clips; clips 2i and 2i + 1 are pairs")
    in_splits = {clip_id for clips in _splits(spec, dataset).values() for clip_id, _ in clips}
    if shared := sorted(in_splits & {clip_id for clip_id, _ in order}):
        fail(spec, f"order clip {shared[0]!r} is also in a split; keep the order set apart")


def _features_hold(spec: DatasetSpec, path: Path, ids: list[str], extractor: ExtractorSpec) -> None:
    if missing := sorted(set(ids) - stored_clips(path)):
        fail(spec, f"{path} lacks clip {missing[0]!r} after ensure_*_features; extract every clip")
    if (dim := feature_dim(path)) != extractor.dim:
        fail(spec, f"{path} holds {dim}-d features but {extractor.name} gives {extractor.dim}")


def check_dataset_features(
    spec: DatasetSpec,
    options: Mapping[str, Any] | None = None,
    *,
    root: Path,
    extractor: ExtractorSpec,
    build: Mapping[str, Any] | None = None,
) -> None:
    """``ensure_audio_features(extractor, build)`` leaves every split's ``layout.features``
    file holding every clip of that split, at the extractor's ``dim``; likewise
    ``ensure_order_features`` for the order set. ``root`` must hold what the dataset reads
    (its audio, or for a dataset that only reads feature files, those)."""
    dataset = build_dataset(spec, options, root)
    build = {"device": "cpu", **(build or {})}
    dataset.ensure_audio_features(extractor, build, False)
    for split, clips in _splits(spec, dataset).items():
        path = dataset.layout.features(extractor.name, split)
        _features_hold(spec, path, [clip_id for clip_id, _ in clips], extractor)
    if isinstance(dataset, OrderContrast):
        path = dataset.ensure_order_features(extractor, build, False)
        _features_hold(spec, path, [c.clip_id for c in dataset.order_clips()], extractor)


DATASET_CHECKS: tuple[Callable[..., None], ...] = (
    check_dataset_splits,
    check_dataset_defaults,
    check_dataset_order,
)
"""The dataset checks that need only ``root``, each called as ``check(spec, options,
root=...)``; ``check_dataset_features`` also takes an extractor."""


def check_dataset(
    spec: DatasetSpec,
    options: Mapping[str, Any] | None = None,
    *,
    root: Path,
    extractor: ExtractorSpec | None = None,
) -> None:
    """Run ``check_spec``, every dataset check and, given an extractor, the features check."""
    check_spec(spec, options)
    for check in DATASET_CHECKS:
        check(spec, options, root=root)
    if extractor is not None:
        check_dataset_features(spec, options, root=root, extractor=extractor)
