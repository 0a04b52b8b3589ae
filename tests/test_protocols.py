"""Named protocols: each resolves to the settings it documents, the paper's code's pieces behave
as that code computes them, and runs of two protocols never share a leaderboard row."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from atr_bench.cli.main import main
from atr_bench.components.poolings.simple import MaxPooling, MeanPooling, zero_padding
from atr_bench.components.poolings.vlad import NetRVLAD, NetVLAD
from atr_bench.components.protocols import RANGER
from atr_bench.plugins.registry import registry
from atr_bench.plugins.specs import OptimizerSettings
from atr_bench.report.leaderboard import build_leaderboards
from atr_bench.run.batches import CaptionGroups
from atr_bench.run.config import DEFAULT_PROTOCOL, RunRequest
from atr_bench.run.losses import max_margin_loss
from atr_bench.run.model import RENORM_EPS, DualEncoder, l2_renorm
from atr_bench.run.optim import build_optimizer
from atr_bench.run.plan import plan
from atr_bench.run.training import caption_mean, improves

LMS, W2V = 128, 300
"""The feature sizes of the default extractor (lms) and synthcaps' text encoder (word2vec)."""
VLAD_PAPER = {"assign_norm": "batch", "assign_bias": False, "assign_init": "normal"}

# protocol, pooling -> (audio options, text options, embed_dim): what the protocol documents.
TABLE = {
    ("lou2022", "netrvlad"): (
        {**VLAD_PAPER, "clusters": 12, "padding": "zeros"},
        {**VLAD_PAPER, "clusters": 20, "padding": "zeros"},
        LMS,
    ),
    ("lou2022", "netvlad"): (
        {**VLAD_PAPER, "clusters": 12, "padding": "zeros"},
        {**VLAD_PAPER, "clusters": 20, "padding": "zeros"},
        LMS,
    ),
    ("lou2022", "max"): ({"padding": "zeros"}, {"padding": "zeros"}, LMS),
    ("lou2022", "mean"): ({"readout": "normalised_mean"}, {"readout": "normalised_mean"}, LMS),
    ("lou2022", "lstm"): (
        {"hidden": LMS, "readout": "normalised_mean", "layers": 1},
        {"hidden": 2048, "readout": "normalised_mean", "layers": 1},
        LMS,
    ),
    ("lou2022", "transformer"): (
        {"d_model": 512, "heads": 4, "layers": 8, "dropout": 0.0, "norm_first": True},
        {"activation": "quick_gelu", "norm_eps": 1e-12, "position_std": 1.0},
        512,
    ),
    ("lou2022-masked", "netrvlad"): (
        {**VLAD_PAPER, "clusters": 12, "padding": "masked"},
        {**VLAD_PAPER, "clusters": 20, "padding": "masked"},
        LMS,
    ),
    ("lou2022-masked", "max"): ({"padding": "masked"}, {"padding": "masked"}, LMS),
    ("lou2022-tuned", "netrvlad"): (
        {**VLAD_PAPER, "clusters": 12, "padding": "masked"},
        {**VLAD_PAPER, "clusters": 20, "padding": "masked"},
        LMS,
    ),
    ("lou2022-tuned", "lstm"): (
        {"hidden": LMS, "readout": "normalised_mean", "layers": 1},
        {"hidden": 256, "readout": "normalised_mean", "layers": 1},
        LMS,
    ),
    ("lou2022-tuned", "transformer"): (
        {"d_model": 128, "heads": 4, "layers": 2, "dropout": 0.0, "norm_first": True},
        {"d_model": 128, "activation": "gelu", "norm_eps": 1e-5, "position_std": 0.02},
        LMS,
    ),
    ("pairs", "netrvlad"): (
        {"clusters": 12, "assign_norm": "none", "assign_bias": True, "padding": "masked"},
        {"clusters": 20, "assign_norm": "none", "assign_bias": True, "padding": "masked"},
        768,
    ),
    ("pairs", "lstm"): (
        {"hidden": 512, "readout": "last"},
        {"hidden": 512, "readout": "last"},
        768,
    ),
}
TRAINING = {
    "lou2022": {"batch_items": "clips", "audio_l2renorm": True, "gate_batch_norm": True},
    "lou2022-masked": {"batch_items": "clips", "audio_l2renorm": True, "gate_batch_norm": True},
    "lou2022-tuned": {
        "batch_items": "clips",
        "audio_l2renorm": True,
        "gate_batch_norm": True,
        "loss": "infonce",
        "temperature": 0.05,
        "epochs": 40,
    },
    "pairs": {"batch_items": "pairs", "audio_l2renorm": False, "gate_batch_norm": False},
}
SHARED = {
    "loss": "max_margin",
    "margin": 0.2,
    "lr": 0.01,
    "weight_decay": 1e-3,
    "gamma": 0.95,
    "batch_size": 128,
    "epochs": 20,
    "text_tokens": 20,
}


