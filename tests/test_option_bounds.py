"""Every numeric flag, plugin option and protocol setting is bounded by one typed description:
extreme values (huge, negative, NaN, inf, empty, unicode, a line break) are one line and exit
2 before anything runs, never a traceback, a crash or a silent acceptance."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atr_bench.cli.main import main

HUGE = str(10**30)


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--threads", "3000"], "--threads 3000: must be from 1 to 256"),
        (["--embed-dim", HUGE], f"--embed-dim {HUGE}: must be <= 65536"),
        (["--audio-frames", HUGE], "--audio-frames"),
        (["--text-tokens", "0"], "--text-tokens 0: must be >= 1"),
        (["--weight-decay", "1e308"], "--weight-decay 1e+308: must be <= 1"),
        (["--lr", "nan"], "--lr nan: must be a finite number"),
        (["--lr", "-1"], "--lr -1.0: must be > 0"),
        (["--batch-size", "1"], "--batch-size 1: must be >= 2"),
        (["--pooling", "lstm", "--pooling-opt", f"hidden={HUGE}"], "hidden"),
        (["--pooling", "netrvlad", "--pooling-opt", "clusters=1000000000"], "<= 1024"),
        (["--dataset-opt", "duration=nan"], "a finite number"),
        (["--dataset-opt", "duration=1e300"], "<= 60"),
    ],
)
def test_an_out_of_range_value_is_one_line_before_anything_runs(tmp_path, capsys, flags, says):
    runs, data = tmp_path / "runs", tmp_path / "data"
    args = ["run", "--runs-dir", str(runs), "--data-root", str(data), "--epochs", "1", *flags]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and len(err.splitlines()) == 1
    assert not runs.exists() and not data.exists()


def test_a_seed_given_twice_is_refused(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--seeds", "0,0", "--runs-dir", str(tmp_path)])
    assert exit_.value.code == 2 and "seed 0 is given twice" in capsys.readouterr().err


BAD_PROTOCOLS = """
from atr_bench import hookimpl
from atr_bench.plugins.specs import ProtocolSpec


def _nothing(pooling, side, in_dim):
    return {}


@hookimpl
def atr_bench_protocols():
    return [
        ProtocolSpec(name="neg_lr", description="x", build=_nothing, lr=-1.0),
        ProtocolSpec(name="clip_batch", description="x", build=_nothing, batch_items="clip"),
        ProtocolSpec(name="latest", description="x", build=_nothing, selection_ties="latest"),
    ]
"""


@pytest.mark.parametrize(
    ("protocol", "says"),
    [
        ("neg_lr", "protocol 'neg_lr' sets lr=-1.0, which must be > 0"),
        ("clip_batch", "protocol 'clip_batch' sets batch_items='clip', which is no registered"),
        ("latest", "protocol 'latest' sets selection_ties='latest', which must be one of"),
    ],
)
def test_a_protocol_plugins_bad_setting_is_refused_at_load_and_named_by_run(
    tmp_path, capsys, loose_plugins, protocol, says
):
    loose_plugins("protoplug", BAD_PROTOCOLS)
    assert main(["list"]) == 0  # the others load; this one is reported
    assert f"plugin 'protoplug' not loaded: {says}" in capsys.readouterr().err
    data = tmp_path / "data"
    args = ["run", "--protocol", protocol, "--data-root", str(data)]
    assert main([*args, "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and "fix the plugin" in err and len(err.splitlines()) == 1
    assert not data.exists()


FLAGS = (
    "--threads",
    "--embed-dim",
    "--audio-frames",
    "--text-tokens",
    "--epochs",
    "--batch-size",
    "--lr",
    "--weight-decay",
    "--gamma",
    "--margin",
    "--temperature",
    "--seeds",
    "--dataset-opt",
    "--pooling-opt",
)
EXTREMES = st.one_of(
    st.sampled_from(["", " ", "nan", "inf", "-inf", "-1", "0", "1e308", HUGE, "-" + HUGE]),
    st.sampled_from(["1\n2", "x\u2028y", "\u00e9\u4e2d", "0,0", "=", "train=", "hidden=-5"]),
    st.text(max_size=12),
    st.integers().map(str),
    st.floats().map(str),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(flag=st.sampled_from(FLAGS), value=EXTREMES)
def test_extreme_option_values_never_make_a_traceback(tmp_path, capsys, flag, value) -> None:
    """Any value of any numeric flag: a clean refusal (exit 2, one line) or a run that would
    start; never a traceback. Nothing runs: the data root is a file, which every accepted
    combination then stops at with its own one line."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    args = ["run", "--runs-dir", str(tmp_path / "runs"), "--data-root", str(blocker)]
    try:
        code = main([*args, flag, value])
    except SystemExit as exit_:  # argparse's own refusal of a value it cannot parse
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2, (flag, value, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()
