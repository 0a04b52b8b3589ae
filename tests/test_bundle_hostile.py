"""Bundles from elsewhere are read as warily as a runs folder: a bundle that is not one atr-bench
makes (paths in member names, folders, duplicates, no or a wrong manifest, encrypted or
oversized members, not a zip at all) is refused with one line naming it, and a corrupt,
altered or misnamed member leaves its run off with a line naming the member. Nothing is ever
extracted, so nothing lands outside the output folder."""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from atr_bench.cli.main import main
from atr_bench.errors import AtrBenchError
from atr_bench.record import bundle as bundle_module
from atr_bench.record import ranks as ranks_module

Members = list[tuple[str, bytes]]


@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory, tiny_data, tiny_args) -> Path:
    """A bundle of one real tiny run (record and ranks)."""
    root = tmp_path_factory.mktemp("bundled")
    runs = root / "runs"
    assert main(tiny_args(tiny_data, runs, "--epochs", "1", "--pooling", "mean")) == 0
    out = root / "lab.atrb.zip"
    assert main(["bundle", "--runs-dir", str(runs), "--out", str(out)]) == 0
    return out


def _members(path: Path) -> Members:
    with zipfile.ZipFile(path) as archive:
        return [(info.filename, archive.read(info)) for info in archive.infolist()]


def _write(path: Path, members: Members) -> Path:
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w") as archive:
        warnings.simplefilter("ignore")  # a duplicate name is what one case is about
        for name, data in members:
            archive.writestr(zipfile.ZipInfo(name), data, zipfile.ZIP_DEFLATED)
    return path


def _manifest(members: Members) -> dict:
    return json.loads(dict(members)["manifest.json"])


def _with_manifest(members: Members, manifest: dict) -> Members:
    text = json.dumps(manifest).encode()
    return [(n, text if n == "manifest.json" else d) for n, d in members]


def _record_name(members: Members) -> str:
    return next(n for n, _ in members if n.endswith(".json") and n != "manifest.json")


def _rename_run(members: Members) -> Members:
    """The record under another run's name, the manifest saying so (digests right)."""
    old = _record_name(members).removesuffix(".json")
    new = old[: old.rindex("-s")] + "-s9"
    renamed = [(n.replace(old, new), d) for n, d in members]
    manifest = _manifest(renamed)
    manifest["runs"] = {new: {n: hashlib.sha256(d).hexdigest() for n, d in renamed if new in n}}
    return _with_manifest(renamed, manifest)


def _not_json(members: Members) -> Members:
    name, data = _record_name(members), b"{not json"
    manifest = _manifest(members)
    manifest["runs"][name.removesuffix(".json")][name] = hashlib.sha256(data).hexdigest()
    return _with_manifest([(n, data if n == name else d) for n, d in members], manifest)


def _altered(members: Members) -> Members:
    name = _record_name(members)
    record = json.loads(dict(members)[name])
    record["test"]["t2a"]["R1"] = record["test"]["t2a"]["R5"]
    return [(n, json.dumps(record).encode() if n == name else d) for n, d in members]


def _newer(members: Members) -> Members:
    return _with_manifest(members, {**_manifest(members), "version": 2})


REFUSED: dict[str, tuple[Callable[[Members], Members], str]] = {
    "zip-slip": (lambda m: [*m, ("../evil.json", b"{}")], "'../evil.json' is not a run record"),
    "absolute": (lambda m: [*m, ("/tmp/evil.json", b"{}")], "'/tmp/evil.json' is not"),
    "folder": (lambda m: [*m, ("sub/evil.json", b"{}")], "a bundle holds no folders or paths"),
    "backslash": (lambda m: [*m, ("..\\evil.json", b"{}")], "is not a run record"),
    "other file": (lambda m: [*m, ("evil.sh", b"rm -rf")], "'evil.sh' is not a run record"),
    "twice": (lambda m: [*m, m[1]], "is there twice"),
    "no manifest": (lambda m: m[1:], "no manifest.json, so not a bundle"),
    "manifest not json": (
        lambda m: [("manifest.json", b"{"), *m[1:]],
        "manifest.json: unreadable bundle manifest",
    ),
    "newer version": (_newer, "bundle version 2, this atr-bench reads version 1"),
    "unlisted member": (lambda m: [*m, ("other-s0.json", b"{}")], "is not in its manifest"),
    "listed but missing": (
        lambda m: [(n, d) for n, d in m if not n.endswith(".npz")],
        "listed by its manifest but missing",
    ),
}


def _leaderboard(tmp_path: Path, source: Path) -> int:
    args = ["leaderboard", "--runs-dir", str(source), "--out", str(tmp_path / "boards")]
    return main([*args, "--include-smoke"])  # the tiny run is smoke-sized


