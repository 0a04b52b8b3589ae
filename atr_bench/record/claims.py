"""Claims: which worker is doing a run, so that workers of several sweeps (processes, Slurm
tasks, Ray tasks, on any host sharing ``runs/``) do each run exactly once.

``runs/<run id>.claim`` holds its owner and a heartbeat the owner renews while it works. Taking
a claim is checked and written under a lock on the claim (``exclusive``), so of two workers
only one gets it. A claim whose heartbeat is older than its time to live, or whose owner is a
process of this host that is gone, or an earlier attempt of the same Slurm array task (a
requeue), has lost its owner and is taken over. A claim file that does not hold a claim (bad
JSON, wrong types, a heartbeat or time to live that is not a finite number) is void; a time to
live is judged as the shorter of the claimant's and the reader's, so ``--claim-ttl`` bounds how
long any claim can hold a run; a heartbeat later than now by more than that is void too (a
clock cannot be that far off).
"""

from __future__ import annotations

import json
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from atr_bench.errors import AtrBenchError
from atr_bench.files.atomic import exclusive, write_json
from atr_bench.files.names import MAX_RUN_ID, check_name, inside

CLAIM_TTL = 300.0
"""Seconds without a heartbeat after which a claim's owner is taken to be dead."""
MAX_CLAIM_TTL = 7 * 24 * 3600.0
"""The longest time to live a claim may state (a week)."""
BEAT_EVERY = CLAIM_TTL / 4
"""The longest wait between heartbeats, whatever the time to live: a reader that judges
claims by the default time to live never takes a live one over."""


@dataclass(frozen=True)
class Owner:
    """Who holds a claim: host, process, the Slurm array task if any, and a unique token."""

    host: str
    pid: int
    slurm_task: str | None
    token: str

    @classmethod
    def here(cls, slurm_task: str | None = None) -> Owner:
        """This process; ``slurm_task`` (``<array job>_<index>``, or the job id of a one-run
        sweep) only from the Slurm executor's tasks, whose requeued attempts keep it (a Ray
        worker on a Slurm node has the node's job in its environment, shared by every worker
        there)."""
        return cls(socket.gethostname(), os.getpid(), slurm_task, uuid.uuid4().hex)

    def describe(self) -> str:
        slurm = f", Slurm job {self.slurm_task}" if self.slurm_task else ""
        return f"pid {self.pid} on {self.host}{slurm}"


@dataclass(frozen=True)
class Claim:
    """A claim as read back: its owner, when it was taken and last renewed, and its time to
    live (the claimant's, so that every reader judges it alike)."""

    owner: Owner
    taken: float
    heartbeat: float
    ttl: float

    def age(self) -> float:
        return time.time() - self.heartbeat

    def expired(self, me: Owner | None = None, ttl: float | None = None) -> bool:
        """Whether its owner is gone: silent past the time to live (the shorter of its own and
        the reader's ``ttl``), a heartbeat that far in the future, a process of this host that
        no longer exists, or an earlier attempt of ``me``'s own Slurm array task."""
        limit = self.ttl if ttl is None else min(self.ttl, ttl)
        if not -limit <= self.age() <= limit:
            return True
        if me is not None and me.slurm_task and self.owner.slurm_task == me.slurm_task:
            return self.owner.token != me.token
        return self.owner.host == socket.gethostname() and not _alive(self.owner.pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def claim_path(runs_dir: Path, run_id: str) -> Path:
    check_name(run_id, "run id", MAX_RUN_ID)
    return inside(Path(runs_dir), f"{run_id}.claim")


def read_claim(path: Path) -> Claim | None:
    """The claim at ``path``; None when there is none, or it does not hold one (a claim is
    only ever replaced whole, so such a file was not written by a worker: it is void). Some
    other thing than a file there (a folder, a FIFO) is an error naming it."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise AtrBenchError(
            f"{path}: not a claim file (a folder or other non-file); move it out of the runs "
            "folder, then run again"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        claim = Claim(Owner(**data["owner"]), data["taken"], data["heartbeat"], data["ttl"])
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None
    return claim if _well_formed(claim) else None


def _well_formed(claim: Claim) -> bool:
    owner = claim.owner
    texts = isinstance(owner.host, str) and isinstance(owner.token, str)
    slurm = owner.slurm_task is None or isinstance(owner.slurm_task, str)
    pid = isinstance(owner.pid, int) and not isinstance(owner.pid, bool) and owner.pid > 0
    times = (claim.taken, claim.heartbeat, claim.ttl)
    numbers = all(isinstance(t, int | float) and not isinstance(t, bool) for t in times)
    return (
        texts
        and slurm
        and pid
        and numbers
        and all(map(math.isfinite, times))
        and 0 < claim.ttl <= MAX_CLAIM_TTL
    )


def check_ttl(ttl: float, flag: str = "--claim-ttl") -> float:
    """``ttl`` if it is a time to live a claim may have, else an error naming ``flag``."""
    if not (math.isfinite(ttl) and 1 <= ttl <= MAX_CLAIM_TTL):
        raise AtrBenchError(
            f"{flag} {ttl}: must be a number of seconds from 1 to {MAX_CLAIM_TTL:.0f} (a week)"
        )
    return ttl


def _write(path: Path, owner: Owner, taken: float, ttl: float) -> None:
    write_json(path, {"owner": asdict(owner), "taken": taken, "heartbeat": time.time(), "ttl": ttl})


def try_claim(path: Path, owner: Owner, ttl: float = CLAIM_TTL) -> Claim | None:
    """Take the claim at ``path`` for ``owner``: None when taken, else the live claim of
    another worker that holds it."""
    with exclusive(path):
        held = read_claim(path)
        if held is not None and held.owner != owner and not held.expired(owner, ttl):
            return held
        _write(path, owner, time.time(), ttl)
    return None


def renew(path: Path, owner: Owner, ttl: float) -> bool:
    """Renew ``owner``'s heartbeat; False when the claim is no longer theirs."""
    with exclusive(path):
        held = read_claim(path)
        if held is None or held.owner != owner:
            return False
        _write(path, owner, held.taken, ttl)
    return True


def release(path: Path, owner: Owner) -> None:
    """Give the claim up, if it is still ``owner``'s."""
    with exclusive(path):
        held = read_claim(path)
        if held is not None and held.owner == owner:
            path.unlink(missing_ok=True)


@contextmanager
def holding(path: Path, owner: Owner, ttl: float = CLAIM_TTL) -> Iterator[None]:
    """Renew ``owner``'s claim every quarter of its time to live (at least every
    ``BEAT_EVERY`` seconds) while the body runs, then release it."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(min(ttl / 4, BEAT_EVERY)) and renew(path, owner, ttl):
            pass

    thread = threading.Thread(target=beat, name=f"heartbeat {path.name}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        release(path, owner)
