"""Recorded-voice stems: festival's diphone/HTS voices speaking, and any speech sung on a melody.

``festival_speech`` runs festival's ``text2wave`` with one of the training voices (``FESTIVAL_VOICES``;
festival's kal and slt voices are reserved for evaluation and are not listed). ``sing`` turns speech
into singing with the WORLD vocoder (pyworld): the spectral envelope and aperiodicity are kept, the
voiced frames are stretched like held vowels and their pitch follows the melody's notes with vibrato.
"""
from __future__ import annotations

import io
import subprocess
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from .scores import Note
from .synth import SR

# festival voices that run here and are not reserved (name for (voice_NAME), language of its text)
FESTIVAL_VOICES = (("ked_diphone", "en"), ("lp_diphone", "it"), ("pc_diphone", "it"), ("czech_dita", "cs"),
                   ("suo_fi_lj_diphone", "fi"), ("hy_fi_mv_diphone", "fi"), ("upc_ca_ona_hts", "ca"))
WORDS = {
    "en": "the night is young we sing along under city lights hold me close never let me go dance with me into "
          "the morning sun rain falls down on the window my heart beats like a drum tonight we ride".split(),
    "it": "la notte e giovane cantiamo insieme sotto le luci della citta tienimi stretto non lasciarmi mai "
          "balla con me fino al sole del mattino il mio cuore batte forte amore".split(),
    "cs": "noc je mlada zpivame spolu pod svetly mesta drz me pevne nikdy me nenechavej tancuj se mnou "
          "az do rana moje srdce bije jako buben".split(),
    "fi": "yo on nuori laulamme yhdessa kaupungin valojen alla pida minusta kiinni alä koskaan paasta irti "
          "tanssi kanssani aamuun asti sydameni lyo kuin rumpu".split(),
    "ca": "la nit es jove cantem junts sota les llums de la ciutat agafa me fort no em deixis mai "
          "balla amb mi fins al sol del mati el meu cor batega com un tambor".split(),
}


def _decode_wav(data: bytes) -> tuple:
    import soundfile as sf

    x, r = sf.read(io.BytesIO(data), dtype="float32")
    return (x.mean(axis=1) if x.ndim > 1 else x), r


def festival_speech(rng: np.random.Generator, seconds: float, voices=FESTIVAL_VOICES, sr: int = SR) -> np.ndarray:
    """About ``seconds`` of a random festival voice reading random words (mono float32 at ``sr``)."""
    import soxr

    name, lang = voices[int(rng.integers(len(voices)))]
    words = WORDS[lang]
    text = " ".join(rng.choice(words, size=max(4, int(seconds * 2.8))))
    stretch = float(rng.uniform(0.85, 1.3))
    script = f"(voice_{name}) (Parameter.set 'Duration_Stretch {stretch:.2f})"
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"  # text2wave needs a seekable output for the WAV header
        try:
            subprocess.run(["text2wave", "-eval", script, "-o", str(wav)], input=text.encode(),
                           capture_output=True, timeout=120, check=True)
            out = wav.read_bytes()
        except (OSError, subprocess.SubprocessError) as exc:
            raise RuntimeError(f"festival failed ({exc}); install it with scripts/setup.sh --train") from exc
    x, r = _decode_wav(out)
    return soxr.resample(x, r, sr).astype(np.float32)


def fit_length(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Crop ``x`` at a random offset, or pad it with silence at a random place, to ``n`` samples."""
    if len(x) >= n:
        off = int(rng.integers(0, len(x) - n + 1))
        return x[off:off + n]
    start = int(rng.integers(0, n - len(x) + 1))
    return np.pad(x, (start, n - len(x) - start))


def sing(speech: np.ndarray, notes: Sequence[Note], rng: np.random.Generator, sr: int = SR) -> np.ndarray:
    """``speech`` resynthesised with WORLD so that its voiced frames follow ``notes`` (a melody)."""
    import pyworld

    x = speech.astype(np.float64)
    period = 5.0
    f0, t = pyworld.dio(x, sr, frame_period=period)
    f0 = pyworld.stonemask(x, f0, t, sr)
    sp = pyworld.cheaptrick(x, f0, t, sr)
    ap = pyworld.d4c(x, f0, t, sr)
    # hold vowels: repeat voiced frames so syllables last longer, as in singing
    hold = float(rng.uniform(1.3, 2.2))
    voiced = f0 > 0
    reps = np.where(voiced, hold, 1.0)
    idx = np.repeat(np.arange(len(f0)), np.maximum(1, np.round(reps * rng.uniform(0.8, 1.2, len(f0))).astype(int)))
    f0, sp, ap, voiced = f0[idx], sp[idx], ap[idx], voiced[idx]
    frames = len(f0)
    times = np.arange(frames) * period / 1000.0
    melody = np.zeros(frames)
    for start, dur, key, _vel in notes:
        a, b = int(start * 1000 / period), int((start + dur) * 1000 / period)
        melody[a:max(a + 1, b)] = 440.0 * 2 ** ((key - 69) / 12)
    have = melody > 0
    if not have.any():
        return np.zeros(int(frames * period / 1000 * sr), np.float32)
    melody = np.interp(np.arange(frames), np.flatnonzero(have), melody[have])  # legato between notes
    rate, depth = rng.uniform(4.5, 6.5), rng.uniform(0.004, 0.018)
    melody = melody * (1 + depth * np.sin(2 * np.pi * rate * times))
    new_f0 = np.where(voiced, melody, 0.0)
    y = pyworld.synthesize(new_f0, np.ascontiguousarray(sp), np.ascontiguousarray(ap), sr, period)
    peak = float(np.abs(y).max())
    return (y / peak * 0.5).astype(np.float32) if peak > 0 else y.astype(np.float32)