@pytest.mark.parametrize(("protocol", "pooling"), list(TABLE))
def test_protocol_resolves_to_the_settings_it_documents(tmp_path, protocol, pooling):
    resolved = plan(RunRequest(protocol=protocol, pooling=pooling), registry(), tmp_path).config
    audio, text, embed = TABLE[protocol, pooling]
    assert audio.items() <= dict(resolved.pooling_options).items()
    assert text.items() <= dict(resolved.text_pooling_options).items()
    assert resolved.embed_dim == embed
    for name, value in {**SHARED, **TRAINING[protocol]}.items():
        assert getattr(resolved, name) == value, name
    assert (resolved.protocol, resolved.protocol_version) == (protocol, 1)


def test_the_paper_protocols_use_its_ranger_and_later_ties():
    specs = {found.spec.name: found.spec for found in registry().all("protocol")}
    assert {"lou2022", "lou2022-masked", "pairs"} <= set(specs)
    for name in ("lou2022", "lou2022-masked", "lou2022-tuned"):
        assert specs[name].optimizer == OptimizerSettings((0.95, 0.999), 1e-5, decoupled=True)
        assert specs[name].selection_ties == "later"
    assert specs["pairs"].optimizer == OptimizerSettings() and specs["pairs"].selection_ties == (
        "earlier"
    )
    assert DEFAULT_PROTOCOL == "lou2022-tuned"


def test_given_flags_and_options_override_the_protocol(tmp_path):
    config = RunRequest(
        protocol="lou2022", lr=0.02, embed_dim=64, pooling_options=(("padding", "masked"),)
    )
    resolved = plan(config, registry(), tmp_path)
    assert resolved.config.lr == 0.02 and resolved.config.embed_dim == 64
    assert dict(resolved.config.pooling_options)["padding"] == "masked"
    assert dict(resolved.config.text_pooling_options)["padding"] == "zeros"
    assert resolved.settings == {"lr": 0.02, "embed_dim": 64, "audio_pooling.padding": "masked"}


def test_protocols_hash_apart(tmp_path):
    hashes = {
        name: plan(RunRequest(protocol=name), registry(), tmp_path).run_hash
        for name in ("lou2022", "lou2022-masked", "lou2022-tuned", "pairs")
    }
    assert len(set(hashes.values())) == 4


def test_unknown_protocol_is_a_one_line_error(tmp_path, capsys):
    code = main(["run", "--protocol", "nosuch", "--data-root", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "nosuch" in err and "lou2022" in err


def test_caption_groups_and_their_mean_on_a_hand_computed_case():
    # clips 0, 1, 2 with captions {0, 3}, {1}, {2, 4, 5}
    caption_clip = torch.tensor([0, 1, 2, 0, 2, 2])
    count = torch.bincount(caption_clip)
    groups = CaptionGroups(torch.argsort(caption_clip, stable=True), count.cumsum(0) - count, count)
    captions, group = groups.captions_of(torch.tensor([2, 0]))
    assert captions.tolist() == [2, 4, 5, 0, 3] and group.tolist() == [0, 0, 0, 1, 1]
    sims = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0], [9.0, 10.0]])
    merged = caption_mean(sims, group, 2)
    torch.testing.assert_close(merged, torch.tensor([[3.0, 4.0], [8.0, 9.0]]))


