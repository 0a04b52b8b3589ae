"""File templates for ``atr-bench new-plugin``: a working plugin distribution per kind.

Each template is a ``string.Template``; ``$name`` is the plugin's name, ``$package`` its import
package, ``$distribution`` its distribution, ``$cls`` its class and ``$requires`` the atr-bench
requirement. Every kind gets the shared files plus its own ``plugin.py`` and test.
"""

from __future__ import annotations

PYPROJECT = """\
[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "$distribution"
version = "0.1.0"
description = "$summary"
readme = "README.md"
requires-python = ">=3.11"
license = "MIT"
dependencies = ["$requires", "torch>=2.3"]

[project.optional-dependencies]
test = ["pytest>=8"]

[project.entry-points.atr_bench]
$name = "$package.plugin"

[tool.setuptools.packages.find]
include = ["$package*"]
"""

README = """\
# $distribution

$summary, as an atr-bench plugin.

```
pip install -e ./$distribution
pytest ./$distribution/tests       # the harness's conformance kit
atr-bench list                     # shows $name
$run
```

Edit `$package/plugin.py`; what it must provide is in atr-bench's
`atr_bench/plugins/contract.py`, how to package and test it in `docs/writing-plugins.md`.
"""

INIT = '''\
"""$summary, as an atr-bench plugin."""
'''

POOLING = '''\
"""The ``$name`` pooling: attention-weighted mean of the real frames.

The entry point (group ``atr_bench``) names this module; atr-bench calls its hook.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from atr_bench import Option, PoolingSpec, hookimpl


class $cls(nn.Module):
    """Scores each frame with a small MLP, softmaxes the scores over the real frames only and
    returns the weighted mean: ``[B, T, D]`` and a ``[B, T]`` mask -> ``[B, D]``."""

    def __init__(self, in_dim: int, hidden: int = 128):
        super().__init__()  # hidden is checked by its Option's rules before it gets here
        self.score = nn.Sequential(nn.Linear(in_dim, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        self.out_dim = in_dim

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        x = torch.where(mask.unsqueeze(-1), x, 0.0)  # padding may hold anything, even NaN
        scores = self.score(x).squeeze(-1).masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=1)  # [B, T], zero on padded frames
        return torch.bmm(weights.unsqueeze(1), x).squeeze(1)


SPEC = PoolingSpec(
    name="$name",
    description="attention-weighted mean over the real frames (order-free)",
    build=$cls,
    options=(
        Option("hidden", int, 128, "width of the frame-scoring MLP", minimum=1, maximum=4096),
    ),
)


@hookimpl
def atr_bench_poolings() -> list[PoolingSpec]:
    return [SPEC]
'''

POOLING_TEST = '''\
"""The ``$name`` pooling against atr-bench's conformance kit."""

import pytest

from atr_bench.dev.conformance import POOLING_CHECKS, check_spec
from $package.plugin import SPEC


@pytest.mark.parametrize("check", [check_spec, *POOLING_CHECKS], ids=lambda c: c.__name__)
@pytest.mark.parametrize("options", [{}, {"hidden": 4}])
def test_conformance(check, options):
    check(SPEC, options)
'''

