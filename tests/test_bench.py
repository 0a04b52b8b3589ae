"""Pooling throughput plumbing: the cases the suite runs, its inputs and steps, the byte and
flop bounds, the Markdown summary and the ``atr-bench bench`` command."""

from __future__ import annotations

import json
import time
import types

import pytest
import torch

from atr_bench import hookimpl
from atr_bench.cli.main import main
from atr_bench.components.poolings import plugin as poolings
from atr_bench.components.poolings.simple import MeanPooling
from atr_bench.errors import AtrBenchError
from atr_bench.perf import bench, throughput
from atr_bench.perf.bench_report import load, render, summarise, write_report
from atr_bench.perf.machine import describe
from atr_bench.plugins.registry import Origin, Registry
from atr_bench.plugins.specs import PoolingSpec

SHAPES = {shape.name: shape for shape in throughput.SHAPES}
SPECS = {spec.name: spec for spec in poolings.atr_bench_poolings()}


def registry_with_a_third_party_pooling() -> Registry:
    plugin = types.ModuleType("mine")

    @hookimpl
    def atr_bench_poolings():
        return [PoolingSpec("mine", "a third-party pooling", lambda in_dim: MeanPooling(in_dim))]

    plugin.atr_bench_poolings = atr_bench_poolings
    return Registry(
        [
            (poolings, Origin("atr_bench.components.poolings.plugin", "atr-bench", "0")),
            (plugin, Origin("mine", "my-pooling", "1.0")),
        ]
    )


def test_cases_cover_every_registered_pooling_with_baselines_beside_built_ins():
    reg = registry_with_a_third_party_pooling()
    cases = throughput.cases(reg, baselines={"mean", "netvlad"}, devices=["cpu"])
    names = {f.spec.name for f in reg.all("pooling")}
    assert {c.pooling for c in cases} == names and "mine" in names
    per_pooling = len(throughput.SHAPES) * len(throughput.MODES) * len(throughput.DTYPES)
    references = [c for c in cases if c.impl == "baseline"]
    variants = {n: throughput.variants(reg.get("pooling", n)) for n in names}
    assert variants["netvlad"] == ["kernel=torch", "kernel=triton"]  # defaults: auto
    assert variants["mean"] == variants["mine"] == []
    assert len(cases) - len(references) == sum(1 + len(v) for v in variants.values()) * per_pooling
    assert {c.variant for c in cases if c.pooling == "netvlad"} == {"", *variants["netvlad"]}
    assert {c.variant for c in references} == {""}
    assert {c.pooling for c in references} == {"mean", "netvlad"}
    paper = [s for s in throughput.SHAPES if s.paper]
    assert {(c.shape, c.dtype) for c in references} == {(s, "fp32") for s in paper}
    assert len(references) == 2 * len(paper) * len(throughput.MODES)
    assert len({str(c) for c in cases}) == len(cases)  # unique test ids


def test_cases_select_and_reject_names():
    reg = registry_with_a_third_party_pooling()
    picked = throughput.cases(reg, {"mean"}, ["mean"], ["text"], ["cpu", "cuda"])
    assert {(c.impl, c.shape.name, c.dtype, c.device) for c in picked} == {
        (impl, "text", dtype, device)
        for impl in throughput.IMPLS
        for dtype in throughput.DTYPES
        if impl == "registered" or dtype == "fp32"
        for device in ("cpu", "cuda")
    }
    with pytest.raises(AtrBenchError, match=r"unknown pooling 'nope'; known: .*mine"):
        throughput.cases(reg, set(), ["nope"])
    with pytest.raises(AtrBenchError, match=r"unknown shape 'huge'; known: audiocaps"):
        throughput.cases(reg, set(), shapes=["huge"])
    fp32 = throughput.cases(reg, {"mean"}, ["mean"], ["text"], ["cpu"], dtypes=["fp32"])
    assert {c.dtype for c in fp32} == {"fp32"} and {c.impl for c in fp32} == set(throughput.IMPLS)
    with pytest.raises(AtrBenchError, match=r"unknown dtype 'fp16'"):
        throughput.cases(reg, set(), dtypes=["fp16"])


def case(pooling="mean", shape="text", mode="forward+backward", dtype="fp32"):
    return throughput.Case(pooling, "registered", SHAPES[shape], mode, dtype, "cpu")


