"""ExtractorSpecs of the paper's pretrained audio extractors (PANNs Cnn10/Cnn14, VGGish,
VGGSound, efficient_latent).

``spec.build(weights=None, device="cpu")`` returns the network in eval mode on ``device``, with
``sample_rate``, ``dim``, ``frames_per_second``, ``frames_for(n_samples)`` and
``__call__(wave[B, N]) -> [B, T, D]``. ``weights`` is the official checkpoint's path, or
``"random"`` for an untrained network; left ``None``, the extractor's environment variable
(see ``atr_bench.data.extraction.weights.SOURCES``) is read, and if it is unset the error
says where the official checkpoint comes from.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from atr_bench.components.extractors.framing import (
    EFFICIENT_LATENT,
    PANNS_CNN10,
    PANNS_CNN14,
    VGGISH,
    VGGSOUND,
    Framing,
)
from atr_bench.errors import AtrBenchError
from atr_bench.plugins.contract import Extractor
from atr_bench.plugins.lazy import Lazy
from atr_bench.plugins.specs import ExtractorSpec, Option

if TYPE_CHECKING:
    from torch import nn

Weights = str | os.PathLike[str] | None


def _finish(module: nn.Module, name: str, path: Path | None, device: str) -> Extractor:
    """Load the checkpoint at ``path`` (``None``: keep random init), then eval mode on
    ``device``."""
    from atr_bench.data.extraction.weights import load_checkpoint

    if path is not None:
        load_checkpoint(module, path, name)
    ready = module.eval().to(device)
    assert isinstance(ready, Extractor)  # each network declares sample_rate, dim, frames/s
    return ready


def _builder(name: str, factory: Callable[[], nn.Module]) -> Callable[..., Extractor]:
    def build(weights: Weights = None, device: str = "cpu") -> Extractor:
        from atr_bench.data.extraction.weights import resolve_weights

        path = resolve_weights(name, weights)  # before building: a missing file fails fast
        return _finish(factory(), name, path, device)

    build.__doc__ = f"Build {name} with its official checkpoint (or ``weights='random'``)."
    return build


def build_vggish(weights: Weights = None, device: str = "cpu", pca: str = "") -> Extractor:
    """VGGish; ``pca`` (or ATR_BENCH_VGGISH_PCA_WEIGHTS) names torchvggish's PCA parameter file
    to output the quantised AudioSet-style embeddings instead of the raw ones."""
    from atr_bench.components.extractors import vggish
    from atr_bench.data.extraction.weights import SOURCES, read_checkpoint, resolve_weights

    path = resolve_weights("vggish", weights)
    module = vggish.VGGish()
    pca = pca or os.environ.get(SOURCES["vggish_pca"].env_var, "")
    if pca:
        pca_path = resolve_weights("vggish_pca", pca)
        if pca_path is not None:
            params = read_checkpoint(pca_path, "vggish_pca")
            try:
                module.load_pca(params)
            except (KeyError, TypeError, ValueError) as exc:
                raise AtrBenchError(
                    f"vggish PCA file {str(pca_path)!r} is not torchvggish's PCA parameters "
                    f"(needs pca_eigen_vectors [128, 128] and pca_means [128]: {exc})"
                ) from None
    return _finish(module, "vggish", path, device)


def network_spec(name: str, description: str, network: str, framing: Framing) -> ExtractorSpec:
    """A network built without options by ``network``: ``"module.function"`` (or class) of
    this package, imported when it is built."""
    module, _, factory = network.partition(".")
    return ExtractorSpec(
        name=name,
        description=description,
        build=_builder(name, Lazy(f"{__package__}.{module}", factory)),
        dim=framing.dim,
        sample_rate=framing.sample_rate,
        frames_per_second=framing.frames_per_second,
    )


def panns_spec(name: str, network: str, framing: Framing) -> ExtractorSpec:
    """A PANNs network's frame embeddings."""
    fps = framing.frames_per_second
    description = (
        f"PANNs {name.removeprefix('panns_').title()} (AudioSet) frame embeddings, "
        f"{framing.dim}-d at {fps:g} frames/s"
    )
    return network_spec(name, description, network, framing)


def vggish_spec() -> ExtractorSpec:
    """VGGish embeddings (128-d per 0.96 s example, 16 kHz, 10 frames per 10 s)."""
    return ExtractorSpec(
        name="vggish",
        description="VGGish (AudioSet) embeddings, 128-d per 0.96 s example",
        build=build_vggish,
        options=(
            Option("pca", str, "", "torchvggish PCA parameter file; empty = raw 128-d embeddings"),
        ),
        dim=VGGISH.dim,
        sample_rate=VGGISH.sample_rate,
        frames_per_second=VGGISH.frames_per_second,
    )


PRETRAINED_SPECS: tuple[ExtractorSpec, ...] = (
    panns_spec("panns_cnn10", "panns.cnn10", PANNS_CNN10),
    panns_spec("panns_cnn14", "panns.cnn14", PANNS_CNN14),
    vggish_spec(),
    network_spec(
        "vggsound",
        "VGGSound ResNet-18 layer4 frames, 512-d at 3.14 frames/s",
        "vggsound.VGGSound",
        VGGSOUND,
    ),
    network_spec(
        "efficient_latent",
        "HEAR 2021 efficient_latent (EfficientNet-B2) frames, 1408-d at 3.125/s",
        "efficient_latent.EfficientLatent",
        EFFICIENT_LATENT,
    ),
)
