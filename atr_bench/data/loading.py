"""Turn a dataset + extractor + text encoder into the three padded splits a run trains on."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from atr_bench.data.canonical import Coverage, coverage, packaged_facts
from atr_bench.data.extraction.weights import feature_provenance
from atr_bench.data.feature_store import read_features, read_provenance
from atr_bench.data.identity import SplitDigest, check_overlap, split_digest
from atr_bench.data.layout import SPLITS
from atr_bench.data.onto_device import read_onto
from atr_bench.data.split import SplitData, build_split
from atr_bench.data.streamed import (
    HostRows,
    StreamedFeatures,
    open_streamed,
    room_on_device,
    should_stream,
)
from atr_bench.data.text_store import read_text_features, write_text_features
from atr_bench.errors import AtrBenchError
from atr_bench.plugins.contract import (
    CacheTagged,
    Clip,
    Dataset,
    Described,
    Fittable,
    Lookup,
    OrderContrast,
    TextEncoder,
)
from atr_bench.plugins.specs import ExtractorSpec, TextEncoderSpec

_log = logging.getLogger(__name__)
HOST = torch.device("cpu")

ORDER = "order"
"""The optional order-contrast set's name in ``Splits`` and in the text cache."""


@dataclass(frozen=True)
class Splits:
    """The train, val and test splits of one run, as padded tensors, and the dataset's
    order-contrast set when it has one (clips ``2i`` and ``2i + 1`` are a swapped pair)."""

    train: SplitData
    val: SplitData
    test: SplitData
    order: SplitData | None = None
    provenance: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Per split, what made its audio features (see ``feature_provenance``)."""
    digests: Mapping[str, SplitDigest] = field(default_factory=dict)
    """Per split, which clips and captions it held (``data.identity``)."""
    coverage: Mapping[str, Coverage] = field(default_factory=dict)
    """Per split of a dataset with canonical splits, how much of one it holds."""
    overlap: int = 0
    """Test clips the train split also has (a run goes on with them only when allowed)."""
    text_provenance: Mapping[str, str] = field(default_factory=dict)
    """What made the caption features: the encoder's name and what it says (``Described``)."""

    @property
    def untrained_features(self) -> bool:
        """Some split's features came from a randomly initialised network."""
        return any(p.get("weights") == "random" for p in self.provenance.values())

    def items(self) -> tuple[tuple[str, SplitData], ...]:
        named = (("train", self.train), ("val", self.val), ("test", self.test))
        return named + ((("order", self.order),) if self.order is not None else ())

    def to(self, device: Any) -> Splits:
        moved: dict[str, Any] = {name: s.to(device) for name, s in self.items()}
        return dataclasses.replace(self, **moved)

    def audio_bytes(self) -> int:
        """Bytes of audio that ``to(device)`` would move (streamed or host-kept audio: none)."""
        return sum(
            s.audio.numel() * s.audio.element_size()
            for _, s in self.items()
            if isinstance(s.audio, torch.Tensor)
        )

    def audio_on_host(self) -> Splits:
        """The same splits with in-memory audio kept on the host whatever ``to`` is given."""
        kept: dict[str, Any] = {
            name: dataclasses.replace(s, audio=HostRows(s.audio))
            for name, s in self.items()
            if isinstance(s.audio, torch.Tensor)
        }
        return dataclasses.replace(self, **kept)


def _cache_tag(name: str, options: Mapping[str, Any], encoder: TextEncoder) -> str:
    """A short hash naming one encoder configuration (and, for trained encoders, its corpus)."""
    fitted = encoder.cache_tag if isinstance(encoder, CacheTagged) else ""
    key = {"encoder": name, "options": dict(options), "fit": fitted}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]


def _group(clips: Sequence[Clip], vectors: Sequence[np.ndarray]) -> dict[str, list[np.ndarray]]:
    out, at = {}, 0
    for clip in clips:
        out[clip.clip_id] = list(vectors[at : at + len(clip.captions)])
        at += len(clip.captions)
    return out


