"""Which runs of a runs folder go into a bundle: filters by dataset, protocol, components,
protocol hash and run id, and the runs they pick, each checked as a leaderboard checks it."""

from __future__ import annotations

import io
from dataclasses import dataclass, fields
from pathlib import Path

from atr_bench.errors import AtrBenchError
from atr_bench.files.names import MAX_RUN_ID, inside, is_name
from atr_bench.files.reading import check_regular, parse_json
from atr_bench.record.bundle import MANIFEST, MAX_BYTES, BundledRun
from atr_bench.record.ranks import record_ranks
from atr_bench.record.results import REDO, Problem, record_from
from atr_bench.record.run_record import RunRecord

MIN_HASH = 4
"""Fewest characters of a protocol hash that name a row (bundle filters, ``compare``, the
paper table's ``--rows``)."""


def names_hash(prefix: str, protocol_hash: str | None) -> bool:
    """Whether ``prefix`` names ``protocol_hash``: its first ``MIN_HASH`` or more characters."""
    return len(prefix) >= MIN_HASH and (protocol_hash or "").startswith(prefix)


@dataclass(frozen=True)
class Selection:
    """Filters, each a tuple of values any of which a run may match (empty: any run)."""

    dataset: tuple[str, ...] = ()
    protocol: tuple[str, ...] = ()
    """A protocol's name, or ``name@version``."""
    extractor: tuple[str, ...] = ()
    pooling: tuple[str, ...] = ()
    hash: tuple[str, ...] = ()
    """Protocol hashes or their first characters, as a board's hash column shows them."""
    run_id: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        short = [h for h in self.hash if len(h) < MIN_HASH]
        if short:
            raise AtrBenchError(f"--hash {short[0]}: give at least {MIN_HASH} characters of it")

    def matches(self, record: RunRecord, run_id: str) -> bool:
        protocol = record.protocol_label
        checks = (
            (self.dataset, record.dataset in self.dataset),
            (self.protocol, {protocol, protocol.partition("@")[0]} & set(self.protocol)),
            (self.extractor, record.extractor in self.extractor),
            (self.pooling, record.pooling in self.pooling),
            (self.hash, any(names_hash(h, record.protocol_hash) for h in self.hash)),
            (self.run_id, run_id in self.run_id),
        )
        return all(bool(ok) for wanted, ok in checks if wanted)

    def flags(self) -> list[str]:
        """The command-line flags that make this selection."""
        out = []
        for field in fields(self):
            values = getattr(self, field.name)
            if values:
                out += [f"--{field.name.replace('_', '-')}", ",".join(values)]
        return out


def pick_runs(runs_dir: Path, selection: Selection) -> tuple[list[BundledRun], list[Problem]]:
    """The runs under ``runs_dir`` that ``selection`` picks, as a bundle holds them (the bytes
    checked are the bytes bundled), and a problem for each record or ranks file that cannot go
    in (unreadable, too large, another run's, or ranks that disagree with their record)."""
    runs, problems = [], []
    for path in sorted(Path(runs_dir).glob("*.json")):
        try:
            record, data = _record(path)
            run_id = record.run_id or path.stem
            if not selection.matches(record, run_id):
                continue
            if run_id != path.stem:
                raise AtrBenchError(
                    f"{path}: holds the record of another run ({run_id}); move it to its own name"
                )
            if not is_name(run_id, MAX_RUN_ID) or run_id == MANIFEST.removesuffix(".json"):
                raise AtrBenchError(f"{path}: its run id cannot name a bundle's member")
            runs.append(BundledRun(run_id, data, _ranks(runs_dir, run_id, record)))
        except AtrBenchError as exc:
            problems.append(Problem(path, str(exc).removeprefix(f"{path}: ")))
    return runs, problems


def _bytes(path: Path, kind: str, fix: str) -> bytes:
    check_regular(path, fix)
    with path.open("rb") as f:
        data = f.read(MAX_BYTES[kind] + 1)
    if len(data) > MAX_BYTES[kind]:
        raise AtrBenchError(f"{path}: larger than a {kind} file may be ({MAX_BYTES[kind]} bytes)")
    return data


def _record(path: Path) -> tuple[RunRecord, bytes]:
    data = _bytes(path, "record", REDO)
    return record_from(parse_json(data, path, "run record", REDO), path), data


def _ranks(runs_dir: Path, run_id: str, record: RunRecord) -> bytes | None:
    """The bytes of the ranks file the record names, checked against it; None when it names
    none or the file is gone (its row then has no intervals, as on a board)."""
    if record.ranks is None:
        return None
    path = inside(Path(runs_dir), record.ranks)
    if not path.exists():
        return None
    data = _bytes(path, "ranks", "run the seed again with --force")
    record_ranks(path, run_id, record.test, io.BytesIO(data))
    return data
