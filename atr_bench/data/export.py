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
from atr_bench.files.atomic import atomic_write
from atr_bench.plugins.contract import Dataset, Indexed


@dataclass(frozen=True)
class ExportReport:
    """What ``export_seed_layout`` wrote."""

    root: Path
    files: tuple[Path, ...]

    def summary(self) -> str:
        return f"exported {len(self.files)} files to {self.root}"


def write_text_pickle(path: Path, features: Mapping[str, Sequence[np.ndarray]]) -> Path:
    """Atomically pickle ``clip id -> [float32 [n_words, D], ...]`` (plain dict, lists, arrays:
    what the restricted unpickler reads back)."""
    plain = {
        str(clip): [np.ascontiguousarray(a, dtype=np.float32) for a in arrays]
        for clip, arrays in features.items()
    }
    return atomic_write(path, lambda tmp: tmp.write_bytes(pickle.dumps(plain, protocol=4)))


def _copy(source: Path, target: Path) -> Path:
    if not source.exists():
        raise AtrBenchError(f"{source}: missing; run `atr-bench run` on this dataset first")
    return atomic_write(target, lambda tmp: shutil.copyfile(source, tmp))


def export_seed_layout(
    dataset: Dataset,
    extractor: str,
    text: Mapping[str, Mapping[str, Sequence[np.ndarray]]],
    out_root: Path,
) -> ExportReport:
    """Write ``out_root/<dataset dir>/``: Index, ``AudioExpert/<extractor>/``, and the text
    features ``text[split]`` as ``w2v_<split>.pkl``. Refuses to write into the dataset's own
    folder (it would overwrite what it reads)."""
    if not isinstance(dataset, Indexed) or not isinstance(dataset.layout, DatasetLayout):
        raise AtrBenchError(
            f"dataset {dataset.name!r} has no Index files in the seed layout (the Indexed "
            "protocol in atr_bench/plugins/contract.py), so it cannot be exported as the seed"
        )
    source = dataset.layout
    target = DatasetLayout(Path(out_root), source.directory)
    if target.path.resolve() == source.path.resolve():
        raise AtrBenchError(
            f"--out {out_root}: that is the dataset's own data root; export to another folder"
        )
    index = source.index_json if dataset.index_format == "json" else source.index_csv
    target_index = target.index_json if dataset.index_format == "json" else target.index_csv
    files = []
    for split in SPLITS:
        files.append(_copy(index(split), target_index(split)))
        files.append(_copy(source.features(extractor, split), target.features(extractor, split)))
        files.append(write_text_pickle(target.text_pickle(split), text[split]))
    return ExportReport(target.path, tuple(files))
