"""Synthetic sound events for synthcaps: how each event type sounds and which words name it.

Every event type has its own spectral region or temporal pattern inside the 50-8000 Hz band a
64-band log-mel front end sees, so a model over 10-fps log-mel frames can tell them apart.
Attributes are audible: ``low``/``high`` pitch are two octaves apart, ``quiet`` is 12 dB below
``loud``, ``slow``/``fast`` change a repetition or modulation rate by 2.5-4x.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

PITCHES = ("low", "high")
LOUDNESSES = ("quiet", "loud")
RATES = ("slow", "fast")

# Synonyms a caption may use for each attribute value.
ATTRIBUTE_WORDS: dict[str, tuple[str, ...]] = {
    "low": ("low", "low-pitched", "deep"),
    "high": ("high", "high-pitched", "shrill"),
    "quiet": ("quiet", "soft", "faint"),
    "loud": ("loud", "strong"),
    "slow": ("slow", "leisurely"),
    "fast": ("fast", "rapid", "quick"),
}

LOUD_FRAME_RMS = 0.1  # RMS of an event's loudest 100 ms frame when loud (-20 dBFS)
PEAK_LIMIT = 0.45  # no event peaks above this, so two overlapping events stay below 1.0
QUIET_GAIN = 10 ** (-12 / 20)  # quiet = 12 dB below loud
FADE_SECONDS = 0.01  # linear fade in/out against edge clicks
MAX_HZ = 7500.0  # all content stays below the 8 kHz mel ceiling (and Nyquist at 16 kHz)

Rng = np.random.Generator
Synth = Callable[[int, int, "str | None", "str | None", Rng], np.ndarray]


@dataclass(frozen=True)
class SynthEvent:
    """One event placed in a clip: its type, onset and length in seconds, and attributes."""

    kind: str
    start: float
    duration: float
    loudness: str
    pitch: str | None = None
    rate: str | None = None

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass(frozen=True)
class EventKind:
    """An event type: caption nouns ``(phrase, countable)``, which attributes apply, whether it
    can run underneath another event ("while"), and its synthesiser
    ``synth(n_samples, sample_rate, pitch, rate, rng) -> unit-level waveform``."""

    name: str
    nouns: tuple[tuple[str, bool], ...]
    pitched: bool
    rated: bool
    sustained: bool
    synth: Synth


def _times(n: int, sr: int) -> np.ndarray:
    return np.arange(n) / sr


def _sine(cycles: np.ndarray) -> np.ndarray:
    """``sin(2 pi cycles)`` in float32: the phase is wrapped in float64 first, so it stays exact
    over long events, then the sine itself runs in fast float32."""
    return np.sin((2 * np.pi) * (cycles - np.floor(cycles)).astype(np.float32))


@lru_cache(maxsize=16)
def _noise_table(lo: float, hi: float, pink: bool, sr: int, length: int) -> np.ndarray:
    """A fixed block of unit-RMS noise limited to ``[lo, hi]`` Hz (pink: power ~ 1/f), made once
    in the frequency domain; events take random slices of it, far cheaper than an FFT each."""
    rng = np.random.default_rng([int(lo), int(hi), int(pink), sr, length])
    freqs = np.fft.rfftfreq(length, 1 / sr)
    spec = rng.standard_normal(freqs.size) + 1j * rng.standard_normal(freqs.size)
    spec[(freqs < lo) | (freqs > min(hi, MAX_HZ))] = 0
    if pink:
        spec /= np.sqrt(np.maximum(freqs, 20.0))
    x = np.fft.irfft(spec, length)
    return (x / np.sqrt(np.mean(x**2))).astype(np.float32)


def _noise(n: int, sr: int, lo: float, hi: float, rng: Rng, pink: bool = False) -> np.ndarray:
    """``n`` samples of band-limited noise: a random slice of a cached noise table."""
    length = max(2**18, 1 << (2 * n - 1).bit_length())
    table = _noise_table(lo, hi, pink, sr, length)
    offset = int(rng.integers(0, length - n + 1))
    return table[offset : offset + n] * rng.choice(np.array([-1, 1], dtype=np.float32))


@lru_cache(maxsize=16)
def _wavetable(amps: tuple[float, ...], size: int = 16384) -> np.ndarray:
    """One period of ``sum_k amps[k] sin(2 pi (k+1) x)``, for periodic tones with many harmonics."""
    x = np.arange(size) / size
    k = np.arange(1, len(amps) + 1)
    return (np.sin(2 * np.pi * np.outer(x, k)) @ np.array(amps)).astype(np.float32)


def _periodic(amps: tuple[float, ...], f0: float, n: int, sr: int) -> np.ndarray:
    """A harmonic tone at ``f0`` Hz with harmonic amplitudes ``amps`` (wavetable lookup)."""
    table = _wavetable(amps)
    cycles = f0 * _times(n, sr)
    return table[((cycles - np.floor(cycles)) * table.size).astype(np.intp)]


def _impulse_train(n: int, sr: int, per_second: float, kernel: np.ndarray, rng: Rng) -> np.ndarray:
    """``kernel`` repeated ``per_second`` times a second, onsets jittered by up to 5 %."""
    step = sr / per_second
    onsets = np.arange(0, n, step) + rng.uniform(-0.05, 0.05, int(np.ceil(n / step))) * step
    idx = np.clip(onsets, 0, n - 1).astype(int)[:, None] + np.arange(kernel.size)[None, :]
    keep = idx < n
    out = np.zeros(n, dtype=np.float32)
    np.add.at(out, idx[keep], np.broadcast_to(kernel, idx.shape)[keep])
    return out


def _beep(n: int, sr: int, pitch: str | None, rate: str | None, rng: Rng) -> np.ndarray:
    f = 400.0 if pitch == "low" else 1600.0
    return _sine(f * _times(n, sr) + rng.uniform())


def _sweep(n: int, sr: int, f_from: float, f_to: float) -> np.ndarray:
    """Exponential sine sweep from ``f_from`` to ``f_to`` Hz over the whole event."""
    k = np.log(f_to / f_from) / (n / sr)
    return _sine(f_from * np.expm1(k * _times(n, sr)) / k)


def _chirp_up(n: int, sr: int, pitch: str | None, rate: str | None, rng: Rng) -> np.ndarray:
    return _sweep(n, sr, *((200.0, 800.0) if pitch == "low" else (1000.0, 4000.0)))


def _chirp_down(n: int, sr: int, pitch: str | None, rate: str | None, rng: Rng) -> np.ndarray:
    return _sweep(n, sr, *((800.0, 200.0) if pitch == "low" else (4000.0, 1000.0)))


def _siren(n: int, sr: int, pitch: str | None, rate: str | None, rng: Rng) -> np.ndarray:
    centre = 600.0 if pitch == "low" else 2000.0
    wobble = 0.8 if rate == "slow" else 3.0
    freq = centre * (1 + 0.25 * np.sin(2 * np.pi * wobble * _times(n, sr) + rng.uniform(0, 6.3)))
    cycles = np.cumsum(freq) / sr
    return _sine(cycles) + 0.3 * _sine(2 * cycles)


def _hiss(n: int, sr: int, pitch: str | None, rate: str | None, rng: Rng) -> np.ndarray:
    return _noise(n, sr, 3000.0, MAX_HZ, rng)


def _burst(n: int, sr: int, pitch: str | None, rate: str | None, rng: Rng) -> np.ndarray:
    length = min(n, int(0.6 * sr))
    out = np.zeros(n, dtype=np.float32)
    decay = np.exp(-_times(length, sr) / 0.08).astype(np.float32)
    out[:length] = _noise(length, sr, 100.0, MAX_HZ, rng) * decay
    return out


def _hum(n: int, sr: int, pitch: str | None, rate: str | None, rng: Rng) -> np.ndarray:
    return _periodic((1.0, 0.6, 0.35, 0.2), 100.0 * rng.uniform(0.97, 1.03), n, sr)


def _clicks(n: int, sr: int, pitch: str | None, rate: str | None, rng: Rng) -> np.ndarray:
    # A click is 15 ms of random-sign samples (broadband like noise, crest factor 1): 10 ms
    # flat, 5 ms fade. Dense enough in energy to stand out in log-mel frames despite its peak.
    k = int(0.015 * sr)
    fade = np.minimum(1.0, (k - np.arange(k)) / (0.005 * sr))
    kernel = rng.choice(np.array([-1.0, 1.0]), k) * fade
    return _impulse_train(n, sr, 4.0 if rate == "slow" else 10.0, kernel, rng)


def _knock(n: int, sr: int, pitch: str | None, rate: str | None, rng: Rng) -> np.ndarray:
    t = _times(int(0.12 * sr), sr)
    kernel = np.exp(-t / 0.025) * (np.sin(2 * np.pi * 160 * t) + 0.5 * np.sin(2 * np.pi * 420 * t))
    return _impulse_train(n, sr, 2.5 if rate == "slow" else 6.0, kernel, rng)


def _rumble(n: int, sr: int, pitch: str | None, rate: str | None, rng: Rng) -> np.ndarray:
    swell = 1 + 0.4 * _sine(0.6 * _times(n, sr) + rng.uniform())
    return _noise(n, sr, 40.0, 220.0, rng) * swell


def _bell(n: int, sr: int, pitch: str | None, rate: str | None, rng: Rng) -> np.ndarray:
    f0 = 300.0 if pitch == "low" else 1000.0
    ratios = np.array([1.0, 2.0, 2.76, 5.4])
    amps = np.array([1.0, 0.6, 0.5, 0.3], dtype=np.float32)
    decays = np.array([0.8, 0.5, 0.35, 0.2])
    t = _times(n, sr)[:, None]
    return (_sine(f0 * ratios * t) * np.exp(-t / decays).astype(np.float32)) @ amps


def _buzz(n: int, sr: int, pitch: str | None, rate: str | None, rng: Rng) -> np.ndarray:
    """Odd harmonics at 1/k (a band-limited square wave) up to 5 kHz."""
    f0 = 110.0 if pitch == "low" else 440.0
    k = np.arange(1, int(5000 / f0) + 1)
    return _periodic(tuple(np.where(k % 2 == 1, 1.0 / k, 0.0)), f0, n, sr)


def _kind(name: str, nouns: str, pitched: bool, rated: bool, sustained: bool, synth: Synth):
    """An EventKind from ``nouns`` written as ``"a beep|humming"`` ("a " marks countable)."""
    parsed = tuple((p.removeprefix("a "), p.startswith("a ")) for p in nouns.split("|"))
    return EventKind(name, parsed, pitched, rated, sustained, synth)


# name, caption nouns, pitched, rated, sustained (can run under a "while"), synthesiser
EVENT_KINDS: dict[str, EventKind] = {
    k.name: k
    for k in (
        _kind("beep", "a beep|a bleep|a tone", True, False, True, _beep),
        _kind(
            "chirp_up",
            "a rising chirp|a upward sweep|a rising sweep",
            True,
            False,
            False,
            _chirp_up,
        ),
        _kind(
            "chirp_down",
            "a falling chirp|a downward sweep|a falling sweep",
            True,
            False,
            False,
            _chirp_down,
        ),
        _kind("siren", "a siren|a wailing siren|a alarm", True, True, True, _siren),
        _kind("hiss", "a hiss|a hissing noise|static", False, False, True, _hiss),
        _kind("burst", "a noise burst|a burst of noise|a blast", False, False, False, _burst),
        _kind("hum", "a hum|a drone|humming", False, False, True, _hum),
        _kind("clicks", "clicking|ticking|a series of clicks", False, True, True, _clicks),
        _kind("knock", "knocking|tapping|a series of knocks", False, True, True, _knock),
        _kind("rumble", "a rumble|rumbling|a roar", False, False, True, _rumble),
        _kind("bell", "a bell|a chime|a ding", True, False, False, _bell),
        _kind("buzz", "a buzz|a buzzer|buzzing", True, False, True, _buzz),
    )
}


def _fade(n: int, sr: int) -> np.ndarray:
    ramp = max(1, int(FADE_SECONDS * sr))
    i = np.arange(n, dtype=np.float32)
    return np.clip(np.minimum(i + 1, n - i) / np.float32(ramp), 0.0, 1.0)


def _max_frame_rms(x: np.ndarray, sr: int) -> float:
    hop = sr // 10
    padded = np.pad(x, (0, -x.size % hop))
    return float(np.sqrt(np.mean(padded.reshape(-1, hop) ** 2, axis=1)).max())


def render_event(event: SynthEvent, sample_rate: int, rng: Rng) -> np.ndarray:
    """The event's waveform (``round(duration * sample_rate)`` samples, float32), levelled so a
    loud event's loudest 100 ms frame has RMS ``LOUD_FRAME_RMS`` (or its peak is
    ``PEAK_LIMIT`` if that binds first); a quiet one is exactly 12 dB lower."""
    n = max(1, round(event.duration * sample_rate))
    kind = EVENT_KINDS[event.kind]
    x = kind.synth(n, sample_rate, event.pitch, event.rate, rng).astype(np.float32, copy=False)
    x *= _fade(n, sample_rate)
    frame_rms = _max_frame_rms(x, sample_rate)
    if frame_rms == 0.0:
        return x
    gain = min(LOUD_FRAME_RMS / frame_rms, PEAK_LIMIT / float(np.abs(x).max()))
    return x * np.float32(gain * (QUIET_GAIN if event.loudness == "quiet" else 1.0))


def background_noise(n: int, sample_rate: int, rng: Rng) -> np.ndarray:
    """Light pink noise (-60 to -50 dBFS RMS), the room tone under every clip (float32)."""
    level = np.float32(10 ** (rng.uniform(-60, -50) / 20))
    return _noise(n, sample_rate, 20.0, MAX_HZ, rng, pink=True) * level
