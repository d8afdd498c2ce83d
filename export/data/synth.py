"""Rendering note lists to dry mono audio: FluidSynth soundfonts, espeak-ng speech, a sung-vowel voice."""
from __future__ import annotations

import math
import subprocess
from pathlib import Path
from typing import Sequence

import numpy as np

from .scores import Note

SR = 32000

class SoundfontRenderer:
    """One FluidSynth instance with one soundfont loaded; renders note lists to mono float32."""

    def __init__(self, soundfont: Path, sr: int = SR):
        import fluidsynth

        self.sr = sr
        self.soundfont = Path(soundfont)
        # dry stems: effects are ours (random_effects); set at creation, when FluidSynth reads them
        self.synth = fluidsynth.Synth(gain=0.5, samplerate=float(sr),
                                      **{"synth.reverb.active": 0, "synth.chorus.active": 0})
        self.sfid = self.synth.sfload(str(soundfont))
        if self.sfid < 0:
            raise RuntimeError(f"FluidSynth could not load soundfont {soundfont}")

    def render(self, notes: Sequence[Note], program: int, drums: bool, seconds: float) -> np.ndarray:
        s = self.synth
        ch = 9 if drums else 0
        for c in (0, 9):  # silence what the previous stem left ringing, so each stem depends only on its notes
            s.all_sounds_off(c)
        s.system_reset()
        s.get_samples(512)
        # FluidSynth still keeps some state across stems (about -50 dB differences vs a fresh synth), so
        # pools are bit-reproducible for a seed and chunking: every pool chunk starts a fresh synth.
        total = int(round(seconds * self.sr))
        s.program_select(ch, self.sfid, 128 if drums else 0, program)
        events = []
        for st, d, k, v in notes:
            if st >= seconds:
                continue
            events.append((max(st, 0.0), 1, k, v))
            events.append((max(st, 0.0) + max(d, 0.02), 0, k, 0))
        events.sort(key=lambda e: (e[0], e[1]))
        out = []
        pos = 0
        for t, on, k, v in events:
            target = min(int(round(t * self.sr)), total)
            if target > pos:
                out.append(s.get_samples(target - pos))
                pos = target
            if on:
                s.noteon(ch, int(k), int(v))
            else:
                s.noteoff(ch, int(k))
        if pos < total:
            out.append(s.get_samples(total - pos))
        if not out:
            return np.zeros(total, np.float32)
        st = np.concatenate(out).astype(np.float32).reshape(-1, 2)
        return (st.mean(axis=1) / 32768.0)[:total].astype(np.float32)


def espeak_speech(rng, voices: Sequence[str], langs: Sequence[str], seconds: float, sr: int = SR) -> np.ndarray:
    words = ("the music plays on and on we sing a song tonight under city lights hold me close never let go "
             "dance with me into the morning sun rain falls down softly on the window my heart beats like a drum "
             "hello world this is a test of the voice channel one two three four listen to the sound of the band").split()
    text = " ".join(rng.choice(words, size=int(seconds * 3.5)))
    lang = str(rng.choice(langs))
    voice = f"{lang}+{rng.choice(voices)}"
    cmd = ["espeak-ng", "-v", voice, "-s", str(int(rng.integers(110, 210))), "-p", str(int(rng.integers(20, 80))),
           "-a", "150", "--stdout", text]
    try:
        wav = subprocess.run(cmd, capture_output=True, check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise RuntimeError(f"espeak-ng failed ({exc}); install it with apt-get install espeak-ng") from exc
    import io

    import soundfile as sf
    import soxr

    x, r = sf.read(io.BytesIO(wav), dtype="float32")
    if x.ndim > 1:
        x = x.mean(axis=1)
    x = soxr.resample(x, r, sr).astype(np.float32)
    n = int(seconds * sr)
    if len(x) < n:
        start = int(rng.integers(0, n - len(x) + 1))
        x = np.pad(x, (start, n - len(x) - start))
    else:
        off = int(rng.integers(0, len(x) - n + 1))
        x = x[off : off + n]
    return x


VOWELS = {  # F1, F2, F3, F4 (Hz) for an adult male; scaled for other voice types
    "a": (730, 1090, 2440, 3400), "e": (530, 1840, 2480, 3500), "i": (270, 2290, 3010, 3700),
    "o": (570, 840, 2410, 3400), "u": (300, 870, 2240, 3300), "ae": (660, 1720, 2410, 3400),
}


def sung_vowels(notes: Sequence[Note], rng, seconds: float, sr: int = SR) -> np.ndarray:
    """Source-filter singing: band-limited glottal source with vibrato through vowel formants."""
    from scipy.signal import lfilter

    n = int(seconds * sr)
    f0 = np.zeros(n, np.float64)
    amp = np.zeros(n, np.float64)
    vowel_at = np.zeros(n, np.int64)
    scale = float(rng.choice([1.0, 1.15, 1.25]))  # male / alto / soprano formant scaling
    shift = 0 if scale == 1.0 else 12
    vowels = list(VOWELS)
    for st, d, k, v in notes:
        a, b = int(st * sr), min(n, int((st + d) * sr))
        if b <= a:
            continue
        f0[a:b] = 440.0 * 2 ** ((k + shift - 69) / 12)
        env = np.ones(b - a)
        att, rel = min(len(env), int(0.04 * sr)), min(len(env), int(0.08 * sr))
        env[:att] = np.linspace(0, 1, att)
        env[len(env) - rel:] *= np.linspace(1, 0, rel)
        amp[a:b] = np.maximum(amp[a:b], env * (v / 127.0))
        vowel_at[a:b] = int(rng.integers(len(vowels)))
    voiced = f0 > 0
    if not voiced.any():
        return np.zeros(n, np.float32)
    # glide between notes and vibrato
    f0 = np.where(voiced, f0, np.nan)
    idx = np.arange(n)
    f0 = np.interp(idx, idx[voiced], f0[voiced])
    from scipy.ndimage import uniform_filter1d

    f0 = uniform_filter1d(f0, int(0.03 * sr))
    vib_rate, vib_depth = rng.uniform(4.5, 6.5), rng.uniform(0.004, 0.02)
    f0 = f0 * (1 + vib_depth * np.sin(2 * np.pi * vib_rate * idx / sr)) * (1 + 0.002 * rng.standard_normal(n).cumsum() / math.sqrt(n))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    kmax = int(0.45 * sr / f0.max())
    src = np.zeros(n)
    tilt = rng.uniform(1.0, 1.6)
    for h in range(1, kmax + 1):
        src += np.sin(h * phase) / h ** tilt
    src += 0.02 * rng.standard_normal(n)  # breath
    out = np.zeros(n)
    seg_edges = np.flatnonzero(np.diff(vowel_at)) + 1
    bounds = [0, *seg_edges.tolist(), n]
    for a, b in zip(bounds[:-1], bounds[1:]):
        formants = [f * scale for f in VOWELS[vowels[vowel_at[a]]]]
        y = src[a:b]
        acc = np.zeros_like(y)
        for i, fc in enumerate(formants):
            bw = 60 + 40 * i
            r = math.exp(-math.pi * bw / sr)
            th = 2 * math.pi * fc / sr
            acc += lfilter([1 - r], [1, -2 * r * math.cos(th), r * r], y) * (1.0 / (1 + i))
        out[a:b] = acc
    y = out * amp
    return (y / (np.abs(y).max() + 1e-9) * 0.5).astype(np.float32)


