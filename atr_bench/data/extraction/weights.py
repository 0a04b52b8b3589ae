"""Official checkpoints of the pretrained extractors: where they come from and how they load.

No weights ship with atr-bench and none are downloaded at run time. Each extractor names its
official checkpoint (URL) and an environment variable; ``resolve_weights`` turns the user's
``--weights PATH`` / the variable / ``"random"`` into a path (or ``None`` for random init), and
``load_checkpoint`` loads the file with ``torch.load(weights_only=True)`` (no arbitrary pickle
code runs), unwraps the container the authors saved it in and loads it strictly.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from atr_bench.errors import AtrBenchError
from atr_bench.files.atomic import load_torch

if TYPE_CHECKING:
    from atr_bench.plugins.specs import ExtractorSpec

RANDOM = "random"
"""``weights="random"``: build with random initialisation (smoke tests, shape checks)."""

_CONTAINER_KEYS = ("model", "model_state_dict", "state_dict")
"""Keys under which training scripts nest the state dict (PANNs: "model"; VGGSound:
"model_state_dict")."""


@dataclass(frozen=True)
class WeightSource:
    """Where the official checkpoint of one extractor comes from."""

    name: str
    env_var: str
    url: str
    origin: str

    def hint(self) -> str:
        """How to obtain and pass the checkpoint, for error messages."""
        return (
            f"download the official checkpoint ({self.origin}) from {self.url} and pass it "
            f"with --weights PATH or the environment variable {self.env_var}=PATH "
            f'(or use weights="random" for an untrained network)'
        )


SOURCES: dict[str, WeightSource] = {
    s.name: s
    for s in (
        WeightSource(
            "panns_cnn14",
            "ATR_BENCH_PANNS_CNN14_WEIGHTS",
            "https://zenodo.org/record/3987831/files/Cnn14_mAP%3D0.431.pth",
            "PANNs Cnn14_mAP=0.431.pth, Kong et al. 2020",
        ),
        WeightSource(
            "panns_cnn10",
            "ATR_BENCH_PANNS_CNN10_WEIGHTS",
            "https://zenodo.org/record/3987831/files/Cnn10_mAP%3D0.380.pth",
            "PANNs Cnn10_mAP=0.380.pth, Kong et al. 2020",
        ),
        WeightSource(
            "vggish",
            "ATR_BENCH_VGGISH_WEIGHTS",
            "https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish-10086976.pth",
            "torchvggish port of VGGish, vggish-10086976.pth",
        ),
        WeightSource(
            "vggish_pca",
            "ATR_BENCH_VGGISH_PCA_WEIGHTS",
            "https://github.com/harritaylor/torchvggish/releases/download/v0.1/"
            "vggish_pca_params-970ea276.pth",
            "torchvggish VGGish PCA parameters, vggish_pca_params-970ea276.pth",
        ),
        WeightSource(
            "vggsound",
            "ATR_BENCH_VGGSOUND_WEIGHTS",
            "http://www.robots.ox.ac.uk/~vgg/data/vggsound/models/H.pth.tar",
            "VGGSound ResNet-18 average-pool model H, Chen et al. 2020",
        ),
        WeightSource(
            "efficient_latent",
            "ATR_BENCH_EFFICIENT_LATENT_WEIGHTS",
            "https://github.com/richermans/HEAR2021_EfficientLatent/releases/download/"
            "v0.0.1/effb2.pt",
            "HEAR 2021 efficient_latent EfficientNet-B2, effb2.pt",
        ),
    )
}


def resolve_weights(name: str, weights: str | os.PathLike[str] | None) -> Path | None:
    """The checkpoint path to load for extractor ``name``, or ``None`` for random init.

    ``weights`` is a path, ``"random"``, or ``None`` (then the extractor's environment
    variable is read; if it is unset too, the error says where the official file comes from).
    """
    source = SOURCES[name]
    if weights is None:
        weights = os.environ.get(source.env_var) or None
        if weights is None:
            raise AtrBenchError(f"extractor {name!r} needs pretrained weights: {source.hint()}")
    if str(weights) == RANDOM:
        return None
    path = Path(weights).expanduser()
    if not path.is_file():
        raise AtrBenchError(f"{name} weights {str(path)!r} not found: {source.hint()}")
    return path


def feature_provenance(extractor: str, weights: str | os.PathLike[str] | None) -> dict[str, str]:
    """What a feature file records about the network that made it: the extractor and its
    weights (``random``, ``default`` when none were passed, or the checkpoint's file name and
    SHA-256 prefix), so a run can tell features of an untrained network."""
    if weights is None and extractor in SOURCES:
        weights = os.environ.get(SOURCES[extractor].env_var) or None
    if weights is None or str(weights) == RANDOM:
        return {"extractor": extractor, "weights": RANDOM if weights else "default"}
    path = Path(weights).expanduser()
    if not path.is_file():
        return {"extractor": extractor, "weights": str(weights)}
    return {"extractor": extractor, "weights": f"{path.name} sha256:{file_sha256(path)[:16]}"}


def spec_provenance(spec: ExtractorSpec, weights: str | os.PathLike[str] | None) -> dict[str, str]:
    """``feature_provenance`` with what the spec adds (a model's id, digest and layer)."""
    return {**feature_provenance(spec.name, weights), **spec.provenance}


def weights_identity(weights: str | None) -> str | None:
    """What ``--weights`` means independently of where the file lies: ``None`` (none given),
    ``"random"``, or ``"sha256:<hex digest>"`` of the checkpoint (an error if there is none)."""
    if weights is None or weights == RANDOM:
        return weights
    path = Path(weights).expanduser()
    if not path.is_file():
        raise AtrBenchError(f"--weights {weights!r}: no such file; give a checkpoint or 'random'")
    return f"sha256:{file_sha256(path)}"


def file_sha256(path: Path) -> str:
    """The SHA-256 hex digest of a file, read once per process for an unchanged file."""
    stat = path.stat()
    return _sha256(path.resolve(), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _sha256(path: Path, size: int, mtime_ns: int) -> str:
    """Keyed on size and modification time too, so a rewritten file is read again."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _numpy_globals() -> list[Any]:
    """The numpy types a plain array pickle needs; allowed so files holding numpy arrays
    (such as the VGGish PCA parameters) still load through the restricted unpickler."""
    reconstruct = getattr(np, "_core", np).multiarray._reconstruct
    dtypes = [type(np.dtype(c)) for c in "?bBhHiIlLqQefdgFDG"]
    return [reconstruct, np.ndarray, np.dtype, *dtypes]


def read_checkpoint(path: Path, name: str) -> Any:
    """``torch.load`` with ``weights_only=True``; a clear error if the file is not a checkpoint."""
    try:
        with torch.serialization.safe_globals(_numpy_globals()):
            return load_torch(path)
    except Exception as exc:  # a corrupt or foreign file fails in many ways; all mean the same
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "weights only load failed" in first.lower():  # never pass on "weights_only=False"
            first = "it holds Python objects besides tensors, which are never unpickled here"
        raise AtrBenchError(
            f"{name} weights {str(path)!r} are not a loadable PyTorch checkpoint "
            f"(weights_only load failed: {first}); {SOURCES[name].hint()}"
        ) from None


def unwrap_state_dict(obj: Any, path: Path, name: str) -> dict[str, torch.Tensor]:
    """The state dict inside a checkpoint: unnest ``{"model": sd}``-style containers and strip
    the ``module.`` prefix that ``nn.DataParallel`` adds."""
    if isinstance(obj, Mapping) and not all(isinstance(v, torch.Tensor) for v in obj.values()):
        for key in _CONTAINER_KEYS:
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        raise AtrBenchError(
            f"{name} weights {str(path)!r} hold no state dict (expected a mapping of tensor "
            f"names to tensors, possibly under one of {', '.join(_CONTAINER_KEYS)})"
        )
    state = dict(obj)
    if state and all(k.startswith("module.") for k in state):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    return state


def _first(keys: list[str], n: int = 5) -> str:
    shown = ", ".join(keys[:n])
    return shown + (f" (+{len(keys) - n} more)" if len(keys) > n else "")


def load_state_dict_strict(
    module: nn.Module, state: Mapping[str, torch.Tensor], path: Path, name: str
) -> None:
    """``module.load_state_dict(state, strict=True)`` with a one-line error naming the first
    missing / unexpected / mis-shaped keys."""
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing keys: {_first(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_first(unexpected)}")
        if shapes:
            parts.append(f"shape mismatch: {_first(shapes, 3)}")
        raise AtrBenchError(
            f"{name} weights {str(path)!r} do not match the network ({'; '.join(parts)}); "
            f"{SOURCES[name].hint()}"
        )
    module.load_state_dict(state, strict=True)


def load_checkpoint(module: nn.Module, path: str | os.PathLike[str], name: str) -> nn.Module:
    """Load the official checkpoint at ``path`` into ``module`` (strict); returns ``module``."""
    path = Path(path)
    if not path.is_file():
        raise AtrBenchError(f"{name} weights {str(path)!r} not found: {SOURCES[name].hint()}")
    state = unwrap_state_dict(read_checkpoint(path, name), path, name)
    load_state_dict_strict(module, state, path, name)
    return module
