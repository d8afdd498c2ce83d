"""Block-wise separation at the model rate: segment geometry (:class:`BlockPlan`) and the engine.

A signal is cut into hop-aligned segments of ``left context + centre + right context`` samples;
every segment goes through :meth:`ModelCore.separate` on its own, and consecutive centres are joined
with complementary linear crossfades that lie in the right context of the earlier segment. Memory
is constant in the signal's length, and the same engine streams with an exact latency of
``centre + right context`` samples (see ARCHITECTURE.md).
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from .core import ACTIVATION_BUDGET_BYTES, ModelCore
from .errors import AudioError
from .fifo import FifoBuffer
from .progress import CancelFn, raise_if_cancelled

DEFAULT_BLOCK_SECONDS = 6.0  # streaming (the effect)
DEFAULT_CONTEXT_SECONDS = 1.0
# Offline work (files, the host, separate() without block_seconds): see offline_plan
OFFLINE_MIN_BLOCK_SECONDS = 12.0  # below this the activation budget is too tight: the streaming plan
OFFLINE_MAX_BLOCK_SECONDS = 24.0
OFFLINE_CONTEXT_SECONDS = 0.5  # as good as 1 s at block boundaries (BENCHMARKS.md §2)
MAX_SEGMENT_BYTES = 8 * 2 ** 30  # estimated activations of one segment beyond which a plan is refused


@dataclass(frozen=True)
class BlockPlan:
    """Hop-aligned segment geometry at the model rate (all in samples)."""

    left: int
    centre: int
    right: int
    fade: int

    @property
    def window(self) -> int:
        return self.left + self.centre + self.right

    @property
    def latency(self) -> int:
        return self.centre + self.right

    @staticmethod
    def make(core: ModelCore, block_seconds: float, context_seconds: float) -> "BlockPlan":
        """Segments on the model's pooling grid: the U-Net is only equivariant to shifts by whole
        multiples of its time stride (``time_multiple`` frames), so every segment starts on a frame
        that is a multiple of the stride, counted from the start of the signal, like the whole clip's
        frames. Then a segment reproduces the whole-clip output wherever its receptive field lies
        inside the segment. left = L, centre = C whole strides; right = L strides less one frame, so
        that a segment has exactly (2L + C) strides of frames (no padding inside the model)."""
        hop, sr, tm = core.hop, core.sr, core.time_multiple
        _check_seconds("block_seconds", block_seconds, positive=True)
        _check_seconds("context_seconds", context_seconds, positive=False)
        strides = max(1, int(round(context_seconds * sr / hop / tm)))
        strides = max(strides, -(-2 // tm))  # right context >= 1 frame
        total = max(int(round(block_seconds * sr / hop / tm)), 2 * strides + 1)
        centre = (total - 2 * strides) * tm
        left = strides * tm
        right = left - 1
        fade = max(1, right // 2) * hop
        need = core.frame_bytes * total * tm  # activations of one segment
        if need > MAX_SEGMENT_BYTES:
            raise AudioError(f"blocks of {block_seconds:g} s with {context_seconds:g} s of context would need "
                             f"about {need / 2 ** 30:.0f} GiB of working memory with this model (at most "
                             f"{MAX_SEGMENT_BYTES / 2 ** 30:.0f} GiB); use shorter blocks or less context "
                             "(block_seconds, context_seconds)")
        return BlockPlan(left=left * hop, centre=centre * hop, right=right * hop, fade=fade)


def _check_seconds(name: str, value, positive: bool) -> None:
    """An AudioError unless ``value`` is a real number of seconds in range (> 0 or >= 0, finite)."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > 0 if positive else value >= 0)
    if not ok:
        kind = "a positive number of seconds (or None)" if positive else "a number of seconds >= 0"
        raise AudioError(f"{name} must be {kind}, got {value!r:.40}")


