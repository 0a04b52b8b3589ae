"""The conformance kit (``atr_bench.dev.conformance``): every built-in passes it, and it catches the
ways a plugin can break the contract, with a message naming the rule."""

from __future__ import annotations

import pickle
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from atr_bench import DatasetSpec, Option, PoolingSpec, TextEncoderSpec
from atr_bench.components.datasets.indexed import DatasetDefaults, IndexedDataset
from atr_bench.components.datasets.plugin import atr_bench_datasets
from atr_bench.components.extractors.plugin import atr_bench_extractors
from atr_bench.components.poolings.plugin import atr_bench_poolings
from atr_bench.components.poolings.simple import MeanPooling
from atr_bench.components.text_encoders.plugin import atr_bench_text_encoders
from atr_bench.data.index import ClipCaptions, write_audiocaps_csv, write_clotho_json
from atr_bench.data.layout import SPLITS, DatasetLayout
from atr_bench.dev.conformance import (
    DATASET_CHECKS,
    POOLING_CHECKS,
    TEXT_ENCODER_CHECKS,
    ConformanceError,
    check_dataset,
    check_dataset_features,
    check_extractor,
    check_pooling,
    check_pooling_determinism,
    check_spec,
    check_text_encoder,
)

POOLINGS = {spec.name: spec for spec in atr_bench_poolings()}
TEXT_ENCODERS = {spec.name: spec for spec in atr_bench_text_encoders() if spec.name != "hf"}
"""hf's default model is a hub id: ``test_hf_text.py`` runs the kit on local models instead."""
DATASETS = {spec.name: spec for spec in atr_bench_datasets()}
(LMS,) = [s for s in atr_bench_extractors() if s.name == "lms"]
TINY_SYNTHCAPS = {"train": 3, "val": 2, "test": 2, "duration": 1.0, "order_pairs": 1}


