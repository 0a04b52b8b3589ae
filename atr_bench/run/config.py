"""The configuration of one protocol run, and its hash (what makes two runs comparable)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

Options = tuple[tuple[str, Any], ...]
"""Plugin options as sorted (name, value) pairs, so a config stays frozen and hashable."""


def freeze(options: dict[str, Any] | None) -> Options:
    return tuple(sorted((options or {}).items()))


DEFAULT_PROTOCOL = "lou2022-masked"
"""The paper's released protocol with padding masked everywhere (see ``builtin.protocols``)."""


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides a run's numbers except the seed and the device.

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
    """BatchNorm inside the gated embedding units' context gating, as the paper's code has."""
    protocol: str = DEFAULT_PROTOCOL
    protocol_version: int | None = None
    batch_items: str | None = None
    """``clips`` (clips with all their captions) or ``pairs``; see ``ProtocolSpec``."""
    audio_l2renorm: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        for key, value in out.items():
            if key.endswith("options"):
                out[key] = dict(value)
        return out

    def protocol_hash(self) -> str:
        """12 hex digits over every field: equal hashes mean the same protocol and plugins.
        Fields added after runs were recorded are left out at their old default
        (``LATER_FIELDS``), so those runs keep their hashes."""
        fields = self.as_dict()
        for name, default in LATER_FIELDS.items():
            if fields[name] == default:
                del fields[name]
        blob = json.dumps(fields, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


LATER_FIELDS = {
    "gate_batch_norm": False,
    "protocol": "pairs",
    "protocol_version": 1,
    "batch_items": "pairs",
    "audio_l2renorm": False,
}
"""Fields added to ``RunConfig`` after runs were recorded, with the value that is the old
behaviour (never to be changed: runs at the old and a new default would share a hash)."""