def test_inputs_are_prefix_masked_with_zero_padding():
    x, mask = throughput.make_inputs(case(shape="clotho"), batch=16)
    assert x.shape == (16, 90, 2048) and mask.shape == (16, 90)
    lengths = mask.sum(1)
    assert lengths.min() >= 45 and lengths.max() <= 90
    assert torch.equal(mask, torch.arange(90)[None, :] < lengths[:, None])
    assert (x[~mask] == 0).all() and (x[mask] != 0).all()
    assert throughput.make_inputs(case(dtype="bf16"))[0].dtype == torch.bfloat16


def test_a_variant_case_builds_its_option():
    variant = throughput.Case(
        "netvlad", "registered", SHAPES["text"], "forward", "fp32", "cpu", "kernel=torch"
    )
    assert throughput.build_pooling(SPECS["netvlad"], variant).kernel == "torch"
    assert throughput.build_pooling(SPECS["netvlad"], case("netvlad")).kernel == "auto"
    assert str(variant) == "netvlad-kernel=torch-registered-text-forward-fp32-cpu"


@pytest.mark.parametrize("mode", throughput.MODES)
def test_steps_run_the_mode(mode):
    module = throughput.build_pooling(SPECS["netrvlad"], case("netrvlad", mode=mode))
    assert module.out_dim == 20 * 300  # the text side's 20 clusters
    step, rounds = throughput.prepare(module, case("netrvlad", mode=mode))
    assert 1 <= rounds <= throughput.MAX_ROUNDS
    step()
    trained = all(p.grad is not None for p in module.parameters())
    assert module.training == trained == (mode == "forward+backward")


class FirstCallPerSizeIsSlow(MeanPooling):
    """A pooling whose first call at each batch size pays a one-time cost, as a GPU kernel
    compiled for a size does."""

    def __init__(self, in_dim: int) -> None:
        super().__init__(in_dim)
        self.sizes: set[int] = set()

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if x.shape[0] not in self.sizes:
            self.sizes.add(x.shape[0])
            time.sleep(throughput.ROUND_BUDGET_S)
        return super().forward(x, mask)


def test_one_time_costs_of_each_size_stay_out_of_the_rounds():
    module = FirstCallPerSizeIsSlow(SHAPES["text"].dim)
    step, rounds = throughput.prepare(module, case(mode="forward"))
    # the estimate came from a second, quick call: the slow first one (a whole round budget)
    # would have left one round; how many more depends on how busy the machine is
    assert rounds > 1
    started = time.perf_counter()
    step()
    assert time.perf_counter() - started < throughput.ROUND_BUDGET_S  # warmed at full size


def test_machine_facts_name_the_sizes_that_measured_them():
    facts = {"bandwidth_gb_s": {"cuda": 4000.0}, "matmul_gflop_s": {"cuda": {"fp32": 50000.0}}}
    facts["probe"] = {"cuda": {"matrix": 8192, "copy_mb": 2048, "repeats": 10}}
    text = describe(facts)
    assert "cuda 4000.0 GB/s (2048 MB)" in text and "cuda fp32 50,000 (8192-square)" in text
    older = describe({"bandwidth_gb_s": {"cpu": 3.0}, "matmul_gflop_s": {"cpu": {"fp32": 9.0}}})
    assert "cpu 3.0 GB/s (32 MB)" in older and "cpu fp32 9 (512-square)" in older


def test_min_bytes_counts_input_output_parameters_and_gradients():
    shape = SHAPES["text"]
    data, out = shape.batch * shape.frames * shape.dim * 4, shape.batch * shape.dim * 4
    mask = shape.batch * shape.frames
    mean = MeanPooling(shape.dim)
    assert throughput.min_bytes(mean, case(mode="forward")) == data + mask + out
    assert throughput.min_bytes(mean, case()) == data + mask + out + out + data
    vlad = SPECS["netrvlad"].build(shape.dim, clusters=2)
    params = sum(p.numel() for p in vlad.parameters()) * 4
    vlad_out = shape.batch * 2 * shape.dim * 4
    forward = data + mask + params + vlad_out
    assert throughput.min_bytes(vlad, case("netrvlad", mode="forward")) == forward
    backward = vlad_out + data + params + data
    assert throughput.min_bytes(vlad, case("netrvlad")) == forward + backward
    assert throughput.min_bytes(mean, case(dtype="bf16")) < throughput.min_bytes(mean, case())


def result(pooling, impl, shape, clips, mode="forward+backward", variant="", flops=0.0) -> dict:
    info = throughput.Case(pooling, impl, SHAPES[shape], mode, "fp32", "cpu", variant).info()
    return {"extra_info": {**info, "clips_per_s": clips, "min_bytes": 1_000_000, "flops": flops}}