@pytest.mark.parametrize("seed", range(3))
def test_caption_groups_with_their_total_given_and_the_mean_by_counting_ones(seed):
    """The total a batch's captions come to, given, changes nothing; the mean divides by the
    same counts ``bincount`` gives, bit for bit."""
    gen = torch.Generator().manual_seed(seed)
    caption_clip = torch.cat([torch.arange(9), torch.randint(0, 9, (31,), generator=gen)])
    groups = CaptionGroups.of_clips(caption_clip, 9)
    clips = torch.randperm(9, generator=gen)[:5]
    total = int(groups.count[clips].sum())
    captions, group = groups.captions_of(clips)
    given = groups.captions_of(clips, total)
    assert torch.equal(given[0], captions) and torch.equal(given[1], group)
    sims = torch.randn(len(captions), 5, generator=gen)
    summed = torch.zeros(5, 5).index_add_(0, group, sims)
    counted = torch.bincount(group, minlength=5).unsqueeze(1).float()
    assert torch.equal(caption_mean(sims, group, 5), summed / counted)


def test_clip_batch_loss_equals_the_paper_codes_formula():
    """Mean over clip i's captions of cos(caption, clip j), then relu(m - s_ii + s_ij) and
    relu(m - s_ii + s_ji) over every j != i, averaged: computed here element by element."""
    torch.manual_seed(0)
    text, audio = torch.randn(6, 4), torch.randn(3, 4)
    caption_clip = torch.tensor([0, 1, 2, 0, 2, 2])
    cos = torch.nn.functional.normalize(text, dim=1) @ torch.nn.functional.normalize(audio, dim=1).T
    groups = CaptionGroups.of_clips(caption_clip, 3)
    captions, group = groups.captions_of(torch.arange(3))
    merged = caption_mean(cos[captions], group, 3)
    expected = torch.zeros(3, 3)
    for i in range(3):
        rows = [c for c in range(6) if caption_clip[c] == i]
        for j in range(3):
            expected[i, j] = sum(cos[c, j] for c in rows) / len(rows)
    torch.testing.assert_close(merged, expected)
    terms = [
        max(0.0, 0.2 - float(expected[i, i]) + float(v))
        for i in range(3)
        for j in range(3)
        if j != i
        for v in (expected[i, j], expected[j, i])
    ]
    loss = max_margin_loss(merged, torch.eye(3, dtype=torch.bool), margin=0.2)
    assert math.isclose(float(loss), sum(terms) / len(terms), rel_tol=1e-6)


def _ranger_oracle(params, grads, lr, wd, betas, eps, k=6, alpha=0.5):
    """Ranger written out step by step: rectified Adam with decoupled weight decay, then
    Lookahead every k steps."""
    b1, b2 = betas
    slow = [p.clone() for p in params]
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    rho_inf = 2 / (1 - b2) - 1
    for t, step_grads in enumerate(grads, start=1):
        rho = rho_inf - 2 * t * b2**t / (1 - b2**t)
        for i, (p, g) in enumerate(zip(params, step_grads, strict=True)):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            p.mul_(1 - lr * wd)
            if rho > 5:
                rect = math.sqrt(
                    (rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho)
                )
                step = rect * math.sqrt(1 - b2**t) / (1 - b1**t)
                p.sub_(lr * step * m[i] / (v[i].sqrt() + eps))
            else:
                p.sub_(lr / (1 - b1**t) * m[i])
            if t % k == 0:
                slow[i] += alpha * (p - slow[i])
                p.copy_(slow[i])
    return params


def test_the_paper_optimizer_equals_ranger_step_by_step():
    torch.manual_seed(0)
    start = [torch.randn(5, 3, dtype=torch.float64), torch.randn(3, dtype=torch.float64)]
    grads = [[torch.randn_like(p) for p in start] for _ in range(14)]
    params = [torch.nn.Parameter(p.clone()) for p in start]
    optimizer, _ = build_optimizer(params, 0.01, 1e-3, 0.95, RANGER)
    for step_grads in grads:
        for p, g in zip(params, step_grads, strict=True):
            p.grad = g.clone()
        optimizer.step()
    expected = _ranger_oracle([p.clone() for p in start], grads, 0.01, 1e-3, (0.95, 0.999), 1e-5)
    for got, want in zip(params, expected, strict=True):
        torch.testing.assert_close(got.detach(), want)


def test_selection_ties_go_to_the_later_epoch_only_when_asked():
    assert improves(0.5, 0.5, "later") and not improves(0.5, 0.5, "earlier")
    assert improves(0.6, 0.5, "earlier") and not improves(0.4, 0.5, "later")


def _padded(batch=3, frames=7, dim=5):
    torch.manual_seed(1)
    x = torch.randn(batch, frames, dim) - 3.0  # all negative: a padded zero would win a max
    lengths = torch.tensor([7, 4, 2])
    mask = torch.arange(frames)[None] < lengths[:, None]
    return x, mask


