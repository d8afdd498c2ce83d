"""Block-wise separation of audio at any sample rate: a stream of chunks in, aligned stem chunks out.

Input chunks are resampled to the model rate by a soxr stream, pushed through a
:class:`~plugin.blocks.BlockEngine`, and its delayed stems go through the output resampler with the
delay rounded up to a whole number of host samples, then trimmed, so the stems line up with the
input sample for sample (the streaming effect resamples the same way, so both give the same
samples). The end of the signal is marked on the engine and flushed with silence. Memory stays
constant in the stream's length.
"""
from __future__ import annotations

from typing import Iterable, Iterator, Optional

import numpy as np

from .blocks import BlockEngine, BlockPlan
from .core import ModelCore
from .progress import CancelFn, ProgressFn, raise_if_cancelled
from .resample import ResampleStream, model_delay_at, model_length

FLUSH_SECONDS = 0.25  # silence pushed per step while flushing the stream's end


class AlignedOutput:
    """The engine's delayed model-rate stems -> host-rate stems aligned with the input, ``n_total``
    samples in all."""

    def __init__(self, engine: BlockEngine, out_rs: Optional[ResampleStream], sr_m, sr, n_total: int,
                 cancel: CancelFn = None):
        self.engine = engine
        self.out_rs = out_rs
        self.cancel = cancel
        self.n_total = n_total
        # model-rate zeros put before the first stems, and host samples trimmed after resampling
        self.pad, self.skip = model_delay_at(engine.plan.latency, sr_m, sr)
        self.emitted = 0

    @property
    def done(self) -> bool:
        return self.emitted >= self.n_total

    def push(self, xm: np.ndarray) -> np.ndarray:
        """Model-rate input (channels, n) -> the next aligned stems (queries, channels, m)."""
        q, channels = self.engine.queries, self.engine.channels
        y = self.engine.push(xm, self.cancel).reshape(q * channels, -1)
        if self.pad:
            y = np.concatenate([np.zeros((y.shape[0], self.pad), np.float32), y], axis=-1)
            self.pad = 0
        if self.out_rs is not None:
            y = self.out_rs(y, False)
        if self.skip:
            k = min(self.skip, y.shape[-1])
            y, self.skip = y[:, k:], self.skip - k
        y = y[:, : max(0, self.n_total - self.emitted)]
        self.emitted += y.shape[-1]
        return y.reshape(q, channels, -1)


def separate_stream(core: ModelCore, chunks: Iterable[np.ndarray], sr, conds: np.ndarray, channels: int,
                    n_total: int, plan: BlockPlan, cancel: CancelFn = None) -> Iterator[np.ndarray]:
    """Stems of a stream of (channels, n) chunks at rate ``sr``, ``n_total`` samples in all: yields
    (queries, channels, m) chunks aligned with the input (latency already removed)."""
    q = conds.shape[0]
    sr_m = core.sr
    engine = BlockEngine(core, conds, channels, plan)
    in_rs = ResampleStream(sr, sr_m, channels) if sr != sr_m else None
    out_rs = ResampleStream(sr_m, sr, q * channels) if sr != sr_m else None
    output = AlignedOutput(engine, out_rs, sr_m, sr, n_total, cancel)
    for chunk in chunks:
        raise_if_cancelled(cancel, "separation cancelled")
        y = output.push(in_rs(chunk, False) if in_rs is not None else chunk)
        if y.shape[-1]:
            yield y
    engine.end_signal(model_length(n_total, sr, sr_m))  # the last segment reflects at the end, as the whole clip does
    # Flush with silence (not the resampler's end-of-stream mode), exactly as the streaming effect
    # does, until every output sample is out.
    zeros = np.zeros((channels, max(1024, int(FLUSH_SECONDS * sr))), np.float32)
    while not output.done:
        raise_if_cancelled(cancel, "separation cancelled")
        y = output.push(in_rs(zeros) if in_rs is not None else zeros)
        if y.shape[-1]:
            yield y


def separate_buffer(core: ModelCore, x: np.ndarray, sr, conds: np.ndarray, plan: BlockPlan, step: int,
                    progress: Optional[ProgressFn] = None, cancel: CancelFn = None) -> np.ndarray:
    """Stems [Q, C, N] of a whole buffer x [C, N], streamed in chunks of ``step`` samples (the cancel
    check about once per chunk). Progress is the share of the stems done, not of the input read
    (which runs ahead of the model by up to a block)."""
    n = x.shape[-1]
    chunks = (x[:, i : i + step] for i in range(0, n, step))
    out = np.zeros((conds.shape[0], x.shape[0], n), np.float32)
    pos = 0
    for y in separate_stream(core, chunks, sr, conds, x.shape[0], n, plan, cancel):
        out[..., pos : pos + y.shape[-1]] = y
        pos += y.shape[-1]
        if progress:
            progress(min(1.0, pos / n))
    return out