MACHINE = {
    "cpu": "Test CPU 9000",
    "threads": 3,
    "torch": "9.9",
    "cores": 2,
    "load": 1.5,
    "bandwidth_gb_s": {"cpu": 2.0},
    "matmul_gflop_s": {"cpu": {"fp32": 10.0, "bf16": 20.0}},
}


def report_json(tmp_path, *results, machine=MACHINE) -> object:
    path = tmp_path / "report.json"
    data = {
        "machine_info": {"atr_bench": machine},
        "datetime": "2026-01-02T03:04:05.678+00:00",
        "benchmarks": list(results),
    }
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(("reference", "verdict"), [(1000.0, "met"), (2000.0, "NOT met")])
def test_report_pairs_baselines_and_states_the_target(tmp_path, reference, verdict):
    path = report_json(
        tmp_path,
        result("netrvlad", "registered", "audiocaps", 2500.0),
        result("netrvlad", "baseline", "audiocaps", reference),
        result("netrvlad", "reference", "audiocaps", 1.0),  # an old report's literal oracle
        result("netrvlad", "registered", "large", 900.0),
        result("mine", "registered", "text", 50.0),
        result("netrvlad", "registered", "audiocaps", 3000.0, variant="kernel=triton"),
    )
    text = render(summarise(*load(path)), load(path)[1], "atr-bench bench --device cpu")
    assert "`atr-bench bench --device cpu`" in text and "measured 2026-01-02T03:04:05 UTC" in text
    assert "Test CPU 9000 (2 cores, 1-minute load average 1.5 at the end), 3 torch" in text
    assert "cpu 2.0 GB/s" in text and "cpu fp32 10, bf16 20" in text
    speedup = 2500.0 / reference
    assert f"{speedup:.2f}x its vectorised baseline's {reference:,.0f} clips/s" in text
    assert f"(target >= 1.5x: {verdict}), 0.977% of the machine's memory bound" in text
    assert "Shapes: audiocaps = panns_cnn14 on AudioCaps; text = 20 word2vec tokens; " in text
    assert "; large = 4x the AudioCaps batch (not the paper)." in text
    rows = {(r[0], r[1]): r[4:] for r in table_rows(text)}
    # bound: 2 GB/s * 128 clips / 1 MB = 256,000 clips/s; 2,500 is 0.977 % of it
    assert rows["netrvlad", "audiocaps 128x31x2048"] == [
        "2,500",
        f"{reference:,.0f}",
        f"{speedup:.3g}x",
        "256,000",
        "memory",
        "0.977%",
    ]
    assert rows["netrvlad", "large 512x31x2048"] == ["900", "-", "-", "-", "-", "-"]
    assert rows["mine", "text 128x20x300"][:2] == ["50", "-"]
    # a variant is its own row, against the same reference
    variant = rows["netrvlad kernel=triton", "audiocaps 128x31x2048"]
    assert variant[:3] == ["3,000", f"{reference:,.0f}", f"{3000.0 / reference:.3g}x"]


def table_rows(text: str) -> list[list[str]]:
    """The cells of every Markdown table body row."""
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.split("|")[1:-1]] for line in lines[1:]]


def test_report_without_the_target_pair_has_no_target_line(tmp_path):
    path = report_json(tmp_path, result("mean", "registered", "text", 10.0))
    out = write_report(path, tmp_path / "leaderboards" / "t.md", "atr-bench bench")
    text = out.read_text()
    assert "target" not in text and [r[0] for r in table_rows(text)] == ["mean"]


