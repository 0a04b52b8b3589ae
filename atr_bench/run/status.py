"""``atr-bench sweep --status``: where each run of a grid stands, read from the shared runs
folder alone (records, claims, failure marks), so it answers for any executor."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from atr_bench.errors import AtrBenchError
from atr_bench.plugins.registry import registry
from atr_bench.record.claims import claim_path, read_claim
from atr_bench.record.failures import last_failure
from atr_bench.record.results import read_done, record_path
from atr_bench.run.config import RunRequest
from atr_bench.run.plan import plan

DONE, RUNNING, FAILED, NOT_STARTED = "done", "claimed/running", "failed", "not started"
STATES = (DONE, RUNNING, FAILED, NOT_STARTED)


@dataclass(frozen=True)
class RunState:
    """One run of the grid (``seed`` None: a configuration that cannot even be planned)."""

    label: str
    seed: int | None
    state: str
    detail: str | None = None


def run_state(runs_dir: Path, run_id: str) -> tuple[str, str | None]:
    """A valid record of this run means done (an unreadable one or another run's, failed);
    else a live claim means running; else a failure mark means failed; else (nothing, or the
    expired claim of a dead worker) not started."""
    path = record_path(runs_dir, run_id)
    if path.exists():
        try:
            read_done(path, {})
        except AtrBenchError as exc:
            return FAILED, str(exc)
        return DONE, None
    claim = read_claim(claim_path(runs_dir, run_id))
    if claim is not None and not claim.expired():
        return RUNNING, f"{claim.owner.describe()}, heartbeat {claim.age():.0f} s ago"
    failure = last_failure(runs_dir, run_id)
    if failure is not None:
        return FAILED, failure
    if claim is not None:
        return NOT_STARTED, f"the claim of {claim.owner.describe()} expired; sweeping takes it"
    return NOT_STARTED, None


def grid_status(
    configs: Sequence[RunRequest], seeds: Sequence[int], runs_dir: Path, data_root: Path
) -> list[RunState]:
    states = []
    for config in configs:
        try:
            the_plan = plan(config, registry(), data_root)
        except AtrBenchError as exc:
            label = f"{config.dataset}/{config.extractor}/{config.pooling} ({config.protocol})"
            states.append(RunState(label, None, FAILED, str(exc)))
            continue
        for seed in seeds:
            state, detail = run_state(runs_dir, the_plan.run_id(seed))
            states.append(RunState(the_plan.label, seed, state, detail))
    return states


def format_status(states: Sequence[RunState]) -> str:
    """A count per state, then one line per run that is not done."""
    counts = Counter(s.state for s in states)
    lines = [f"{len(states)} runs: " + ", ".join(f"{counts[k]} {k}" for k in STATES)]
    for s in states:
        if s.state == DONE:
            continue
        seed = "" if s.seed is None else f" seed {s.seed}"
        detail = f": {s.detail}" if s.detail else ""
        lines.append(f"  {s.state.upper()} {s.label}{seed}{detail}")
    return "\n".join(lines)
