"""Where the runs of a leaderboard or a comparison come from: runs folders and bundles, merged
by run id.

Each source has a label its rows carry (a folder as given on the command line, a bundle by its
name). A run found in several sources with the same numbers is counted once; a run whose
copies hold different numbers (a conflict: two machines, or an edited copy) is never merged
silently: every copy is left off and the conflict reported, unless ``prefer`` names the source
whose copy to take (still reported). Several records of one run id within one source are all
kept, as a board always took them (``aggregate`` counts a re-run seed's latest).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from atr_bench.errors import AtrBenchError
from atr_bench.record.bundle import Bundle, open_bundle
from atr_bench.record.ranks import QueryRanks, read_record_ranks
from atr_bench.record.results import Problem, records_by_path
from atr_bench.record.run_record import RunRecord
from atr_bench.report.one_line import one_line


@dataclass(frozen=True)
class Found:
    """One copy of a run: its run id, record, the file it came from, its source's label, and
    how to read its checked per-query ranks (None when it kept none)."""

    run_id: str
    """What copies are merged by: the record's run id (a bundle's member name when the record
    has none; a record in a folder without one is never merged)."""
    record: RunRecord
    where: Path
    source: str
    ranks: Callable[[], QueryRanks | None]


@dataclass(frozen=True)
class Source:
    """A runs folder or a bundle, and what the summary says of it."""

    label: str
    path: Path
    bundle: bool
    description: str
    found: tuple[Found, ...]
    problems: tuple[Problem, ...]


@dataclass(frozen=True)
class Conflict:
    """Copies of one run id that hold different numbers."""

    run_id: str
    copies: tuple[Found, ...]
    difference: str
    taken: str | None
    """The source whose copy was used (``prefer``), or None: all left off."""

    def line(self) -> str:
        where = ", ".join(f"{copy.source} ({copy.where})" for copy in self.copies)
        outcome = (
            f"used {self.taken}'s copy (--prefer)"
            if self.taken
            else "every copy left off; --prefer SOURCE uses one source's copy"
        )
        return f"conflict: run {self.run_id} differs between {where}: {self.difference}; {outcome}"


@dataclass(frozen=True)
class Collected:
    """The runs of every source, one copy per run id found in several, and what it took to
    get there."""

    sources: tuple[Source, ...]
    runs: tuple[Found, ...]
    origins: dict[str, tuple[str, ...]]
    """Run id -> the labels of every source it was found in."""
    conflicts: tuple[Conflict, ...] = ()
    problems: tuple[Problem, ...] = ()

    @property
    def records(self) -> list[RunRecord]:
        return [found.record for found in self.runs]

    @property
    def merged(self) -> int:
        """Runs found in more than one source with the same numbers (each counted once)."""
        return sum(len(labels) > 1 for labels in self.origins.values())

    @property
    def labelled(self) -> bool:
        """Whether rows say their source: when there are several, or a bundle."""
        return len(self.sources) > 1 or any(source.bundle for source in self.sources)

    def found(self, record: RunRecord) -> Found:
        """The copy ``record`` is (one of ``records``)."""
        return next(f for f in self.runs if f.record is record)

    def ranks(
        self, records: Iterable[RunRecord]
    ) -> tuple[dict[str, QueryRanks], dict[str, Problem]]:
        """The checked per-query ranks of ``records`` by run id, and by run id a problem for
        each record whose ranks are there but are not its own (such a record is left off:
        which of the two is right cannot be told). A record whose ranks file is gone just has
        none (its row then shows no interval)."""
        out, problems = {}, {}
        found_by = {id(found.record): found for found in self.runs}
        for record in records:
            found = found_by[id(record)]
            try:
                ranks = found.ranks()
            except AtrBenchError as exc:
                problems[found.run_id] = Problem(found.where, str(exc))
                continue
            if ranks is not None:
                out[found.run_id] = ranks
        return out, problems


def collect(paths: Sequence[Path], prefer: str | None = None) -> Collected:
    """The runs of every runs folder or bundle in ``paths``, merged by run id (see the
    module's docstring); an error for a path that is neither, or two with one label."""
    resolved = [Path(path).resolve() for path in paths]
    again = next((p for i, p in enumerate(paths) if resolved[i] in resolved[:i]), None)
    if again is not None:
        raise AtrBenchError(f"--runs-dir {again}: given twice (perhaps by another path)")
    sources = [_source(Path(path)) for path in paths]
    labels = [source.label for source in sources]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise AtrBenchError(
            f"--runs-dir: two sources are called {twice[0]!r} (two bundles of one name, or a "
            "bundle named as a folder); bundle one again with another --name"
        )
    if prefer is not None and prefer not in labels:
        raise AtrBenchError(
            f"--prefer {prefer}: not one of the sources ({', '.join(labels)}); give a "
            "--runs-dir as written, or a bundle's name"
        )
    copies: dict[str, list[Found]] = {}
    for source in sources:
        for found in source.found:
            copies.setdefault(found.run_id, []).append(found)
    runs: list[Found] = []
    origins: dict[str, tuple[str, ...]] = {}
    conflicts = []
    for run_id, each in copies.items():
        per_source = _latest_per_source(each)
        if len(per_source) == 1:  # in one source only: all its copies, as a board always took
            runs += each  # them (a re-run seed's latest record counts)
            origins[run_id] = (each[0].source,)
            continue
        chosen, conflict = _merge(run_id, per_source, prefer)
        conflicts += [conflict] if conflict else []
        if chosen is not None:
            runs.append(chosen)
            agree = [chosen] if conflict else per_source  # a conflict's row names the copy used
            origins[run_id] = tuple(f.source for f in agree)
    problems = tuple(p for source in sources for p in source.problems)
    return Collected(tuple(sources), tuple(runs), origins, tuple(conflicts), problems)


def _latest_per_source(copies: Sequence[Found]) -> list[Found]:
    """Per source, in order, the copy of a run a board counts: the latest created (the last of
    equals), as ``aggregate`` takes a re-run seed."""
    latest: dict[str, Found] = {}
    for found in sorted(copies, key=lambda f: f.record.created or ""):
        latest[found.source] = found
    return sorted(latest.values(), key=lambda f: [c.source for c in copies].index(f.source))


def _merge(
    run_id: str, copies: Sequence[Found], prefer: str | None
) -> tuple[Found | None, Conflict | None]:
    """The copy of a run to use, and the conflict when its copies' numbers differ."""
    first = copies[0]
    differ = next((c for c in copies[1:] if _numbers(c.record) != _numbers(first.record)), None)
    if differ is None:  # the same numbers: the first copy that kept its ranks, else the first
        return next((c for c in copies if c.record.ranks), first), None
    taken = next((c for c in copies if c.source == prefer), None)
    difference = _difference(first, differ)
    return taken, Conflict(run_id, tuple(copies), difference, prefer if taken else None)


def _numbers(record: RunRecord) -> tuple[object, ...]:
    """What a run measured: two copies of one run must agree on all of it."""
    return (record.test, record.order_contrast)


def _difference(a: Found, b: Found) -> str:
    """The first number two copies give differently, in words."""
    for direction in sorted(set(a.record.test) | set(b.record.test)):
        ours, theirs = a.record.test.get(direction, {}), b.record.test.get(direction, {})
        for metric in sorted(set(ours) | set(theirs)):
            if ours.get(metric) != theirs.get(metric):
                return (
                    f"test {direction} {metric} {_number(ours.get(metric))} in {a.source}, "
                    f"{_number(theirs.get(metric))} in {b.source}"
                )
    return f"order contrast {a.record.order_contrast} in {a.source}, {b.record.order_contrast}"


def _number(value: float | None) -> str:
    return "none" if value is None else f"{value:.6g}"


def _source(path: Path) -> Source:
    """A runs folder's or a bundle's runs (an error when ``path`` is neither)."""
    if path.is_dir():
        records, problems = records_by_path(path)
        found = tuple(
            Found(
                record.run_id or f"{path}:{where.name}",
                record,
                where,
                one_line(str(path)),
                _folder_ranks(path, record),
            )
            for where, record in records.items()
        )
        label = one_line(str(path))
        return Source(label, path, False, f"runs folder {label}", found, tuple(problems))
    bundle = open_bundle(path)  # refuses what is not one
    found_list, problems = [], []
    for run_id in sorted(bundle.manifest.runs):
        where = bundle.where(f"{run_id}.json")
        try:
            record = bundle.record(run_id)
        except AtrBenchError as exc:
            problems.append(Problem(where, str(exc).removeprefix(f"{where}: ")))
            continue
        ranks = _bundle_ranks(bundle, run_id, record)
        found_list.append(Found(run_id, record, where, bundle.manifest.name, ranks))
    m = bundle.manifest
    said = f"bundle {path}, made {m.created[:40]} by atr-bench {m.atr_bench[:40]}: {m.command}"
    return Source(m.name, path, True, one_line(said)[:SAID], tuple(found_list), tuple(problems))


SAID = 500
"""Most characters of a source's description (a bundle's manifest says what it likes)."""


def _folder_ranks(folder: Path, record: RunRecord) -> Callable[[], QueryRanks | None]:
    """Reads the ranks file beside a record, checked against it; None when the record names
    none or the file is gone (its row then shows no interval)."""

    def read() -> QueryRanks | None:
        if record.ranks is None or record.run_id is None or not (folder / record.ranks).exists():
            return None
        return read_record_ranks(folder, record.run_id, record.ranks, record.test)

    return read


def _bundle_ranks(
    bundle: Bundle, run_id: str, record: RunRecord
) -> Callable[[], QueryRanks | None]:
    return lambda: bundle.ranks(run_id, record.test)
