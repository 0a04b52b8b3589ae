"""Step parity: the paper's released model and atr-bench's ``--protocol lou2022`` model, given
the same weights and the same clips, compute the same thing.

The seed-level parity (``parity_lou2022.py``) compares two programs that draw their initial
weights and batch order from different random streams, so seed ``s`` of one is an unrelated
draw from seed ``s`` of the other and only means over seeds can be compared. This script
removes the randomness: it builds the released ``Net`` (from a checkout, with the config
``parity_lou2022.py`` runs) and copies its initial weights into atr-bench's model, then feeds
both the same training batches (``--steps`` batches of 128 clips, each with all of its
captions, in file order, from the start again after the last) through a forward pass, the
loss, backward and the optimiser step (the released Ranger there, atr-bench's here), and
finally embeds the test split in eval mode. It prints the largest differences (loss and
gradients at each step, every parameter and BatchNorm statistic after it, the test similarity
matrix) and both programs' own test metrics from those similarities.

    python benchmarks/step_parity_lou2022.py --released CHECKOUT --data EXPORT --pooling netrvlad

It imports the released code from ``CHECKOUT``, so it runs in an environment with both that
code's requirements and atr-bench installed (``leaderboards/parity-lou2022.md`` says which).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import math
import os
import sys
from collections.abc import Callable, Iterator
from copy import deepcopy
from pathlib import Path
from typing import Any

import torch
from parity_lou2022 import (
    FRAMES,
    TRANSFORMER_LAYERS,
    atr_options,
    link_clotho,
    released_config,
)

from atr_bench.plugins.registry import registry
from atr_bench.run.batches import CaptionGroups
from atr_bench.run.config import RunRequest
from atr_bench.run.context import RunContext
from atr_bench.run.evaluation import embed_split
from atr_bench.run.execute import build_model, load_data
from atr_bench.run.metrics import metrics_from_ranks, query_ranks
from atr_bench.run.optim import build_optimizer
from atr_bench.run.plan import plan
from atr_bench.run.training import caption_mean, loss_function, train_step

BATCH = 128
BATCH_NORM = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
ZERO_GRADIENT = ("audio_head.gate.fc.bias", "text_head.gate.fc.bias")
"""Biases a BatchNorm follows: their gradient is zero but for rounding, so not compared."""


@contextlib.contextmanager
def inside(folder: Path) -> Iterator[None]:
    """Run with ``folder`` as the working directory (the released configs name their
    ancestors relative to the checkout)."""
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def released_side(args: argparse.Namespace) -> dict[str, Any]:
    """The released ``Net``, loss and Ranger as its ``train.py`` builds them, and a reader of
    each split through its own data loader."""
    sys.path.insert(0, str(args.released))  # the released code, from its checkout
    import model.loss as released_loss  # type: ignore[import-not-found]
    import model.model_pooling as released_arch  # type: ignore[import-not-found]
    from data_loader.CLOTHO_dataloader import CLOTHO  # type: ignore[import-not-found]
    from utils.ranger import Ranger  # type: ignore[import-not-found]
    from utils.util import compute_dims  # type: ignore[import-not-found]
    from zsvision.zs_utils import load_json_config  # type: ignore[import-not-found]

    config = released_config(
        args.pooling, args.data, 1, args.text_lstm_hidden, args.transformer_layers
    )
    path = args.released / "configs" / f"step-parity-{args.pooling}.json"
    path.write_text(json.dumps(config, indent=2))
    with inside(args.released):
        config = load_json_config(path)
    expert_dims, _, text_dim = compute_dims(config, logging.getLogger("released"))
    net = released_arch.Net(
        audio_dims=expert_dims,
        text_dim=text_dim,
        feat_aggregation=config["data_loader"]["args"]["feat_aggregation"],
        **config["arch"]["args"],
    )
    root = Path(config["data_loader"]["root"])

    def dataset(split: str) -> Any:
        return CLOTHO(
            w2v_file=str(root / "TextEmbeddings" / f"w2v_{split}.pkl"),
            audio_h5=[str(root / "AudioExpert" / "lms" / split / "lms.h5")],
            audio_experts=["lms"],
            filename=str(root / "Index" / f"{split}.json"),
            max_words=config["data_loader"]["max_words"],
            audio_padding_length=config["data_loader"]["audio_padding_length"],
            split=split,
        )

    optimizer = Ranger(net.parameters(), **config["optimizer"]["args"])
    loss = released_loss.MaxMarginRankingLoss(**config["loss"]["args"])
    return {"net": net, "optimizer": optimizer, "loss": loss, "dataset": dataset}


def atr_side(args: argparse.Namespace) -> dict[str, Any]:
    """atr-bench's model, resolved config, protocol and splits under ``--protocol lou2022``, as
    ``run`` builds them, on the same exported files."""
    link_clotho(args.data)
    audio_opts, text_opts = atr_options(
        args.pooling, args.text_lstm_hidden, args.transformer_layers
    )
    request = RunRequest(
        protocol="lou2022",
        dataset="clotho",
        extractor="lms",
        text_encoder="w2v",
        pooling=args.pooling,
        audio_frames=FRAMES,
        pooling_options=tuple(audio_opts.items()),
        text_pooling_options=tuple(text_opts.items()),
        amp=False,
    )
    the_plan = plan(request, registry(), args.data)
    context = RunContext(
        device=torch.device("cpu"), runs_dir=args.data, data_root=args.data, progress=False
    )
    splits = load_data(the_plan, context)
    model = build_model(the_plan, splits)
    protocol = the_plan.components["protocol"].spec
    return {"model": model, "splits": splits, "config": the_plan.config, "protocol": protocol}


def _vlad_layout(weight: torch.Tensor, clusters: int) -> torch.Tensor:
    """A gated unit's input weights from the released VLAD output order (feature-major,
    ``d * K + k``) to atr-bench's (cluster-major, ``k * D + d``)."""
    out, total = weight.shape
    return weight.view(out, total // clusters, clusters).transpose(1, 2).reshape(out, total)


def weight_map(
    pooling: str, clusters: dict[str, int], layers: int
) -> dict[str, tuple[str, Callable[[torch.Tensor], torch.Tensor]]]:
    """atr-bench parameter or buffer name -> (released name, conversion)."""
    same = torch.clone
    mapping: dict[str, tuple[str, Callable[[torch.Tensor], torch.Tensor]]] = {}
    sides = {
        "audio": ("audio_pooling.lms", "Pool.audio_GU.0"),
        "text": ("text_pooling", "Pool.text_GU.0"),
    }
    for side, (pool, unit) in sides.items():
        ours = f"{side}_pooling"
        if pooling in ("netvlad", "netrvlad"):
            k = clusters[side]
            mapping[f"{ours}.assign.weight"] = (f"{pool}.clusters", lambda t: t.T)
            for stat in BATCH_NORM:
                mapping[f"{ours}.assign_norm.{stat}"] = (f"{pool}.batch_norm.{stat}", same)
            if pooling == "netvlad":
                mapping[f"{ours}.centroids"] = (f"{pool}.clusters2", lambda t: t[0].T)
            mapping[f"{side}_head.fc.weight"] = (
                f"{unit}.fc.weight",
                functools.partial(_vlad_layout, clusters=k),
            )
        else:
            mapping[f"{side}_head.fc.weight"] = (f"{unit}.fc.weight", same)
        if pooling == "lstm":
            for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
                mapping[f"{ours}.lstm.{name}"] = (f"{pool}.{name}", same)
        if pooling == "transformer":
            project, position = {
                "audio": ("fc_t", "frame_position_embeddings.lms"),
                "text": ("fc_text", "text_position_embeddings"),
            }[side]
            mapping[f"{ours}.project.weight"] = (f"{project}.weight", same)
            mapping[f"{ours}.project.bias"] = (f"{project}.bias", same)
            mapping[f"{ours}.position"] = (f"{position}.weight", same)
            blocks = {
                "self_attn.in_proj_weight": "attn.in_proj_weight",
                "self_attn.in_proj_bias": "attn.in_proj_bias",
                "self_attn.out_proj.weight": "attn.out_proj.weight",
                "self_attn.out_proj.bias": "attn.out_proj.bias",
                "linear1.weight": "mlp.c_fc.weight",
                "linear1.bias": "mlp.c_fc.bias",
                "linear2.weight": "mlp.c_proj.weight",
                "linear2.bias": "mlp.c_proj.bias",
                "norm1.weight": "ln_1.weight",
                "norm1.bias": "ln_1.bias",
                "norm2.weight": "ln_2.weight",
                "norm2.bias": "ln_2.bias",
            }
            for i in range(layers):
                for theirs_name, released_name in blocks.items():
                    mapping[f"{ours}.encoder.layers.{i}.{theirs_name}"] = (
                        f"{pool}.resblocks.{i}.{released_name}",
                        same,
                    )
        mapping[f"{side}_head.fc.bias"] = (f"{unit}.fc.bias", same)
        mapping[f"{side}_head.gate.fc.weight"] = (f"{unit}.cg.fc.weight", same)
        mapping[f"{side}_head.gate.fc.bias"] = (f"{unit}.cg.fc.bias", same)
        for stat in BATCH_NORM:
            mapping[f"{side}_head.gate.norm.{stat}"] = (f"{unit}.cg.batch_norm.{stat}", same)
    return mapping


def converted(
    released: dict[str, torch.Tensor], mapping: dict, ours: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """The released tensors (a state or its gradients) in atr-bench's names and layout, for
    the names ``ours`` has (a positional table longer than the released one keeps its extra
    rows, which no input reaches)."""
    out = {}
    for name, (source, convert) in mapping.items():
        if name not in ours or ours[name] is None:
            continue
        value = convert(released[source])
        if name.endswith(".position"):
            value = torch.cat([value, ours[name][value.shape[0] :]])
        out[name] = value
    return out


def largest_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> tuple[float, str]:
    """The largest ``max |a - b| / max |b|`` over the tensors of ``a``, and its tensor's name."""
    worst, where = 0.0, ""
    for name, value in a.items():
        diff = (value.double() - b[name].double()).abs().max().item()
        scale = max(b[name].double().abs().max().item(), 1e-12)
        if diff / scale > worst:
            worst, where = diff / scale, name
    return worst, where


def rounding_scale(model: Any, train: Any, batch: tuple, loss_fn: Any) -> float:
    """How far atr-bench's own float32 gradient on ``batch`` is from its float64 one (the
    largest relative difference, as between the programs): the scale of rounding."""
    clips, captions, group = batch

    def gradients(dtype: torch.dtype) -> dict[str, torch.Tensor]:
        copy = deepcopy(model).to(dtype).train()
        audio = copy.embed_audio(train.audio[clips].to(dtype), train.audio_len[clips])
        text = copy.embed_text(train.text[captions].to(dtype), train.text_len[captions])
        sims = caption_mean(text @ audio.T, group, len(clips))
        loss_fn(sims, torch.eye(len(clips), dtype=torch.bool)).backward()
        return {n: q.grad.double() for n, q in copy.named_parameters() if n not in ZERO_GRADIENT}

    return largest_difference(gradients(torch.float32), gradients(torch.float64))[0]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--released", type=Path, required=True, help="checkout of the released code")
    p.add_argument("--data", type=Path, required=True, help="`atr-bench data export --out` root")
    p.add_argument("--pooling", default="netrvlad")
    p.add_argument("--steps", type=int, default=7, help="training steps (Lookahead syncs at 6)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--text-lstm-hidden", type=int)
    p.add_argument("--transformer-layers", type=int, default=TRANSFORMER_LAYERS)
    args = p.parse_args()
    args.released, args.data = args.released.resolve(), args.data.resolve()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    released = released_side(args)
    ours = atr_side(args)
    net, model, config = released["net"], ours["model"], ours["config"]
    clusters = {
        "audio": dict(config.pooling_options).get("clusters", 0),
        "text": dict(config.text_pooling_options).get("clusters", 0),
    }
    mapping = weight_map(args.pooling, clusters, args.transformer_layers)
    mine = model.state_dict()
    unmapped = set(mine) - set(mapping) - {"audio_pooling.zero_bias", "text_pooling.zero_bias"}
    if unmapped:
        raise SystemExit(f"atr-bench tensors without a released counterpart: {sorted(unmapped)}")
    model.load_state_dict({**mine, **converted(net.state_dict(), mapping, mine)})
    # after the weights are in: Lookahead keeps a copy of them as its slow weights
    optimizer, _ = build_optimizer(
        model.parameters(), config.lr, config.weight_decay, config.gamma, ours["protocol"].optimizer
    )

    train = ours["splits"].train
    groups = CaptionGroups.of_clips(train.caption_clip, train.n_clips)
    train_set = released["dataset"]("train")
    loss_fn = loss_function(config)
    print(f"{args.pooling}: {args.steps} steps of {BATCH} clips, then the test split")
    first_batch = torch.arange(BATCH), *groups.captions_of(torch.arange(BATCH))
    print(
        "  atr-bench's own float32 gradients on the first batch differ from its float64 ones "
        f"by {rounding_scale(model, train, first_batch, loss_fn):.1e} at most"
    )
    for step in range(args.steps):
        first = step * BATCH % (BATCH * math.ceil(train.n_clips / BATCH))
        clips = torch.arange(first, min(first + BATCH, train.n_clips))
        items = [train_set[int(i)] for i in clips]
        batch = torch.utils.data.default_collate(items)
        captions, group = groups.captions_of(clips)
        same_audio = torch.equal(batch["experts"]["lms"], train.audio[clips].float())
        theirs_text = batch["text"].flatten(0, 1)
        same_text = torch.equal(theirs_text[: len(captions)], train.text[captions].float())
        net.train()
        released["optimizer"].zero_grad()
        output = net(**batch)
        loss_theirs = released["loss"](output["cross_view_conf_matrix"])
        loss_theirs.backward()
        released["optimizer"].step()
        loss_ours = train_step(
            model,
            train,
            (clips, captions, group),
            optimizer,
            loss_fn,
            config,
            torch.device("cpu"),
        )
        grads = {n: q.grad for n, q in net.named_parameters(remove_duplicate=False)}
        ours_grads = {n: q.grad for n, q in model.named_parameters() if n not in ZERO_GRADIENT}
        grad_worst, grad_where = largest_difference(
            converted(grads, mapping, ours_grads), ours_grads
        )
        state = model.state_dict()
        worst, where = largest_difference(converted(net.state_dict(), mapping, state), state)
        print(
            f"  step {step + 1}: loss released {loss_theirs.item():.7f}, atr-bench "
            f"{loss_ours.item():.7f}; same audio {same_audio}, same captions {same_text}; "
            f"gradients differ by {grad_worst:.1e} ({grad_where}), "
            f"then weights by {worst:.1e} at most ({where})"
        )
    print(f"  after the steps: weights and statistics differ by {worst:.2e} at most ({where})")

    test = ours["splits"].test
    audio, text = embed_split(model, test, torch.device("cpu"), amp=False)
    # rows clip by clip, as the released code orders its queries
    order, _ = CaptionGroups.of_clips(test.caption_clip, test.n_clips).captions_of(
        torch.arange(test.n_clips)
    )
    sims_ours = text[order] @ audio.T
    test_batch = torch.utils.data.default_collate(
        [released["dataset"]("test")[i] for i in range(test.n_clips)]
    )
    net.eval()
    with torch.no_grad():
        sims_theirs = net(**test_batch)["cross_view_conf_matrix"]
    diff = (sims_theirs - sims_ours).abs().max().item()
    print(f"  test similarities ({tuple(sims_ours.shape)}): largest difference {diff:.2e}")
    sys.path.insert(0, str(args.released))
    from model.metric import t2a_metrics  # type: ignore[import-not-found]

    theirs = t2a_metrics(sims_theirs.numpy())
    ranks = metrics_from_ranks(query_ranks(sims_ours, test.caption_clip[order]))["t2a"]
    print(
        "  test t2a R@1 / R@10 / MedR: released "
        + " / ".join(f"{theirs[m]:.2f}" for m in ("R1", "R10", "MedR"))
        + "; atr-bench "
        + " / ".join(f"{ranks[m]:.2f}" for m in ("R1", "R10", "MedR"))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