EXTRACTOR = '''\
"""The ``$name`` extractor: log band energies of short frames.

The entry point (group ``atr_bench``) names this module; atr-bench calls its hook.
"""

from __future__ import annotations

import torch
from torch import Tensor

from atr_bench import AtrBenchError, ExtractorSpec, hookimpl

SAMPLE_RATE = 16000
FRAMES_PER_SECOND = 10.0
DIM = 32


class $cls:
    """``[B, N]`` waves at 16 kHz -> ``[B, N // 1600, 32]`` log energies of 32 equal-width
    frequency bands per 100 ms frame. It learns nothing, so it takes no weights."""

    sample_rate = SAMPLE_RATE
    frames_per_second = FRAMES_PER_SECOND
    dim = DIM

    def __init__(self, weights: object = None, device: str = "cpu"):
        if weights is not None:
            raise AtrBenchError(
                f"extractor '$name' has no learned parameters; drop the weights {weights!r}"
            )
        self.device = torch.device(device)

    def __call__(self, wave: Tensor) -> Tensor:
        hop = int(SAMPLE_RATE / FRAMES_PER_SECOND)
        frames = wave.to(self.device)[:, : wave.shape[1] // hop * hop].unflatten(1, (-1, hop))
        power = torch.fft.rfft(frames, dim=-1).abs().square()[..., :-1]  # [B, T, hop // 2]
        return torch.log1p(power.unflatten(-1, (DIM, -1)).mean(-1)).float()


@hookimpl
def atr_bench_extractors() -> list[ExtractorSpec]:
    return [
        ExtractorSpec(
            name="$name",
            description="log energies of 32 frequency bands, 10 frames/s (no weights)",
            build=$cls,
            dim=DIM,
            sample_rate=SAMPLE_RATE,
            frames_per_second=FRAMES_PER_SECOND,
        )
    ]
'''

EXTRACTOR_TEST = '''\
"""The ``$name`` extractor against atr-bench's conformance kit."""

from atr_bench.dev.conformance import check_extractor
from $package.plugin import atr_bench_extractors


def test_conformance():
    (spec,) = atr_bench_extractors()
    check_extractor(spec)
'''

TEXT_ENCODER = '''\
"""The ``$name`` text encoder: a fixed pseudo-random vector per word.

The entry point (group ``atr_bench``) names this module; atr-bench calls its hook.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from atr_bench import Option, TextEncoderSpec, hookimpl

DIM = 64


class $cls:
    """Each lower-cased word maps to a unit vector drawn from a generator seeded by the word's
    hash, so the same word always gets the same vector: ``[n_words, dim]`` per caption."""

    def __init__(self, dim: int = DIM):
        self.dim = dim  # checked by its Option's rules before it gets here

    def _vector(self, word: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "little")
        vector = np.random.default_rng(seed).standard_normal(self.dim)
        return (vector / np.linalg.norm(vector)).astype(np.float32)

    def encode(self, captions: Sequence[str]) -> list[np.ndarray]:
        out = []
        for caption in captions:
            words = re.findall(r"[a-z0-9']+", caption.lower())
            vectors = [self._vector(w) for w in words]
            out.append(np.stack(vectors) if vectors else np.zeros((0, self.dim), np.float32))
        return out


@hookimpl
def atr_bench_text_encoders() -> list[TextEncoderSpec]:
    return [
        TextEncoderSpec(
            name="$name",
            description="a fixed pseudo-random vector per word (hash-seeded, no training)",
            build=$cls,
            options=(Option("dim", int, DIM, "vector size", minimum=1, maximum=4096),),
            dim=DIM,
        )
    ]
'''

TEXT_ENCODER_TEST = '''\
"""The ``$name`` text encoder against atr-bench's conformance kit."""

import pytest

from atr_bench.dev.conformance import TEXT_ENCODER_CHECKS, check_spec
from $package.plugin import atr_bench_text_encoders

(SPEC,) = atr_bench_text_encoders()


@pytest.mark.parametrize("check", [check_spec, *TEXT_ENCODER_CHECKS], ids=lambda c: c.__name__)
def test_conformance(check, tmp_path):
    check(SPEC, workdir=tmp_path)
'''

KINDS: dict[str, tuple[str, str, str, str, str]] = {
    "pooling": ("Pooling", "an attention pooling", "--pooling", POOLING, POOLING_TEST),
    "extractor": ("Extractor", "a band-energy extractor", "--extractor", EXTRACTOR, EXTRACTOR_TEST),
    "text-encoder": (
        "TextEncoder",
        "a hashed word-vector text encoder",
        "--text-encoder",
        TEXT_ENCODER,
        TEXT_ENCODER_TEST,
    ),
}
"""kind -> class suffix, summary, ``atr-bench run`` flag, plugin module, test module."""
