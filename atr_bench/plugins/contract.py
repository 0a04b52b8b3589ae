"""The plugin contract: what each kind's ``spec.build(...)`` returns, as runtime-checkable
protocols. A hook (``hookspecs.py``) returns specs; the harness uses what their ``build``
returns only through the members below, checked when it is built (``Spec.create``). A
capability (``Fittable``, ``Lookup``, ...) is optional: the harness asks ``isinstance(obj,
Capability)`` and uses it where present. ``atr_bench.dev.conformance`` tests the behaviour.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    from torch import Tensor

    from atr_bench.plugins.specs import ExtractorSpec


@runtime_checkable
class Pooling(Protocol):
    """``PoolingSpec.build(in_dim, **options)``: an ``nn.Module`` (its parameters train with the
    model) pooling ``x[B, T, in_dim]`` to ``[B, out_dim]``. Frames where ``mask[B, T]`` is False
    are padding, hold anything (NaN too), and must change neither output nor gradient."""

    out_dim: int

    def forward(self, x: Tensor, mask: Tensor) -> Tensor: ...
    def __call__(self, x: Tensor, mask: Tensor) -> Tensor: ...


@runtime_checkable
class Loss(Protocol):
    """``LossSpec.build()``: ``loss(sims, positives, **settings)`` -> a scalar to minimise.
    ``sims[i, j]`` is the similarity of a batch's caption ``i`` and clip ``j``, pair ``(i, i)``
    matching; ``positives[i, j]`` is True wherever they match (never a negative). ``settings``
    are the protocol settings the spec names (``LossSpec.settings``, e.g. ``margin``)."""

    def __call__(self, sims: Tensor, positives: Tensor, **settings: Any) -> Tensor: ...


@runtime_checkable
class Batching(Protocol):
    """``BatchingSpec.build()``: ``batches(split, generator, size, device)`` -> an iterator
    over one epoch's batches, each ``(clips, captions, group)``: the clip and caption indices a
    step embeds, and each caption's position among ``clips`` (None: caption ``i`` pairs with
    clip ``i``). Draw every random number from ``generator``."""

    def __call__(
        self, split: Any, generator: Any, size: int, device: Any
    ) -> Iterator[tuple[Tensor, Tensor, Tensor | None]]: ...


@runtime_checkable
class Extractor(Protocol):
    """``ExtractorSpec.build(weights=None, device="cpu", **options)``: waves ``[B, N]`` at
    ``sample_rate`` -> frames ``[B, T, dim]`` at about ``frames_per_second`` (all three equal to
    the spec's). Waves of a batch are zero-padded to the longest."""

    sample_rate: int
    dim: int
    frames_per_second: float

    def __call__(self, wave: Tensor) -> Tensor: ...


@runtime_checkable
class FramesFor(Protocol):
    """Extractor capability: how many frames a wave of ``n_samples`` gives, so a batch's padding
    is cropped off each clip. Without it, the harness extracts one clip at a time."""

    def frames_for(self, n_samples: int) -> int: ...


@runtime_checkable
class Ragged(Protocol):
    """Extractor capability: ``ragged(waves)`` takes a batch's waves at their own lengths and
    returns ``[B, T, dim]`` (each clip's frames first), so a model that sees a whole clip at
    once (attention) gives a clip the same frames alone or in a batch of longer ones."""

    def ragged(self, waves: Sequence[Tensor]) -> Tensor: ...


@runtime_checkable
class TextEncoder(Protocol):
    """``TextEncoderSpec.build(**options)``: one float ``[n_tokens, dim]`` array per caption,
    token level so a text pooling applies; a caption encodes the same alone or in a batch (the
    harness caches features per split under the dataset's ``TextEmbeddings/``)."""

    dim: int

    def encode(self, captions: Sequence[str]) -> Sequence[np.ndarray]: ...


@runtime_checkable
class Fittable(Protocol):
    """Text encoder capability: learn from the training split's captions before ``encode``;
    ``cache_dir`` is where it may keep what it learnt."""

    def fit(self, captions: Sequence[str], cache_dir: Path) -> None: ...


@runtime_checkable
class CacheTagged(Protocol):
    """Text encoder capability: a string naming the model state (read after ``fit``). It goes
    into the feature cache's name, so a new model never reads a stale cache."""

    cache_tag: str


@runtime_checkable
class Described(Protocol):
    """Text encoder capability: what records say made the caption features (a model's id,
    revision and digest, its layer), beside the encoder's name."""

    provenance: Mapping[str, str]


@runtime_checkable
class Lookup(Protocol):
    """Text encoder capability: precomputed features instead of ``encode``: clip id -> one
    ``[n_tokens, dim]`` array per caption of that clip, read from ``dataset_dir``."""

    def lookup(self, dataset_dir: Path, split: str) -> Mapping[str, Sequence[np.ndarray]]: ...


class Clip(Protocol):
    """One clip of a split: an id unique in the dataset and at least one non-empty caption."""

    @property
    def clip_id(self) -> str: ...
    @property
    def captions(self) -> Sequence[str]: ...


class Layout(Protocol):
    """Where a dataset's files live (``atr_bench.data.layout.DatasetLayout``: the seed layout)."""

    @property
    def path(self) -> Path: ...
    def features(self, extractor: str, split: str) -> Path: ...
    def text_cache(self, encoder: str, split: str, tag: str = "") -> Path: ...


class Defaults(Protocol):
    """A dataset's defaults (``atr_bench.components.datasets.indexed.DatasetDefaults``): the text
    encoder a run uses unless told, and the frames of audio it keeps per clip."""

    @property
    def text_encoder(self) -> str: ...
    def frames_for(self, extractor: ExtractorSpec) -> int: ...


@runtime_checkable
class Dataset(Protocol):
    """``DatasetSpec.build(root, **options)``: a dataset under ``root`` (its ``layout.path``),
    named as its spec. ``clips(split)`` lists a split's clips for ``train``, ``val`` and ``test``
    (disjoint; another split is an ``AtrBenchError``); ``ensure_audio_features`` makes (or
    says how to make) every split's ``layout.features(extractor.name, split)`` file."""

    @property
    def name(self) -> str: ...
    @property
    def layout(self) -> Layout: ...
    @property
    def defaults(self) -> Defaults: ...
    def clips(self, split: str) -> Sequence[Clip]: ...
    def ensure_audio_features(
        self, extractor: ExtractorSpec, build: Mapping[str, Any], progress: bool = True
    ) -> None: ...


@runtime_checkable
class OrderContrast(Protocol):
    """Dataset capability: an order-contrast set, clips ``2i`` and ``2i + 1`` holding the same
    events in swapped order (tested apart from the splits); ``ensure_order_features`` returns
    its feature file."""

    def order_clips(self) -> Sequence[Clip]: ...
    def ensure_order_features(
        self, extractor: ExtractorSpec, build: Mapping[str, Any], progress: bool = True
    ) -> Path: ...


@runtime_checkable
class Indexed(Protocol):
    """Dataset capability: its clips are read from ``Index/<split>.csv`` (``index_format``
    ``"csv"``, AudioCaps: audio files are matched by YouTube id) or ``.json`` (``"json"``,
    Clotho: by file name) in the seed layout, which ``data export`` copies."""

    @property
    def index_format(self) -> str: ...


def missing_members(obj: object, protocol: type) -> list[str]:
    """The members of ``protocol`` that ``obj`` lacks, found without evaluating any (a lazy
    ``dim`` property that loads a model is not run), as ``isinstance`` does from Python 3.12."""
    names = [*getattr(protocol, "__annotations__", {}), *vars(protocol)]
    wanted = [n for n in dict.fromkeys(names) if not n.startswith("_") or n == "__call__"]
    return [n for n in wanted if inspect.getattr_static(obj, n, _ABSENT) is _ABSENT]


_ABSENT = object()
