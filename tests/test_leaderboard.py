"""Leaderboards from hand-made run records: grouping, mean ± std, order, marking, exclusions."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from atr_bench.errors import AtrBenchError
from atr_bench.files.atomic import write_json
from atr_bench.record.results import read_records
from atr_bench.record.run_record import SCHEMA_VERSION
from atr_bench.report.aggregate import aggregate
from atr_bench.report.leaderboard import build_leaderboards
from atr_bench.report.plot import bar_figure
from atr_bench.report.reference import load_reference, reference_rows

COMMAND = "atr-bench sweep --dataset synthcaps --seeds 0,1,2 && atr-bench leaderboard"


def metrics(r1: float, medr: float = 5.0, map10: float = 20.0) -> dict[str, float]:
    return {
        "R1": r1,
        "R5": r1 + 20,
        "R10": r1 + 30,
        "R50": max(90.0, r1 + 30),
        "MedR": medr,
        "MeanR": 9.0,
        "mAP10": map10,
        "geo": r1 + 10,
    }


def record(
    pooling: str,
    seed: int,
    t2a_r1: float,
    a2t_r1: float,
    *,
    dataset: str = "synthcaps",
    extractor: str = "lms",
    medr: float = 5.0,
    order: float | None = None,
    untrained: bool = False,
    protocol_hash: str | None = None,
) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "run_id": f"{dataset}-{extractor}-{pooling}-{protocol_hash or 'h'}-s{seed}-{untrained}",
        "created": f"2025-01-01T00:00:0{seed}+00:00",
        "dataset": dataset,
        "extractor": extractor,
        "pooling": pooling,
        "text_pooling": None,
        "text_encoder": "w2v_synth",
        "seed": seed,
        "protocol_hash": protocol_hash or f"{pooling}_{extractor}".ljust(12, "0"),
        "untrained": untrained,
        "device": "cpu (x86_64, 2 threads)",
        "test": {"t2a": metrics(t2a_r1, medr), "a2t": metrics(a2t_r1, medr)},
        "order_contrast": None if order is None else {"pairs": 10, "accuracy": order},
    }


def write_all(runs: Path, records: list[dict[str, Any]]) -> None:
    for r in records:
        write_json(runs / f"{r['run_id']}.json", r)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    """One build shared by the read-only tests below."""
    tmp_path = tmp_path_factory.mktemp("board")
    runs, out = tmp_path / "runs", tmp_path / "leaderboards"
    write_all(
        runs,
        [
            # lstm: t2a R1 10, 20, 30 -> mean 20, sample std 10; MedR 4 (best, lower is better)
            record("lstm", 0, 10.0, 5.0, medr=4.0, order=70.0),
            record("lstm", 1, 20.0, 6.0, medr=4.0, order=80.0),
            record("lstm", 2, 30.0, 7.0, medr=4.0, order=90.0),
            # mean: t2a R1 mean 25 (best), a2t R1 mean 8.5 (best)
            record("mean", 0, 24.0, 8.0, medr=6.0),
            record("mean", 1, 26.0, 9.0, medr=6.0),
            # max: a single seed, worst
            record("max", 0, 3.0, 2.0, medr=9.0),
            # same names as lstm but another protocol hash: a separate row
            {
                **record("lstm", 0, 15.0, 1.0, medr=8.0, protocol_hash="abcdef123456"),
                "settings": {"pooling.hidden": 64},
            },
            # excluded or elsewhere
            record("mean", 0, 66.0, 66.0, untrained=True),
            record("netvlad", 0, 40.0, 30.0, dataset="audiocaps", extractor="vggish"),
        ],
    )
    (runs / "broken.json").write_text("{not json", encoding="utf-8")
    report = build_leaderboards(runs, out, command=COMMAND)
    return report, out


def table_rows(md: str, start: int = 0) -> list[list[str]]:
    """Cells of the first GitHub table in ``md`` after character ``start`` (header excluded)."""
    lines = md[start:].splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[first + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def test_files_per_dataset(built) -> None:
    report, out = built
    assert set(report.boards) == {"synthcaps-pairs", "audiocaps-pairs"}
    for dataset in ("synthcaps", "audiocaps"):
        for ext in ("md", "csv", "tex", "png"):
            path = out / f"{dataset}-pairs.{ext}"
            assert path.is_file() and path.stat().st_size > 0
            assert path in report.written
    assert (out / "synthcaps-pairs.png").read_bytes().startswith(b"\x89PNG")
    assert not list(out.glob("*.tmp"))


def test_header_line_names_command_and_machine(built) -> None:
    """The text files' first line says how to make them again, when and on what; the CSV,
    plain data, says it in its provenance file."""
    _, out = built
    for ext in ("md", "tex"):
        first = (out / f"synthcaps-pairs.{ext}").read_text(encoding="utf-8").splitlines()[0]
        assert COMMAND in first
        assert "cpu (x86_64, 2 threads)" in first
        assert re.search(r"\d{4}-\d{2}-\d{2}", first)
    provenance = json.loads((out / "synthcaps-pairs.provenance.json").read_text())
    assert provenance["reproduce"] == [COMMAND]
    assert provenance["machines"] == ["cpu (x86_64, 2 threads)"]
    made = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC"  # when its runs were made: from the records
    assert re.fullmatch(rf"{made}( to {made})?", provenance["runs_made"])
    assert "synthcaps-pairs.csv" in provenance["files"]


def test_mean_std_sorting_and_best(built) -> None:
    _, out = built
    md = (out / "synthcaps-pairs.md").read_text(encoding="utf-8")
    rows = table_rows(md)
    # columns: extractor pooling text-pooling text-encoder hash settings seeds t2a R1 R5 ...
    assert [r[1] for r in rows] == ["mean", "lstm", "lstm", "max"]  # t2a R@1 25 > 20 > 15 > 3
    mean_row, lstm_row, lstm_other, max_row = rows
    assert lstm_row[6] == "3" and mean_row[6] == "2" and max_row[6] == "1 seed"
    assert lstm_row[7] == "20.0 ± 10.0"  # (10+20+30)/3; sqrt(((-10)^2+0+10^2)/2) = 10
    assert mean_row[7] == "**25.0 ± 1.4**"  # best t2a R@1; std sqrt((1+1)/1) = 1.41
    assert max_row[7] == "3.0"  # one seed: no ± part
    assert lstm_row[11] == "**4.0 ± 0.0**"  # MedR: lower is better
    assert "**" not in max_row[11]
    assert mean_row[12] == "**8.5 ± 0.7**"  # best a2t R@1
    assert lstm_row[-1] == "80.0 ± 10.0" and mean_row[-1] == "–"  # order acc.: one row, no best
    assert lstm_other[4] == "abcdef12" and lstm_row[4] != lstm_other[4]
    assert lstm_other[5] == "pooling.hidden=64" and lstm_row[5] == "–"  # what tells them apart
    assert "66.0" not in md  # the untrained record is excluded


def test_report_problems_and_exclusions(built) -> None:
    report, _ = built
    assert report.untrained_excluded == 1
    assert report.records_used == 8
    assert [p.path.name for p in report.problems] == ["broken.json"]
    text = "\n".join(report.lines())
    assert "broken.json" in text and "1 untrained" in text


def test_csv_reads_back(built) -> None:
    _, out = built
    frame = pd.read_csv(out / "synthcaps-pairs.csv")  # as it is: no comment line to skip
    for column in (
        "dataset",
        "extractor",
        "pooling",
        "text_pooling",
        "text_encoder",
        "protocol_hash",
        "seeds",
        "t2a_R1_mean",
        "t2a_R1_std",
        "a2t_MedR_mean",
        "order_acc_mean",
    ):
        assert column in frame.columns
    assert list(frame["t2a_R1_mean"]) == [25.0, 20.0, 15.0, 3.0]
    lstm = frame[(frame["pooling"] == "lstm") & (frame["seeds"] == 3)].iloc[0]
    assert lstm["t2a_R1_std"] == pytest.approx(10.0)
    assert lstm["order_acc_mean"] == pytest.approx(80.0)
    assert frame["t2a_R1_mean"].dtype.kind == "f"


def test_reference_rows_are_quoted_apart(built) -> None:
    _, out = built
    md = (out / "audiocaps-pairs.md").read_text(encoding="utf-8")
    quoted = md.index("quoted, not re-run")
    measured = table_rows(md)
    assert [r[1] for r in measured] == ["netvlad"] and len(measured) == 1
    reference = table_rows(md, quoted)
    assert any(r[0] == "CE - VGGish" and r[5] == "18.0 ± 0.2" for r in reference)
    assert "CE - VGGish" not in md[:quoted]
    assert "github.com/oncescuandreea/audio-retrieval" in md
    assert "quoted, not re-run" not in (out / "synthcaps-pairs.md").read_text(encoding="utf-8")
    tex = (out / "audiocaps-pairs.tex").read_text(encoding="utf-8")
    assert "quoted, not re-run" in tex and r"$18.0 \pm 0.2$" in tex
    assert "**" not in "".join(r[5] for r in reference)


def test_latex_escapes_names_and_bolds_only_a_significant_best(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    write_all(
        runs,
        [
            {**record(p, s, r1 + s, 5.0 + s), "settings": {"note": note}}
            for p, r1, note in (("net_vlad", 30.0, "50% & $x_1$"), ("max_pool", 5.0, "a|b"))
            for s in (0, 1, 2)
        ],
    )
    build_leaderboards(runs, tmp_path / "out", formats=["tex"], command="x")
    tex = (tmp_path / "out" / "synthcaps-pairs.tex").read_text(encoding="utf-8")
    # t2a R@1 31 +/- 1 against 6 +/- 1 over three seeds each: Welch p < 0.05, bold; a2t R@1
    # 6 +/- 1 both: no bold
    assert r"lms & net\_vlad & (a) & $\mathbf{31.0 \pm 1.0}$" in tex
    assert r"lms & max\_pool & (b) & $6.0 \pm 1.0$" in tex
    assert r"(a) note=50\% \& \$x\_1\$; (b) note=a\textbar{}b." in tex
    assert r"\mathbf{6.0" not in tex
    assert not (tmp_path / "out" / "synthcaps-pairs.md").exists()


def test_reference_data_is_well_formed() -> None:
    table = load_reference()
    assert set(table["direction"]) == {"t2a", "a2t"}
    assert table["value"].notna().all() and table["url"].str.startswith("https://").all()
    wide = reference_rows("clotho", table)
    assert len(wide) == 5 and "t2a_R1_std" in wide.columns
    assert reference_rows("synthcaps", table).empty


def test_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(AtrBenchError, match="no such runs directory"):
        build_leaderboards(tmp_path / "missing", tmp_path / "out")
    (tmp_path / "runs").mkdir()
    with pytest.raises(AtrBenchError, match="unknown leaderboard format"):
        build_leaderboards(tmp_path / "runs", tmp_path / "out", formats=["docx"])
    report = build_leaderboards(tmp_path / "runs", tmp_path / "out")
    assert report.boards == {} and "no usable run records" in "\n".join(report.lines())


def test_dataset_filter_and_incomplete_record(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    bad = record("max", 1, 5.0, 5.0)
    del bad["test"]["t2a"]["mAP10"]
    write_all(
        runs, [record("max", 0, 5.0, 5.0), bad, record("mean", 0, 9.0, 9.0, dataset="clotho")]
    )
    report = build_leaderboards(runs, tmp_path / "out", datasets=["synthcaps"], command="x")
    assert report.boards == {"synthcaps-pairs": 1}
    assert not (tmp_path / "out" / "clotho-pairs.md").exists()
    assert any("mAP10" in p.reason for p in report.problems)
    empty = build_leaderboards(runs, tmp_path / "out", datasets=["audiocaps"], command="x")
    assert empty.boards == {"audiocaps-lou2022-tuned": 0}
    md = (tmp_path / "out" / "audiocaps-lou2022-tuned.md").read_text(encoding="utf-8")
    assert "No usable run records" in md and "quoted, not re-run" in md
    assert pd.read_csv(tmp_path / "out" / "audiocaps-lou2022-tuned.csv", comment="#").empty
    assert not (tmp_path / "out" / "audiocaps-lou2022-tuned.png").exists()
    saved = json.loads((runs / f"{bad['run_id']}.json").read_text())
    assert "mAP10" not in saved["test"]["t2a"]


def test_reference_without_published_std_loads_as_missing(tmp_path: Path) -> None:
    table = load_reference()
    row = table.iloc[0].to_dict()
    path = tmp_path / "ref.csv"
    pd.DataFrame([{**row, "std": ""}, {**row, "metric": "R5", "value": 40.0}]).to_csv(
        path, index=False
    )
    quoted = load_reference(path)
    assert quoted["std"].isna().tolist() == [True, False]
    wide = reference_rows(row["dataset"], quoted)
    assert pd.isna(wide.loc[0].get("t2a_R1_std", float("nan")))
    assert wide.loc[0, "t2a_R5_std"] == row["std"]


def test_device_column_names_the_cpu_instruction_set_where_records_do(tmp_path: Path) -> None:
    runs, out = tmp_path / "runs", tmp_path / "out"
    with_isa = {**record("mean", 0, 20.0, 10.0), "execution": {"device": "cpu", "cpu": "AVX512"}}
    write_all(runs, [with_isa, record("mean", 1, 22.0, 12.0), record("max", 0, 5.0, 5.0)])
    build_leaderboards(runs, out, command=COMMAND, formats=("csv",))
    table = pd.read_csv(out / "synthcaps-pairs.csv", comment="#").set_index("pooling")
    assert set(table.loc["mean", "machines"].split("; ")) == {
        "cpu (x86_64, 2 threads)",
        "cpu (x86_64, 2 threads, AVX512)",
    }
    assert table.loc["max", "machines"] == "cpu (x86_64, 2 threads)"


def test_one_seed_and_chance_are_never_best(tmp_path: Path) -> None:
    """A single-seed row says so and is never bold, even when its mean is the highest; a
    column whose best value is not clearly above chance has no bold; chance levels are stated."""
    runs, out = tmp_path / "runs", tmp_path / "boards"
    sizes = {"test": {"clips": 100, "captions": 500}}
    rows = [
        ("solo", 0, 70.0, 1.0, 60.0),
        *(
            ("a", s, 20.0 + s, 8.0 + s, o)
            for s, o in zip((0, 1, 2), (49.0, 51.0, 56.0), strict=True)
        ),
        *(
            ("b", s, 10.0 + s, 5.0 + s, o)
            for s, o in zip((0, 1, 2), (48.0, 50.0, 52.0), strict=True)
        ),
    ]
    write_all(
        runs,
        [{**record(p, s, t2a, a2t, order=o), "sizes": sizes} for p, s, t2a, a2t, o in rows],
    )
    build_leaderboards(runs, out, command="x", formats=("md", "csv", "png"))
    md = (out / "synthcaps-pairs.md").read_text(encoding="utf-8")
    cells = {row[1]: row for row in table_rows(md)}
    assert cells["solo"][6] == "1 seed" and "**" not in "".join(cells["solo"])
    assert cells["solo"][7] == "70.0"  # no ± part
    assert "**" not in cells["a"][7]  # t2a R@1: the highest mean is a single seed's
    assert cells["a"][12] == "**9.0 ± 1.0**"  # a2t R@1: best of the rows of 3 seeds
    assert "**" not in cells["a"][-1] and cells["a"][-1] == "52.0 ± 3.6"  # order acc. at chance
    assert "t2a R@1 1.00" in md and "a2t R@1 1.00" in md and "order acc. 50.00" in md
    frame = pd.read_csv(out / "synthcaps-pairs.csv", comment="#")
    assert set(frame["t2a_R1_chance"]) == {1.0} and set(frame["order_acc_chance"]) == {50.0}


def test_a_single_seed_bar_has_no_error_bar(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    write_all(runs, [record("solo", 0, 30.0, 1.0), record("a", 0, 20.0, 8.0)])
    write_all(runs, [record("a", 1, 22.0, 8.0)])
    records, _ = read_records(runs)
    rows = aggregate(records)
    figure = bar_figure("t", rows, "h")
    no_error_bar = {c.patches[0].get_height(): c.errorbar is None for c in _bar_containers(figure)}
    assert no_error_bar == {30.0: True, 21.0: False}  # solo: one seed; a: two


def _bar_containers(figure):
    from matplotlib.container import BarContainer

    (ax,) = figure.axes
    return [c for c in ax.containers if isinstance(c, BarContainer)]


def test_text_smuggled_in_a_record_stays_on_its_line(tmp_path: Path) -> None:
    """A record's device and CPU text, and the given command, holding line breaks, LaTeX or a
    comment's end, add no line to any table and no command to the LaTeX."""
    runs, out = tmp_path / "runs", tmp_path / "boards"
    evil = "cpu (x\n\\input{/etc/passwd}\r\n--> <script>)"
    write_all(
        runs,
        [
            {**record(p, s, r1, 5.0), "device": evil, "execution": {"cpu": "AVX\n%\\end{document}"}}
            for p, r1 in (("a", 20.0), ("b", 10.0))
            for s in (0, 1)
        ],
    )
    build_leaderboards(runs, out, command="atr-bench sweep\nrm -rf ~", formats=("md", "csv", "tex"))
    tex = (out / "synthcaps-pairs.tex").read_text(encoding="utf-8")
    md = (out / "synthcaps-pairs.md").read_text(encoding="utf-8")
    csv = (out / "synthcaps-pairs.csv").read_text(encoding="utf-8")
    for text in (tex, md, csv):
        assert not any(
            line.startswith(("rm -rf", "\\input", "--> ", "%\\end")) for line in text.splitlines()
        )
    assert "\\input{" not in tex.split("\n", 2)[2]  # only inside the first comment line
    assert md.splitlines()[0].count("-->") == 1 and md.splitlines()[0].endswith("-->")
    frame = pd.read_csv(out / "synthcaps-pairs.csv", comment="#")
    assert len(frame) == 2 and "\n" not in frame.loc[0, "machines"]


def test_when_the_runs_were_made_comes_from_the_records_not_the_clock() -> None:
    from atr_bench.report.provenance import runs_made

    made = runs_made(["2026-12-02T16:37:26+00:00", "2026-12-02T18:44:00+01:00", None, "bad"])
    assert made == "2026-12-02 16:37 UTC to 2026-12-02 17:44 UTC"
    assert runs_made(["2026-12-02T16:37:26+00:00"] * 2) == "2026-12-02 16:37 UTC"
    assert runs_made([None, ""]) == "unknown"
