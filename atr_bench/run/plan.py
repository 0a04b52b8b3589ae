"""The plan of a run: a ``RunRequest`` turned into a ``RunConfig`` (every plugin looked up,
every option typed and checked, every protocol default filled in); the run id and the settings
a leaderboard row shows come from it."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atr_bench.data.extraction.weights import weights_identity
from atr_bench.errors import AtrBenchError
from atr_bench.plugins.code_identity import CodeIdentity, code_identity
from atr_bench.plugins.contract import Dataset
from atr_bench.plugins.registry import Found, Registry
from atr_bench.plugins.specs import ProtocolSpec, Spec
from atr_bench.run.config import Options, RunConfig, RunRequest, freeze
from atr_bench.run.hashing import run_hash


@dataclass(frozen=True)
class Plan:
    """A run's resolved config, the plugins behind each component, ``defaults``: the same
    components under the protocol with nothing set by the user, and the request it came from
    (what a worker process plans again)."""

    config: RunConfig
    components: dict[str, Found]
    dataset: Dataset
    defaults: RunConfig
    request: RunRequest
    weights: str | None
    """The checkpoint as the hash knows it: ``sha256:<digest>``, ``random`` or None."""
    run_hash: str
    """The run hash (``run.hashing``): what makes two runs one leaderboard row (records keep
    it under its older name, ``protocol_hash``)."""
    code: dict[str, CodeIdentity]
    """Each component's code identity (``plugins.code_identity``), in the hash."""

    @property
    def protocol(self) -> ProtocolSpec:
        return self.components["protocol"].spec

    @property
    def settings(self) -> dict[str, Any]:
        """What this run sets away from its protocol's values for its components, results
        only (``audio_pooling.readout``, ``text_pooling.clusters``, ``lr``, ...): how a
        leaderboard tells rows of one pooling and protocol apart. The audio side's pooling
        options are named as such: ``--pooling`` picks both sides' pooling, ``--pooling-opt``
        sets the audio side's options only."""
        c, base = self.config, self.defaults
        out: dict[str, Any] = {}
        for f in dataclasses.fields(RunConfig):
            if f.name in COMPONENTS or f.name.startswith("protocol"):
                continue
            if f.name.endswith("_options"):
                prefix = f.name.removesuffix("_options")
                spec = self.components[prefix].spec
                default = dict(getattr(base, f.name))
                label = SETTING_PREFIX.get(prefix, prefix)
                out.update(
                    {
                        f"{label}.{k}": v
                        for k, v in getattr(c, f.name)
                        if v != default.get(k) and spec.affects_results(k)
                    }
                )
            elif f.name == "weights":
                if self.weights is not None:
                    out[f.name] = self.weights  # the same checkpoint by any path: one row
            elif getattr(c, f.name) != getattr(base, f.name):
                out[f.name] = getattr(c, f.name)
        return out

    @property
    def label(self) -> str:
        c = self.config
        return f"{c.dataset}/{c.extractor}/{c.pooling}/{c.text_encoder}"

    def run_id(self, seed: int) -> str:
        c = self.config
        parts = (c.dataset, c.extractor, c.pooling, c.text_encoder, self.run_hash)
        return "-".join(parts) + f"-s{seed}"


SETTING_PREFIX = {"pooling": "audio_pooling"}
"""How a settings key names a component's options where its field name would mislead."""
COMPONENTS = ("dataset", "extractor", "pooling", "text_pooling", "text_encoder")
"""RunConfig fields naming a plugin: leaderboard columns of their own, not settings."""
PROTOCOL_FIELDS = (
    "embed_dim",
    "loss",
    "margin",
    "temperature",
    "lr",
    "weight_decay",
    "gamma",
    "batch_size",
    "epochs",
    "text_tokens",
    "gate_batch_norm",
    "batch_items",
    "audio_l2renorm",
)
"""RunConfig fields that default to the protocol's value."""


OPTION_FLAGS = {
    "dataset": "--dataset-opt",
    "extractor": "--extractor-opt",
    "pooling": "--pooling-opt",
    "text_pooling": "--text-pooling-opt",
    "text_encoder": "--text-encoder-opt",
}
"""The command-line flag of each component's options, named by errors in them."""


