"""Built-in audio extractors, registered through the same hook a third-party plugin implements.
Each network (and torch) is imported when it is built, not when the plugin loads."""

from __future__ import annotations

from typing import TYPE_CHECKING

from atr_bench import hookimpl
from atr_bench.components.extractors.framing import LMS
from atr_bench.components.extractors.pretrained import PRETRAINED_SPECS
from atr_bench.errors import AtrBenchError
from atr_bench.hf.clap_spec import SPEC as CLAP_SPEC
from atr_bench.hf.extractor_spec import SPEC as HF_SPEC
from atr_bench.plugins.specs import ExtractorSpec

if TYPE_CHECKING:
    from atr_bench.components.extractors.logmel import LogMel


def build_lms(weights: object = None, device: str = "cpu") -> LogMel:
    """The log-mel extractor on ``device``; it has no learned parameters, so no weights."""
    from atr_bench.components.extractors.logmel import LogMel

    if weights is not None:
        raise AtrBenchError(
            f"extractor 'lms' has no learned parameters; drop the weights {weights!r}"
        )
    return LogMel().to(device).eval()


@hookimpl
def atr_bench_extractors() -> list[ExtractorSpec]:
    lms = ExtractorSpec(
        name="lms",
        description="log-mel spectrogram, 128 bands at 16 kHz, mean-pooled to 10 frames/s",
        build=build_lms,
        dim=LMS.dim,
        sample_rate=LMS.sample_rate,
        frames_per_second=LMS.frames_per_second,
    )
    return [lms, *PRETRAINED_SPECS, HF_SPEC, CLAP_SPEC]
