"""Bundles: chosen run records and their per-query ranks in one zip file, which another lab
puts beside its own runs (``atr-bench bundle`` makes one; ``atr-bench leaderboard --runs-dir``
reads one as it reads a runs folder).

A bundle holds ``manifest.json`` (its name, when and by which atr-bench and command it was
made, and per run its members with their SHA-256) and per run ``<run id>.json``, the record
file as it was, and ``<run id>.ranks.npz`` where the run kept its ranks. Nothing in a bundle is
trusted: a member that is not one of those names (a path, a folder, ``..``), a duplicate, an
encrypted or oddly packed member, one larger than its kind allows, or a manifest that does not
list exactly the members there makes the whole bundle an error naming it; a corrupt or altered
member is reported for its run, as a broken record in a runs folder is. Members are read into
memory (never extracted), each no larger than it said.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from atr_bench import __version__
from atr_bench.errors import AtrBenchError
from atr_bench.files.atomic import atomic_write
from atr_bench.files.names import MAX_RUN_ID, check_name, is_name
from atr_bench.files.reading import check_regular, parse_json
from atr_bench.record.ranks import QueryRanks, record_ranks
from atr_bench.record.results import record_from
from atr_bench.record.run_record import RunRecord

FORMAT = "atr-bench bundle"
VERSION = 1
MANIFEST = "manifest.json"
SUFFIX = ".atrb.zip"
"""The suggested ending of a bundle's file name."""
RANKS = ".ranks.npz"
MAX_MEMBERS = 100_000
MAX_BYTES = {"manifest": 64 << 20, "record": 32 << 20, "ranks": 256 << 20}
"""The most bytes a member of each kind may hold unpacked."""
REMAKE = "make the bundle again with `atr-bench bundle`"
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class BundledRun:
    """One run as a bundle holds it: the record file's bytes and, if kept, its ranks file's."""

    run_id: str
    record: bytes
    ranks: bytes | None = None

    def members(self) -> dict[str, bytes]:
        out = {f"{self.run_id}.json": self.record}
        return out | ({f"{self.run_id}{RANKS}": self.ranks} if self.ranks is not None else {})


@dataclass(frozen=True)
class Manifest:
    """What a bundle says of itself."""

    name: str
    """The source label its rows carry on a board (a name, ``files.names``)."""
    created: str
    atr_bench: str
    command: str
    runs: dict[str, dict[str, str]]
    """Run id -> its member names -> their SHA-256."""


def write_bundle(out: Path, name: str, runs: list[BundledRun], command: str) -> Path:
    """Write the bundle ``name`` of ``runs`` to ``out`` atomically; returns ``out``."""
    check_name(name, "--name")
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "name": name,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "atr_bench": __version__,
        "command": command,
        "runs": {
            run.run_id: {member: _digest(data) for member, data in run.members().items()}
            for run in runs
        },
    }

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w") as archive:
            text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
            archive.writestr(MANIFEST, text, zipfile.ZIP_DEFLATED)
            for run in runs:
                for member, data in run.members().items():
                    packed = zipfile.ZIP_STORED if member.endswith(RANKS) else zipfile.ZIP_DEFLATED
                    archive.writestr(member, data, packed)  # npz files are packed already

    return atomic_write(out, write)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Bundle:
    """A bundle whose layout and manifest were checked (``open_bundle``)."""

    path: Path
    manifest: Manifest

    def where(self, member: str) -> Path:
        """How errors name a member: ``<bundle>:<member>``."""
        return Path(f"{self.path}:{member}")

    def record(self, run_id: str) -> RunRecord:
        """The record of ``run_id``; an error naming the member when it is corrupt, altered
        since bundling, not a record, or another run's."""
        member = f"{run_id}.json"
        value = parse_json(self._read(member, "record"), self.where(member), "run record", REMAKE)
        record = record_from(value, self.where(member))
        if record.run_id not in (None, run_id):
            raise AtrBenchError(
                f"{self.where(member)}: holds the record of another run ({record.run_id}); {REMAKE}"
            )
        return record

    def ranks(self, run_id: str, test: dict[str, dict[str, float]]) -> QueryRanks | None:
        """The run's per-query ranks, checked against its ``test`` metrics; None when the
        bundle holds none of it."""
        member = f"{run_id}{RANKS}"
        if member not in self.manifest.runs[run_id]:
            return None
        data = self._read(member, "ranks")
        return record_ranks(self.where(member), run_id, test, io.BytesIO(data))

    def _read(self, member: str, kind: str) -> bytes:
        expected = self.manifest.runs.get(member.partition(".")[0], {}).get(member)
        return _read_member(self.path, member, kind, expected)


