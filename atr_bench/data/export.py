"""Export a dataset in the seed layout exactly as the paper's released code reads it: its Index
files, one extractor's feature dumps and the text features as ``TextEmbeddings/w2v_<split>.pkl``
(clip id -> one float32 ``[n_words, D]`` array per caption). With it, the released code and
atr-bench can be run on the very same tensors and compared."""

from __future__ import annotations

import pickle
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from atr_bench.data.layout import SPLITS, DatasetLayout
from atr_bench.errors import AtrBenchError
from atr_bench.files.atomic import Writer, atomic_write, replaced_together
from atr_bench.plugins.contract import Dataset, Indexed


@dataclass(frozen=True)
class ExportReport:
    """What ``export_seed_layout`` wrote."""

    root: Path
    files: tuple[Path, ...]

    def summary(self) -> str:
        return f"exported {len(self.files)} files to {self.root}"


def write_text_pickle(
    path: Path, features: Mapping[str, Sequence[np.ndarray]], write: Writer = atomic_write
) -> Path:
    """Atomically pickle ``clip id -> [float32 [n_words, D], ...]`` (plain dict, lists, arrays:
    what the restricted unpickler reads back)."""
    plain = {
        str(clip): [np.ascontiguousarray(a, dtype=np.float32) for a in arrays]
        for clip, arrays in features.items()
    }
    return write(path, lambda tmp: tmp.write_bytes(pickle.dumps(plain, protocol=4)))


def _copy(source: Path, target: Path, write: Writer) -> Path:
    if not source.exists():
        raise AtrBenchError(f"{source}: missing; run `atr-bench run` on this dataset first")
    return write(target, lambda tmp: shutil.copyfile(source, tmp))


def _layouts(dataset: Dataset, out_root: Path) -> tuple[DatasetLayout, DatasetLayout, str]:
    """The dataset's own layout, the export's, and its index format; errors for a dataset
    that cannot be exported or an ``out_root`` that cannot take it."""
    if not isinstance(dataset, Indexed) or not isinstance(dataset.layout, DatasetLayout):
        raise AtrBenchError(
            f"dataset {dataset.name!r} has no Index files in the seed layout (the Indexed "
            "protocol in atr_bench/plugins/contract.py), so it cannot be exported as the seed"
        )
    out_root = Path(out_root)
    if out_root.exists() and not out_root.is_dir():
        raise AtrBenchError(f"--out {out_root}: not a folder; give a folder to export into")
    source = dataset.layout
    target = DatasetLayout(out_root, source.directory)
    if target.path.resolve() == source.path.resolve():
        raise AtrBenchError(
            f"--out {out_root}: that is the dataset's own data root; export to another folder"
        )
    return source, target, dataset.index_format


def check_export_target(
    dataset: Dataset, extractor: str, out_root: Path, overwrite: bool = False
) -> None:
    """Refuse, before any work, an export that cannot be made or that would replace files
    already there (text pickles made elsewhere cannot be rebuilt) unless ``overwrite``."""
    _, target, index_format = _layouts(dataset, out_root)
    index = target.index_json if index_format == "json" else target.index_csv
    paths = [
        path
        for split in SPLITS
        for path in (index(split), target.features(extractor, split), target.text_pickle(split))
    ]
    there = [path for path in paths if path.exists()]
    if there and not overwrite:
        more = f" and {len(there) - 1} more of the export's files" if len(there) > 1 else ""
        raise AtrBenchError(
            f"--out {out_root}: {there[0]}{more} already exist; export to a new folder, or pass "
            "--overwrite to replace them"
        )


def export_seed_layout(
    dataset: Dataset,
    extractor: str,
    text: Mapping[str, Mapping[str, Sequence[np.ndarray]]],
    out_root: Path,
    overwrite: bool = False,
) -> ExportReport:
    """Write ``out_root/<dataset dir>/``: Index, ``AudioExpert/<extractor>/``, and the text
    features ``text[split]`` as ``w2v_<split>.pkl``, all or none of them. Refuses to write
    into the dataset's own folder (it would overwrite what it reads), and over files already
    there unless ``overwrite``."""
    check_export_target(dataset, extractor, out_root, overwrite)
    source, target, index_format = _layouts(dataset, out_root)
    index = source.index_json if index_format == "json" else source.index_csv
    target_index = target.index_json if index_format == "json" else target.index_csv
    files = []
    with replaced_together() as write:
        for split in SPLITS:
            files.append(_copy(index(split), target_index(split), write))
            features = source.features(extractor, split)
            files.append(_copy(features, target.features(extractor, split), write))
            files.append(write_text_pickle(target.text_pickle(split), text[split], write))
    return ExportReport(target.path, tuple(files))
