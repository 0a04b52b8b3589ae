"""The typed run record: JSON round trip, older records, refusals; and boards that render
byte for byte what the harness rendered before reporting was split into aggregation and
renderers.

``tests/data/records`` holds records written by ``atr-bench sweep`` on the tiny synthcaps
(schema 1, every field) beside hand-made ones in older shapes (no protocol, few fields, a
re-run seed, an untrained run, a broken file, a name with LaTeX and Markdown specials).
``tests/data/boards`` holds what the harness rendered from them before the split.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from atr_bench.record.results import read_record, read_records, write_record
from atr_bench.record.run_record import (
    LEGACY_PROTOCOL,
    SCHEMA_VERSION,
    ProtocolRef,
    RunRecord,
    schema_problem,
)
from atr_bench.report.leaderboard import build_leaderboards

DATA = Path(__file__).parent / "data"
RECORDS = DATA / "records"
BOARDS = DATA / "boards"


def _full_records() -> list[Path]:
    return [p for p in sorted(RECORDS.glob("synthcaps-*.json"))]


def _normalised(text: str, *folders: tuple[Path, str]) -> str:
    for folder, name in folders:
        text = text.replace(str(folder), name)
    return text


@pytest.fixture(scope="module")
def boards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("boards")
    runs = out / "runs"
    shutil.copytree(RECORDS, runs)
    for target, datasets, formats in (
        (out / "all", None, ("md", "csv", "tex", "png")),
        (out / "filtered", ["clotho", "synthcaps"], ("md", "csv", "tex")),
    ):
        command = "atr-bench leaderboard" if datasets is None else "x"
        report = build_leaderboards(runs, target, datasets, formats, command=command)
        lines = "\n".join(report.lines())
        (target / "report.txt").write_text(
            _normalised(lines, (target, "OUT"), (runs, "RUNS")) + "\n", encoding="utf-8"
        )
    return out


@pytest.mark.parametrize(
    "name", sorted(str(p.relative_to(BOARDS)) for p in BOARDS.rglob("*") if p.is_file())
)
def test_boards_render_as_before(boards: Path, name: str) -> None:
    made = boards / ("all" if "/" not in name else "") / name
    expected = _normalised((BOARDS / name).read_text(encoding="utf-8"))
    assert _normalised(made.read_text(encoding="utf-8")) == expected


def test_every_board_has_its_plot_and_its_curves_where_records_have_them(boards: Path) -> None:
    stems = {p.stem for p in BOARDS.glob("*.md")}
    plots = {p.stem for p in (boards / "all").glob("*.png") if not p.stem.endswith("-curves")}
    assert plots == stems
    curves = {p.stem.removesuffix("-curves") for p in (boards / "all").glob("*-curves.png")}
    assert curves and curves <= stems  # boards of records with a val_curve
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in (boards / "all").glob("*.png"))


@pytest.mark.parametrize("path", _full_records(), ids=lambda p: p.stem)
def test_a_full_record_round_trips_to_the_same_json(path: Path) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    record = RunRecord.from_json(data)
    now = {**data, "schema": SCHEMA_VERSION}  # read as schema 1, written as the current one
    assert record.to_json() == now and list(record.to_json()) == list(now)
    assert record.protocol is not None and record.seconds is not None
    assert record.protocol_label == f"{record.protocol.name}@{record.protocol.version}"
    assert record.seconds.train > 0 and len(record.val_curve) == record.config["epochs"]


def test_written_and_read_back_is_equal(tmp_path: Path) -> None:
    record = read_record(_full_records()[0])
    again = read_record(write_record(tmp_path / "r.json", record))
    assert again == record
    assert json.loads((tmp_path / "r.json").read_text())["schema"] == SCHEMA_VERSION


def test_an_old_minimal_record_reads_with_defaults() -> None:
    metrics = {"R1": 10.0, "R5": 20.0, "R10": 30.0, "mAP10": 5.0, "MedR": 9}
    data = {
        "schema": 1,
        "dataset": "synthcaps",
        "extractor": "lms",
        "pooling": "mean",
        "seed": 0,
        "test": {"t2a": metrics, "a2t": metrics},
    }
    record = RunRecord.from_json(data)
    assert record.protocol is None and record.protocol_label == LEGACY_PROTOCOL
    assert record.seconds is None and record.val_curve == () and record.untrained is False
    assert RunRecord.from_json(record.to_json()) == record
    assert "run_id" not in record.to_json()  # absent stays absent, never null


def test_a_record_is_frozen() -> None:
    record = read_record(_full_records()[0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.seed = 3  # type: ignore[misc]
    assert dataclasses.replace(record, protocol=ProtocolRef("x", 2)).protocol_label == "x@2"


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"schema": 99}, "not a schema-1, 2, 3 or 4 run record"),
        ({"metric_definitions": {"R1": 1}}, "metric_definitions is not metric names"),
        ({"protocol": {"name": "lou2022"}}, "protocol is not a name and a version"),
        ({"order_contrast": {"pairs": 3}}, "order_contrast is not a pair count"),
        ({"seconds": {"train": "long"}}, "seconds are not numbers"),
        ({"val_curve": [1, 2]}, "val_curve is not a list of epochs"),
    ],
)
def test_malformed_parts_are_named(change: dict, says: str) -> None:
    data = {**json.loads(_full_records()[0].read_text()), **change}
    assert says in (schema_problem(data) or "")
    with pytest.raises(ValueError, match=says):
        RunRecord.from_json(data)


def test_the_fixture_records_are_all_readable_but_one() -> None:
    records, problems = read_records(RECORDS)
    assert [p.path.name for p in problems] == ["broken.json"]
    assert len(records) == len(list(RECORDS.glob("*.json"))) - 1
