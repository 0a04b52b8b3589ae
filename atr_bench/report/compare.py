"""``atr-bench compare ROW_A ROW_B``: two leaderboard rows (or runs) over the same test
queries, per metric: A, B, A - B, its 95 % interval and p-value (``significance``), pooled
over each row's seeds and per seed the rows share. atr-bench's own metrics come first, then
other papers' and tools' definitions (labelled so) that both rows' ranks give."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tabulate import tabulate

from atr_bench.errors import AtrBenchError
from atr_bench.record.metric_names import BY_KEY, DIRECTIONS
from atr_bench.record.ranks import QueryRanks
from atr_bench.record.run_record import RunRecord
from atr_bench.record.selection import MIN_HASH, names_hash
from atr_bench.report.aggregate import GROUP_KEYS
from atr_bench.report.columns import BOARD_DEFINITIONS, HASH_CHARS
from atr_bench.report.significance import COMPARED, Difference, has_scores, paired, pooled
from atr_bench.report.sources import Collected, collect


def find_row(records: Sequence[RunRecord], name: str) -> list[RunRecord]:
    """The records of the row ``name`` names: a run id (that run alone), or a protocol hash
    or its first characters as the leaderboard's hash column shows them (every seed)."""
    runs = [r for r in records if r.run_id == name]
    if runs:
        return runs
    runs = [r for r in records if names_hash(name, r.protocol_hash)]
    groups = {(r.dataset, *(str(getattr(r, k)) for k in GROUP_KEYS)) for r in runs}
    if not runs:
        raise AtrBenchError(
            f"{name}: no run id or protocol hash (at least {MIN_HASH} characters, as in the "
            "leaderboard's hash column) of a record under --runs-dir"
        )
    if len(groups) > 1:
        hashes = sorted({str(r.protocol_hash) for r in runs})
        raise AtrBenchError(f"{name}: names several rows ({', '.join(hashes)}); give more of it")
    latest: dict[int, RunRecord] = {}
    for record in sorted(runs, key=lambda r: r.created or ""):
        latest[record.seed] = record  # a re-run seed counts once, as on the board
    return [latest[seed] for seed in sorted(latest)]


def _ranks(collected: Collected, name: str, runs: Sequence[RunRecord]) -> dict[int, QueryRanks]:
    missing = [r.run_id for r in runs if r.ranks is None]
    if missing:
        raise AtrBenchError(
            f"{name}: run {missing[0]} kept no per-query ranks (recorded before schema 2); "
            "run it again with --force to compare it"
        )
    ranks, problems = collected.ranks(runs)
    if problems:
        raise AtrBenchError(next(iter(problems.values())).reason)
    gone = [r for r in runs if str(r.run_id) not in ranks]
    if gone:
        raise AtrBenchError(
            f"{collected.found(gone[0]).where}: its per-query ranks file {gone[0].ranks} is gone; "
            "run the seed again with --force to compare it"
        )
    return {r.seed: ranks[str(r.run_id)] for r in runs}


def _label(runs: Sequence[RunRecord], collected: Collected) -> str:
    first = runs[0]
    seeds = ",".join(str(r.seed) for r in runs)
    label = f"{first.pooling} {str(first.protocol_hash)[:HASH_CHARS]} (seeds {seeds})"
    if not collected.labelled:
        return label
    sources = {s for r in runs for s in collected.origins.get(str(r.run_id), ())}
    return f"{label}, from {', '.join(sorted(sources))}"


def _compared(a: Sequence[QueryRanks], b: Sequence[QueryRanks]) -> list[str]:
    """The metrics both rows' ranks give: atr-bench's own, then the other definitions."""
    others = [m for m in BOARD_DEFINITIONS if has_scores([*a, *b], f"t2a_{m}")]
    return [*COMPARED, *others]


def _rows(a: Sequence[QueryRanks], b: Sequence[QueryRanks]) -> list[list[str]]:
    out = []
    done: dict[bytes, Difference] = {}  # definitions that no tie tells apart: tested once
    for direction in DIRECTIONS:
        for metric in _compared(a, b):
            column = f"{direction}_{metric}"
            scores_a, scores_b = pooled(a, column), pooled(b, column)
            key = scores_a.tobytes() + scores_b.tobytes()
            if key not in done:
                done[key] = paired(scores_a, scores_b)
            d = done[key]
            out.append(
                [
                    f"{direction} {BY_KEY[metric].label}",
                    f"{d.a:.2f}",
                    f"{d.b:.2f}",
                    f"{d.difference:+.2f}",
                    f"[{d.low:+.2f}, {d.high:+.2f}]",
                    f"{d.p:.4f}",
                ]
            )
    return out


def _definitions_line(ranks: Sequence[QueryRanks]) -> str:
    """What the metric labels say (README, "Metric definitions"), and what older ranks lack."""
    line = (
        "metrics: unlabelled atr-bench's own (ties averaged); (released code) as the paper's "
        "released code counts R@k; (ties=hits) a tied item counts as the first; nDCG@10 and "
        "MRR@10 as MTEB's, averaged over every order of tied items"
    )
    if all(has_scores(ranks, f"t2a_{m}") for m in BOARD_DEFINITIONS):
        return line
    return line + (
        "; R@k (ties=hits), nDCG@10 and MRR@10 left out: a ranks file written before record "
        "schema 4 has no tie counts (run its seed again with --force)"
    )


def _table(rows: list[list[str]]) -> str:
    headers = ["metric", "A", "B", "A - B", "95% interval", "p"]
    return tabulate(rows, headers, tablefmt="github", disable_numparse=True)


def compare(
    runs_dir: Path | Sequence[Path], name_a: str, name_b: str, prefer: str | None = None
) -> str:
    """The comparison's text: a pooled table, then one per seed both rows have. ``runs_dir``
    may be several runs folders and bundles (``sources``), ``prefer`` as the leaderboard's."""
    paths = [Path(runs_dir)] if isinstance(runs_dir, str | Path) else list(map(Path, runs_dir))
    collected = collect(paths, prefer)
    rows = {name: find_row(collected.records, name) for name in (name_a, name_b)}
    ranks = {name: _ranks(collected, name, runs) for name, runs in rows.items()}
    a, b = ranks[name_a], ranks[name_b]
    first_a, first_b = next(iter(a.values())), next(iter(b.values()))
    if rows[name_a][0].dataset != rows[name_b][0].dataset or not first_a.same_queries(first_b):
        raise AtrBenchError(
            f"{name_a}, {name_b}: not the same test queries; compare rows of one board"
        )
    parts = [conflict.line() for conflict in collected.conflicts]
    parts += [
        f"A = {_label(rows[name_a], collected)}",
        f"B = {_label(rows[name_b], collected)}",
        "paired over the same test queries: interval by percentile bootstrap, p by a paired "
        "permutation test (two-sided), 10 000 resamples each, seed 0",
        _definitions_line([*a.values(), *b.values()]),
        "",
        "pooled (each query's score averaged over the row's seeds)",
        _table(_rows(list(a.values()), list(b.values()))),
    ]
    for seed in sorted(set(a) & set(b)):
        parts += ["", f"seed {seed}"]
        parts.append(_table(_rows([a[seed]], [b[seed]])))
    return "\n".join(parts)
