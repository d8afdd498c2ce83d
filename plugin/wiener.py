"""Removing what other stems explain from a stem: a multi-source Wiener gain, whole or streamed.

In a short-time Fourier domain (periodic Hann, ~64 ms frames, hop a quarter frame, zero padding of
half a frame at both ends), each time-frequency bin of the positive stem ``P`` keeps the share of it
that ``P`` explains better than the negative stems ``N_k``::

    g = |P|^p / (|P|^p + strength * sum_k |N_k|^p),   out = ISTFT(g * P)       (p = power, 2 by default)

This is preferred over plain time-domain subtraction (``P - N``), which removes what was never in
the positive stem and so *adds* an inverted copy of the negative source wherever the positive mask
was closed, and over a least-squares projection in the time domain, which cannot tell a bass note
from a guitar note that sound at the same time. The gain is in [0, 1]: the result never contains
energy the positive stem did not have, bins with no negative content pass unchanged (exact
reconstruction when the negatives are silent), and bins claimed by both are split by their
estimated power, the standard way of making competing source estimates consistent (as in
Open-Unmix's and demucs' Wiener post-filters). Bleed of the excluded sound into the positive stem is
usually weaker than the same sound in its own stem, so it is strongly reduced (a bleed 10 dB below
the negative stem loses about 21 dB); where both claim a bin equally the positive keeps
``1 / (1 + strength)`` of it.

:class:`WienerStream` does this on a stream of chunks with the same frames as the whole signal, so a
streamed result equals :func:`combine_stems` of the whole; its output lags its input by at most
:attr:`WienerStream.delay` samples.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np

from .arrays import check_rate

__all__ = ["WienerStream", "combine_stems", "frame_size"]


def frame_size(sr: float) -> int:
    """The STFT frame for rate ``sr``: about 64 ms, a power of two (2048 at 32 kHz, 4096 at 48 kHz)."""
    return int(2 ** round(math.log2(0.064 * sr)))


class WienerStream:
    """Streaming :func:`combine_stems`: push the positive stem and the negatives chunk by chunk.

    ``push`` returns the output samples that are final so far (from sample 0 on, possibly none);
    ``finish`` returns the rest, so that the output has exactly as many samples as were pushed.
    After ``n`` pushed samples at least ``n - delay`` are out.
    """

    def __init__(self, channels: int, sr: float, negatives: int, strength: float = 1.0, power: float = 2.0,
                 n_fft: Optional[int] = None, block_frames: int = 512):
        if not (power > 0 and strength > 0):
            raise ValueError("power and strength must be positive")
        self.n_fft = int(n_fft or frame_size(check_rate(sr)))
        self.hop = self.n_fft // 4
        self.pad = self.n_fft // 2
        self.delay = self.n_fft
        self.channels, self.negatives = channels, negatives
        self.strength, self.half = float(strength), power / 2.0
        self.block_frames = max(1, block_frames)
        self.win = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(self.n_fft) / self.n_fft)).astype(np.float64)
        self.buf = np.zeros((1 + negatives, channels, self.pad), np.float32)  # padded input from frame next_frame
        self.acc = np.zeros((channels, 0), np.float64)  # overlap-added output from padded index `done`
        self.env = np.zeros(0, np.float64)
        self.next_frame = 0
        self.done = 0  # padded index of the first sample not yet returned (the pad itself is never returned)
        self.pushed = 0

    def push(self, positive: np.ndarray, negatives: Sequence[np.ndarray]) -> np.ndarray:
        """Chunks ``positive`` (channels, n) and each of ``negatives`` (channels, n) -> final output (channels, m)."""
        x = np.stack([np.asarray(positive, np.float32)] + [np.asarray(a, np.float32) for a in negatives])
        self.buf = np.concatenate([self.buf, x], axis=-1)
        self.pushed += x.shape[-1]
        return self._run(self.pad + self.pushed)

    def finish(self) -> np.ndarray:
        """The remaining output: the input's end is padded as in :func:`combine_stems`."""
        total = self.pushed + 2 * self.pad
        extra = (-(total - self.n_fft)) % self.hop
        zeros = np.zeros(self.buf.shape[:2] + (self.pad + extra,), np.float32)
        self.buf = np.concatenate([self.buf, zeros], axis=-1)
        return self._run(self.pad + self.pushed, final=True)

    def _run(self, limit: int, final: bool = False) -> np.ndarray:
        """Process every complete frame; return the final samples up to padded index ``limit`` (all of
        them when ``final``: no frame is left to come)."""
        start = self.next_frame * self.hop
        frames = 1 + (self.buf.shape[-1] - self.n_fft) // self.hop if self.buf.shape[-1] >= self.n_fft else 0
        if frames > 0:
            self._frames(start, frames)
            self.next_frame += frames
            self.buf = self.buf[..., frames * self.hop:]
        ready = limit if final else min(self.next_frame * self.hop, limit)  # before the next frame: final
        if ready <= self.done:
            return np.zeros((self.channels, 0), np.float32)
        a, b = max(0, self.pad - self.done), ready - self.done  # the leading pad is never returned
        out = (self.acc[:, a:b] / np.maximum(self.env[a:b], 1e-12)).astype(np.float32)
        self.acc, self.env = self.acc[:, b:], self.env[b:]
        self.done = ready
        return out

    def _frames(self, start: int, frames: int) -> None:
        """Overlap-add the gained frames ``next_frame .. next_frame + frames`` (padded index ``start`` on)."""
        n_fft, hop = self.n_fft, self.hop
        end = start + (frames - 1) * hop + n_fft
        grow = end - self.done - self.acc.shape[-1]
        if grow > 0:
            self.acc = np.concatenate([self.acc, np.zeros((self.channels, grow))], axis=-1)
            self.env = np.concatenate([self.env, np.zeros(grow)])
        view = np.lib.stride_tricks.sliding_window_view(self.buf, n_fft, axis=-1)[..., ::hop, :]
        w2 = self.win ** 2
        for f0 in range(0, frames, self.block_frames):
            f1 = min(frames, f0 + self.block_frames)
            spec = np.fft.rfft(view[:, :, f0:f1] * self.win, axis=-1)  # [1+K, C, b, F]
            power = (spec.real ** 2 + spec.imag ** 2) ** self.half
            ep, en = power[0], self.strength * power[1:].sum(0)
            den = ep + en
            g = np.where(den > 0, ep / np.where(den > 0, den, 1.0), 1.0)
            y = np.fft.irfft(spec[0] * g, n=n_fft, axis=-1) * self.win  # [C, b, n_fft]
            for i in range(f1 - f0):
                at = start + (f0 + i) * hop - self.done
                self.acc[:, at : at + n_fft] += y[:, i]
                self.env[at : at + n_fft] += w2


def combine_stems(positive: np.ndarray, negatives: Sequence[np.ndarray], sr: float, strength: float = 1.0,
                  power: float = 2.0, n_fft: Optional[int] = None, block_frames: int = 512) -> np.ndarray:
    """The positive stem with what the negative stems explain removed (see the module docstring).
    Shapes: ``positive`` (n,) or (channels, n); each negative the same."""
    pos = np.asarray(positive, np.float32)
    mono = pos.ndim == 1
    p = pos[None] if mono else pos
    if not len(negatives):
        return pos.copy()
    negs = [np.asarray(x, np.float32).reshape(p.shape) for x in negatives]
    stream = WienerStream(p.shape[0], sr, len(negs), strength, power, n_fft, block_frames)
    out = np.concatenate([stream.push(p, negs), stream.finish()], axis=-1)
    return out[0] if mono else out