def offline_plan(core: ModelCore, n: Optional[int] = None, context_seconds: Optional[float] = None) -> BlockPlan:
    """The segment plan of offline work for ``n`` model-rate samples.

    Latency does not matter offline, so a light model takes the longest window whose activations
    fit ``ACTIVATION_BUDGET_BYTES`` (at most ``OFFLINE_MAX_BLOCK_SECONDS``) with
    ``OFFLINE_CONTEXT_SECONDS`` of context each side; a model too heavy for an
    ``OFFLINE_MIN_BLOCK_SECONDS`` window keeps the streaming plan (``DEFAULT_BLOCK_SECONDS`` +
    ``DEFAULT_CONTEXT_SECONDS``). Then, when ``n`` is known, the centres shrink to the smallest
    stride multiple that still needs no more segments, so the last segment is not mostly padding."""
    tm = core.time_multiple
    stride_s = tm * core.hop / core.sr
    strides = min(ACTIVATION_BUDGET_BYTES // max(1, core.frame_bytes * tm),
                  int(OFFLINE_MAX_BLOCK_SECONDS / stride_s))
    if strides * stride_s >= OFFLINE_MIN_BLOCK_SECONDS:
        ctx = OFFLINE_CONTEXT_SECONDS if context_seconds is None else context_seconds
        plan = BlockPlan.make(core, strides * stride_s, ctx)
    else:
        plan = BlockPlan.make(core, DEFAULT_BLOCK_SECONDS,
                              DEFAULT_CONTEXT_SECONDS if context_seconds is None else context_seconds)
    if n is not None and n > 0:
        step = tm * core.hop  # one stride, in samples
        k = -(-int(n) // plan.centre)  # segments that cover n samples
        centre = max(1, -(-int(n) // (k * step))) * step
        plan = BlockPlan(left=plan.left, centre=min(centre, plan.centre), right=plan.right, fade=plan.fade)
    return plan


class BlockEngine:
    """Streaming block-wise separation at the model rate.

    ``push(x)`` takes (channels, n) and returns (queries, channels, n): the stems delayed by exactly
    ``plan.latency`` samples (zeros before). Segments are processed as soon as their right context
    has arrived; several pending segments run as one batch.
    """

    def __init__(self, core: ModelCore, conds: np.ndarray, channels: int, plan: BlockPlan, max_segments: int = 4):
        self.core = core
        self.conds = np.asarray(conds, np.float32)
        self.queries = self.conds.shape[0]
        self.channels = channels
        self.plan = plan
        self.max_segments = max(1, max_segments)
        f = plan.fade
        self.ramp_up = ((np.arange(f) + 0.5) / f).astype(np.float32)
        self.ramp_down = (1.0 - self.ramp_up).astype(np.float32)
        self.reset()

    @property
    def latency(self) -> int:
        return self.plan.latency

    def reset(self) -> None:
        p = self.plan
        self.inp = FifoBuffer(self.channels)
        self.inp.extend_zeros(p.left)  # primed left context of segment 0
        self.inp_start = -p.left  # input position of the buffer's first sample
        self.next_seg = 0
        self.acc = FifoBuffer(self.queries * self.channels)  # stems (queries*channels rows) from acc_start on
        self.acc_start = 0
        self.n_in = 0
        self.n_out = 0
        self.segments_done = 0
        self.segments_skipped = 0
        self.end: Optional[int] = None  # input position where the signal ends, once known (end_signal)

    def end_signal(self, at: Optional[int] = None) -> None:
        """The signal ends at input position ``at`` (default: everything pushed so far); push silence
        afterwards to flush. Segments that reach past the end are then computed on the signal alone, so
        their STFT reflects at its last sample exactly as the whole clip's does, instead of seeing the
        flushing silence. A segment already computed keeps what it saw; none reaches past ``at`` as
        long as ``at`` is set before ``right`` samples past it have been pushed."""
        self.end = self.n_in if at is None else int(at)

    def _span(self, k: int):
        """(first input position, length) of segment k. Segment 0 starts at the signal's first sample
        without left context, exactly like the whole clip (same STFT edge, same first frames); it is
        ready as early as the others (it ends ``right`` after its centre). Once the signal's end is
        known (:meth:`end_signal`), a segment stops there."""
        p = self.plan
        start, length = (0, p.centre + p.right) if k == 0 else (k * p.centre - p.left, p.window)
        if self.end is not None:
            length = max(0, min(length, self.end - start))
        return start, length

    def _past_end(self, k: int) -> bool:
        """Segment k writes only output positions at or after the signal's end."""
        return self.end is not None and k * self.plan.centre >= self.end

    def _silent(self, k: int) -> bool:
        """True when every sample the centre (and fade) of segment k can see is exactly zero: then
        its output there is exactly zero too (Y = X * mask), so it need not be computed. This skips
        the silence that flushes a stream and digital silence inside files."""
        start, length = self._span(k)
        a = start - self.inp_start
        lo = a + max(0, k * self.plan.centre - start - self.core.n_fft)
        return not np.any(self.inp.view(lo, a + length - lo))

    def _run_segments(self, ks: List[int]) -> None:
        p = self.plan
        need = max(ks) * p.centre + p.centre + p.fade - self.acc_start
        if len(self.acc) < need:
            self.acc.extend_zeros(need - len(self.acc))
        silent = [k for k in ks if self._past_end(k) or self._silent(k)]
        ks = [k for k in ks if k not in silent]
        self.segments_skipped += len(silent)
        if not ks:
            return
        lengths = sorted({self._span(k)[1] for k in ks})  # segment 0 and the one cut at the end are shorter
        for length in lengths:
            self._run_group([k for k in ks if self._span(k)[1] == length], length)
        self.segments_done += len(ks)

    def _run_group(self, group: List[int], length: int) -> None:
        """Separate segments of equal ``length`` as one batch and add their crossfaded centres."""
        p = self.plan
        q, c = self.queries, self.channels
        x = np.stack([self.inp.view(self._span(k)[0] - self.inp_start, length) for k in group])
        y = self.core.separate(x.reshape(len(group) * c, length), self.conds)
        y = y.reshape(q, len(group), c, length)
        if length < p.window:  # segment 0, or cut at the signal's end: nothing after it
            y = np.concatenate([y, np.zeros(y.shape[:-1] + (p.window - length,), np.float32)], axis=-1)
        for j, k in enumerate(group):
            start = k * p.centre  # centre start (input position)
            off = start - self._span(k)[0]
            seg = y[:, j, :, off : off + p.centre + p.fade].reshape(q * c, -1).copy()
            if k > 0:
                seg[:, : p.fade] *= self.ramp_up
            seg[:, p.centre :] *= self.ramp_down
            self.acc.view(start - self.acc_start, seg.shape[-1])[:] += seg

    def push(self, x: np.ndarray, cancel: CancelFn = None) -> np.ndarray:
        p = self.plan
        n = x.shape[-1]
        if n:
            self.inp.append(x)
        self.n_in += n
        have = self.inp_start + len(self.inp)
        ready = []
        while (self.next_seg + 1) * p.centre + p.right <= have:
            ready.append(self.next_seg)
            self.next_seg += 1
        for i in range(0, len(ready), self.max_segments):
            raise_if_cancelled(cancel, "separation cancelled")
            self._run_segments(ready[i : i + self.max_segments])
        if ready:
            keep_from = self.next_seg * p.centre - p.left
            if keep_from > self.inp_start:
                self.inp.drop(keep_from - self.inp_start)
                self.inp_start = keep_from
        return self._emit()

    def _emit(self) -> np.ndarray:
        """Output positions [n_out, n_in): the stems at positions shifted back by the latency."""
        p = self.plan
        out = np.zeros((self.queries * self.channels, self.n_in - self.n_out), np.float32)
        lo, hi = self.n_out - p.latency, self.n_in - p.latency
        if hi > self.next_seg * p.centre:  # impossible with latency = centre + right: guard the invariant
            raise RuntimeError("block engine emitted past its finalised output")
        s = max(lo, self.acc_start)
        if hi > s:
            out[:, s - lo : hi - lo] = self.acc.view(s - self.acc_start, hi - s)
            self.acc.drop(hi - self.acc_start)
            self.acc_start = hi
        self.n_out = self.n_in
        return out.reshape(self.queries, self.channels, -1)