def text_features(
    dataset: Dataset,
    spec: TextEncoderSpec,
    options: Mapping[str, Any],
    clips: Mapping[str, Sequence[Clip]],
    encoder: TextEncoder | None = None,
) -> dict[str, Mapping[str, Sequence[np.ndarray]]]:
    """Token-level features of every caption, per split: from the encoder's precomputed files
    (``Lookup``) or encoded once and cached as HDF5 under ``TextEmbeddings/``."""
    encoder = spec.create(**options) if encoder is None else encoder
    if isinstance(encoder, Lookup):
        return {split: encoder.lookup(dataset.layout.path, split) for split in clips}
    if isinstance(encoder, Fittable):
        corpus = [c for clip in clips["train"] for c in clip.captions]
        encoder.fit(corpus, dataset.layout.path / "TextEmbeddings")
    tag = _cache_tag(spec.name, options, encoder)
    out: dict[str, Mapping[str, Sequence[np.ndarray]]] = {}
    for split, split_clips in clips.items():
        path = dataset.layout.text_cache(spec.name, split, tag)
        if not path.exists():
            captions = [c for clip in split_clips for c in clip.captions]
            grouped = _group(split_clips, encoder.encode(captions))
            write_text_features(path, grouped, {"encoder": spec.name, "tag": tag})
        out[split] = read_text_features(path)
    return out


def _text_fix(dataset: Dataset, encoder: TextEncoder) -> str:
    """What to do about text features that do not match the index: a cache the harness
    wrote can be deleted and made again; precomputed files (``Lookup``) cannot."""
    if isinstance(encoder, Lookup):
        return (
            "these precomputed features do not match the index and cannot be made again here: "
            "check that the index and the features come from the same release"
        )
    return f"delete its cache under {dataset.layout.path / 'TextEmbeddings'} to encode it again"


def _check_weights(
    extractor: str,
    weights: Any,
    features: Mapping[str, Any],
    provenance: Mapping[str, Mapping[str, str]],
) -> None:
    """``--weights`` given for features that other weights made is refused (as ``extract``
    refuses to add to them): the run would be recorded under weights it never used."""
    if weights is None:
        return
    wanted = feature_provenance(extractor, weights)["weights"]
    for split, made in provenance.items():
        if made.get("weights") not in (None, wanted):
            raise AtrBenchError(
                f"{features[split]}: these {extractor} features were made with weights "
                f"{made['weights']!r}, not {wanted!r}; drop --weights to use them, or extract "
                "with these weights into another --data-root"
            )


def load_splits(
    dataset: Dataset,
    extractor: ExtractorSpec,
    extractor_build: Mapping[str, Any],
    text_spec: TextEncoderSpec,
    text_options: Mapping[str, Any],
    audio_frames: int,
    text_tokens: int,
    progress: bool = True,
    stream: str = "auto",
    device: torch.device = HOST,
    allow_overlap: bool = False,
    log: logging.Logger = _log,
) -> Splits:
    """Features for every split, ready to train on ``device`` (extracting or encoding what is
    missing). The audio is streamed from its files when ``stream`` says so (``auto``: on the
    CPU when it is large, on a GPU when it would not fit comfortably in host memory; see
    ``should_stream``), else loaded whole: onto ``device``, or where it has no room there, into
    host memory (``_audio_place``). A test split that shares clips with the train split is
    refused unless ``allow_overlap``. What the loading decided is said on ``log``."""
    dataset.ensure_audio_features(extractor, extractor_build, progress)
    clips = _listed_clips(dataset)
    overlap = check_overlap(clips["train"], clips["test"], allow_overlap)
    covered = _coverage(dataset.name, clips)
    features = {s: dataset.layout.features(extractor.name, s) for s in SPLITS}
    if isinstance(dataset, OrderContrast) and (order := dataset.order_clips()):
        clips[ORDER] = order
        features[ORDER] = dataset.ensure_order_features(extractor, extractor_build, progress)
    encoder = text_spec.create(**text_options)
    provenance = {split: read_provenance(path) for split, path in features.items()}
    _check_weights(extractor.name, extractor_build.get("weights"), features, provenance)
    text = text_features(dataset, text_spec, text_options, clips, encoder)
    text_fix = _text_fix(dataset, encoder)
    padded = sum(map(len, clips.values())) * audio_frames * extractor.dim * 4
    place = _audio_place(stream, padded, device, log)
    loaded = {}
    for split, split_clips in clips.items():
        ids = [c.clip_id for c in split_clips]
        audio, audio_len = _read_audio(
            place, device, features[split], ids, (audio_frames, extractor.dim), progress
        )
        loaded[split] = build_split(
            split_clips,
            audio,
            audio_len,
            text[split],
            text_tokens,
            text_source=f"{text_spec.name} features of {dataset.name}/{split}",
            text_fix=text_fix,
        )
    splits = Splits(
        **loaded,
        provenance=provenance,
        digests={split: split_digest(c) for split, c in clips.items()},
        coverage=covered,
        overlap=overlap,
        text_provenance=_text_provenance(text_spec, encoder),
    )
    return splits.audio_on_host() if place == "host" else splits


