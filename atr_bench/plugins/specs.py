"""Specs: what a plugin hands the harness; small frozen dataclasses with typed, checked options."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar, Generic, NoReturn, Self, TypeVar

from atr_bench.errors import AtrBenchError
from atr_bench.plugins.contract import (
    Batching,
    Dataset,
    Extractor,
    Loss,
    Pooling,
    TextEncoder,
    missing_members,
)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class _Unset(Enum):
    UNSET = "unset"


ALWAYS_HASHED = _Unset.UNSET
"""``Option.legacy`` of an option that is in the run hash at every value."""
INT_CEILING = 1 << 20
"""The largest value an int option takes unless it declares a ``maximum``: sizes, counts and
frames past a million are typos that would reach an allocation unchecked."""


@dataclass(frozen=True)
class Rule:
    """A condition on one option's value, and how an error states it (``"in [0, 1)"``)."""

    holds: Callable[[Any], bool]
    text: str


@dataclass(frozen=True)
class Requirement:
    """A condition between options of one spec, blamed on ``option`` when it fails; ``text``
    is formatted with every option's value (``"a divisor of d_model={d_model}"``)."""

    option: str
    holds: Callable[[Mapping[str, Any]], bool]
    text: str


@dataclass(frozen=True)
class Option:
    """One typed option of a plugin (``--pooling-opt clusters=16``), with the rules its value
    must meet: ``choices``, ``minimum`` (inclusive) and any ``rule``. The harness checks them
    when it resolves a spec's options, so a plugin's ``build`` gets typed, valid values."""

    name: str
    type: type
    default: Any
    help: str = ""
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    """Inclusive; an int option without one gets ``INT_CEILING`` (a value past it reaches an
    allocation or a library before anything says it is wrong)."""
    rule: Rule | None = None
    affects_results: bool = True
    """False for options that change how a run executes but not its numbers (compilation,
    caching): they are left out of the run hash, so such runs share a leaderboard row."""
    legacy: Any = ALWAYS_HASHED
    """For an option added after runs were recorded: the value that gives the behaviour from
    before it existed. At that value the option is left out of the run hash, so those runs
    keep their ids (see ``atr_bench.run.hashing``)."""

    def convert(self, raw: Any) -> Any:
        """Turn a string (from the command line) or a value into this option's type; the
        error says what is wrong after ``option NAME=VALUE``."""
        try:
            if self.type is bool and isinstance(raw, str):
                low = raw.strip().lower()
                if low not in _TRUE | _FALSE:
                    raise ValueError(raw)
                value: Any = low in _TRUE
            elif self.type is float and isinstance(raw, int | float) and not isinstance(raw, bool):
                value = float(raw)
            elif isinstance(raw, self.type) and not (self.type is int and isinstance(raw, bool)):
                value = raw
            elif isinstance(raw, str):
                value = self.type(raw)
            else:
                raise TypeError(raw)
        except (TypeError, ValueError):
            raise ValueError(f"is not a valid {self.type.__name__}") from None
        return value

    @property
    def ceiling(self) -> float | None:
        """The largest value allowed: ``maximum``, else ``INT_CEILING`` for an int option."""
        return INT_CEILING if self.maximum is None and self.type is int else self.maximum

    def bounds(self) -> str:
        """The rules a value must keep, in words (``2 to 1048576``, ``> 0, <= 10``)."""
        parts = []
        if self.choices is not None:
            parts.append("one of " + ", ".join(map(str, self.choices)))
        ceiling = self.ceiling
        if self.minimum is not None and ceiling is not None:
            parts.append(f"{_number(self.minimum)} to {_number(ceiling)}")
        elif self.minimum is not None:
            parts.append(f">= {_number(self.minimum)}")
        elif ceiling is not None:
            parts.append(f"<= {_number(ceiling)}")
        if self.rule is not None:
            parts.append(self.rule.text)
        return ", ".join(parts)

    def broken_rule(self, value: Any) -> str | None:
        """What ``value`` must be, when it breaks one of this option's rules; else None. A
        float must be finite, an int at most ``INT_CEILING`` unless a ``maximum`` says."""
        if self.choices is not None and value not in self.choices:
            return "one of " + ", ".join(map(str, self.choices))
        if self.type is float and not math.isfinite(value):
            return "a finite number"
        if self.minimum is not None and value < self.minimum:
            return f">= {_number(self.minimum)}"
        ceiling = self.ceiling
        if ceiling is not None and value > ceiling:
            return f"<= {_number(ceiling)}"
        if self.rule is not None and not self.rule.holds(value):
            return self.rule.text
        return None