@pytest.mark.parametrize("cls", [NetVLAD, NetRVLAD])
def test_vlad_zero_padding_counts_padded_frames_as_zeros(cls):
    x, mask = _padded()
    torch.manual_seed(0)
    zeros = cls(5, clusters=3, assign_norm="batch", padding="zeros")
    torch.manual_seed(0)
    masked = cls(5, clusters=3, assign_norm="batch")
    zeroed = torch.where(mask[..., None], x, 0.0)
    everything = torch.ones_like(mask)
    torch.testing.assert_close(zeros(x, mask), masked(zeroed, everything))
    assert not torch.allclose(zeros(x, mask), masked(x, mask))


@pytest.mark.parametrize("fill", [0.0, 7.0, float("nan"), float("inf")])
def test_zero_padding_copies_only_where_the_padding_is_not_zero(fill):
    """Padded frames come out 0 whatever they held; ``x`` is never changed, and it is returned
    itself (no 32.5 MB copy a step at the AudioCaps shape) where its padding is 0 already."""
    x, mask = _padded()
    x[~mask] = fill
    before = x.clone()
    out = zero_padding(x, mask)
    assert torch.equal(out[mask], before[mask]) and (out[~mask] == 0).all()
    assert torch.equal(x.nan_to_num(), before.nan_to_num())  # x unchanged, NaN included
    assert (out is x) == (fill == 0.0)
    x.requires_grad_(True)  # a gradient at padded frames would pass through x itself
    assert zero_padding(x, mask) is not x


def test_vlad_assignment_without_bias_and_with_normal_init():
    torch.manual_seed(0)
    pool = NetRVLAD(256, clusters=12, assign_bias=False, assign_init="normal")
    assert pool.assign.bias is None
    assert abs(float(pool.assign.weight.detach().std()) - 256**-0.5) < 0.1 * 256**-0.5
    x, mask = torch.randn(2, 5, 256), torch.ones(2, 5, dtype=torch.bool)
    pool(x, mask).sum().backward()
    assert pool.assign.weight.grad is not None


def test_max_zero_padding_lets_the_zeros_in():
    x, mask = _padded()
    assert (MaxPooling(5)(x, mask) < 0).all()
    zeros = MaxPooling(5, padding="zeros")(x, mask)
    assert (zeros[1:] == 0).all() and (zeros[0] < 0).all()  # clip 0 has no padding


def test_l2_renorms_gradient_is_autograds_through_the_division_and_the_norm():
    """The renormalisation's own backward: torch's gradcheck in float64, and in float32 the
    gradient autograd's chain gives, up to rounding; a zero row gets ``g / eps``, as the
    norm's gradient is 0 there. The output is the plain expression's, bit for bit."""
    torch.manual_seed(0)
    x = torch.randn(6, 40, dtype=torch.float64) * 3
    assert torch.autograd.gradcheck(l2_renorm, (x.clone().requires_grad_(),))
    x[2] = 0.0  # not differentiable there: the norm's gradient is taken as 0
    x = x.float().requires_grad_()
    plain = x.detach().clone().requires_grad_()
    ours = l2_renorm(x)
    theirs = plain / (plain.norm(dim=-1, keepdim=True) + RENORM_EPS)
    assert torch.equal(ours, theirs)
    grad = torch.randn(6, 40)
    ours.backward(grad)
    theirs.backward(grad)
    assert x.grad is not None and plain.grad is not None
    torch.testing.assert_close(x.grad, plain.grad, rtol=1e-5, atol=1e-6)
    assert torch.equal(x.grad[2], grad[2] / RENORM_EPS)


def test_audio_l2renorm_normalises_the_pooled_audio_before_its_unit():
    torch.manual_seed(0)
    model = DualEncoder(MaxPooling(4), MeanPooling(4), 6, audio_l2renorm=True).eval()
    x, lengths = torch.randn(3, 5, 4) * 10, torch.tensor([5, 3, 1])
    mask = torch.arange(5)[None] < lengths[:, None]
    pooled = MaxPooling(4)(x, mask)
    expected = model.audio_head(pooled / (pooled.norm(dim=-1, keepdim=True) + 1e-7))
    torch.testing.assert_close(model.embed_audio(x, lengths), expected)


