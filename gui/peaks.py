"""Waveform overviews: min/max peaks per bucket at a few zoom levels, computed once per track.

Drawing a long file sample by sample would touch every sample on every repaint. A
:class:`PeakPyramid` stores, per channel, the minimum and maximum of every ``BASE`` samples, then of
every ``BASE * FACTOR`` samples, and so on. :meth:`PeakPyramid.columns` answers "min/max of every
pixel column" from the coarsest level that is still finer than one column, so a repaint costs
O(width) however long the file is. Below ``BASE`` samples per pixel it reads the samples themselves
(then only ``width * BASE`` samples are visible).

No Qt in here: plain numpy, testable on its own.
"""
from __future__ import annotations

from typing import List, Tuple

import numpy as np

BASE = 32  # samples per bucket of the finest level
FACTOR = 4  # each level merges this many buckets of the level below
MIN_BUCKETS = 64  # stop adding levels once a level has fewer buckets than this


def _reduce(x: np.ndarray, size: int, op) -> np.ndarray:
    """(channels, n) -> ``op`` (np.minimum / np.maximum) over consecutive groups of ``size`` samples
    (the last group may be shorter)."""
    c, n = x.shape
    full = n // size
    out = np.empty((c, full + (n % size > 0)), np.float32)
    if full:
        op.reduce(x[:, : full * size].reshape(c, full, size), axis=2, out=out[:, :full])
    if n % size:
        out[:, -1] = op.reduce(x[:, full * size:], axis=1)
    return out


class PeakPyramid:
    """Min/max overview of a (channels, samples) array at bucket sizes BASE * FACTOR**k."""

    def __init__(self, audio: np.ndarray, base: int = BASE, factor: int = FACTOR, max_display_channels: int = 2):
        a = np.asarray(audio, np.float32)
        if a.ndim == 1:
            a = a[None]
        if a.shape[0] > max_display_channels:  # many channels: one overview row with the envelope of all
            self._lo_raw, self._hi_raw = a.min(axis=0)[None], a.max(axis=0)[None]
        else:
            self._lo_raw = self._hi_raw = a
        self.channels = self._lo_raw.shape[0]
        lo0 = _reduce(self._lo_raw, base, np.minimum)
        hi0 = _reduce(self._hi_raw, base, np.maximum)
        self.length = a.shape[-1]  # samples per channel
        self.base = base
        self.factor = factor
        self.sizes: List[int] = [base]
        self.levels: List[Tuple[np.ndarray, np.ndarray]] = [(lo0, hi0)]
        size = base
        lo, hi = lo0, hi0
        while lo.shape[-1] > MIN_BUCKETS:
            lo = _reduce(lo, factor, np.minimum)
            hi = _reduce(hi, factor, np.maximum)
            size *= factor
            self.sizes.append(size)
            self.levels.append((lo, hi))

    @property
    def nbytes(self) -> int:
        return sum(lo.nbytes + hi.nbytes for lo, hi in self.levels)

    def _raw(self) -> Tuple[np.ndarray, np.ndarray]:
        return self._lo_raw, self._hi_raw

    def level_for(self, samples_per_pixel: float) -> int:
        """Index of the coarsest level whose bucket is at most one pixel column; -1 = raw samples."""
        best = -1
        for i, s in enumerate(self.sizes):
            if s <= samples_per_pixel:
                best = i
        return best

    def columns(self, start: float, samples_per_pixel: float, width: int, connect: bool = True
                ) -> Tuple[np.ndarray, np.ndarray, int]:
        """Min and max of pixel columns 0..width-1, column i covering samples
        ``[start + i*spp, start + (i+1)*spp)``. Returns (lo, hi, first) where lo/hi are
        (channels, k) for the columns first..first+k-1 that contain audio (k may be 0).

        ``connect`` widens each column to reach its neighbour's range so a zoomed-in waveform is
        drawn as a continuous line rather than separate dots.
        """
        spp = float(samples_per_pixel)
        empty = np.zeros((self.channels, 0), np.float32)
        if width <= 0 or spp <= 0 or self.length == 0:
            return empty, empty, 0
        edges = start + np.arange(width + 1) * spp  # sample positions of column edges
        first = int(np.searchsorted(edges, 0.0, side="right")) - 1  # column containing sample 0
        first = max(first, 0)
        last = int(np.searchsorted(edges, self.length, side="left"))  # columns first..last-1 overlap the audio
        last = min(last, width)
        if last <= first:
            return empty, empty, 0
        lvl = self.level_for(spp)
        if lvl < 0:
            lo_src, hi_src = self._raw()
            unit = 1
        else:
            lo_src, hi_src = self.levels[lvl]
            unit = self.sizes[lvl]
        count = lo_src.shape[-1]
        # column i covers buckets [b[i], b[i+1]) (at least one); the last one ends at the view's edge
        b = np.floor(np.clip(edges[first:last + 1], 0, self.length) / unit).astype(np.int64)
        starts = np.minimum(b[:-1], count - 1)
        end = int(min(count, max(np.ceil(min(edges[last], self.length) / unit), starts[-1] + 1)))
        lo = np.minimum.reduceat(lo_src[:, :end], starts, axis=1)
        hi = np.maximum.reduceat(hi_src[:, :end], starts, axis=1)
        if connect and lo.shape[-1] > 1:
            plo, phi = lo[:, :-1].copy(), hi[:, :-1].copy()
            lo[:, 1:] = np.minimum(lo[:, 1:], phi)
            hi[:, 1:] = np.maximum(hi[:, 1:], plo)
        return lo, hi, first