def _number(value: float) -> str:
    """A bound as a message writes it: whole numbers in full (1048576, not 1.04858e+06)."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def parse_option_strings(items: Iterable[str], flag: str) -> dict[str, str]:
    """Parse ``["k=v", ...]`` from the command line into a dict of raw strings."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise AtrBenchError(f"{flag} {item!r}: expected KEY=VALUE, e.g. {flag} clusters=16")
        out[key.strip()] = value.strip()
    return out


Built = TypeVar("Built", covariant=True)
"""What a spec's ``build`` returns (the protocols of ``atr_bench.plugins.contract``)."""


@dataclass(frozen=True)
class Spec(Generic[Built]):
    """Common part of every spec: a unique name, a one-line description, a factory, options."""

    name: str
    description: str
    build: Callable[..., Built]
    options: tuple[Option, ...] = ()
    requirements: tuple[Requirement, ...] = ()
    """Conditions between options (one option's rules go on that ``Option``)."""
    configure: Callable[..., Any] | None = None
    """For a component whose dim, rates or features depend on its options (a model named by
    one): ``configure(spec, **options)`` returns the spec those resolved options make, named
    by what makes its features (its feature folder or text cache, and the runs' column), so
    two models never share them. A run uses only configured specs."""

    kind: ClassVar[str] = "spec"
    """The registry's name for this kind of plugin (``text_encoder``), as ``Registry.find``
    takes it; messages write it with a space."""
    contract: ClassVar[type | None] = None
    """The protocol of ``atr_bench.plugins.contract`` that what ``build`` returns satisfies."""

    def configured(self, options: Mapping[str, Any]) -> Self:
        """The spec ``options`` (resolved) make: this one unless it has ``configure``."""
        return self if self.configure is None else self.configure(self, **options)

    @property
    def title(self) -> str:
        """``text encoder 'word2vec'``: how messages name this plugin."""
        return f"{self.kind.replace('_', ' ')} {self.name!r}"

    def create(self, *args: Any, **options: Any) -> Built:
        """``build(*args, **options)``, refused with one line naming the members the result
        lacks when it does not satisfy the kind's protocol (``contract``)."""
        built = self.build(*args, **options)
        if self.contract is not None and (missing := missing_members(built, self.contract)):
            raise AtrBenchError(
                f"{self.title}: build returned "
                f"{type(built).__name__}, which lacks {', '.join(missing)} (the "
                f"{self.contract.__name__} protocol in atr_bench/plugins/contract.py)"
            )
        return built

    def resolve_options(
        self,
        given: Mapping[str, Any] | None = None,
        base: Mapping[str, Any] | None = None,
        flag: str | None = None,
    ) -> dict[str, Any]:
        """Defaults, overridden by ``base`` then ``given``, typed and checked against every
        option's rules and the spec's requirements. An error names ``flag`` (the command-line
        flag ``given`` came from, such as ``--pooling-opt``) with the value given there, or
        says which flag sets an option that came from elsewhere."""
        known = {o.name: o for o in self.options}
        owner = self.title
        given = dict(given or {})
        values = {o.name: o.default for o in self.options}
        for source in (base or {}, given):
            for key, raw in source.items():
                if key not in known:
                    valid = ", ".join(sorted(known)) or "none"
                    where = f"{flag} {key}={raw}: " if flag and key in given else ""
                    raise AtrBenchError(
                        f"{where}{owner} has no option {key!r}; valid options: {valid}"
                    )
                try:
                    values[key] = known[key].convert(raw)
                except ValueError as exc:
                    self._fail(key, raw, str(exc), given, flag)
        for option in self.options:
            rule = option.broken_rule(values[option.name])
            if rule is not None:
                self._fail(option.name, values[option.name], f"must be {rule}", given, flag)
        for requirement in self.requirements:
            if not requirement.holds(values):
                name = requirement.option
                rule = requirement.text.format(**values)
                self._fail(name, values[name], f"must be {rule}", given, flag)
        return values

    def _fail(
        self, name: str, value: Any, problem: str, given: Mapping[str, Any], flag: str | None
    ) -> NoReturn:
        """Raise the one-line error for option ``name``: led by the flag and the value given
        there when it came from ``flag``; else saying which flag sets it, when known."""
        owner = f"{self.kind} {self.name!r}"
        if flag and name in given:
            raise AtrBenchError(f"{flag} {name}={given[name]}: option {name} of {owner} {problem}")
        fix = f"; set it with {flag} {name}=..." if flag else ""
        raise AtrBenchError(f"{owner}: option {name}={value!r} {problem}{fix}")

    def affects_results(self, name: str) -> bool:
        """Whether option ``name`` can change a run's numbers (unknown names: assumed so)."""
        return all(o.affects_results for o in self.options if o.name == name)


