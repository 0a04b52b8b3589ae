"""Padding captions into one tensor and pairing a split's captions with its audio rows."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from atr_bench.data.index import ClipCaptions
from atr_bench.data.split import SplitData, build_split, pad_tokens
from atr_bench.errors import AtrBenchError


def test_pad_tokens_crops_pads_and_gives_empty_captions_one_zero_token():
    a = np.arange(12, dtype=np.float32).reshape(4, 3)
    text, lengths = pad_tokens([a, np.zeros((0, 3)), a[:1], np.array([])], max_tokens=2, dim=3)
    assert text.dtype == torch.float32 and text.shape == (4, 2, 3)
    assert lengths.dtype == torch.int64 and lengths.tolist() == [2, 1, 1, 1]
    np.testing.assert_array_equal(text[0].numpy(), a[:2])
    assert not text[1].any() and not text[3].any()
    np.testing.assert_array_equal(text[2, 0].numpy(), a[0])
    assert not text[2, 1].any()


def test_pad_tokens_rejects_wrong_dims():
    with pytest.raises(AtrBenchError, match=r"caption 1: .*shape \(2, 4\), expected \[n, 3\]"):
        pad_tokens([np.ones((1, 3)), np.ones((2, 4))], max_tokens=5, dim=3)
    with pytest.raises(AtrBenchError, match="max_tokens must be >= 1"):
        pad_tokens([np.ones((1, 3))], max_tokens=0, dim=3)


@settings(max_examples=40, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 9), max_size=8),
    max_tokens=st.integers(1, 6),
    dim=st.integers(1, 5),
    data=st.data(),
)
def test_pad_tokens_matches_a_per_caption_reference(lengths, max_tokens, dim, data):
    floats = st.floats(-1e3, 1e3, width=32)
    features = [data.draw(hnp.arrays(np.float32, (n, dim), elements=floats)) for n in lengths]
    text, got = pad_tokens(features, max_tokens, dim)
    assert text.shape == (len(features), max_tokens, dim)
    for row, tokens in enumerate(features):
        n = max(1, min(len(tokens), max_tokens))
        assert got[row] == n
        expected = np.zeros((max_tokens, dim), np.float32)
        expected[: min(len(tokens), max_tokens)] = tokens[:max_tokens]
        np.testing.assert_array_equal(text[row].numpy(), expected)


CLIPS = [ClipCaptions("a", ("one", "two")), ClipCaptions("b", ("three",))]


def _inputs():
    audio = torch.arange(2 * 3 * 2, dtype=torch.float32).reshape(2, 3, 2)
    audio_len = torch.tensor([3, 1])
    text = {
        "b": [np.full((2, 4), 3.0)],
        "a": [np.full((1, 4), 1.0), np.full((5, 4), 2.0)],
        "unused": [np.ones((1, 4))],
    }
    return audio, audio_len, text


def test_build_split_pairs_captions_with_their_clips():
    audio, audio_len, text = _inputs()
    split = build_split(CLIPS, audio, audio_len, text, max_tokens=3, text_source="w2v of x/val")
    assert isinstance(split, SplitData)
    assert split.clip_ids == ("a", "b") and split.captions == ("one", "two", "three")
    assert split.n_clips == 2 and split.n_captions == 3
    assert split.caption_clip.dtype == torch.int64 and split.caption_clip.tolist() == [0, 0, 1]
    assert split.text.shape == (3, 3, 4) and split.text_len.tolist() == [1, 3, 2]
    assert split.text[:, 0, 0].tolist() == [1.0, 2.0, 3.0]
    assert split.audio is audio and split.audio_len is audio_len
    moved = split.to("cpu")
    assert moved.caption_clip.tolist() == [0, 0, 1] and moved.captions == split.captions


def test_build_split_names_the_source_and_clip_at_fault():
    audio, audio_len, text = _inputs()
    del text["b"]
    with pytest.raises(AtrBenchError, match=r"w2v of x/val: no text features for 1 clips \('b'\)"):
        build_split(CLIPS, audio, audio_len, text, 3, "w2v of x/val")
    audio, audio_len, text = _inputs()
    text["a"] = text["a"][:1]
    with pytest.raises(AtrBenchError, match="'a' has 1 caption features but the index lists 2"):
        build_split(CLIPS, audio, audio_len, text, 3, "w2v of x/val")
    audio, audio_len, text = _inputs()
    with pytest.raises(AtrBenchError, match="3 audio rows for 2 clips"):
        build_split(CLIPS, torch.zeros(3, 3, 2), audio_len, text, 3, "src")
    text["b"] = [np.ones((2, 5))]
    with pytest.raises(AtrBenchError, match=r"src: expected one token dim, found dims \[4, 5\]"):
        build_split(CLIPS, audio, audio_len, text, 3, "src")
