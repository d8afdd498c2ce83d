"""Audio arrays: validated float32 ``(channels, samples)`` and sample rates.

Arrays follow pedalboard's convention: float32, shaped (channels, samples); a 1-D array is mono and
comes back 1-D. Every problem is one :class:`AudioError` whose message names the value and says
what to do.
"""
from __future__ import annotations

import math
from typing import Tuple

import numpy as np

from .errors import AudioError

MIN_RATE = 1000
MAX_RATE = 768000
MAX_CHANNELS = 64
# Full scale is 1.0; float audio may go above it, but not by 120 dB: beyond this the spectrum of a
# frame overflows float32 and the output would be NaN/inf (the same limit holds for query embeddings).
MAX_ABS_SAMPLE = 1e6


def out_of_range(a: np.ndarray) -> float:
    """The largest |value| of ``a`` when it is over MAX_ABS_SAMPLE (finite values only), else 0.0."""
    peak = float(np.max(np.abs(a), initial=0.0))
    return peak if peak > MAX_ABS_SAMPLE else 0.0


def check_rate(sr, what: str = "sample rate") -> float:
    """``sr`` as a number of Hz within MIN_RATE..MAX_RATE (an int when it is whole)."""
    try:
        r = float(sr)
    except (TypeError, ValueError):
        raise AudioError(f"{what} must be a number of Hz, got {sr!r}") from None
    if not math.isfinite(r) or not (MIN_RATE <= r <= MAX_RATE):
        raise AudioError(f"{what} {sr!r} Hz is outside {MIN_RATE}..{MAX_RATE} Hz; pass the file's real sample rate")
    return int(r) if r.is_integer() else r


def as_channels(audio, what: str = "audio") -> Tuple[np.ndarray, bool]:
    """Validate and convert to float32 (channels, samples). Returns (array, was_1d)."""
    try:
        a = np.asarray(audio)
    except Exception as exc:
        raise AudioError(f"{what} is not an array of samples ({exc})") from None
    if a.dtype == object or not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise AudioError(f"{what} has dtype {a.dtype}; pass float32 samples in [-1, 1]")
    mono = a.ndim == 1
    if mono:
        a = a[None, :]
    if a.ndim != 2:
        raise AudioError(f"{what} has shape {a.shape}; expected (channels, samples) or (samples,)")
    if a.shape[0] > MAX_CHANNELS:
        raise AudioError(
            f"{what} has shape {a.shape}: {a.shape[0]} channels? Arrays are (channels, samples) like pedalboard; "
            "if yours is (samples, channels), pass audio.T"
        )
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise AudioError(f"{what} is empty (shape {a.shape}); nothing to separate")
    if np.issubdtype(a.dtype, np.integer):
        info = np.iinfo(a.dtype)
        a = a.astype(np.float32) / float(max(abs(info.min), info.max))
    a = np.ascontiguousarray(a, dtype=np.float32)
    bad = ~np.isfinite(a)
    if bad.any():
        c, i = np.argwhere(bad)[0]
        raise AudioError(
            f"{what} contains {int(bad.sum())} non-finite samples (NaN/inf), first at channel {c}, sample {i}; "
            "fix the source or clean it with numpy.nan_to_num"
        )
    peak = out_of_range(a)
    if peak:
        raise AudioError(f"{what} has samples up to {peak:.3g}, far beyond full scale (1.0); samples must stay "
                         f"within ±{MAX_ABS_SAMPLE:g}: scale the audio down")
    return a, mono