@dataclass(frozen=True)
class PoolingSpec(Spec[Pooling]):
    """A temporal pooling, ``build(in_dim, **opts)``. ``text_defaults`` override option
    defaults on the text side (the protocol uses 12 VLAD clusters on audio and 20 on text)."""

    kind: ClassVar[str] = "pooling"
    contract: ClassVar[type | None] = Pooling

    text_defaults: Mapping[str, Any] = field(default_factory=dict)
    order_aware: bool = False


@dataclass(frozen=True)
class ExtractorSpec(Spec[Extractor]):
    """An audio feature extractor, ``build(weights=None, device="cpu", **opts)``; ``dim``,
    ``sample_rate`` and ``frames_per_second`` are known before it is built (where options
    decide them, once ``configure`` has made the spec of those options) so ``atr-bench list``
    and the data layer can use them."""

    kind: ClassVar[str] = "extractor"
    contract: ClassVar[type | None] = Extractor

    dim: int = 0
    sample_rate: int = 16000
    frames_per_second: float = 1.0
    provenance: Mapping[str, str] = field(default_factory=dict)
    """What feature files record about the extractor besides its name and weights."""
    text_tower: Callable[..., TextEncoder] | None = None
    """For the audio tower of a pretrained dual encoder (one embedding per clip): its text
    tower, ``text_tower(**options)`` with the extractor's options, a ``TextEncoder`` giving
    one ``[1, dim]`` embedding per caption in the same space. Such an extractor can be tested
    as it is, under a ``zero_shot`` protocol."""


@dataclass(frozen=True)
class TextEncoderSpec(Spec[TextEncoder]):
    """A token-level text encoder producing ``dim``-dimensional vectors per token,
    ``build(**opts)``."""

    kind: ClassVar[str] = "text_encoder"
    contract: ClassVar[type | None] = TextEncoder

    dim: int = 0


@dataclass(frozen=True)
class LossSpec(Spec[Loss]):
    """A training loss, ``build()`` -> ``contract.Loss``; ``settings`` names the protocol
    settings it takes (``margin``, ``temperature``), passed as keywords."""

    kind: ClassVar[str] = "loss"
    contract: ClassVar[type | None] = Loss

    settings: tuple[str, ...] = ()


@dataclass(frozen=True)
class BatchingSpec(Spec[Batching]):
    """What a training batch holds (a protocol's ``batch_items``), ``build()`` ->
    ``contract.Batching``."""

    kind: ClassVar[str] = "batching"
    contract: ClassVar[type | None] = Batching


@dataclass(frozen=True)
class DatasetSpec(Spec[Dataset]):
    """A dataset in the seed layout, built as ``build(root, **opts)``."""

    kind: ClassVar[str] = "dataset"
    contract: ClassVar[type | None] = Dataset


