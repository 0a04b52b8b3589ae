"""Failure marks: ``runs/<run id>.failed`` holds why a run's last attempt failed, so that
``atr-bench sweep --status`` can tell any executor's failures; a later success removes it."""

from __future__ import annotations

from pathlib import Path

from atr_bench.files.atomic import atomic_write
from atr_bench.files.names import MAX_RUN_ID, check_name, inside


def failure_path(runs_dir: Path, run_id: str) -> Path:
    check_name(run_id, "run id", MAX_RUN_ID)
    return inside(Path(runs_dir), f"{run_id}.failed")


def mark_failed(runs_dir: Path, run_id: str, reason: str) -> Path:
    text = reason.rstrip("\n") + "\n"
    return atomic_write(
        failure_path(runs_dir, run_id), lambda tmp: tmp.write_text(text, encoding="utf-8")
    )


def clear_failure(runs_dir: Path, run_id: str) -> None:
    failure_path(runs_dir, run_id).unlink(missing_ok=True)


def last_failure(runs_dir: Path, run_id: str) -> str | None:
    """The last non-empty line of the run's failure mark, or None when it has none."""
    try:
        text = failure_path(runs_dir, run_id).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "failed (no reason recorded)"