def _read_member(path: Path, member: str, kind: str, sha256: str | None = None) -> bytes:
    """A member's bytes, no more than its ``kind`` allows and, where the manifest gives one,
    of its ``sha256``; an error naming the member when it is corrupt or altered."""
    where = f"{path}:{member}"
    try:
        with zipfile.ZipFile(path) as archive, archive.open(member) as stream:
            data = stream.read(MAX_BYTES[kind] + 1)
    except (OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        raise AtrBenchError(f"{where}: corrupt member ({_why(exc)}); {REMAKE}") from None
    if len(data) > MAX_BYTES[kind]:
        raise AtrBenchError(f"{where}: larger than it says (corrupt); {REMAKE}")
    if sha256 is not None and _digest(data) != sha256:
        raise AtrBenchError(
            f"{where}: differs from the SHA-256 the bundle's manifest gives (changed after "
            f"bundling); {REMAKE}"
        )
    return data


def _why(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def open_bundle(path: Path) -> Bundle:
    """The bundle at ``path``, its layout and manifest checked; an error naming the file (and
    the member at fault) when it is not a bundle atr-bench made."""
    path = check_regular(Path(path), "give a runs folder or a bundle (atr-bench bundle)")
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except FileNotFoundError:
        raise AtrBenchError(f"{path}: no such runs folder or bundle") from None
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:
        raise AtrBenchError(
            f"{path}: not a runs folder or a bundle (not a zip file: {_why(exc)})"
        ) from None
    _check_members(path, infos)
    value = parse_json(
        _read_member(path, MANIFEST, "manifest"), f"{path}:{MANIFEST}", "bundle manifest", REMAKE
    )
    manifest = _manifest(value, f"{path}:{MANIFEST}")
    listed = {member for members in manifest.runs.values() for member in members}
    present = {info.filename for info in infos} - {MANIFEST}
    if listed != present:
        odd = sorted(listed ^ present)[0]
        said = "listed by its manifest but missing" if odd in listed else "not in its manifest"
        raise AtrBenchError(f"{path}: member {odd!r} is {said}; {REMAKE}")
    return Bundle(path, manifest)


def _check_members(path: Path, infos: list[zipfile.ZipInfo]) -> None:
    """Refuse a bundle whose members are not what ``write_bundle`` makes."""
    if len(infos) > MAX_MEMBERS:
        raise AtrBenchError(f"{path}: more than {MAX_MEMBERS} members; {REMAKE}")
    seen: set[str] = set()
    for info in infos:
        name = info.filename
        kind = _kind(name)
        if kind is None:
            raise AtrBenchError(
                f"{path}: member {name!r} is not a run record, ranks file or manifest of a "
                f"bundle (a bundle holds no folders or paths); {REMAKE}"
            )
        if name in seen:
            raise AtrBenchError(f"{path}: member {name!r} is there twice; {REMAKE}")
        seen.add(name)
        if info.flag_bits & 0x1 or info.compress_type not in (
            zipfile.ZIP_STORED,
            zipfile.ZIP_DEFLATED,
        ):
            raise AtrBenchError(f"{path}: member {name!r} is encrypted or oddly packed; {REMAKE}")
        if info.file_size > MAX_BYTES[kind]:
            raise AtrBenchError(
                f"{path}: member {name!r} unpacks to {info.file_size} bytes, more than a "
                f"{kind} may ({MAX_BYTES[kind]}); {REMAKE}"
            )
    if MANIFEST not in seen:
        raise AtrBenchError(f"{path}: no {MANIFEST}, so not a bundle; {REMAKE}")


def _kind(name: str) -> str | None:
    """Which kind of member ``name`` is, or None when a bundle holds no such name."""
    if name == MANIFEST:
        return "manifest"
    for suffix, kind in ((RANKS, "ranks"), (".json", "record")):
        if name.endswith(suffix) and is_name(name.removesuffix(suffix), MAX_RUN_ID):
            return kind
    return None


def _manifest(value: Any, where: str) -> Manifest:
    """The manifest in a JSON value; an error naming it when it is not one of this version."""
    if not isinstance(value, dict) or value.get("format") != FORMAT:
        raise AtrBenchError(f"{where}: not an atr-bench bundle manifest; {REMAKE}")
    if value.get("version") != VERSION:
        raise AtrBenchError(
            f"{where}: bundle version {value.get('version')!r}, this atr-bench reads version "
            f"{VERSION}; use the atr-bench that made it, or a newer one"
        )
    texts = {key: value.get(key) for key in ("name", "created", "atr_bench", "command")}
    if not all(isinstance(text, str) for text in texts.values()) or not is_name(texts["name"]):
        raise AtrBenchError(
            f"{where}: the manifest's name, created, atr_bench or command is missing or not "
            f"text, or its name is not a name; {REMAKE}"
        )
    runs = value.get("runs")
    if not isinstance(runs, dict) or not all(_run_entry(k, v) for k, v in runs.items()):
        raise AtrBenchError(
            f"{where}: the manifest's runs are not run ids with their members' SHA-256; {REMAKE}"
        )
    return Manifest(**texts, runs=runs)  # type: ignore[arg-type]


def _run_entry(run_id: str, members: Any) -> bool:
    """Whether one run's manifest entry is ``{<run id>.json: sha256[, <run id>.ranks.npz:
    sha256]}``."""
    allowed = {f"{run_id}.json", f"{run_id}{RANKS}"}
    return (
        is_name(run_id, MAX_RUN_ID)
        and isinstance(members, dict)
        and f"{run_id}.json" in members
        and set(members) <= allowed
        and all(isinstance(d, str) and _SHA256.fullmatch(d) for d in members.values())
    )
