"""Shared fixtures: a tiny synthcaps in the seed layout, generated once per test session;
Triton in its interpreter where there is no GPU."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

if not torch.cuda.is_available():
    # Triton kernels then run in Triton's interpreter on CPU tensors; it reads this setting when
    # a kernel is defined, so it must be set before any test imports one.
    os.environ.setdefault("TRITON_INTERPRET", "1")

TINY = ["train=64", "val=24", "test=24", "duration=2.0"]
"""A synthcaps small enough that a protocol run takes seconds on 2 cores."""


def _tiny_args(data_root: Path, runs_dir: Path, *extra: str) -> list[str]:
    args = ["run", "--data-root", str(data_root), "--runs-dir", str(runs_dir), "--no-progress"]
    for item in TINY:
        args += ["--dataset-opt", item]
    return [*args, "--epochs", "2", "--batch-size", "32", "--embed-dim", "64", *extra]


@pytest.fixture(scope="session")
def tiny_args():
    """``atr-bench run`` arguments for a short run on the tiny synthcaps."""
    return _tiny_args


@pytest.fixture(scope="session")
def tiny_options() -> dict[str, str]:
    """The tiny synthcaps' dataset options."""
    return dict(item.split("=") for item in TINY)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root with the tiny synthcaps index, lms features and word2vec text cache."""
    from atr_bench.cli.main import main

    root = tmp_path_factory.mktemp("data")
    runs = tmp_path_factory.mktemp("warmup-runs")
    assert main(_tiny_args(root, runs, "--pooling", "mean", "--epochs", "1")) == 0
    return root


@pytest.fixture
def install_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``install(*folders)`` pip-installs plugin distributions (copies, so their source folders
    get no build files) into a fresh folder on ``sys.path`` and ``PYTHONPATH``; the plugin
    registry sees them until the test ends."""
    from atr_bench.plugins.registry import ENV_FILTER, registry

    target = tmp_path / "site-packages"
    monkeypatch.delenv(ENV_FILTER, raising=False)

    def install(*folders: Path) -> Path:
        copies = []
        for folder in folders:
            copy = tmp_path / "sources" / folder.name
            skip = shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
            shutil.copytree(folder, copy, ignore=skip)
            copies.append(str(copy))
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index"]
        pip += ["--no-build-isolation", "--disable-pip-version-check", "--target", str(target)]
        subprocess.run([*pip, *copies], check=True)
        monkeypatch.syspath_prepend(str(target))
        monkeypatch.setenv("PYTHONPATH", str(target))
        registry.cache_clear()
        return target

    yield install
    registry.cache_clear()


def write_dist_info(site: Path, name: str, version: str, module: str | None = None) -> Path:
    """The dist-info pip leaves in ``site`` for distribution ``name`` at ``version``, with an
    ``atr_bench`` entry point to ``module`` (default: ``name``)."""
    info = site / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[atr_bench]\n{name} = {module or name}\n")
    return info


@pytest.fixture
def dist_info():
    """``write_dist_info``, for tests that lay out a plugin package of their own."""
    return write_dist_info


@pytest.fixture
def fake_distribution():
    """``write(site, name, source, version="1.0")``: a distribution as pip leaves it in
    ``site``, a module plus a dist-info with its ``atr_bench`` entry point."""

    def write(site: Path, name: str, source: str, version: str = "1.0") -> None:
        (site / f"{name}.py").write_text(source)
        write_dist_info(site, name, version)

    return write


@pytest.fixture
def loose_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_distribution):
    """``add(name, source)``: a plugin distribution (``fake_distribution``) in a folder on
    ``sys.path`` that the registry loads, with no plugin filter, until the test ends; returns
    that folder."""
    import importlib

    from atr_bench.plugins.registry import ENV_FILTER, registry

    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv(ENV_FILTER, raising=False)

    def add(name: str, source: str) -> Path:
        fake_distribution(site, name, source)
        importlib.invalidate_caches()
        registry.cache_clear()
        return site

    yield add
    registry.cache_clear()


@pytest.fixture
def interrupted_at(monkeypatch: pytest.MonkeyPatch):
    """``interrupted_at(n)``: training's ``n``-th epoch from now raises KeyboardInterrupt, as a
    Ctrl-C or a kill mid-run would; returns the real epoch function, to put back."""
    from atr_bench.run import training

    real = training._train_epoch

    def arm(n: int):
        calls = {"n": 0}

        def epoch(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == n:
                raise KeyboardInterrupt
            return real(*args, **kwargs)

        monkeypatch.setattr(training, "_train_epoch", epoch)
        return real

    return arm