def plan(config: RunRequest, registry: Registry, data_root: Path) -> Plan:
    """Look every plugin up, validate every option and fill in the protocol's defaults."""
    found_protocol = registry.find("protocol", config.protocol)
    if found_protocol.spec.zero_shot:
        raise AtrBenchError(
            f"protocol {config.protocol!r} trains nothing: test a dual encoder with "
            f"`atr-bench run --protocol {config.protocol} --extractor clap`, one at a time"
        )
    found_dataset = registry.find("dataset", config.dataset)
    dataset_opts = found_dataset.spec.resolve_options(
        dict(config.dataset_options), flag=OPTION_FLAGS["dataset"]
    )
    dataset = found_dataset.spec.create(data_root, **dataset_opts)
    extractor = _configured(
        registry.find("extractor", config.extractor), "extractor", config.extractor_options
    )
    pooling = registry.find("pooling", config.pooling)
    text_pooling = registry.find("pooling", config.text_pooling or config.pooling)
    text_encoder = _configured(
        registry.find("text_encoder", config.text_encoder or dataset.defaults.text_encoder),
        "text_encoder",
        config.text_encoder_options,
    )
    components = {
        "dataset": found_dataset,
        "extractor": extractor,
        "pooling": pooling,
        "text_pooling": text_pooling,
        "text_encoder": text_encoder,
        "protocol": found_protocol,
    }
    base = RunRequest(**{name: getattr(config, name) for name in (*COMPONENTS, "protocol")})
    resolved = _resolve(config, components, dataset)
    registry.find("loss", resolved.loss)  # a loss no plugin provides names the known ones
    specs = {name: found.spec for name, found in components.items()}
    weights = weights_identity(resolved.weights)
    defaults = _resolve(base, components, dataset)
    code = {name: code_identity(found) for name, found in components.items()}
    digest = run_hash(resolved, specs, weights, code)
    return Plan(resolved, components, dataset, defaults, config, weights, digest, code)


def _configured(found: Found, component: str, given: Options) -> Found:
    """The component as its options make it (``Spec.configure``)."""
    options = found.spec.resolve_options(dict(given), flag=OPTION_FLAGS[component])
    return Found(found.spec.configured(options), found.origin)


def _resolve(config: RunRequest, components: dict[str, Found], dataset: Dataset) -> RunConfig:
    """``config`` with the protocol's values where it has None and every option typed."""
    protocol: ProtocolSpec = components["protocol"].spec
    extractor = components["extractor"].spec
    audio_spec, text_spec = components["pooling"].spec, components["text_pooling"].spec
    encoder = components["text_encoder"].spec
    filled = {
        name: getattr(protocol, name) if getattr(config, name) is None else getattr(config, name)
        for name in PROTOCOL_FIELDS
    }
    audio_base = protocol.pooling_options(audio_spec.name, "audio", extractor.dim)
    text_base = {
        **text_spec.text_defaults,
        **protocol.pooling_options(text_spec.name, "text", encoder.dim),
    }
    requested = {f.name: getattr(config, f.name) for f in dataclasses.fields(RunRequest)}

    def options(component: str, spec: Spec, base: Mapping[str, Any] | None = None) -> Options:
        given = dict(getattr(config, f"{component}_options"))
        return freeze(spec.resolve_options(given, base=base, flag=OPTION_FLAGS[component]))

    pooling_options = options("pooling", audio_spec, audio_base)
    if config.embed_dim is None:
        filled["embed_dim"] = protocol.embed_dim_for(
            audio_spec.name, extractor.dim, dict(pooling_options)
        )

    return RunConfig(
        **{
            **requested,
            **filled,
            "protocol_version": protocol.version,
            "text_pooling": text_spec.name,
            "extractor": extractor.name,
            "text_encoder": encoder.name,
            "dataset_options": options("dataset", components["dataset"].spec),
            "extractor_options": options("extractor", extractor),
            "pooling_options": pooling_options,
            "text_pooling_options": options("text_pooling", text_spec, text_base),
            "text_encoder_options": options("text_encoder", encoder),
            "audio_frames": config.audio_frames
            or protocol.frames_for(dataset.name, extractor.name)
            or dataset.defaults.frames_for(extractor),
        }
    )
