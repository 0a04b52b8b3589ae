"""The run context, library messages through ``logging`` onto stderr, and ``--debug``."""

from __future__ import annotations

import logging
import pickle

import pytest
import torch

from atr_bench import logs
from atr_bench.cli.main import main
from atr_bench.run.context import RunContext


@pytest.fixture
def atr_logger():
    """The ``atr_bench`` logger, put back as it was after the test."""
    logger = logging.getLogger(logs.ROOT)
    level, handlers = logger.level, list(logger.handlers)
    yield logger
    logger.setLevel(level)
    logger.handlers[:] = handlers


def test_library_messages_reach_the_stderr_of_the_moment_as_plain_lines(atr_logger, capsys):
    logs.to_stderr()
    logs.to_stderr()  # again (main runs many times in one process): still one line a message
    logging.getLogger("atr_bench.run.somewhere").info("resuming after epoch %d", 2)
    logging.getLogger("atr_bench.run.somewhere").debug("not shown")
    assert capsys.readouterr().err == "resuming after epoch 2\n"
    logs.to_stderr(logging.DEBUG)
    logging.getLogger("atr_bench.x").debug("now shown")
    assert capsys.readouterr().err == "now shown\n"


def test_a_context_crosses_to_a_worker_process_whole(tmp_path):
    context = RunContext(torch.device("cpu"), tmp_path / "runs", tmp_path / "data", threads=2)
    again = pickle.loads(pickle.dumps(context))
    assert again == context and again.log is logging.getLogger("atr_bench.run")
    with pytest.raises(AttributeError):
        context.progress = False


def test_the_runs_messages_go_to_the_contexts_logger(
    tiny_data, tiny_options, tmp_path, monkeypatch, caplog
):
    from atr_bench.data import loading
    from atr_bench.plugins.registry import registry
    from atr_bench.run import execute
    from atr_bench.run.config import RunRequest
    from atr_bench.run.plan import plan

    monkeypatch.setattr(loading, "room_on_device", lambda device, nbytes: False)
    request = RunRequest(dataset_options=tuple(tiny_options.items()))
    the_plan = plan(request, registry(), tiny_data)
    mine = logging.getLogger("atr_bench.tests.my_run")
    context = RunContext(torch.device("cpu"), tmp_path, tiny_data, progress=False, log=mine)
    with caplog.at_level(logging.INFO):
        execute.load_data(the_plan, context)
    assert [r.name for r in caplog.records if "kept in host memory" in r.message] == [mine.name]


def _run_args(tmp_path, pooling: str) -> list[str]:
    return ["run", "--pooling", pooling, "--data-root", str(tmp_path), "--runs-dir", str(tmp_path)]


def test_an_error_is_one_line_without_debug_and_its_traceback_with_it(tmp_path, capsys, atr_logger):
    assert main(_run_args(tmp_path, "nosuch")) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("atr-bench: error: ") and "unknown pooling 'nosuch'" in line
    assert main(["--debug", *_run_args(tmp_path, "nosuch")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert "in plan" in err and "AtrBenchError: unknown pooling 'nosuch'" in err


def test_debug_shows_the_traceback_of_each_failed_sweep_run(tmp_path, capsys, atr_logger):
    args = _run_args(tmp_path, "nosuch")
    args[0] = "sweep"
    assert main(args) == 1
    assert "Traceback" not in capsys.readouterr().err
    assert main(["--debug", *args]) == 1
    out, err = capsys.readouterr()
    assert "FAILED synthcaps/lms/nosuch" in out
    assert "nosuch (lou2022-tuned) failed\nTraceback (most recent call last):" in err
    assert "AtrBenchError: unknown pooling 'nosuch'" in err
