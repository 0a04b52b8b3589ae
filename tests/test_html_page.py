"""The HTML leaderboard page, tested in a real headless Chromium (Debian's chromium and
chromedriver, started here and stopped after): every number, mark, note and heading on the
page is the Markdown board's (its measured table, its metric definitions side by side, its
quoted rows), a click on a header sorts, a filter hides rows, a row's provenance and curves
show on demand, and text smuggled into a record stays text."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import chromium_browser
import pytest

from atr_bench.cli.main import main
from atr_bench.files.atomic import write_json
from atr_bench.record.results import read_records
from atr_bench.record.run_record import SCHEMA_VERSION
from atr_bench.report.curves import CURVE_METRICS, row_curve
from atr_bench.report.html_data import sort_value
from atr_bench.report.html_page import script_json
from atr_bench.report.leaderboard import build_leaderboards
from atr_bench.report.text_table import QUOTED

COMMAND = "atr-bench sweep --pooling mean,max --seeds 0,1 && atr-bench leaderboard"


def _unavailable(reason: str) -> None:
    """CI must run the browser tests; elsewhere a missing browser skips them."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    """One headless Chromium for the module's tests, ended with every process it started."""
    reason = chromium_browser.missing()
    if reason:
        _unavailable(reason)
    with chromium_browser.chromium(tmp_path_factory.mktemp("chromium")) as driver:
        yield driver


