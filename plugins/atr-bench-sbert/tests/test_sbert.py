"""sbert: the harness's conformance kit, a model by path, the cache tag, clear errors."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from atr_bench_sbert.encoder import SbertEncoder, model_folder
from atr_bench_sbert.plugin import SPEC

from atr_bench import AtrBenchError
from atr_bench.dev.conformance import TEXT_ENCODER_CHECKS, check_spec

pytest.importorskip("sentence_transformers")


@pytest.mark.parametrize("check", [check_spec, *TEXT_ENCODER_CHECKS], ids=lambda c: c.__name__)
def test_conformance(check, tmp_path):
    check(SPEC, workdir=tmp_path)


def test_model_by_path_and_cache_tag(tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(model_folder(SPEC.options[0].default), folder)
    default, by_path = SbertEncoder(), SbertEncoder(str(folder))
    assert default.cache_tag == by_path.cache_tag
    (a,), (b,) = default.encode(["a beep, then a hiss"]), by_path.encode(["a beep, then a hiss"])
    np.testing.assert_array_equal(a, b)
    assert a.shape == (9, 384)  # [CLS] a beep , then a hiss [SEP]: word pieces, not words
    (folder / "config_sentence_transformers.json").write_text("{}")
    assert SbertEncoder(str(folder)).cache_tag != default.cache_tag


def test_not_a_model_folder_names_the_fix(tmp_path):
    with pytest.raises(AtrBenchError, match=r"not a local sentence-transformers model folder"):
        SPEC.build(model=str(tmp_path))
