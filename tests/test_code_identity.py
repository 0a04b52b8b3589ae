"""Code identity: a plugin's distribution, version and source digest are in the run id, so
changed code is never "already done" and never averaged with the old code's seeds."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from atr_bench.cli.main import main
from atr_bench.plugins import code_identity as identities
from atr_bench.plugins.registry import ENV_FILTER, registry
from atr_bench.record.results import read_records
from atr_bench.report.aggregate import aggregate
from atr_bench.report.leaderboard import build_leaderboards
from atr_bench.run.config import RunRequest
from atr_bench.run.plan import plan

PACKAGE = {
    "__init__.py": """
from atr_bench import Lazy, PoolingSpec, hookimpl


@hookimpl
def atr_bench_poolings():
    return [PoolingSpec("codepool", "mean, scaled", Lazy("codeplug.pool", "ScaledMean"))]
""",
    "pool.py": """
from atr_bench.components.poolings.simple import MeanPooling
from .scale import SCALE  # a relative import, followed as well


class ScaledMean(MeanPooling):
    def forward(self, x, mask):
        return super().forward(x, mask) * SCALE
""",
    "scale.py": "SCALE = 1.0\n",
}
"""A plugin package: the hook, the pooling its build names, and a module that one imports."""


def _fresh() -> None:
    """What a new process sees: the plugin's modules, the registry and code identities anew."""
    for name in [m for m in sys.modules if m.partition(".")[0] == "codeplug"]:
        del sys.modules[name]
    importlib.invalidate_caches()
    registry.cache_clear()
    identities._identity.cache_clear()


@pytest.fixture
def codeplug(tmp_path, monkeypatch, dist_info):
    """The ``codeplug`` distribution, version 1.0, installed into a folder on ``sys.path``."""
    site = tmp_path / "site"
    (site / "codeplug").mkdir(parents=True)
    for name, source in PACKAGE.items():
        (site / "codeplug" / name).write_text(source)
    dist_info(site, "codeplug", "1.0")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv(ENV_FILTER, raising=False)
    _fresh()
    yield site
    _fresh()


def _bump(site: Path, dist_info, old: str, new: str) -> None:
    """Upgrade ``codeplug`` from version ``old`` to ``new``, as pip leaves it."""
    for path in (site / f"codeplug-{old}.dist-info").iterdir():
        path.unlink()
    (site / f"codeplug-{old}.dist-info").rmdir()
    dist_info(site, "codeplug", new)


def _run_id(data_root: Path) -> str:
    return plan(RunRequest(pooling="codepool"), registry(), data_root).run_id(0)


def test_an_edit_or_a_new_version_gives_a_new_run_id(codeplug, tmp_path, dist_info):
    first = _run_id(tmp_path)
    _fresh()
    assert _run_id(tmp_path) == first  # same code, same id
    (codeplug / "codeplug" / "scale.py").write_text("SCALE = 2.0\n")  # imported by the build
    _fresh()
    edited = _run_id(tmp_path)
    assert edited != first
    _bump(codeplug, dist_info, "1.0", "1.1")
    _fresh()
    bumped = _run_id(tmp_path)
    assert bumped not in {first, edited}
    found = registry().find("pooling", "codepool")
    assert identities.code_identity(found).version == "1.1"


def test_builtin_code_is_their_component_modules_not_the_harness_core():
    modules = set(identities.code_files(registry().find("pooling", "netvlad")))
    assert {
        "atr_bench.components.poolings.plugin",  # registers it
        "atr_bench.components.poolings.vlad",  # its build
        "atr_bench.components.poolings.vlad_function",  # imported by the build
    } <= modules
    assert all(m.startswith("atr_bench.components.") for m in modules)
    plugin = identities.code_identity(registry().find("pooling", "netvlad"))
    assert (plugin.distribution, len(plugin.digest)) == ("atr-bench", 64)


def test_code_identity_imports_no_implementation():
    script = (
        "import sys\n"
        "from atr_bench.plugins.code_identity import code_identity\n"
        "from atr_bench.plugins.registry import KINDS, registry\n"
        "[code_identity(f) for kind in KINDS for f in registry().all(kind)]\n"
        "print(sorted(m for m in ('torch', 'librosa', 'gensim') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_old_and_new_code_seeds_are_two_rows_that_show_their_versions(
    codeplug, tiny_data, tiny_args, tmp_path, capsys, dist_info
):
    runs = tmp_path / "runs"
    args = tiny_args(tiny_data, runs, "--pooling", "codepool", "--epochs", "1")
    assert main([*args, "--seeds", "0"]) == 0
    (codeplug / "codeplug" / "scale.py").write_text("SCALE = 2.0\n")
    _bump(codeplug, dist_info, "1.0", "1.1")
    _fresh()
    capsys.readouterr()
    assert main([*args, "--seeds", "0,1"]) == 0
    assert "already done" not in capsys.readouterr().err
    records, problems = read_records(runs)
    assert not problems
    rows = {tuple(row.seeds): row for row in aggregate(records)}
    assert sorted(rows) == [(0,), (0, 1)]  # never one row averaging old and new code
    assert rows[0,].code.startswith("atr-bench 0.1.0, codeplug 1.0 ")
    assert rows[0, 1].code.startswith("atr-bench 0.1.0, codeplug 1.1 ")
    old = json.loads(next(runs.glob("*-s1.json")).read_text())  # as written before digests
    old.update(run_id="old-s1", protocol_hash="0123456789ab")
    for plugin in old["plugins"].values():
        del plugin["digest"]
    (runs / "old-s1.json").write_text(json.dumps(old))
    out = tmp_path / "boards"
    build_leaderboards(runs, out, formats=("md", "csv"), command="x", include_smoke=True)
    (board_file,) = out.glob("*.md")  # tiny runs, all on one test set: one (smoke) board
    board = board_file.read_text().split("## Metric definitions side by side")[0]  # main table
    lines = [line for line in board.splitlines() if "| codepool" in line]
    assert len(lines) == 3
    assert sum("codeplug 1.1" in line for line in lines) == 1
    assert sum("codeplug 1.0" in line for line in lines) == 1
    assert sum(line.rstrip(" |").endswith("–") for line in lines) == 1  # the old record
    assert "codeplug 1.1" in board_file.with_suffix(".csv").read_text()
