"""Boards as a paper takes them: the LaTeX table compiles in a document with a real TeX engine
and reads as a paper table (booktabs rules, caption, label, the chosen columns, bold only where
a value is significantly best); the CSV reads with ``pandas.read_csv`` as it is, its
provenance beside it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ranked_records import similarities, write_seed

from atr_bench.cli.main import main
from atr_bench.record.ranks import read_record_ranks
from atr_bench.record.results import read_records
from atr_bench.report.aggregate import aggregate, by_board, mark_best
from atr_bench.report.csv_table import measured_frame
from atr_bench.report.latex import naming_columns
from atr_bench.report.leaderboard import build_leaderboards
from atr_bench.report.significance import mark_significance
from atr_bench.report.significant_best import beats, significantly_best
from atr_bench.run.metrics import query_ranks

N_CLIPS, PER_CLIP = 40, 5
CAPTION_CLIP = np.repeat(np.arange(N_CLIPS), PER_CLIP)
TEX_SECONDS = 120


def _row(
    runs: Path, pooling: str, skill: float, seeds=(0, 1, 2), noise: int | None = None, **extra
) -> None:
    """A row of records with per-query ranks of similarities: noise plus ``skill`` on each
    caption's own clip (each seed its own noise, or ``noise`` for all)."""
    for seed in seeds:
        sims = similarities(CAPTION_CLIP, skill, seed if noise is None else noise)
        fields = {"protocol_hash": f"{pooling}hash".ljust(12, "0"), **extra}
        run_id = f"audiocaps-lms-{pooling}-{fields['protocol_hash']}-s{seed}"
        ranks = query_ranks(sims, CAPTION_CLIP)
        write_seed(
            runs,
            run_id,
            ranks,
            dataset="audiocaps",
            pooling=pooling,
            seed=seed,
            text_encoder="word2vec",
            **fields,
        )


def _pdflatex() -> str:
    """pdflatex with booktabs, or a skip (a failure under CI, which installs them)."""
    pdflatex, kpsewhich = shutil.which("pdflatex"), shutil.which("kpsewhich")
    found = kpsewhich and subprocess.run(
        [kpsewhich, "booktabs.sty"], capture_output=True, check=False, timeout=TEX_SECONDS
    )
    if pdflatex is None or not found or found.returncode != 0:
        reason = "pdflatex and booktabs are not installed (texlive-latex-recommended)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return pdflatex


def _compile(tex: Path, work: Path) -> subprocess.CompletedProcess[str]:
    """``tex`` ``\\input`` in a minimal two-column paper, compiled to a PDF in ``work``; the
    engine's generated fonts stay in ``work`` too."""
    doc = work / "paper.tex"
    doc.write_text(
        "\\documentclass[twocolumn]{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
        f"Results are in Table~\\ref{{tab:{tex.stem}}}.\n\\input{{{tex.resolve()}}}\n"
        "\\end{document}\n",
        encoding="utf-8",
    )
    env = {**os.environ, "TEXMFVAR": str(work / "texmf-var"), "openout_any": "p"}
    command = [_pdflatex(), "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape"]
    for _ in range(2):  # the second pass resolves the \ref
        done = subprocess.run(
            [*command, doc.name],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=TEX_SECONDS,
            check=False,
        )
    return done