@pytest.fixture(scope="module")
def board(tiny_data, tiny_args, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The page and Markdown of a board of real runs: tiny synthcaps, mean and max pooling,
    two seeds each, with their per-query ranks (so intervals) and validation curves."""
    tmp = tmp_path_factory.mktemp("page")
    runs, out = tmp / "runs", tmp / "boards"
    args = tiny_args(tiny_data, runs, "--seeds", "0,1", "--log-to", "none", "--pooling", "mean,max")
    args[0] = "sweep"
    assert main(args) == 0
    report = build_leaderboards(runs, out, command=COMMAND, include_smoke=True)
    (stem,) = report.boards
    assert out / f"{stem}.html" in report.written  # a default format, listed as written
    assert f"{stem}.html" in report.lines()[0]
    return out / stem


def _open(browser, page: Path) -> None:
    browser.get(page.as_uri())
    problems = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not problems, problems  # the script ran under the page's policy, without errors


PAGE_TABLES = """
const read = (table) => {
  const cells = (tr, tag) => [...tr.querySelectorAll(':scope > ' + tag)]
    .filter((cell) => !cell.querySelector('button.toggle') && cell.textContent !== 'details')
    .map((cell) => [cell.textContent, cell.querySelector('strong') !== null]);
  if (!table) return null;
  return {
    headers: cells(table.querySelector('thead tr'), 'th').map((cell) => cell[0]),
    rows: [...table.querySelectorAll('tbody > tr')]
      .filter((tr) => !tr.classList.contains('details') && !tr.hidden)
      .map((tr) => cells(tr, 'td')),
  };
};
const texts = (nodes) => [...nodes].map((node) => node.textContent);
const section = document.getElementById('definitions');
return {
  board: read(document.getElementById('board')),
  reference: read(document.getElementById('reference')),
  preface: texts(document.querySelectorAll('p.preface')),
  notes: texts([...document.querySelectorAll('p.note')].filter((p) => !p.closest('section'))),
  definitions: section && {
    notes: texts(section.querySelectorAll('p.note')),
    headings: texts(section.querySelectorAll('h3')),
    tables: [...section.querySelectorAll('table')].map(read),
  },
  sections: texts(document.querySelectorAll('h2')),
  header: document.querySelector('p.header').textContent,
  title: document.querySelector('h1').textContent,
  smoke: document.querySelector('p.smoke') !== null,
  resources: performance.getEntriesByType('resource').length,
};
"""


def _md_cells(line: str) -> list[tuple[str, bool]]:
    """A Markdown table line's cells as (text, bold), unescaped as a reader sees them."""
    cells = re.split(r"(?<!\\)\|", line.strip()[1:-1])
    out = []
    for cell in (c.strip().replace("\\|", "|") for c in cells):
        bold = cell.startswith("**")
        out.append((cell.replace("**", "") if bold else cell, bold))
    return out


def _md_tables(md: str) -> list[dict[str, Any]]:
    """Headers and rows of every table in a Markdown board."""
    tables, lines = [], md.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("|") and (i == 0 or not lines[i - 1].startswith("|")):
            body = []
            for row in lines[i + 2 :]:
                if not row.startswith("|"):
                    break
                body.append([[text, bold] for text, bold in _md_cells(row)])
            tables.append({"headers": [t for t, _ in _md_cells(line)], "rows": body})
    return tables


def _paragraphs(md: str) -> list[str]:
    return [p.strip() for p in md.split("\n\n") if p.strip()]


def _md_notes(md: str) -> list[str]:
    """The paragraphs of a Markdown board that explain it (not its title, header or tables)."""
    skip = ("<!--", "#", "|", "_", "Published", "- [", "No usable run records")
    return [p for p in _paragraphs(md) if not p.startswith(skip)]


DEFINITIONS = "Metric definitions side by side"


def _md_page(md: str) -> dict[str, Any]:
    """What the page must show of a Markdown board, read section by section (``##``): the
    measured table and its notes, the metric definitions (notes, one ``###`` heading and table
    per direction) and the quoted table, each None where the board has none."""
    main, *rest = re.split(r"^## ", md, flags=re.MULTILINE)
    sections = dict(part.split("\n", 1) for part in rest)
    definitions = sections.get(DEFINITIONS)
    quoted = [text for title, text in sections.items() if title.startswith("Reference results")]
    (measured,) = _md_tables(main) or [None]
    return {
        "board": measured,  # headers, every cell's text, and which cells are bold
        "notes": _md_notes(main),  # how to read it, intervals, marks, chance levels
        "definitions": None
        if definitions is None
        else {
            "notes": _md_notes(definitions),
            "headings": re.findall(r"^### (.+)$", definitions, flags=re.MULTILINE),
            "tables": _md_tables(definitions),
        },
        "reference": _md_tables(quoted[0])[0] if quoted else None,
        "preface": [p for p in _paragraphs(quoted[0]) if p.startswith("Published")]
        if quoted
        else [],  # what the quoted rows are, above them
        "sections": list(sections),  # a section the page lacks fails here
    }


def _assert_page_is_markdown(page: dict[str, Any], md: str) -> None:
    """Each part of the page is the Markdown board's (a failure names the part)."""
    expected = _md_page(md)
    for key, value in expected.items():
        assert page[key] == value, key


def test_every_number_and_mark_on_the_page_is_the_markdown_boards(browser, board) -> None:
    _open(browser, board.with_suffix(".html"))
    page = browser.execute_script(PAGE_TABLES)
    md = board.with_suffix(".md").read_text(encoding="utf-8")
    _assert_page_is_markdown(page, md)
    definitions = page["definitions"]  # records of the current schema hold every definition
    assert definitions["headings"] == ["t2a", "a2t"] and page["sections"][0] == DEFINITIONS
    for direction, table in zip(("t2a", "a2t"), definitions["tables"], strict=True):
        assert f"{direction} nDCG@10" in table["headers"] and len(table["rows"]) == 2
        assert f"{direction} R@5 (released code)" in table["headers"]
    assert "before record schema 4" in definitions["notes"][0]
    assert any("nDCG@10" in note for note in definitions["notes"][1:])  # its chance levels
    assert COMMAND in page["header"] and f"_{page['header']}_" in md.splitlines()
    assert page["smoke"] and board.name.endswith("-smoke")  # tiny runs: a smoke-sized board
    assert page["title"] == md.splitlines()[1].replace("# Leaderboard: ", "atr-bench leaderboard: ")
    assert page["resources"] == 0  # nothing fetched: one self-contained file
    assert any("95% CI" in header for header in page["board"]["headers"])  # real ranks kept


def _column(browser, label: str) -> list[str]:
    return browser.execute_script(
        """
        const heads = [...document.querySelectorAll('#board thead th')].map((th) => th.textContent);
        const index = heads.indexOf(arguments[0]);
        return [...document.querySelectorAll('#board tbody > tr.row')]
          .filter((tr) => !tr.hidden).map((tr) => tr.children[index].textContent);
        """,
        label,
    )


def _click_header(browser, label: str) -> str:
    """Click the header ``label``; its aria-sort after the click."""
    from selenium.webdriver.common.by import By

    (th,) = browser.find_elements(By.XPATH, f"//table[@id='board']/thead//th[button='{label}']")
    th.find_element(By.TAG_NAME, "button").click()
    return th.get_attribute("aria-sort")


def _numbers(cells: list[str]) -> list[float]:
    return [float(cell.split()[0]) for cell in cells]


def test_clicking_a_header_sorts_by_it_and_again_the_other_way(browser, tmp_path) -> None:
    page = _hand_made_board(tmp_path)
    _open(browser, page)
    before = _column(browser, "pooling")
    assert before == ["a", "b", "c", "d"]  # the board's order: t2a R@1, best first
    assert _click_header(browser, "a2t R@1") == "descending"  # higher is better: best first
    a2t = _numbers(_column(browser, "a2t R@1"))
    assert a2t == sorted(a2t, reverse=True) and _column(browser, "pooling") != before
    assert _click_header(browser, "a2t R@1") == "ascending"
    assert _numbers(_column(browser, "a2t R@1")) == sorted(a2t)
    assert _click_header(browser, "t2a MedR") == "ascending"  # lower is better: best first
    medr = _numbers(_column(browser, "t2a MedR"))
    assert medr == sorted(medr) and len(set(medr)) > 1
    assert _click_header(browser, "text encoder") == "ascending"
    encoders = _column(browser, "text encoder")
    assert encoders == sorted(encoders)


def test_a_filter_hides_the_rows_it_leaves_out(browser, board) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    _open(browser, board.with_suffix(".html"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#board tbody > tr.row")
    assert len(rows) == 2 and all(row.is_displayed() for row in rows)
    for field in ("dataset", "protocol", "extractor", "pooling"):
        options = Select(browser.find_element(By.ID, f"filter-{field}")).options
        assert options[0].text == "all" and len(options) > 1
    Select(browser.find_element(By.ID, "filter-pooling")).select_by_visible_text("max")
    assert _column(browser, "pooling") == ["max"]
    for table in browser.execute_script(PAGE_TABLES)["definitions"]["tables"]:
        assert [row[1][0] for row in table["rows"]] == ["max"]  # its rows there go with it
    shown = [row for row in rows if row.is_displayed()]
    assert len(shown) == 1 and " max " in f" {shown[0].text} "
    assert browser.find_element(By.CSS_SELECTOR, ".shown").text == "showing 1 of 2 rows"
    Select(browser.find_element(By.ID, "filter-extractor")).select_by_visible_text("lms")
    assert _column(browser, "pooling") == ["max"]  # filters combine
    Select(browser.find_element(By.ID, "filter-pooling")).select_by_visible_text("all")
    assert sorted(_column(browser, "pooling")) == ["max", "mean"]
    md = board.with_suffix(".md").read_text(encoding="utf-8")
    _assert_page_is_markdown(browser.execute_script(PAGE_TABLES), md)


def test_a_rows_provenance_and_curves_show_on_demand(browser, board) -> None:
    from selenium.webdriver.common.by import By

    _open(browser, board.with_suffix(".html"))
    records, _ = read_records(board.parent.parent / "runs")
    first = browser.find_element(By.CSS_SELECTOR, "#board tbody > tr.row")
    pooling = _column(browser, "pooling")[0]
    details = browser.find_element(By.ID, "details-0")
    assert not details.is_displayed()
    first.find_element(By.CSS_SELECTOR, "button.toggle").click()
    assert details.is_displayed()
    mine = sorted((r for r in records if r.pooling == pooling), key=lambda r: r.seed)
    shown_ids = [
        td.text for td in details.find_elements(By.CSS_SELECTOR, "table.runs td:nth-child(2)")
    ]
    assert shown_ids == [r.run_id for r in mine]
    text = details.text
    assert mine[0].protocol_hash in text and COMMAND in text
    assert mine[0].config is not None
    svgs = details.find_elements(By.CSS_SELECTOR, "svg.curve")
    assert len(svgs) == len(CURVE_METRICS)
    for svg, (direction, metric) in zip(svgs, CURVE_METRICS, strict=True):
        curve = row_curve([r.val_curve for r in mine], direction, metric)
        points = svg.find_elements(By.CSS_SELECTOR, "circle.point")
        assert len(points) == len(curve.epochs) == 2
        labels = [p.find_element(By.TAG_NAME, "title").get_attribute("textContent") for p in points]
        assert labels == [
            f"epoch {e}: {m:.2f} ± {s:.2f}"
            for e, m, s in zip(curve.epochs, curve.mean, curve.std, strict=True)
        ]
    first.find_element(By.CSS_SELECTOR, "button.toggle").click()
    assert not details.is_displayed()


HOSTILE = {
    "text_encoder": '<img src=x onerror="window.pwned=1">|\r\n**x**',
    "settings": {"x</script><script>window.pwned=2</script>": "<b>bold</b> & &amp;"},
    "device": "cpu\n<svg onload=window.pwned=3>",
}


def _metrics(r1: float, medr: float, definitions: bool) -> dict[str, float]:
    """A record's test metrics of one direction; ``definitions``: also the other papers' and
    tools' (record schema 4 on)."""
    own = {
        "R1": r1, "R5": r1 + 20, "R10": r1 + 30, "R50": 95.0, "MedR": medr, "MeanR": 9.0,
        "mAP10": 20.0, "geo": r1 + 10,
    }  # fmt: skip
    if not definitions:
        return own
    others = {f"R{k}_hits": own[f"R{k}"] + 2 for k in (1, 5, 10, 50)}
    others |= {f"R{k}_released": own[f"R{k}"] + 1 for k in (5, 10, 50)}
    return own | others | {"nDCG10": r1 + 15, "MRR10": r1 + 5}


def _hand_made_board(tmp_path: Path, definitions: bool = True) -> Path:
    """A board of four two-seed rows (poolings a-d, t2a R@1 falling, a2t R@1 rising, MedR
    mixed), the last with hostile text in its names, settings and device; ``definitions``
    False: of schema-3 records, which hold no other definitions."""
    runs = tmp_path / "runs"
    for i, pooling in enumerate("abcd"):
        for seed in (0, 1):
            record = {
                "schema": SCHEMA_VERSION if definitions else 3,
                "run_id": f"synthcaps-lms-{pooling}-s{seed}",
                "created": f"2025-01-01T00:00:0{seed}+00:00",
                "dataset": "synthcaps",
                "extractor": "lms",
                "pooling": pooling,
                "text_pooling": None,
                "text_encoder": f"enc-{'zyxw'[i]}",
                "seed": seed,
                "protocol_hash": f"{pooling}".ljust(12, "0"),
                "device": "cpu (x86_64, 2 threads)",
                "test": {
                    "t2a": _metrics(40.0 - 10 * i + seed, [3.0, 9.0, 1.0, 5.0][i], definitions),
                    "a2t": _metrics(10.0 + 10 * i + seed, 5.0, definitions),
                },
                "order_contrast": None,
                "parameters": 1000 * (i + 1),
            }
            if pooling == "d":
                record.update(HOSTILE)
            write_json(runs / f"{record['run_id']}.json", record)
    build_leaderboards(runs, tmp_path, command="</script>&", formats=("md", "html"))
    return tmp_path / "synthcaps-pairs.html"


def test_text_from_records_shows_as_text_and_runs_nothing(browser, tmp_path) -> None:
    from selenium.webdriver.common.by import By

    page = _hand_made_board(tmp_path)
    _open(browser, page)
    shown = browser.execute_script(PAGE_TABLES)
    hostile = next(row for row in shown["board"]["rows"] if row[1][0] == "d")
    texts = [text for text, _ in hostile]
    assert '<img src=x onerror="window.pwned=1">|  **x**' in texts and not hostile[3][1]
    assert "x</script><script>window.pwned=2</script>=<b>bold</b> & &amp;" in texts
    assert "cpu <svg onload=window.pwned=3>" in texts  # on one line, as in the Markdown
    for table in shown["definitions"]["tables"]:  # its settings there too
        texts = [text for text, _ in table["rows"][3]]
        assert "x</script><script>window.pwned=2</script>=<b>bold</b> & &amp;" in texts
    _assert_page_is_markdown(shown, page.with_suffix(".md").read_text(encoding="utf-8"))
    browser.find_elements(By.CSS_SELECTOR, "button.toggle")[3].click()
    assert "</script>&" in browser.find_element(By.ID, "details-3").text
    injected = "return [window.pwned, document.querySelectorAll('img, b, #board svg').length]"
    assert browser.execute_script(injected) == [None, 0]
    assert browser.title == "atr-bench leaderboard: synthcaps, protocol pairs@1"


def test_a_board_of_older_records_has_no_definitions_on_its_page(browser, tmp_path) -> None:
    """Records older than schema 4 hold no other definitions: neither the Markdown nor the
    page has the section, and the rest still matches."""
    page = _hand_made_board(tmp_path, definitions=False)
    _open(browser, page)
    shown = browser.execute_script(PAGE_TABLES)
    md = page.with_suffix(".md").read_text(encoding="utf-8")
    _assert_page_is_markdown(shown, md)
    assert (
        shown["definitions"] is None
        and shown["sections"] == []
        and len(shown["board"]["rows"]) == 4
    )
    assert "ties=hits" not in browser.find_element("id", "page").text


def test_the_page_is_one_file_that_loads_nothing(tmp_path) -> None:
    """No reference to anything outside the page; its policy lets nothing be fetched and only
    its own script run; the data cannot close its script element."""
    html = _hand_made_board(tmp_path).read_text(encoding="utf-8")
    before, rest = html.split('<script type="application/json" id="board-data">')
    data, after = rest.split("</script>", 1)
    hostile = json.loads(data)["rows"][3]["cells"][3]["text"]
    assert hostile.startswith("<img src=x") and "<" not in data  # escaped: cannot close it
    for part in (before, after):  # the page itself refers to nothing outside it
        assert not re.search(r"<(link|img|iframe|object|embed)\b|\ssrc\s*=|@import|url\(", part)
    assert "default-src 'none'" in before and "'unsafe-inline'" not in before
    assert script_json("</script><!--&") == '"\\u003c/script\\u003e\\u003c!--\\u0026"'


def test_quoted_rows_and_their_sources_are_the_markdowns(browser, tmp_path) -> None:
    """A board of published numbers alone: no measured table, the quoted table as in the
    Markdown, each source linked."""
    from selenium.webdriver.common.by import By

    (tmp_path / "runs").mkdir()
    build_leaderboards(tmp_path / "runs", tmp_path, datasets=["audiocaps"], formats=("md", "html"))
    (page_file,) = tmp_path.glob("*.html")
    _open(browser, page_file)
    page = browser.execute_script(PAGE_TABLES)
    md = page_file.with_suffix(".md").read_text(encoding="utf-8")
    _assert_page_is_markdown(page, md)
    (quoted,) = _md_tables(md)
    assert page["board"] is None and page["reference"] == quoted and len(quoted["rows"]) > 1
    assert page["definitions"] is None and page["sections"] == [f"Reference results ({QUOTED})"]
    assert "No usable run records for this dataset." in browser.find_element(By.ID, "page").text
    items = browser.find_elements(By.CSS_SELECTOR, "ul.sources li")
    listed = [line[2:] for line in md.splitlines() if line.startswith("- [")]
    assert [item.text for item in items] == [re.sub(r"<(https://[^>]+)>", r"\1", x) for x in listed]
    for item in items:
        link = item.find_element(By.TAG_NAME, "a")
        assert link.get_attribute("href") == link.text


def test_cells_sort_by_the_number_they_show() -> None:
    cells = ["62.2 ± 0.4 †", "[60.0, 64.5]", "1,045,760", "1 seed", "3", "–", "18ec2e4e", "-0.5"]
    assert [sort_value(cell) for cell in cells] == [62.2, 60.0, 1045760, 1, 3, None, None, -0.5]
