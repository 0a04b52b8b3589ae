"""synthcaps: deterministic clips, 5 captions stating the events in order, audible attributes,
audio that follows the captions, and an index that round-trips through the Clotho reader."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace
from itertools import pairwise

import librosa
import numpy as np
import pytest

from atr_bench.components.datasets.synth_events import (
    ATTRIBUTE_WORDS,
    EVENT_KINDS,
    LOUDNESSES,
    PITCHES,
    RATES,
    SynthEvent,
    render_event,
)
from atr_bench.components.datasets.synthcaps import (
    CAPTIONS_PER_CLIP,
    SynthCapsConfig,
    SynthClip,
    clip_specs,
    iter_waves,
    make_clip,
    order_contrast_pairs,
    render,
    write_index,
)
from atr_bench.data.index import ClipCaptions, read_clotho_json
from atr_bench.data.layout import SPLITS, DatasetLayout
from atr_bench.errors import AtrBenchError

SMALL = SynthCapsConfig(train=60, val=40, test=20)
SR = SMALL.sample_rate

# Caption parsing: each noun phrase names one event type.
NOUN_KIND = {noun: kind.name for kind in EVENT_KINDS.values() for noun, _ in kind.nouns}
NOUN_RE = re.compile(r"\b(" + "|".join(sorted(NOUN_KIND, key=len, reverse=True)) + r")\b")
WORD_VALUE = {w: value for value, words in ATTRIBUTE_WORDS.items() for w in words}


def words(text: str) -> list[str]:
    return re.findall(r"[a-z'-]+", text.lower())


def stated_events(caption: str, relation: str) -> list[tuple[str, set[str]]]:
    """(event type, attribute values) in the order the caption says they happen."""
    text = caption.lower()
    found, previous_end = [], 0
    for match in NOUN_RE.finditer(text):
        between = words(text[previous_end : match.start()])
        found.append(
            (NOUN_KIND[match.group(1)], {WORD_VALUE[w] for w in between if w in WORD_VALUE})
        )
        previous_end = match.end()
    reversed_template = (relation == "while" and " while " in text) or (
        relation == "then" and len(found) == 2 and re.search(r"\bafter\b(?! that)", text)
    )
    return found[::-1] if reversed_template else found


def all_small_clips() -> list[SynthClip]:
    pairs = order_contrast_pairs(SMALL, 20)
    return [c for s in SPLITS for c in clip_specs(SMALL, s)] + [c for p in pairs for c in p]


def frame_rms(wave: np.ndarray, seconds: float) -> np.ndarray:
    hop = int(seconds * SR)
    return np.sqrt(np.mean(wave[: wave.size // hop * hop].reshape(-1, hop) ** 2, axis=1))


def centroid(wave: np.ndarray) -> float:
    power = np.abs(np.fft.rfft(wave)) ** 2
    return float((np.fft.rfftfreq(wave.size, 1 / SR) * power).sum() / power.sum())


def rises(signal: np.ndarray) -> int:
    """How often ``signal`` goes from negative to non-negative."""
    return int(np.sum(np.signbit(signal[:-1]) & ~np.signbit(signal[1:])))


MEL = librosa.filters.mel(sr=SR, n_fft=512, n_mels=128, fmin=50, fmax=8000)


def log_mel(wave: np.ndarray) -> np.ndarray:
    """10-fps log-mel frames [T, 128] as the lms extractor computes them: power STFT (n_fft 512,
    hop 160, centred), 128 mel bands 50-8000 Hz, log(mel + 1e-6), mean over 10 frames."""
    padded = np.pad(wave, 256, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, 512)[::160]
    power = np.abs(np.fft.rfft(frames * np.hanning(513)[:-1], axis=1)) ** 2
    logs = np.log(power @ MEL.T + 1e-6)
    return logs[: logs.shape[0] // 10 * 10].reshape(-1, 10, 128).mean(axis=1)


def alone(kind: str, seed: int, duration: float = 1.5, **attrs: str | None) -> SynthClip:
    attrs.setdefault("loudness", "loud")
    event = SynthEvent(kind, 0.5, duration, **attrs)  # type: ignore[arg-type]
    return SynthClip(f"{kind}-{seed}", (), (event,), "single", (seed,))


def test_config_is_validated():
    for bad in ({"seed": -1}, {"val": -3}, {"duration": 0.5}, {"sample_rate": 8000}):
        with pytest.raises(AtrBenchError, match="synthcaps"):
            SynthCapsConfig(**bad)
    with pytest.raises(AtrBenchError, match="unknown split 'dev'"):
        clip_specs(SMALL, "dev")


def test_clips_are_deterministic_and_regenerable_alone():
    assert clip_specs(SMALL, "val") == clip_specs(SMALL, "val")
    bigger = SynthCapsConfig(train=5, val=400, test=5)
    assert clip_specs(bigger, "val")[:40] == clip_specs(SMALL, "val")
    assert make_clip(SMALL, "val", 17) == clip_specs(SMALL, "val")[17]
    other_seed = clip_specs(SynthCapsConfig(seed=1, train=60, val=40, test=20), "val")
    assert [c.captions for c in other_seed] != [c.captions for c in clip_specs(SMALL, "val")]
    clip = make_clip(SMALL, "test", 3)
    assert np.array_equal(render(clip, SMALL), render(clip, SMALL))


def test_every_clip_has_five_distinct_captions_and_a_unique_id():
    clips = all_small_clips()
    assert len({c.clip_id for c in clips}) == len(clips)
    for clip in clips:
        assert len(clip.captions) == CAPTIONS_PER_CLIP == len(set(clip.captions))
        assert all(c[0].isupper() and c.endswith(".") and len(words(c)) >= 2 for c in clip.captions)


def test_default_dataset_covers_types_relations_orders_and_a_modest_vocabulary():
    clips = clip_specs(SynthCapsConfig(), "train")
    assert len(clips) == 1500
    kinds = Counter(e.kind for c in clips for e in c.events)
    assert len(kinds) >= 10 and min(kinds.values()) > 100
    assert Counter(c.relation for c in clips).keys() == {"single", "then", "while"}
    ordered = {tuple(e.kind for e in c.events) for c in clips if len(c.events) == 2}
    both_ways = [p for p in ordered if p[::-1] in ordered]
    assert len(both_ways) >= 0.9 * len(ordered)
    vocabulary = {
        w for c in clips for caption in c.captions for w in re.findall(r"[a-z']+", caption.lower())
    }
    assert 60 <= len(vocabulary) <= 120
    values = Counter(v for c in clips for e in c.events for v in (e.pitch, e.loudness, e.rate))
    assert all(values[v] > 100 for v in (*PITCHES, *LOUDNESSES, *RATES))


def test_captions_name_every_event_with_its_attributes_in_onset_order():
    for clip in all_small_clips():
        truth = [(e.kind, {e.loudness, e.pitch, e.rate} - {None}) for e in clip.events]
        for caption in clip.captions:
            stated = stated_events(caption, clip.relation)
            assert [k for k, _ in stated] == [k for k, _ in truth], caption
            for (_, said), (_, real) in zip(stated, truth, strict=True):
                assert said <= real, caption


def test_event_timing_matches_the_relation():
    for clip in all_small_clips():
        events, d = clip.events, SMALL.duration
        assert 1 <= len(events) <= 3
        assert all(e.start >= 0 and e.end <= d and e.duration > 0 for e in events)
        assert [e.start for e in events] == sorted(e.start for e in events)
        if clip.relation == "while":
            first, second = events
            assert EVENT_KINDS[first.kind].sustained and first.start < d / 4
            assert second.start < first.end and second.start >= 0.4 * d
        elif len(events) > 1:
            assert all(a.end < b.start for a, b in pairwise(events))
            if len(events) == 2:
                assert events[0].end <= d / 2 <= events[1].start


def test_audio_is_finite_float32_and_normalised():
    for clip_id, wave in iter_waves(SMALL, "val"):
        assert wave.dtype == np.float32 and wave.shape == (SMALL.n_samples,), clip_id
        assert np.isfinite(wave).all()
        assert 0.02 < np.abs(wave).max() < 1.0  # a lone quiet tone peaks near 0.035


def test_iter_waves_yields_each_clip_rendered_in_order():
    config = SynthCapsConfig(train=0, val=0, test=4)
    got = list(iter_waves(config, "test"))
    clips = clip_specs(config, "test")
    assert [i for i, _ in got] == [c.clip_id for c in clips]
    assert all(np.array_equal(w, render(c, config)) for (_, w), c in zip(got, clips, strict=True))


def test_audio_energy_sits_where_the_events_are():
    for clip in clip_specs(SMALL, "train")[:30]:
        energy = frame_rms(render(clip, SMALL), 0.01)
        times = np.arange(energy.size) * 0.01
        busy = np.zeros(energy.size, dtype=bool)
        for e in clip.events:
            busy |= (times >= e.start - 0.02) & (times < e.end + 0.02)
        background = np.median(energy[~busy])
        assert energy[~busy].max() < 10 ** (-42 / 20), clip.clip_id  # nothing outside events
        for e in clip.events:
            onset = energy[(times >= e.start) & (times < e.start + 0.2)]
            assert onset.max() > 10 * background, (clip.clip_id, e)


def test_order_is_audible_high_hiss_then_low_rumble_and_back():
    early, late = (0.3, 1.6), (2.2, 1.6)
    for first, second in (("hiss", "rumble"), ("rumble", "hiss")):
        events = (
            SynthEvent(first, *early, loudness="loud"),
            SynthEvent(second, *late, loudness="loud"),
        )
        wave = render(SynthClip("x", (), events, "then", (7,)), SMALL)
        head, tail = centroid(wave[: 2 * SR]), centroid(wave[2 * SR :])
        assert (head > 4 * tail) if first == "hiss" else (tail > 4 * head)


def test_order_contrast_pairs_swap_the_same_two_events():
    pairs = order_contrast_pairs(SMALL, 20)
    assert pairs == order_contrast_pairs(SMALL, 20) and len(pairs) == 20
    for a, b in pairs:
        assert a.relation == b.relation == "then"
        assert [e.kind for e in a.events] == [e.kind for e in b.events][::-1]
        assert [(e.start, e.duration) for e in a.events] == [
            (e.start, e.duration) for e in b.events
        ]
        for x, y in zip(a.events, b.events[::-1], strict=True):  # same event, other slot
            assert replace(x, start=0.0, duration=1.0) == replace(y, start=0.0, duration=1.0)
        kinds = {e.kind for e in a.events}
        if kinds == {"chirp_up", "chirp_down"}:
            continue  # same spectrum, only the sweep direction differs
        # The spectrum of a's first slot is that of b's second slot, and vice versa.
        mel_a, mel_b = log_mel(render(a, SMALL)), log_mel(render(b, SMALL))
        slots = [slice(int(e.start * 10) + 1, int(e.end * 10) - 1) for e in a.events]
        sa = [mel_a[s].mean(axis=0) for s in slots]
        sb = [mel_b[s].mean(axis=0) for s in slots]
        assert np.abs(sa[0] - sb[1]).mean() < np.abs(sa[0] - sb[0]).mean()
        assert np.abs(sa[1] - sb[0]).mean() < np.abs(sa[1] - sb[1]).mean()


@pytest.mark.parametrize("kind", [k for k, v in EVENT_KINDS.items() if v.pitched])
def test_high_pitch_sits_well_above_low_pitch(kind):
    rate = "slow" if EVENT_KINDS[kind].rated else None
    low, high = (render(alone(kind, 1, pitch=p, rate=rate), SMALL) for p in PITCHES)
    assert centroid(high) > 2.5 * centroid(low)
    # ... and in clearly different mel bands: the loudest band moves up by at least 6 of 128.
    peak_low, peak_high = (int(log_mel(w)[5:20].max(axis=0).argmax()) for w in (low, high))
    assert peak_high >= peak_low + 6


@pytest.mark.parametrize("kind", list(EVENT_KINDS))
def test_quiet_is_twelve_db_below_loud(kind):
    spec = EVENT_KINDS[kind]
    attrs = {"pitch": "high" if spec.pitched else None, "rate": "fast" if spec.rated else None}
    loud, quiet = (
        render_event(SynthEvent(kind, 0.0, 1.2, loudness, **attrs), SR, np.random.default_rng(3))
        for loudness in ("loud", "quiet")
    )
    ratio_db = 20 * np.log10(np.sqrt(np.mean(loud**2)) / np.sqrt(np.mean(quiet**2)))
    assert ratio_db == pytest.approx(12.0, abs=0.1)
    assert 0.01 < np.abs(loud).max() <= 0.45 + 1e-6


@pytest.mark.parametrize("kind", [k for k, v in EVENT_KINDS.items() if v.rated])
def test_fast_repeats_or_wobbles_faster_than_slow(kind):
    counts = {}
    for rate in RATES:
        wave = render_event(
            SynthEvent(kind, 0.0, 3.0, "loud", "low", rate), SR, np.random.default_rng(0)
        )
        if kind == "siren":  # count oscillations of the pitch, seen as the zero-crossing rate
            hop = SR // 50
            crossings = np.signbit(wave[1:]) != np.signbit(wave[:-1])
            zcr = crossings[: crossings.size // hop * hop].reshape(-1, hop).sum(axis=1)
            signal = zcr - zcr.mean()
        else:  # count onsets of the envelope
            envelope = frame_rms(wave, 0.005)
            signal = envelope - 0.5 * envelope.max()
        counts[rate] = rises(signal)
    assert counts["fast"] >= 2 * counts["slow"] > 0


def test_event_types_are_told_apart_from_log_mel_frames():
    """Leave-one-out nearest centroid on simple standardised statistics of 10-fps log-mel frames
    (mean of first and second half, spread, frame-to-frame change) recognises type, pitch and
    rate."""
    feats, labels = [], []
    for kind, spec in EVENT_KINDS.items():
        for pitch in PITCHES if spec.pitched else (None,):
            for rate in RATES if spec.rated else (None,):
                for seed in range(4):
                    clip = alone(kind, 100 + seed, duration=1.6, pitch=pitch, rate=rate)
                    mel = log_mel(render(clip, SMALL))[6:20]
                    change = np.abs(np.diff(mel, axis=0)).mean(0)
                    feats.append(
                        np.concatenate([mel[:7].mean(0), mel[7:].mean(0), mel.std(0), change])
                    )
                    labels.append(f"{kind}/{pitch}/{rate}")
    feats_arr, labels_arr = np.array(feats), np.array(labels)
    # every statistic on one scale, so the 128 band means do not drown the rate cue
    feats_arr = (feats_arr - feats_arr.mean(0)) / (feats_arr.std(0) + 1e-9)
    classes = sorted(set(labels))
    hits = 0
    for i in range(len(labels)):
        others = np.arange(len(labels)) != i
        means = np.array([feats_arr[others & (labels_arr == c)].mean(0) for c in classes])
        hits += classes[int(np.abs(means - feats_arr[i]).sum(1).argmin())] == labels[i]
    assert hits / len(labels) >= 0.95


def test_index_round_trips_through_the_clotho_reader(tmp_path):
    layout = DatasetLayout(tmp_path, "SynthCaps")
    write_index(SMALL, layout)
    for split in SPLITS:
        expected = [ClipCaptions(c.clip_id, c.captions) for c in clip_specs(SMALL, split)]
        assert read_clotho_json(layout.index_json(split)) == expected


def test_features_of_another_size_say_how_to_make_them_again(tmp_path, capsys):
    import h5py

    from atr_bench.cli.main import main

    dataset = tmp_path / "data"
    args = ["run", "--data-root", str(dataset), "--runs-dir", str(tmp_path / "runs")]
    args += ["--dataset-opt", "train=4", "--dataset-opt", "val=4", "--dataset-opt", "test=4"]
    args += ["--dataset-opt", "order_pairs=0", "--epochs", "1", "--no-progress"]
    assert main([*args, "--pooling", "mean"]) == 0
    (train,) = dataset.glob("SynthCaps-*/AudioExpert/lms/train/lms.h5")
    with h5py.File(train, "a") as handle:  # as a 64-band dump of an earlier version
        for name in list(handle):
            data = handle[name][()]
            del handle[name]
            handle[name] = data[:, :64]
    capsys.readouterr()
    assert main([*args, "--pooling", "mean", "--force"]) == 2
    err = capsys.readouterr().err
    assert "holds 64-d lms features" in err and "they are made again" in err
