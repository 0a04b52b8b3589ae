"""A run as asked for (``RunRequest``: what the command line or a sweep gives, ``None`` where
the protocol or the dataset decides) and as resolved by ``plan`` (``RunConfig``: every value
filled in and typed; what trains, and what the run hash covers)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

Options = tuple[tuple[str, Any], ...]
"""Plugin options as sorted (name, value) pairs, so a config stays frozen and hashable."""


def freeze(options: dict[str, Any] | None) -> Options:
    return tuple(sorted((options or {}).items()))


DEFAULT_PROTOCOL = "lou2022-tuned"
"""The paper's released protocol, masked and tuned on validation (see ``components.protocols``)."""


@dataclass(frozen=True)
class RunRequest:
    """A run as asked for: component names, raw option strings and the settings given.

    ``None`` means "the protocol's value" (training settings), "the dataset's default" (text
    encoder, frames) or "same as the audio side" (text pooling); ``plan`` fills every one in.
    """

    dataset: str = "synthcaps"
    extractor: str = "lms"
    pooling: str = "netrvlad"
    text_pooling: str | None = None
    text_encoder: str | None = None
    dataset_options: Options = ()
    extractor_options: Options = ()
    pooling_options: Options = ()
    text_pooling_options: Options = ()
    text_encoder_options: Options = ()
    weights: str | None = None
    """A checkpoint path, ``random``, or None (the extractor's own default)."""
    audio_frames: int | None = None
    text_tokens: int | None = None
    embed_dim: int | None = None
    loss: str | None = None
    margin: float | None = None
    temperature: float | None = None
    lr: float | None = None
    weight_decay: float | None = None
    gamma: float | None = None
    batch_size: int | None = None
    epochs: int | None = None
    amp: bool = True
    gate_batch_norm: bool | None = None
    protocol: str = DEFAULT_PROTOCOL
    batch_items: str | None = None
    audio_l2renorm: bool | None = None


@dataclass(frozen=True)
class RunConfig:
    """A resolved run: everything that decides its numbers except the seed and the device.
    Options are typed and checked; the protocol's values stand where the request had None."""

    dataset: str
    extractor: str
    pooling: str
    text_pooling: str
    text_encoder: str
    dataset_options: Options
    extractor_options: Options
    pooling_options: Options
    text_pooling_options: Options
    text_encoder_options: Options
    weights: str | None
    """As requested; the run hash holds the checkpoint's digest instead (``run.hashing``)."""
    audio_frames: int
    text_tokens: int
    embed_dim: int
    loss: str
    margin: float
    temperature: float
    lr: float
    weight_decay: float
    gamma: float
    batch_size: int
    epochs: int
    amp: bool
    gate_batch_norm: bool
    """BatchNorm inside the gated embedding units' context gating, as the paper's code has."""
    protocol: str
    protocol_version: int
    batch_items: str
    """``clips`` (clips with all their captions) or ``pairs``; see ``ProtocolSpec``."""
    audio_l2renorm: bool

    def as_dict(self) -> dict[str, Any]:
        """Plain values (options as dicts), as run records and checkpoints store them."""
        out = dataclasses.asdict(self)
        for key, value in out.items():
            if key.endswith("options"):
                out[key] = dict(value)
        return out
