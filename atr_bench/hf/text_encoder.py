"""The ``hf`` text encoder: token-level hidden states of a ``transformers`` text model (BERT,
RoBERTa, ...), one layer or the mean of all, special tokens included. Each caption is encoded
whole (up to the model's own limit) so every token has its full context; the harness keeps the
first ``text_tokens`` of them, the protocol's limit, as it does for every encoder. The model
loads on the first ``encode``, so a run whose captions are cached never loads it."""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

import numpy as np
import torch

from atr_bench.hf.layers import LAST, check_layer, select
from atr_bench.hf.source import resolve_model
from atr_bench.hf.text_spec import FLAG, OWNER

BATCH = 64
"""Captions per forward pass (each is padded to the batch's longest, under its attention
mask, so it encodes the same alone)."""


class HFTextEncoder:
    """``build(model=..., layer="last")``: ``encode`` captions into ``[n_tokens, dim]``."""

    def __init__(self, model: str = "", layer: str = LAST) -> None:
        from transformers import AutoConfig

        self.source = resolve_model(model, OWNER, FLAG)
        config = AutoConfig.from_pretrained(self.source.folder, local_files_only=True)
        check_layer(layer, config.num_hidden_layers, OWNER)
        self.layer = layer
        self.dim = int(config.hidden_size)
        self._loaded: tuple[Any, Any] | None = None

    @property
    def provenance(self) -> dict[str, str]:
        """The model as given, its revision (from the hub) and digest, and the layer."""
        return {**self.source.provenance(), "layer": self.layer}

    @property
    def cache_tag(self) -> str:
        """The model's digest, its layer and the library's version: the text cache's key."""
        return f"{self.source.digest}-{self.layer}-transformers{version('transformers')}"

    def _load(self) -> tuple[Any, Any]:
        if self._loaded is None:
            from transformers import AutoModel, AutoTokenizer

            folder = self.source.folder
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            model = AutoModel.from_pretrained(folder, local_files_only=True).eval()
            self._loaded = tokenizer, model
        return self._loaded

    @staticmethod
    def _longest(tokenizer: Any, model: Any) -> int:
        """Tokens a caption may have: the tokenizer's limit, within the model's positions."""
        positions = getattr(model.config, "max_position_embeddings", None)
        return min(int(tokenizer.model_max_length), positions or int(tokenizer.model_max_length))

    @torch.no_grad()
    def encode(self, captions: Sequence[str]) -> list[np.ndarray]:
        """One float32 ``[n_tokens, dim]`` array per caption."""
        tokenizer, model = self._load()
        out: list[np.ndarray] = []
        for start in range(0, len(captions), BATCH):
            batch = list(captions[start : start + BATCH])
            inputs = tokenizer(
                batch,
                padding=True,
                truncation=True,
                max_length=self._longest(tokenizer, model),
                return_tensors="pt",
            )
            states = model(**inputs, output_hidden_states=True).hidden_states
            tokens = select(states, self.layer).float().numpy()
            lengths = inputs["attention_mask"].sum(1).tolist()
            out += [tokens[row, :n] for row, n in enumerate(lengths)]
        return out