def _listed_clips(dataset: Dataset) -> dict[str, Sequence[Clip]]:
    """Each split's clips as the dataset lists them; a split without any is an error."""
    clips = {split: dataset.clips(split) for split in SPLITS}
    for split, split_clips in clips.items():
        if not split_clips:
            raise AtrBenchError(f"{dataset.name}: split {split!r} has no clips")
    return clips


def _text_provenance(spec: TextEncoderSpec, encoder: object) -> dict[str, Any]:
    """What made the caption features: the encoder, and what it says of its model."""
    return {"encoder": spec.name, **(encoder.provenance if isinstance(encoder, Described) else {})}


def _audio_place(stream: str, padded: int, device: torch.device, log: logging.Logger) -> str:
    """Where the audio is kept: ``disk`` when it is read from there a batch at a time
    (``should_stream``; said when ``auto`` chose it), else on the ``device`` where half its
    free memory holds it (``room_on_device``), else in ``host`` memory, whence each batch is
    copied to the device (said)."""
    if should_stream(stream, padded, device.type):
        if stream == "auto":
            log.info(
                "audio features: %.1f GB padded; reading them from disk a batch at a time "
                "(--stream-features never loads them whole)",
                padded / 1e9,
            )
        return "disk"
    if room_on_device(device, padded):
        return "device"
    log.warning(
        "audio features: %.1f GB, over half of %s's free memory; kept in host memory and "
        "copied to it a batch at a time",
        padded / 1e9,
        device,
    )
    return "host"


def _read_audio(
    place: str,
    device: torch.device,
    path: Path,
    ids: Sequence[str],
    row: tuple[int, int],
    progress: bool,
) -> tuple[torch.Tensor | StreamedFeatures, torch.Tensor]:
    """A split's audio features and lengths, where ``place`` says: opened for reading from
    ``disk`` (``open_streamed``), or loaded whole into ``host`` memory in one read
    (``read_features``; also a CPU ``device``), or onto the ``device`` a block at a time
    (``read_onto``)."""
    frames, dim = row
    if place == "disk":
        return open_streamed(path, ids, frames, dim, progress)
    if place == "host" or device.type == "cpu":
        return read_features(path, ids, frames, dim)
    return read_onto(path, ids, frames, dim, device, progress)


def _coverage(dataset: str, clips: Mapping[str, Sequence[Clip]]) -> dict[str, Coverage]:
    """Each split's canonical coverage, logged, for a dataset with canonical splits."""
    facts = packaged_facts()
    if dataset not in facts:
        return {}
    out = {split: coverage(facts, dataset, split, clips[split]) for split in SPLITS}
    for split, found in out.items():
        _log.info("%s: %s", split, found.text)
    return out


def data_identity(splits: Splits, allow_overlap: bool) -> dict[str, Any]:
    """The record fields that say which data a run used (``RunRecord.split_digests``,
    ``coverage``, ``allowed_overlap``)."""
    covered = {
        split: {**dataclasses.asdict(c), "missing": len(c.missing), "text": c.text}
        for split, c in splits.coverage.items()
    }
    return {
        "split_digests": {split: d.as_dict() for split, d in splits.digests.items()},
        "coverage": covered or None,
        "allowed_overlap": splits.overlap if allow_overlap else None,
    }