@dataclass(frozen=True)
class OptimizerSettings:
    """RAdam inside Lookahead (k=6, alpha=0.5): "Ranger". ``decoupled`` weight decay shrinks
    the weights directly (``p -= lr * wd * p``, as Ranger does); otherwise it is an L2 term
    added to the gradient (torch's RAdam default)."""

    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    decoupled: bool = False


@dataclass(frozen=True)
class ProtocolSpec(Spec[Mapping[str, Any]]):
    """A named, versioned training and evaluation protocol: everything a run's numbers depend
    on besides the components, the seed and the machine. ``build(pooling, side, in_dim)``
    returns the options the protocol gives a pooling on the ``"audio"`` or ``"text"`` side
    (the user's ``--pooling-opt`` still overrides them); a protocol that knows nothing of a
    pooling returns ``{}``. A change to what a protocol computes bumps ``version`` unless it
    shows in the settings it resolves to (options and fields are in every run's hash, so a
    changed setting gives the runs it touches new ids and leaves the others theirs)."""

    kind: ClassVar[str] = "protocol"
    version: int = 1
    batch_items: str = "clips"
    """``clips``: a training batch is clips, each with all of its captions, and a clip-caption
    similarity is the mean over that clip's captions (the paper's code); ``pairs``: a batch is
    (caption, clip) pairs drawn over every caption."""
    embed_dim: int | None = None
    """The shared space's size; ``None``: as wide as the audio features (the paper's code),
    or, for a pooling in ``embed_dims``, as the value of the option named there (the paper's
    code makes a transformer's shared space as wide as the transformer: ``d_model``)."""
    embed_dims: Mapping[str, str] = field(default_factory=dict)
    audio_l2renorm: bool = True
    """L2-normalise the pooled audio before its gated embedding unit."""
    gate_batch_norm: bool = True
    loss: str = "max_margin"
    margin: float = 0.2
    temperature: float = 0.05
    optimizer: OptimizerSettings = field(default_factory=OptimizerSettings)
    lr: float = 0.01
    weight_decay: float = 1e-3
    gamma: float = 0.95
    batch_size: int = 128
    epochs: int = 20
    text_tokens: int = 20
    selection_ties: str = "later"
    """``later``: the later epoch wins a tie of the validation score (the paper's code's
    ``>=``), ``earlier``: the first one keeps it."""
    audio_frames: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    """Frames kept per clip, per dataset and extractor, where the protocol chose them (the
    paper's released configs); a dataset or extractor not listed gets the dataset's own
    (its clip length at the extractor's frame rate)."""

    zero_shot: bool = False
    """Trains nothing: the extractor must be a dual encoder's audio tower (``text_tower``),
    whose own text tower embeds the captions; the test split is ranked by their cosine
    similarity, and the run's row joins the boards of the trained runs on that test set."""

    @property
    def label(self) -> str:
        """``name@version``, as records and leaderboards name a protocol."""
        return f"{self.name}@{self.version}"

    def pooling_options(self, pooling: str, side: str, in_dim: int) -> dict[str, Any]:
        """The options this protocol gives ``pooling`` on the ``"audio"`` or ``"text"`` side
        over ``in_dim``-wide features: what its ``build`` returns, by the name of what it is."""
        return dict(self.build(pooling, side, in_dim))

    def frames_for(self, dataset: str, extractor: str) -> int | None:
        """The frames per clip this protocol keeps of ``extractor`` on ``dataset``, or None
        where it chose none."""
        return self.audio_frames.get(dataset, {}).get(extractor)

    def embed_dim_for(self, pooling: str, audio_dim: int, options: Mapping[str, Any]) -> int:
        """The shared space's size for audio ``pooling`` with its resolved ``options``."""
        if self.embed_dim is not None:
            return self.embed_dim
        if pooling in self.embed_dims:
            return int(options[self.embed_dims[pooling]])
        return audio_dim