def _record(runs: Path, run_id: str, protocol: dict | None, r1: float) -> None:
    metrics = {"R1": r1, "R5": 50.0, "R10": 60.0, "mAP10": 30.0, "MedR": 5.0}
    record = {
        "schema": 1,
        "run_id": run_id,
        "created": "2026-12-02T00:00:00+00:00",
        "dataset": "synthcaps",
        "extractor": "lms",
        "pooling": "netrvlad",
        "text_pooling": "netrvlad",
        "text_encoder": "word2vec",
        "seed": 0,
        "protocol_hash": "samehashsame",
        "test": {"t2a": metrics, "a2t": metrics},
        "device": "cpu",
    }
    if protocol is not None:
        record["protocol"] = protocol
    runs.mkdir(exist_ok=True)
    (runs / f"{run_id}.json").write_text(json.dumps(record))


def test_records_of_two_protocols_never_share_a_board(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "boards"
    _record(runs, "a", {"name": "lou2022", "version": 1}, 40.0)
    _record(runs, "b", {"name": "lou2022-masked", "version": 1}, 45.0)
    _record(runs, "c", None, 20.0)  # written before protocols had names: pairs@1
    report = build_leaderboards(runs, out, formats=("md", "csv"))
    assert report.boards == {
        "synthcaps-lou2022": 1,
        "synthcaps-lou2022-masked": 1,
        "synthcaps-pairs": 1,
    }
    board = (out / "synthcaps-lou2022.md").read_text()
    assert "protocol lou2022@1" in board and "40.0" in board and "45.0" not in board
    assert "lou2022-masked@1" in (out / "synthcaps-lou2022-masked.csv").read_text()


def test_a_lou2022_transformer_shared_space_is_as_wide_as_the_transformer(tmp_path):
    request = RunRequest(
        protocol="lou2022", pooling="transformer", pooling_options=(("d_model", 128),)
    )
    assert plan(request, registry(), tmp_path).config.embed_dim == 128


def test_the_paper_transformer_blocks_are_built_as_documented():
    from atr_bench.components.poolings.attention import TransformerPooling, quick_gelu

    torch.manual_seed(0)
    pool = TransformerPooling(
        6, d_model=64, layers=1, activation="quick_gelu", norm_eps=1e-12, position_std=1.0
    )
    block = pool.encoder.layers[0]
    assert block.norm1.eps == block.norm2.eps == 1e-12
    x = torch.linspace(-3, 3, 7)
    torch.testing.assert_close(block.activation(x), x * torch.sigmoid(1.702 * x))
    assert block.activation is quick_gelu
    assert 0.9 < pool.position.std().item() < 1.1


def test_the_paper_transformer_blocks_ignore_padding():
    from atr_bench.components.poolings.attention import TransformerPooling

    torch.manual_seed(0)
    pool = TransformerPooling(
        6,
        d_model=8,
        heads=2,
        layers=2,
        dropout=0.0,
        norm_first=True,
        activation="quick_gelu",
        norm_eps=1e-12,
        position_std=1.0,
        readout="normalised_mean",
    ).eval()
    x = torch.randn(1, 5, 6)
    padded = torch.cat([x, torch.full((1, 3, 6), 1e4)], dim=1)
    mask = torch.arange(8)[None] < 5
    torch.testing.assert_close(pool(padded, mask), pool(x, torch.ones(1, 5, dtype=torch.bool)))


def test_frames_per_clip_are_the_protocols_choice(tmp_path) -> None:
    """The paper's protocols keep the frames of its released configs (the seed's shapes); a
    protocol that chose none keeps a clip's length at the extractor's frame rate."""
    from atr_bench.plugins.specs import ProtocolSpec

    reg = registry()
    for dataset, frames in (("audiocaps", 31), ("clotho", 90)):
        for protocol in ("lou2022", "lou2022-masked", "lou2022-tuned", "pairs"):
            request = RunRequest(dataset=dataset, extractor="panns_cnn14", protocol=protocol)
            assert plan(request, reg, tmp_path).config.audio_frames == frames, protocol
    own = ProtocolSpec(name="own", description="x", build=lambda pooling, side, in_dim: {})
    assert own.frames_for("audiocaps", "panns_cnn14") is None
    extractor = reg.get("extractor", "panns_cnn14")
    dataset = reg.get("dataset", "audiocaps").create(tmp_path)
    assert dataset.defaults.frames_for(extractor) == 32  # 10 s at 3.125 frames/s
