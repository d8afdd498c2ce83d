"""``Chain``: a list of pedalboard plugins and SepBoard effects that behaves like ``pedalboard.Pedalboard``.

pedalboard cannot hold Python plugins inside ``pedalboard.Pedalboard`` (spotify/pedalboard#12; the
``PythonPlugin`` PR #88 was declined), so ``Chain`` is the thinnest composite that behaves like one:
called as ``chain(audio, sample_rate, reset=True)``, it runs consecutive pedalboard plugins as one
``Pedalboard`` segment (GIL released) with ``reset=False`` between our effects
(:class:`~plugin.effect_api.StreamEffect`), adds up latencies exactly, and lines its output up with
its input.
"""
from __future__ import annotations

import logging
from typing import Iterable, List, Optional

import numpy as np

from .arrays import as_channels, check_rate
from .effect_api import StreamEffect
from .errors import AudioError, SepBoardError
from .fifo import FifoBuffer
from .progress import CancelFn, ProgressFn, raise_if_cancelled

log = logging.getLogger("sepboard")


def is_pedalboard_plugin(obj) -> bool:
    try:
        import pedalboard
    except ImportError:  # pragma: no cover - pedalboard is a dependency
        return False
    return isinstance(obj, pedalboard.Plugin)


class Chain(list):
    """A list of pedalboard plugins and SepBoard effects that behaves like ``pedalboard.Pedalboard``.

    ``chain(audio, sr)`` (reset=True) returns the processed buffer aligned with the input.
    ``chain(chunk, sr, reset=False)`` streams: same length out, delayed by exactly
    ``chain.latency_samples`` = our effects' latencies + ``holdback`` per pedalboard segment.

    pedalboard's built-in plugins report no latency; the common ones (filters, EQ, compressor, gain,
    reverb, distortion, chorus, delay) have none and stream sample for sample. A few (Resample,
    PitchShift, the codecs) hold samples back while streaming and trim them, so they return fewer
    samples than they were given. ``holdback`` pre-delays each pedalboard segment's output by that many
    samples so such plugins stream glitch-free; if a plugin holds back more, the missing samples are
    inserted as silence, the latency grows by as much, and a warning names the plugin.
    """

    def __init__(self, plugins: Iterable = (), holdback: int = 0):
        super().__init__(plugins)
        self.holdback = int(holdback)
        self._segments = None
        self._fifos: List[Optional[FifoBuffer]] = []
        self._pb_latency = 0
        self._sr = None
        self._last_sr = None  # the rate of the last call (latency_samples after a whole-buffer call)
        self._channels = None
        self._warned = set()
        self._streamed = 0  # input samples of the current stream
        self._leads: List[int] = []  # silence each segment sees at the start of the current stream
        for p in self:
            self._check(p)

    @staticmethod
    def _check(p):
        if not (is_pedalboard_plugin(p) or isinstance(p, (StreamEffect, Chain))):
            raise TypeError(f"Chain holds pedalboard plugins and SepBoard effects, not {type(p).__name__}")

    # ----- list edits invalidate the segments -------------------------------------------------------
    def append(self, p):
        self._check(p)
        super().append(p)
        self._segments = None

    def insert(self, i, p):
        self._check(p)
        super().insert(i, p)
        self._segments = None

    def __setitem__(self, i, p):
        for q in (p if isinstance(i, slice) else [p]):
            self._check(q)
        super().__setitem__(i, p)
        self._segments = None

    def __delitem__(self, i):
        super().__delitem__(i)
        self._segments = None

    def remove(self, p):
        super().remove(p)
        self._segments = None

    def pop(self, i=-1):
        p = super().pop(i)
        self._segments = None
        return p

    def _build(self):
        import pedalboard

        segs = []
        group = []
        for p in self:
            if is_pedalboard_plugin(p):
                group.append(p)
            else:
                if group:
                    segs.append(pedalboard.Pedalboard(group))
                    group = []
                segs.append(p)
        if group:
            segs.append(pedalboard.Pedalboard(group))
        self._segments = segs
        self._fifos = [None] * len(segs)
        self._pb_latency = 0

    # ----- state and latency ---------------------------------------------------------------------
    @property
    def streaming(self) -> bool:
        """True while a stream is open (a ``reset=False`` call came since the last reset)."""
        return self._sr is not None

    def reset(self) -> None:
        self._build()
        for s in self._segments:
            s.reset()
        self._sr = None
        self._warned = set()
        self._streamed = 0
        self._leads = []

    def latency_at(self, sample_rate) -> int:
        """Streaming latency at ``sample_rate`` before any pedalboard plugin held back more than ``holdback``."""
        if self._segments is None:
            self._build()
        ours = sum(p.latency_at(sample_rate) for p in self if not is_pedalboard_plugin(p))
        return ours + self.holdback * sum(1 for s in self._segments if is_pedalboard_plugin(s))

    @property
    def latency_samples(self) -> int:
        """Latency of streaming calls at the rate of the open stream, else of the last call."""
        sr = self._sr or self._last_sr
        if sr is None:
            raise SepBoardError("latency depends on the sample rate: call the chain once or use chain.latency_at(sr)")
        return self.latency_at(sr) + self._pb_latency

    # ----- processing ----------------------------------------------------------------------------
    def process(self, audio, sample_rate, buffer_size: int = 8192, reset: bool = True) -> np.ndarray:
        x, mono = as_channels(audio)
        sr = check_rate(sample_rate)
        self._last_sr = sr
        if reset:
            self.reset()
            y = x
            for s in self._segments:  # each segment aligns its own output in whole-buffer mode
                y = s(y, sr, reset=True) if isinstance(s, (StreamEffect, Chain)) else \
                    s(y, sr, buffer_size=buffer_size, reset=True)
                y = np.asarray(y, np.float32)
            self.reset()
            return y[0] if mono else y
        if self._segments is None:
            self.reset()
        if self._sr is None:
            self._open_stream(sr)
        elif sr != self._sr:
            raise AudioError(f"stream rate changed from {self._sr} to {sr} Hz; call reset() first")
        self._channels = x.shape[0]
        self._streamed += x.shape[-1]
        return self._run_stream(x, sr, buffer_size, mono)

    __call__ = process

    def _open_stream(self, sr) -> None:
        """Start a stream at ``sr``: each effect learns the silence that leads its input (upstream delay)."""
        self._sr = sr
        lead = 0  # silence our effects will see at the start of this stream
        self._leads = [0] * len(self._segments)
        for i, seg in enumerate(self._segments):
            self._leads[i] = lead
            if is_pedalboard_plugin(seg):
                lead += self.holdback
            elif isinstance(seg, StreamEffect):
                seg.reset()
                seg.lead_in = lead
                lead += seg.latency_at(sr)
            else:
                lead += seg.latency_at(sr)

    def end_signal(self, n: int) -> None:
        """The stream's input ends after ``n`` samples: tell every effect inside, in its own coordinates
        (an effect skips its lead-in, so it counts from the input's first sample; a nested chain does not)."""
        for seg, lead in zip(self._segments, self._leads):
            if isinstance(seg, StreamEffect) and seg.streaming:
                seg.end_signal(n)
            elif isinstance(seg, Chain) and seg.streaming:
                seg.end_signal(n + lead)

    def _run_stream(self, x, sr, buffer_size, mono, flushing: bool = False):
        y = x
        n = x.shape[-1]
        upstream = True  # no SepBoard effect seen yet
        for i, s in enumerate(self._segments):
            if flushing and upstream and is_pedalboard_plugin(s):
                # whole-buffer semantics: what plugins before our first effect ring past the end
                # of the input is cut, so our effects see silence there
                y = np.zeros_like(y)
                continue
            if not is_pedalboard_plugin(s):
                upstream = False
                y = s(y, sr, reset=False)
            else:
                y = self._run_pedalboard(i, s, y, sr, buffer_size, n)
        return y[0] if mono else y

    def _run_pedalboard(self, i: int, board, y, sr, buffer_size: int, n: int) -> np.ndarray:
        """Stream ``y`` through pedalboard segment ``i``: exactly ``n`` samples out, pre-delayed by ``holdback``."""
        out = np.asarray(board(y, sr, buffer_size=buffer_size, reset=False), np.float32)
        fifo = self._fifos[i]
        if fifo is None:
            fifo = self._fifos[i] = FifoBuffer(out.shape[0])
            fifo.extend_zeros(self.holdback)
        fifo.append(out)
        if len(fifo) < n:  # held back more than the allowance: pad with silence, latency grows
            short = n - len(fifo)
            fifo.extend_zeros(short)
            self._pb_latency += short
            names = ", ".join(type(p).__name__ for p in board)
            if i not in self._warned:
                self._warned.add(i)
                log.warning("pedalboard segment [%s] held back %d samples more than Chain(holdback=%d) "
                            "allows: the stream has a gap here and its latency grew to %d samples; use "
                            "reset=True for whole buffers or a larger holdback", names, short, self.holdback,
                            self.latency_samples)
        return fifo.pop(n)

    def process_chunks(self, audio, sample_rate, chunk_seconds: float = 5.0, progress: Optional[ProgressFn] = None,
                       cancel: CancelFn = None) -> np.ndarray:
        """A whole buffer streamed through the chain in chunks of ``chunk_seconds``, with progress and a
        cancel check per chunk: the result lines up with the input and has its shape, like one
        whole-buffer ``chain(audio, sample_rate)`` call. The chain is reset afterwards."""
        x, mono = as_channels(audio)
        sr = check_rate(sample_rate)
        if not len(self):
            return x[0] if mono else x
        self.reset()
        n = x.shape[-1]
        step = max(1, int(chunk_seconds * sr))
        outs = []
        for i in range(0, n, step):
            raise_if_cancelled(cancel, "effects cancelled")
            outs.append(np.asarray(self.process(x[:, i : i + step], sr, reset=False), np.float32))
            if progress:
                progress(min(1.0, (i + step) / n))
        latency = self.latency_samples
        if latency:
            outs.append(np.asarray(self.flush(), np.float32))
        else:
            self.reset()
        y = np.ascontiguousarray(np.concatenate(outs, axis=-1)[:, latency : latency + n], dtype=np.float32)
        return y[0] if mono else y

    def flush(self, buffer_size: int = 8192) -> np.ndarray:
        """End a stream: the last ``latency_samples`` of output, exactly the tail of what one
        whole-buffer call on the same input returns; then reset. Shape (channels, latency)."""
        if self._sr is None:
            raise SepBoardError("nothing to flush: the chain has not been fed a stream")
        n = self.latency_samples
        self.end_signal(self._streamed)
        y = self._run_stream(np.zeros((self._channels, n), np.float32), self._sr, buffer_size, False, flushing=True)
        self.reset()
        return y

    def __repr__(self) -> str:
        return f"Chain([{', '.join(repr(p) for p in self)}])"
