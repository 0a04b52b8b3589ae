"""Where a ``transformers`` model comes from: a local folder (``save_pretrained``), or a hub id
fetched into (or, offline, read from) the Hugging Face cache. Either way the model is then read
from one local folder, named by a digest of its files (and a hub snapshot by its revision), so
features and caches made with it are keyed by what it is, not by the path that reached it."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

from atr_bench.errors import AtrBenchError

HUB_FILES = ("*.json", "*.txt", "*.model", "*.safetensors", "*.tiktoken", "*.py")
"""What a hub snapshot fetches: configs, tokenizer files and safetensors weights."""
LEGACY_WEIGHTS = ("*.bin",)
"""Fetched as well when a hub model has no safetensors weights."""


@dataclass(frozen=True)
class ModelSource:
    """A model as given (``model``), the local folder it is read from, its hub revision (a
    commit; empty for a local folder) and the SHA-256 of its files."""

    model: str
    folder: Path
    revision: str
    digest: str

    def provenance(self) -> dict[str, str]:
        """How records name it: the model as given, its revision when from the hub, its digest."""
        out = {"model": self.model, "digest": f"sha256:{self.digest}"}
        return {**out, "revision": self.revision} if self.revision else out


def resolve_model(model: str, owner: str, flag: str) -> ModelSource:
    """The model ``model`` names, for ``owner`` (``extractor 'hf'``) whose option ``flag``
    (``--extractor-opt model``) set it; one line saying which it is and how to pass a folder
    when it is neither a folder nor a hub model available now."""
    if not model.strip():
        raise AtrBenchError(
            f"{owner}: no model given; pass {flag}=HUB_ID or {flag}=/path/to/folder"
        )
    path = Path(model).expanduser()
    if path.is_dir():
        return _local(model, path.resolve())
    if model.startswith(("/", ".", "~")) or path.exists():
        raise AtrBenchError(
            f"{owner}: {model!r} is not a folder; pass {flag}=FOLDER where a model was saved "
            "with save_pretrained"
        )
    folder = _hub_snapshot(model, owner, flag)
    return ModelSource(model, folder, folder.name, folder_digest(folder))


def _local(model: str, folder: Path) -> ModelSource:
    if not (folder / "config.json").is_file():
        raise AtrBenchError(
            f"{folder}: no config.json, so not a transformers model folder; save one with "
            "model.save_pretrained(FOLDER) (and its processor or tokenizer beside it)"
        )
    return ModelSource(model, folder, "", folder_digest(folder))


def _hub_snapshot(model: str, owner: str, flag: str) -> Path:
    """The cached snapshot folder of hub model ``model``: fetched when the hub answers, the
    cached one when it does not (``HF_HUB_OFFLINE=1`` never asks)."""
    from huggingface_hub import snapshot_download

    try:
        folder = Path(snapshot_download(model, allow_patterns=list(HUB_FILES)))
        if not any(folder.glob("*.safetensors")):
            folder = Path(snapshot_download(model, allow_patterns=[*HUB_FILES, *LEGACY_WEIGHTS]))
    except Exception as exc:  # offline, unknown id, bad id, no access: each its own class
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AtrBenchError(
            f"{owner}: model {model!r} is not a local folder, and no hub copy of it could be "
            f"fetched or found in the Hugging Face cache ({type(exc).__name__}: {reason[:160]}); "
            f"without network pass a local folder: {flag}=/path/to/folder (saved with "
            "save_pretrained, or a copy of the cached snapshot)"
        ) from None
    return folder


def folder_digest(folder: Path) -> str:
    """SHA-256 over every file of ``folder`` but hidden ones (download caches and locks): its
    relative path and contents (read once per process while no size or modification time
    changes)."""
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    stamps = tuple(
        (p.relative_to(folder).as_posix(), p.stat().st_size, p.stat().st_mtime_ns) for p in files
    )
    return _digest(folder, stamps)


@functools.lru_cache(maxsize=32)
def _digest(folder: Path, stamps: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for name, *_ in stamps:
        digest.update(name.encode() + b"\0")
        with open(folder / name, "rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()