def _nothing_outside(tmp_path: Path) -> None:
    """Nothing of a bundle's was written anywhere near it but the boards."""
    for folder in (tmp_path, tmp_path.parent, Path("/tmp")):
        assert not list(folder.glob("evil*")), folder
    assert {p.name for p in tmp_path.iterdir()} <= {"hostile.zip", "boards", "fifo", "text"}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_bundle_not_made_by_atr_bench_is_refused(bundled, tmp_path, capsys, case) -> None:
    change, said = REFUSED[case]
    hostile = _write(tmp_path / "hostile.zip", change(_members(bundled)))
    assert _leaderboard(tmp_path, hostile) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(hostile) in err and said in err, err
    _nothing_outside(tmp_path)


def _set_encrypted(path: Path, member: str) -> None:
    """Mark ``member`` encrypted in the central directory, as an encrypting tool would."""
    data = bytearray(path.read_bytes())
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        length = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46 : at + 46 + length] == member.encode():
            data[at + 8] |= 0x1
        at = data.find(b"PK\x01\x02", at + 4)
    path.write_bytes(bytes(data))


def test_encrypted_oversized_and_non_zip_files_are_refused(
    bundled, tmp_path, capsys, monkeypatch
) -> None:
    members = _members(bundled)
    hostile = _write(tmp_path / "hostile.zip", members)
    _set_encrypted(hostile, _record_name(members))
    (tmp_path / "text").write_text("not a zip\n")
    os.mkfifo(tmp_path / "fifo")
    for source, said in (
        (hostile, "is encrypted or oddly packed"),
        (tmp_path / "text", "not a runs folder or a bundle (not a zip file"),
        (tmp_path / "fifo", "not a regular file"),
        (tmp_path / "nosuch", "no such runs directory"),
    ):
        assert _leaderboard(tmp_path, source) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and str(source) in err and said in err, err
    monkeypatch.setitem(bundle_module.MAX_BYTES, "record", 100)
    assert _leaderboard(tmp_path, _write(tmp_path / "hostile.zip", members)) == 2
    err = capsys.readouterr().err
    assert "unpacks to" in err and "more than a record may (100)" in err
    _nothing_outside(tmp_path)


def _flip_a_byte(path: Path, member: str) -> None:
    """Damage ``member``'s packed bytes in place, as a bad download would."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    data = bytearray(path.read_bytes())
    name_length, extra_length = struct.unpack_from("<HH", data, info.header_offset + 26)
    start = info.header_offset + 30 + name_length + extra_length
    data[start + info.compress_size // 2] ^= 0xFF
    path.write_bytes(bytes(data))


LEFT_OFF: dict[str, tuple[Callable[[Members], Members], str]] = {
    "altered": (_altered, "differs from the SHA-256 the bundle's manifest gives"),
    "another run's": (_rename_run, "holds the record of another run"),
    "not json": (_not_json, "unreadable run record"),
}


@pytest.mark.parametrize("case", [*sorted(LEFT_OFF), "corrupt", "ranks bomb"])
def test_a_bad_member_leaves_its_run_off(bundled, tmp_path, capsys, monkeypatch, case) -> None:
    members = _members(bundled)
    change, said = LEFT_OFF.get(case, (lambda m: m, ""))
    hostile = _write(tmp_path / "hostile.zip", change(members))
    member = _record_name(change(members))
    if case == "corrupt":
        _flip_a_byte(hostile, member)
        said = "corrupt member"
    if case == "ranks bomb":  # its arrays would unpack to more than a ranks file may hold
        monkeypatch.setattr(ranks_module, "MAX_ARRAY_BYTES", 64)
        said = "not a per-query ranks file (t2a.npy unpacks to more than 64 bytes)"
    assert _leaderboard(tmp_path, hostile) == 0
    out = capsys.readouterr().out
    (line,) = [line for line in out.splitlines() if line.startswith("skipped")]
    assert line.startswith(f"skipped {hostile}:{member}: ") and said in line, line
    assert "0 run records used" in out and "no leaderboard written" in out
    _nothing_outside(tmp_path)


def test_the_untouched_bundle_is_read(bundled, tmp_path, capsys) -> None:
    """The cases above are changes of a bundle that is read: without them, its run is used."""
    assert _leaderboard(tmp_path, _write(tmp_path / "hostile.zip", _members(bundled))) == 0
    out = capsys.readouterr().out
    assert "1 run records used" in out and "skipped" not in out


def test_a_ranks_file_packed_as_numpy_never_packs_is_refused(bundled, tmp_path) -> None:
    """Only stored and deflated arrays are read: others unpack without a bound."""
    (name, data) = next((n, d) for n, d in _members(bundled) if n.endswith(".npz"))
    with zipfile.ZipFile(io.BytesIO(data)) as npz:
        arrays = [(info.filename, npz.read(info)) for info in npz.infolist()]
    repacked = tmp_path / name
    with zipfile.ZipFile(repacked, "w", zipfile.ZIP_BZIP2) as npz:
        for member, array in arrays:
            npz.writestr(member, array)
    with pytest.raises(AtrBenchError, match="packed in a way numpy never writes") as caught:
        ranks_module.read_ranks(repacked)
    assert str(caught.value).startswith(f"{repacked}: not a per-query ranks file")