def test_the_latex_table_compiles_and_reads_as_a_paper_table(tmp_path: Path) -> None:
    runs, out = tmp_path / "runs", tmp_path / "boards"
    _row(runs, "netrvlad", 2.0)
    _row(runs, "mean", 1.0, settings={"audio_pooling.note": "50% & $x_1$ #2"})
    _row(runs, "max", 0.5, seeds=(0,))
    build_leaderboards(runs, out, formats=["tex"])
    (tex,) = out.glob("*.tex")
    text = tex.read_text(encoding="utf-8")
    body = text[text.index(r"\begin{table*}") : text.index(r"\end{table*}")]
    assert r"\caption{audiocaps, protocol lou2022@1. Test split" in body
    assert rf"\label{{tab:{tex.stem}}}" in body
    for rule in (r"\toprule", r"\midrule", r"\bottomrule", r"\cmidrule(lr){5-7}"):
        assert rule in body
    assert r"\multicolumn{3}{c}{text $\to$ audio} & \multicolumn{3}{c}{audio $\to$ text}" in body
    assert "extractor & pooling & settings & seeds & R@1 & R@5 & R@10 & R@1 & R@5 & R@10" in body
    assert "(a) audio\\_pooling.note=50\\% \\& \\$x\\_1\\$ \\#2" in body  # escaped, in the caption
    lines = {line.split(" & ")[1]: line for line in body.splitlines() if line.startswith("lms &")}
    assert list(lines) == ["netrvlad", "mean", "max"]  # sorted by t2a R@1
    netrvlad_cells = lines["netrvlad"].split(" & ")[4:]
    assert all(cell.startswith(r"$\mathbf{") for cell in netrvlad_cells[:3])  # t2a: far ahead
    assert r"\mathbf" not in lines["mean"] + lines["max"]
    assert " & 1 seed & $" in lines["max"] and r"\pm" not in lines["max"]
    assert lines["netrvlad"].endswith("% hash netrvlad")
    quoted = text[text.index(r"\end{table*}") :]
    assert r"\label{tab:" in quoted and "quoted, not re-run" in quoted  # the published rows
    done = _compile(tex, tmp_path)
    assert done.returncode == 0, done.stdout[-2000:]
    log = (tmp_path / "paper.log").read_text(errors="replace")
    assert "Overfull" not in log and "undefined" not in log  # fits the page; \ref resolved
    assert (tmp_path / "paper.pdf").read_bytes().startswith(b"%PDF")


def _board_rows(runs: Path) -> list:
    """The rows of the one board of ``runs``, marked as a leaderboard marks them."""
    records, _ = read_records(runs)
    ranks = {r.run_id: read_record_ranks(runs, r.run_id, r.ranks, r.test) for r in records}
    rows = aggregate(records, ranks)
    mark_significance(rows)
    mark_best(rows)
    return rows


def test_bold_only_where_a_value_is_significantly_best(tmp_path: Path) -> None:
    """Two rows of the same ranks: the Markdown's best marks take both, the paper table's bold
    neither; a clearly better third row is bold in the paper table, by the paired test."""
    runs = tmp_path / "runs"
    _row(runs, "twin_a", 1.0, noise=7)
    _row(runs, "twin_b", 1.0, noise=7, seeds=(0, 1))
    rows = _board_rows(runs)
    assert all("t2a_R1" in row.best for row in rows)  # a tie: both marked best
    assert significantly_best(rows, "t2a_R1") is None
    _row(runs, "better", 2.0)
    rows = _board_rows(runs)
    best = significantly_best(rows, "t2a_R1")
    assert best is not None and best.keys["pooling"] == "better"
    assert all(beats(best, other, "t2a_R1") for other in rows if other is not best)
    assert not beats(rows[1], best, "t2a_R1")


def test_naming_columns_are_those_the_rows_need(tmp_path: Path) -> None:
    """Extractor and pooling always; what every row shares goes to the caption; a text
    pooling, seeds or a hash only where rows differ in them."""
    runs = tmp_path / "runs"
    _row(runs, "netrvlad", 2.0, text_pooling="netrvlad")  # as records say "the same pooling"
    _row(runs, "mean", 1.0, text_pooling="mean")
    assert naming_columns(_board_rows(runs)) == (
        ["extractor", "pooling"],
        ["text encoder: word2vec", "seeds: 3"],
    )
    _row(runs, "max", 0.5, seeds=(0,), text_pooling="lstm")
    _row(runs, "mean", 1.5, protocol_hash="otherhash000", text_pooling="mean")
    shown, shared = naming_columns(_board_rows(runs))
    assert shown == ["extractor", "pooling", "text_pooling", "seeds", "protocol_hash"]
    assert shared == ["text encoder: word2vec"]


