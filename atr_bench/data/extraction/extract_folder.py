"""Extract a dataset's features from a folder of real audio files into the seed layout.

Per split: the clips of the index are matched to files (``atr_bench.data.extraction.folder``), those
already in the feature store are skipped (so an interrupted run resumes where it stopped),
the rest are read and resampled in background threads and fed to ``extract_to_store``, which
flushes every clip. Clips without a file and files that cannot be read are collected in the
report instead of stopping the others.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from atr_bench.data.extraction.extract import extract_to_store
from atr_bench.data.extraction.folder import AudioReadError, audio_files, match_files, read_audio
from atr_bench.data.extraction.weights import spec_provenance
from atr_bench.data.feature_store import stored_clips
from atr_bench.data.layout import SPLITS
from atr_bench.errors import AtrBenchError
from atr_bench.plugins.contract import Dataset, Extractor, FramesFor, Indexed
from atr_bench.plugins.specs import ExtractorSpec

_SHOW = 10


@dataclass(frozen=True)
class Problem:
    """A clip that could not be extracted: no audio file (``path`` None) or an unreadable one."""

    split: str
    clip_id: str
    path: Path | None
    reason: str


@dataclass(frozen=True)
class ExtractReport:
    """What ``extract_folder`` did: per split the clips in the index, written now, stored in
    total afterwards; and the clips it could not extract."""

    dataset: str
    extractor: str
    audio_dir: Path
    clips: Mapping[str, int]
    written: Mapping[str, int]
    stored: Mapping[str, int]
    missing: tuple[Problem, ...]
    unreadable: tuple[Problem, ...]

    @property
    def complete(self) -> bool:
        """Every clip of every split is in the feature store."""
        return all(self.stored[s] == self.clips[s] for s in self.clips)

    def summary(self, limit: int = _SHOW) -> str:
        """A few lines for the terminal; at most ``limit`` problems of each kind are listed."""
        lines = [f"{self.extractor} features of {self.dataset} from {self.audio_dir}:"]
        for split in self.clips:
            lines.append(
                f"  {split}: {self.clips[split]} clips, {self.written[split]} written now, "
                f"{self.stored[split]} stored"
            )
        for title, problems in (
            ("no audio file", self.missing),
            ("unreadable audio", self.unreadable),
        ):
            if not problems:
                continue
            lines.append(f"{len(problems)} clip(s) with {title}:")
            for p in problems[:limit]:
                where = f" {p.path}:" if p.path else ""
                lines.append(f"  {p.split}/{p.clip_id}:{where} {p.reason}")
            if len(problems) > limit:
                lines.append(f"  ... and {len(problems) - limit} more")
        if not self.complete:
            lines.append("features are incomplete: fix or add the files above and run again")
        return "\n".join(lines)


@dataclass(frozen=True)
class _SplitPlan:
    split: str
    path: Path
    n_clips: int
    n_stored: int
    jobs: tuple[tuple[str, Path], ...]
    missing: tuple[Problem, ...]


def _plan(dataset: Dataset, extractor: str, files: Sequence[Path], style: str) -> list[_SplitPlan]:
    """Read every index and store first, so a bad index or ambiguous file fails before work."""
    plans = []
    for split in SPLITS:
        ids = [clip.clip_id for clip in dataset.clips(split)]
        path = dataset.layout.features(extractor, split)
        done = stored_clips(path)
        todo = [clip_id for clip_id in ids if clip_id not in done]
        found = match_files(todo, files, style)
        plans.append(
            _SplitPlan(
                split=split,
                path=path,
                n_clips=len(ids),
                n_stored=len(ids) - len(todo),
                jobs=tuple((c, found[c]) for c in todo if c in found),
                missing=tuple(
                    Problem(split, c, None, "no matching .wav/.flac/.ogg file")
                    for c in todo
                    if c not in found
                ),
            )
        )
    return plans


def _waves(
    plan: _SplitPlan, model: Extractor, problems: list[Problem], workers: int
) -> Iterator[tuple[str, np.ndarray]]:
    """Read the plan's files in order with up to ``2 * workers`` reads in flight; unreadable
    or too short ones go to ``problems``."""
    rate = int(model.sample_rate)
    frames_for = model.frames_for if isinstance(model, FramesFor) else None
    jobs = iter(plan.jobs)
    pending: deque[tuple[str, Path, Future[np.ndarray]]] = deque()
    with ThreadPoolExecutor(max_workers=max(workers, 1)) as pool:

        def submit() -> None:
            job = next(jobs, None)
            if job is not None:
                pending.append((*job, pool.submit(read_audio, job[1], rate)))

        try:
            for _ in range(2 * max(workers, 1)):
                submit()
            while pending:
                clip_id, path, future = pending.popleft()
                submit()
                try:
                    wave = future.result()
                except AudioReadError as exc:
                    problems.append(Problem(plan.split, clip_id, path, exc.reason))
                    continue
                if frames_for is not None and frames_for(len(wave)) < 1:
                    reason = f"too short: {len(wave)} samples at {rate} Hz give no frame"
                    problems.append(Problem(plan.split, clip_id, path, reason))
                    continue
                yield clip_id, wave
        finally:
            for *_, future in pending:
                future.cancel()


def extract_folder(
    dataset: Dataset,
    extractor_spec: ExtractorSpec,
    build_options: Mapping[str, Any],
    audio_dir: Path,
    batch_size: int = 16,
    progress: bool = True,
    workers: int = 2,
    style: str | None = None,
) -> ExtractReport:
    """Extract every split's missing clips from the audio files under ``audio_dir``.

    ``build_options`` go to ``extractor_spec.build`` (``device`` also picks where it runs).
    ``style`` is the file matching rule, ``"youtube"`` for CSV (AudioCaps) indexes and
    ``"filename"`` otherwise unless given. A KeyboardInterrupt propagates, keeping every clip
    written so far; running again extracts only the rest.
    """
    csv = isinstance(dataset, Indexed) and dataset.index_format == "csv"
    style = style or ("youtube" if csv else "filename")
    files = audio_files(audio_dir)
    plans = _plan(dataset, extractor_spec.name, files, style)
    if not files and any(p.missing for p in plans):
        raise AtrBenchError(
            f"{audio_dir}: no .wav/.flac/.ogg files found (searched recursively); pass the "
            f"folder holding {dataset.name}'s audio clips"
        )
    model = extractor_spec.create(**build_options) if any(p.jobs for p in plans) else None
    provenance = spec_provenance(extractor_spec, build_options.get("weights"))
    written: dict[str, int] = {}
    unreadable: list[Problem] = []
    for plan in plans:
        written[plan.split] = 0
        if plan.jobs and model is not None:
            written[plan.split] = extract_to_store(
                model,
                _waves(plan, model, unreadable, workers),
                plan.path,
                batch_size=batch_size,
                device=str(build_options.get("device", "cpu")),
                progress=progress,
                desc=f"{extractor_spec.name} {dataset.name}/{plan.split}",
                provenance=provenance,
            )
    return ExtractReport(
        dataset=dataset.name,
        extractor=extractor_spec.name,
        audio_dir=Path(audio_dir),
        clips={p.split: p.n_clips for p in plans},
        written=written,
        stored={p.split: p.n_stored + written[p.split] for p in plans},
        missing=tuple(m for p in plans for m in p.missing),
        unreadable=tuple(unreadable),
    )