def test_report_errors_name_the_file(tmp_path):
    with pytest.raises(AtrBenchError, match=r"missing.json: no such benchmark report"):
        load(tmp_path / "missing.json")
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    wrong = tmp_path / "list.json"
    wrong.write_text('[{"benchmarks": 1}]')
    for path, says in ((deep, "nested too deeply"), (wrong, "not a pytest-benchmark report")):
        with pytest.raises(AtrBenchError, match=says) as info:
            load(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(AtrBenchError, match=r"holds no pooling throughput results"):
        load(report_json(tmp_path))


def test_bench_command_summarises_an_existing_report(tmp_path, capsys):
    path = report_json(tmp_path, result("mean", "registered", "text", 10.0))
    out = tmp_path / "tables"
    assert main(["bench", "--from-json", "--json", str(path), "--out", str(out)]) == 0
    text = (out / "pooling-throughput.md").read_text()
    assert f"Generated by `atr-bench bench --from-json --json {path}`" in text
    assert [r[0] for r in table_rows(text)] == ["mean"]
    assert f"wrote {out / 'pooling-throughput.md'}" in capsys.readouterr().out
    assert list(out.iterdir()) == [out / "pooling-throughput.md"]  # not the step table: none


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--pooling", "mean,nope"], "unknown pooling 'nope'"),
        (["--shape", "huge"], "unknown shape 'huge'"),
        (["--threads", "-1"], "--threads must be at least 1"),
        (["--benchmarks", "pooling,nope"], "--benchmarks 'pooling,nope': expected pooling"),
        (["--dtype", "fp16"], "unknown dtype 'fp16'; known: fp32, bf16"),
    ],
)
def test_bench_command_rejects_bad_arguments(tmp_path, capsys, argv, message):
    assert main(["bench", "--json", str(tmp_path / "r.json"), *argv]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a CPU machine")
def test_bench_command_without_cuda_says_so(capsys):
    assert main(["bench", "--device", "cuda"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err


def test_report_bound_is_the_slower_of_bytes_and_flops(tmp_path):
    """2 GB/s and 10 GFLOP/s: 1 MB takes 0.5 ms; 1e8 flops take 10 ms, so compute bounds the
    call at 128 / 10 ms = 12,800 clips/s; an older report without flops or matrix rate keeps
    the bandwidth bound."""
    heavy = result("lstm", "registered", "audiocaps", 6400.0, flops=1e8)
    rows = table_rows(render(summarise(*load(report_json(tmp_path, heavy))), MACHINE, "c"))
    assert rows[0][4:] == ["6,400", "-", "-", "12,800", "compute", "50%"]
    old = {k: v for k, v in MACHINE.items() if k != "matmul_gflop_s"}
    path = report_json(tmp_path, heavy, machine=old)
    rows = table_rows(render(summarise(*load(path)), old, "c"))
    assert rows[0][7:] == ["256,000", "memory", "2.5%"]


def test_matmul_flops_count_products_forward_and_backward():
    mean = MeanPooling(300)
    assert throughput.matmul_flops(mean, case(mode="forward")) == pytest.approx(
        2 * 128 * 20 * 300,
        rel=0.6,  # the masked sum as one batched product, masks vary
    )
    lstm = SPECS["lstm"].build(300, hidden=4, layers=1, bidirectional=False)
    forward = throughput.matmul_flops(lstm, case("lstm", mode="forward"))
    _, mask = throughput.make_inputs(case("lstm"), 128 // throughput.WARMUP_FRACTION)
    real = int(mask.sum()) * throughput.WARMUP_FRACTION
    assert forward == 2 * real * 4 * 4 * (300 + 4)  # the cells' products
    assert throughput.matmul_flops(lstm, case("lstm")) == pytest.approx(3 * forward, rel=1e-3)
    assert throughput._lstm_flops(lstm.lstm, real) == forward  # the count for a fused LSTM


@pytest.mark.slow
def test_bench_command_runs_the_suite_outside_the_checkout(tmp_path, monkeypatch, capsys):
    """From a folder that is no source checkout: the suite comes from the package."""
    monkeypatch.chdir(tmp_path)
    json_path, out = tmp_path / "run.json", tmp_path / "tables"
    argv = ["bench", "--pooling", "mean", "--shape", "text"]  # one thread by default
    assert main([*argv, "--json", str(json_path), "--out", str(out)]) == 0
    assert "not written: " in capsys.readouterr().err  # no training step at the text shape
    assert not list(bench.SUITE.glob(".benchmarks")) and not list(bench.SUITE.glob(".pytest*"))
    frame, machine = load(json_path)
    assert set(frame["impl"]) == {"registered", "baseline"} and len(frame) == 6
    assert machine["threads"] == 1 and machine["bandwidth_gb_s"]["cpu"] > 0
    assert machine["matmul_gflop_s"]["cpu"]["fp32"] > 0
    table = (out / "pooling-throughput.md").read_text()
    assert "`atr-bench bench --device cpu --threads 1 --pooling mean --shape text`" in table
    rows = table_rows(table)
    assert [r[0] for r in rows] == ["mean"] * 4
    assert [r[5] != "-" for r in rows] == [r[3] == "fp32" for r in rows]  # fp32 baselines