def test_columns_choose_the_latex_statistics_only(tmp_path: Path, capsys) -> None:
    runs, out = tmp_path / "runs", tmp_path / "boards"
    _row(runs, "netrvlad", 2.0)
    _row(runs, "mean", 1.0)
    args = ["leaderboard", "--runs-dir", str(runs), "--out", str(out)]
    assert main([*args, "--format", "md,tex", "--columns", "t2a_R1,t2a_mAP10,order_acc"]) == 0
    (tex,) = out.glob("*.tex")
    text = tex.read_text(encoding="utf-8")
    assert r"\begin{table}[htbp]" in text  # three columns: one page column
    assert "extractor & pooling & R@1 & mAP@10 & order acc. \\\\" in text
    assert r"\multicolumn{2}{c}{text $\to$ audio} & " in text
    assert "--columns t2a_R1,t2a_mAP10,order_acc" in text.splitlines()[0]  # reproduces
    md = tex.with_suffix(".md").read_text(encoding="utf-8")
    assert "a2t R@10" in md  # the Markdown keeps every column
    capsys.readouterr()
    assert main([*args, "--overwrite", "--columns", "t2a_R1,t2a_R2"]) == 2
    err = capsys.readouterr().err
    assert "--columns t2a_R2: not a board column" in err and len(err.splitlines()) == 1


def test_the_csv_reads_as_it_is_and_its_provenance_is_beside_it(tmp_path: Path) -> None:
    runs, out = tmp_path / "runs", tmp_path / "boards"
    _row(runs, "netrvlad", 2.0)
    _row(runs, "mean", 1.0)
    report = build_leaderboards(runs, out, formats=["csv"])
    (stem,) = report.boards
    frame = pd.read_csv(out / f"{stem}.csv")
    (board,) = by_board(read_records(runs)[0])
    expected = measured_frame(board, _board_rows(runs))
    assert list(frame.columns) == list(expected.columns)
    assert frame.shape == (2, len(expected.columns)) and frame["t2a_R1_mean"].dtype.kind == "f"
    pd.testing.assert_series_equal(frame["t2a_R1_mean"], expected["t2a_R1_mean"])
    provenance = json.loads((out / f"{stem}.provenance.json").read_text(encoding="utf-8"))
    assert provenance["files"] == [f"{stem}.csv", f"{stem}.provenance.json"]
    assert provenance["machines"] == ["cpu (x86_64, 1 threads)"]
    assert provenance["reproduce"][-1].startswith(f"atr-bench leaderboard --runs-dir {runs}")
    assert report.files[stem] == (out / f"{stem}.csv", out / f"{stem}.provenance.json")


def test_rows_choose_the_latex_rows_and_bold_is_still_judged_against_all(
    tmp_path: Path, capsys
) -> None:
    runs, out = tmp_path / "runs", tmp_path / "boards"
    _row(runs, "better", 2.0)
    _row(runs, "mean", 1.0)
    _row(runs, "max", 0.5)
    args = ["leaderboard", "--runs-dir", str(runs), "--out", str(out), "--format", "md,tex"]
    assert main([*args, "--rows", "mean,max"]) == 0
    (tex,) = out.glob("*.tex")
    text = tex.read_text(encoding="utf-8")
    shown = [line.split(" & ")[1] for line in text.splitlines() if line.startswith("lms &")]
    assert shown == ["mean", "max"]  # the board's order, "better" left out
    assert r"\mathbf" not in text  # mean is best of the two shown, not of the board
    assert "2 of the board's 3 rows; bold is judged against all." in text
    assert "--rows mean,max" in text.splitlines()[0]  # the reproduce line keeps the choice
    md = tex.with_suffix(".md").read_text(encoding="utf-8")
    assert "| better" in md  # the Markdown keeps every row
    assert main([*args, "--overwrite", "--rows", "better"]) == 0
    assert r"$\mathbf{" in tex.read_text(encoding="utf-8")  # shown and significantly best
    capsys.readouterr()
    assert main([*args, "--overwrite", "--rows", "mean,nosuch"]) == 2
    err = capsys.readouterr().err
    assert "--rows nosuch: names no row" in err and len(err.splitlines()) == 1