@pytest.mark.parametrize("check", [check_spec, *POOLING_CHECKS], ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", sorted(POOLINGS))
def test_builtin_poolings_conform(name, check):
    check(POOLINGS[name])


def _w2v_dataset(root: Path) -> Path:
    """A dataset folder holding the seed's precomputed ``w2v_train.pkl``."""
    (root / "TextEmbeddings").mkdir(parents=True)
    rng = np.random.default_rng(0)
    data = {"c1": [rng.standard_normal((4, 300)), rng.standard_normal((2, 300))]}
    with open(root / "TextEmbeddings" / "w2v_train.pkl", "wb") as handle:
        pickle.dump(data, handle)
    return root


@pytest.mark.parametrize("check", TEXT_ENCODER_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", sorted(TEXT_ENCODERS))
def test_builtin_text_encoders_conform(name, check, tmp_path):
    lookup_dir = _w2v_dataset(tmp_path / "dataset") if name == "w2v" else None
    check_spec(TEXT_ENCODERS[name])
    check(TEXT_ENCODERS[name], workdir=tmp_path, lookup_dir=lookup_dir)


def test_builtin_lms_extractor_conforms():
    check_extractor(LMS)


def _indexed_root(root: Path, name: str) -> Path:
    """A data root holding tiny Index files of the built-in dataset ``name``."""
    dataset = DATASETS[name].build(root)
    for i, split in enumerate(SPLITS):
        clips = [ClipCaptions(f"{split}{k}", (f"a beep number {k}", "a hiss")) for k in (1, 2)]
        if name == "audiocaps":
            clips = [ClipCaptions(str(10 * i + k), c.captions) for k, c in enumerate(clips)]
            write_audiocaps_csv(dataset.layout.index_csv(split), clips)
        else:
            write_clotho_json(dataset.layout.index_json(split), clips)
    return root


@pytest.mark.parametrize("check", DATASET_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", sorted(DATASETS))
def test_builtin_datasets_conform(name, check, tmp_path):
    options = TINY_SYNTHCAPS if name == "synthcaps" else {}
    root = tmp_path if name == "synthcaps" else _indexed_root(tmp_path, name)
    check_spec(DATASETS[name], options)
    check(DATASETS[name], options, root=root)


def test_synthcaps_features_hold_every_clip(tmp_path):
    check_dataset_features(DATASETS["synthcaps"], TINY_SYNTHCAPS, root=tmp_path, extractor=LMS)


@dataclass(frozen=True)
class _Listed(IndexedDataset):
    """A Clotho-style dataset with one contract bug switched on."""

    bug: str = ""

    def clips(self, split: str) -> list[ClipCaptions]:
        clips = super().clips(split)
        if self.bug == "shared" and split == "test":
            return [*clips, ClipCaptions("train1", ("again",))]
        if self.bug == "empty" and split == "val":
            return []
        return clips

    def order_clips(self) -> list[ClipCaptions]:
        first = "train1" if self.bug == "order" else "o1"
        return [ClipCaptions(first, ("a, then b",)), ClipCaptions("o2", ("b, then a",))]

    def ensure_order_features(self, extractor, build, progress=True) -> Path:
        return self.layout.features(extractor.name, "order")


class _NoDefaults:
    """Everything of a dataset but ``defaults``."""

    name = "bad"

    def __init__(self, root: Path):
        self.layout = DatasetLayout(root, "Bad")

    def clips(self, split: str) -> list[ClipCaptions]:
        return [ClipCaptions(f"{split}1", ("x",))]

    def ensure_audio_features(self, extractor, build, progress=True) -> None:
        return None


def _bad_dataset(bug: str) -> DatasetSpec:
    def build(root: Path):
        defaults = DatasetDefaults(clip_seconds=1.0, text_encoder="word2vec")
        return _Listed("bad", DatasetLayout(root, "Clotho"), defaults, "json", bug)

    return DatasetSpec(name="bad", description="a dataset with one bug", build=build)


@pytest.mark.parametrize(
    ("bug", "message"),
    [
        ("shared", r"clip 'train1' is in train and test; keep splits apart"),
        ("empty", r"clips\('val'\) is empty"),
        ("order", r"order clip 'train1' is also in a split"),
    ],
)
def test_kit_catches_broken_datasets(bug, message, tmp_path):
    root = _indexed_root(tmp_path, "clotho")
    check_dataset(_bad_dataset(""), root=root)  # the same dataset without the bug conforms
    with pytest.raises(ConformanceError, match=rf"dataset 'bad': {message}"):
        check_dataset(_bad_dataset(bug), root=root)


def test_kit_names_what_a_dataset_lacks(tmp_path):
    spec = DatasetSpec(name="bad", description="no defaults", build=_NoDefaults)
    lacks = r"dataset 'bad': .* _NoDefaults, which lacks defaults"
    with pytest.raises(ConformanceError, match=lacks):
        check_dataset(spec, root=tmp_path)


class _Broken(nn.Module):
    """A mean pooling with one contract bug switched on."""

    def __init__(self, in_dim: int, bug: str = ""):
        super().__init__()
        self.bug, self.out_dim = bug, in_dim + (bug == "out_dim")
        self.scale = nn.Parameter(torch.ones(in_dim))
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, x, mask):
        if self.bug == "padding":
            return torch.nan_to_num(x, posinf=0.0, neginf=0.0).mean(1) * self.scale
        if self.bug == "nan":  # masks by multiplying, so a NaN in padding stays a NaN
            return (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True) * self.scale
        if self.bug == "detach":
            x = x.detach()
        out = MeanPooling(x.shape[-1])(x, mask) * self.scale
        if self.bug == "random":
            out = out + random.random()  # randomness torch's seed does not fix
        return out if self.bug == "unused" else out + self.unused


def _broken(bug: str) -> PoolingSpec:
    return PoolingSpec(
        name="broken",
        description="a pooling with one bug",
        build=_Broken,
        options=(Option("bug", str, bug),),
    )


@pytest.mark.parametrize(
    ("bug", "message"),
    [
        ("out_dim", r"pooling 'broken': in_dim=8: forward returned \(3, 8\), expected .*\(3, 9\)"),
        ("padding", r"pooling 'broken': the values in padded frames change the output"),
        ("nan", r"pooling 'broken': NaN or inf in padded frames reaches the output"),
        ("detach", r"no gradient reaches the real input frames"),
        ("unused", r"parameter 'unused' gets no finite gradient"),
    ],
)
def test_kit_catches_broken_poolings(bug, message):
    check_pooling(_broken(""))  # the same module without the bug conforms
    with pytest.raises(ConformanceError, match=message):
        check_pooling(_broken(bug))


def test_kit_catches_nondeterminism():
    with pytest.raises(ConformanceError, match="same torch seed give different outputs"):
        check_pooling_determinism(_broken("random"))
    check_pooling_determinism(_broken("nan"))  # NaN leaks, but the same NaN: deterministic


@pytest.mark.parametrize(
    ("bug", "failing"),
    [
        (
            "padding",
            {"check_pooling_padding_content", "check_pooling_padding", "check_pooling_gradients"},
        ),
        ("nan", {"check_pooling_finite", "check_pooling_gradients"}),
    ],
)
def test_each_padding_bug_fails_the_checks_of_its_own_property(bug, failing):
    failed = set()
    for check in POOLING_CHECKS:
        try:
            check(_broken(bug))
        except ConformanceError:
            failed.add(check.__name__)
    assert failed == failing


@pytest.mark.parametrize(
    ("encode", "message"),
    [
        (lambda caps: [np.ones(5, np.float32) for _ in caps], r"item 0 has shape \(5,\)"),
        (lambda caps: [np.ones((1, 5), np.float32) for _ in caps], "one vector per token"),
        (lambda caps: [np.ones((2, 5), np.float32)], "returned 1 items for 3 captions"),
        (lambda caps: [np.full((len(c), 5), np.nan) for c in caps], "not finite floats"),
    ],
)
def test_kit_catches_broken_text_encoders(encode, message, tmp_path):
    encoder = type("Encoder", (), {"dim": 5, "encode": staticmethod(encode)})
    spec = TextEncoderSpec(name="bad", description="broken", build=encoder, dim=5)
    with pytest.raises(ConformanceError, match=rf"text encoder 'bad': .*{message}"):
        check_text_encoder(spec, workdir=tmp_path)


def test_kit_checks_the_spec_metadata():
    spec = PoolingSpec(name="Bad Name", description="x", build=MeanPooling)
    with pytest.raises(ConformanceError, match="name must be up to 64 letters and digits"):
        check_spec(spec)
    spec = PoolingSpec(name="ok", description="two\nlines", build=MeanPooling)
    with pytest.raises(ConformanceError, match="description must be one non-empty line"):
        check_spec(spec)


PAPER_VARIANTS = {
    "mean": {"readout": "normalised_mean"},
    "lstm": {"readout": "normalised_mean"},
    "transformer": {"readout": "normalised_mean"},
    "netvlad": {"assign_norm": "batch"},
    "netrvlad": {"assign_norm": "batch"},
}


@pytest.mark.parametrize("check", POOLING_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", sorted(PAPER_VARIANTS))
def test_paper_code_variants_conform(name, check):
    check(POOLINGS[name], PAPER_VARIANTS[name])
