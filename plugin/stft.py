"""STFT / ISTFT in numpy, numerically matching ``torch.stft`` / ``torch.istft``.

Settings are AudioSep's: periodic Hann window (win_length == n_fft), ``center=True`` with reflect
padding, one-sided spectrum, no normalisation. The STFT is computed in float64 and rounded once, so
its bins agree with torch's exact transform to 1e-5 (tests/build/test_stft.py). The ISTFT runs in float32:
its output is a waveform of amplitude ~1, where float32 agrees with torch to 1e-5.

Shapes: ``stft`` maps (..., samples) -> complex64 (..., frames, n_fft // 2 + 1) with
``frames = 1 + samples // hop``; ``istft`` maps back given the wanted length.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .errors import AudioError


@lru_cache(maxsize=16)
def hann_window(n_fft: int) -> np.ndarray:
    """Periodic Hann window (torch.hann_window(n, periodic=True)), float64, read-only."""
    k = np.arange(n_fft, dtype=np.float64)
    w = 0.5 - 0.5 * np.cos(2.0 * np.pi * k / n_fft)
    w.setflags(write=False)
    return w


def num_frames(n_samples: int, hop: int) -> int:
    """Frames ``stft`` returns for a signal of ``n_samples`` (center=True)."""
    return 1 + n_samples // hop


def min_stft_length(n_fft: int) -> int:
    """Shortest signal reflect padding accepts (torch needs samples > n_fft // 2)."""
    return n_fft // 2 + 1


def stft(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Complex STFT of ``x`` (..., samples) -> complex64 (..., frames, n_fft//2 + 1)."""
    x = np.asarray(x)
    pad = n_fft // 2
    if x.shape[-1] <= pad:
        raise AudioError(
            f"signal of {x.shape[-1]} samples is too short for reflect padding "
            f"(needs more than {pad}); pad it with zeros first"
        )
    xp = np.pad(x.astype(np.float64, copy=False), [(0, 0)] * (x.ndim - 1) + [(pad, pad)], mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(xp, n_fft, axis=-1)[..., ::hop, :]
    spec = np.fft.rfft(frames * hann_window(n_fft), axis=-1)
    return spec.astype(np.complex64)


@lru_cache(maxsize=16)
def _hann_window32(n_fft: int) -> np.ndarray:
    w = hann_window(n_fft).astype(np.float32)
    w.setflags(write=False)
    return w


@lru_cache(maxsize=64)
def _window_envelope(n_fft: int, hop: int, n_frames: int) -> np.ndarray:
    """Sum of the squared windows under each output sample (float64, then rounded to float32)."""
    w2 = hann_window(n_fft) ** 2
    env = _overlap_add(np.broadcast_to(w2, (n_frames, n_fft)), hop).astype(np.float32)
    env.setflags(write=False)
    return env


def _overlap_add(frames: np.ndarray, hop: int) -> np.ndarray:
    """Sum frames (..., T, n) placed every ``hop`` samples -> (..., n + hop * (T - 1))."""
    *lead, n_frames, n = frames.shape
    pieces = -(-n // hop)  # each frame spans this many hop-sized pieces
    padded = np.zeros((*lead, n_frames, pieces * hop), dtype=frames.dtype)
    padded[..., :n] = frames
    padded = padded.reshape(*lead, n_frames, pieces, hop)
    out = np.zeros((*lead, n_frames + pieces - 1, hop), dtype=frames.dtype)
    for j in range(pieces):
        out[..., j : j + n_frames, :] += padded[..., :, j, :]
    return out.reshape(*lead, (n_frames + pieces - 1) * hop)[..., : n + hop * (n_frames - 1)]


def istft(spec: np.ndarray, n_fft: int, hop: int, length: int) -> np.ndarray:
    """Inverse of :func:`stft` (torch.istft with center=True and ``length``) -> float32."""
    spec = np.asarray(spec)
    n_frames = spec.shape[-2]
    frames = np.fft.irfft(spec.astype(np.complex64, copy=False), n=n_fft, axis=-1)
    frames *= _hann_window32(n_fft)
    y = _overlap_add(frames, hop)
    env = _window_envelope(n_fft, hop, n_frames)
    y = np.divide(y, env, out=np.zeros_like(y), where=env > 1e-11)
    start = n_fft // 2
    y = y[..., start : start + length]
    if y.shape[-1] < length:
        y = np.concatenate([y, np.zeros((*y.shape[:-1], length - y.shape[-1]), dtype=y.dtype)], axis=-1)
    return y.astype(np.float32)


def magnitude_phase(spec: np.ndarray, floor: float = 1e-10):
    """AudioSep's |X| = sqrt(max(re² + im², floor)) and cos/sin of the phase, float32."""
    re = spec.real.astype(np.float32)
    im = spec.imag.astype(np.float32)
    mag = np.sqrt(np.maximum(re * re + im * im, np.float32(floor)))
    return mag, re / mag, im / mag
