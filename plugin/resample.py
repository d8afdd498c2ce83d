"""Sample-rate conversion with soxr: whole signals, streams, and exact sample counts between two rates.

A stream (:class:`ResampleStream`) gives the same samples as one whole-signal call except that it
holds some back until more input arrives; :func:`resampler_holdback` bounds how many. The integer
helpers convert lengths and delays between a host rate and the model rate exactly (rates may be
non-integer floats).
"""
from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache
from typing import Optional, Tuple

import numpy as np

SOXR_QUALITY = "HQ"


def resample(x: np.ndarray, sr_in, sr_out, length: Optional[int] = None) -> np.ndarray:
    """(channels, samples) float32 resampled with soxr (HQ); ``length`` pads/crops the result exactly."""
    if sr_in == sr_out:
        y = x
    else:
        import soxr

        y = soxr.resample(x.T, sr_in, sr_out, quality=SOXR_QUALITY).T
    y = np.ascontiguousarray(y, dtype=np.float32)
    if length is not None and y.shape[-1] != length:
        if y.shape[-1] > length:
            y = y[..., :length]
        else:
            y = np.concatenate([y, np.zeros((*y.shape[:-1], length - y.shape[-1]), np.float32)], axis=-1)
    return y


class ResampleStream:
    """soxr's streaming resampler for (channels, n) float32 chunks; ``last=True`` flushes it."""

    def __init__(self, sr_in, sr_out, channels: int, quality: str = SOXR_QUALITY):
        import soxr

        self.stream = soxr.ResampleStream(sr_in, sr_out, channels, dtype="float32", quality=quality)

    def __call__(self, x: np.ndarray, last: bool = False) -> np.ndarray:
        y = self.stream.resample_chunk(np.ascontiguousarray(x.T, dtype=np.float32), last=last)
        return np.ascontiguousarray(y.T)


@lru_cache(maxsize=64)
def resampler_holdback(sr_in, sr_out) -> int:
    """Most output samples a soxr stream (sr_in -> sr_out) ever owes, fed one sample at a time
    (the worst case; larger chunks owe fewer), plus a small margin."""
    import soxr

    st = soxr.ResampleStream(sr_in, sr_out, 1, dtype="float32", quality=SOXR_QUALITY)
    ratio = sr_out / sr_in
    fed = got = 0
    worst = 0.0
    z = np.zeros((1, 1), np.float32)
    n = int(max(4096, 0.15 * sr_in))
    for _ in range(n):
        got += len(st.resample_chunk(z))
        fed += 1
        worst = max(worst, fed * ratio - got)
    return int(math.ceil(worst * 1.02)) + 16


def rate_ratio(a, b) -> Tuple[int, int]:
    """a/b as a reduced fraction of integers (rates may be non-integer floats)."""
    f = Fraction(a).limit_denominator(10 ** 6) / Fraction(b).limit_denominator(10 ** 6)
    return f.numerator, f.denominator


def model_length(n: int, sr, sr_m) -> int:
    """Samples that ``n`` samples at ``sr`` become at ``sr_m`` in a whole-signal soxr resample
    (:func:`resample`): n * sr_m / sr rounded half up."""
    if sr == sr_m:
        return int(n)
    num, den = rate_ratio(sr_m, sr)
    return (2 * n * num + den) // (2 * den)


def model_delay_at(latency_m: int, sr_m, sr) -> Tuple[int, int]:
    """(extra model-rate delay, host-rate delay) so that latency_m + extra is a whole number of samples
    at both rates: the smallest such extra."""
    if sr == sr_m:
        return 0, latency_m
    num, den = rate_ratio(sr, sr_m)  # host samples per model sample = num/den
    total = -(-latency_m // den) * den
    return total - latency_m, total * num // den
