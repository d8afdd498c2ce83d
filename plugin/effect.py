"""Streaming separation effect and ``Chain``, a pedalboard-like chain that can hold it.

``SeparationEffect`` follows pedalboard's calling convention:

* ``fx(audio, sr)`` (``reset=True``): the whole buffer, output aligned with the input and of the
  same length (the effect's latency is flushed and trimmed internally);
* ``fx(chunk, sr, reset=False)``: streaming; every call returns exactly as many samples as it was
  given, delayed by exactly ``fx.latency_samples``; ``fx.reset()`` starts over.

Latency at the host rate = the block engine's ``centre + right context`` (rounded up so that it is a
whole number of samples at both rates) converted to the host rate, plus a fixed allowance for the
samples the two soxr resampling streams hold back (measured per rate pair). It is an exact integer.

pedalboard cannot hold Python plugins inside ``pedalboard.Pedalboard`` (spotify/pedalboard#12; the
``PythonPlugin`` PR #88 was declined), so ``Chain`` is the thinnest composite that behaves like one:
a list of pedalboard plugins and our effects, called as ``chain(audio, sample_rate, reset=True)``.
Consecutive pedalboard plugins run as one ``Pedalboard`` segment (GIL released); latencies add up and
the chain's output lines up with its input.
"""
from __future__ import annotations

import logging
import math
from functools import lru_cache
from typing import Iterable, List, Optional

import numpy as np

from .audio import as_channels, check_rate
from .errors import AudioError, SepBoardError
from .separator import (DEFAULT_BLOCK_SECONDS, DEFAULT_CONTEXT_SECONDS, BlockEngine, Separator, _Buffer,
                        _ResampleStream, model_delay_at, model_length, rate_ratio)

RESAMPLE_QUALITY = "HQ"
log = logging.getLogger("sepboard")


@lru_cache(maxsize=64)
def resampler_holdback(sr_in, sr_out) -> int:
    """Most output samples a soxr stream (sr_in -> sr_out) ever owes, fed one sample at a time
    (the worst case; larger chunks owe fewer), plus a small margin."""
    import soxr

    st = soxr.ResampleStream(sr_in, sr_out, 1, dtype="float32", quality=RESAMPLE_QUALITY)
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


class SeparationEffect:
    """A block-wise separation effect (stem, or the residual with ``residual=True``) for any rate."""

    def __init__(self, separator: Separator, query: Optional[str] = None, *, embedding=None, residual: bool = False,
                 block_seconds: float = DEFAULT_BLOCK_SECONDS, context_seconds: float = DEFAULT_CONTEXT_SECONDS):
        self.separator = separator
        self.query = query
        self.residual = residual
        self.conds = separator._conditions(query, embedding)[:1]
        self.plan = separator.plan(block_seconds, context_seconds)
        if separator.bundle.specialised:  # open the query's session now, not in the first audio callback
            separator.bundle.session_for(self.conds[0])
        self._sr = None
        self._channels = None
        self._state = None
        self.lead_in = 0  # samples of pure delay (silence) known to lead the next stream; see Chain

    # ----- latency -------------------------------------------------------------------------------
    def latency_at(self, sample_rate) -> int:
        """Exact latency in samples at ``sample_rate`` for streaming (``reset=False``) calls."""
        return self._geometry(check_rate(sample_rate))[2]

    @property
    def latency_samples(self) -> int:
        """Latency at the rate of the current stream (call the effect once, or use ``latency_at``)."""
        if self._sr is None:
            raise SepBoardError("latency depends on the sample rate: call the effect once or use fx.latency_at(sr)")
        return self.latency_at(self._sr)

    def _geometry(self, sr):
        """(extra model-rate delay, host prefill, host latency) for host rate ``sr``."""
        sr_m = self.separator.sample_rate
        extra, delay_h = model_delay_at(self.plan.latency, sr_m, sr)
        if sr == sr_m:
            return 0, 0, delay_h
        num, den = rate_ratio(sr, sr_m)
        prefill = int(math.ceil(resampler_holdback(sr, sr_m) * num / den)) + resampler_holdback(sr_m, sr)
        return extra, prefill, delay_h + prefill

    # ----- state ---------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget all audio: the next call starts a new stream."""
        self._state = None
        self._sr = None
        self._channels = None
        self.lead_in = 0

    def _start(self, sr, channels: int):
        sr_m = self.separator.sample_rate
        extra, prefill, latency = self._geometry(sr)
        st = {
            "engine": BlockEngine(self.separator.core, self.conds, channels, self.plan),
            "in_rs": None if sr == sr_m else _ResampleStream(sr, sr_m, channels),
            "out_rs": None if sr == sr_m else _ResampleStream(sr_m, sr, channels),
            "fifo": _Buffer(channels),
            "dry": _Buffer(channels),
            "latency": latency,
            "emitted": 0,
            "pushed": 0,  # host samples given to the engine (after any skipped lead-in)
        }
        # A stream that starts with `lead_in` samples of silence inserted by upstream delay (a Chain) is
        # processed from its real start instead, so the block grid sits where it does for the whole
        # buffer; the skipped silence is given back at the output, keeping the latency unchanged.
        st["skip"] = self.lead_in
        st["fifo"].extend_zeros(prefill + self.lead_in)
        st["dry"].extend_zeros(latency)
        st["post_delay"] = extra  # model-rate zeros that round the engine delay to whole host samples
        self._state = st
        self._sr = sr
        self._channels = channels

    def _stream(self, x: np.ndarray) -> np.ndarray:
        st = self._state
        n = x.shape[-1]
        proc = x
        if st["skip"]:
            k = min(st["skip"], n)
            proc = x[:, k:]
            st["skip"] -= k
        st["pushed"] += proc.shape[-1]
        xm = st["in_rs"](proc) if st["in_rs"] is not None else proc
        ym = st["engine"].push(xm)[0]
        if st["post_delay"]:  # after the engine, so its block grid matches Separator.separate's
            ym = np.concatenate([np.zeros((x.shape[0], st["post_delay"]), np.float32), ym], axis=-1)
            st["post_delay"] = 0
        yh = st["out_rs"](ym) if st["out_rs"] is not None else ym
        fifo = st["fifo"]
        fifo.append(yh)
        if len(fifo) < n:  # cannot happen when the hold-back allowance is right; never emit misaligned audio
            raise RuntimeError(f"resampler owed more than its measured hold-back ({n - len(fifo)} samples short)")
        stem = fifo.view(0, n).copy()
        fifo.drop(n)
        # Before the latency has passed the output is, by definition, silence: what the output
        # resampler rings ahead of the stem's first sample belongs to negative time, which the
        # whole-buffer call trims; zeroing it keeps stateful plugins downstream identical.
        early = st["latency"] - st["emitted"]
        if early > 0:
            stem[:, : min(early, n)] = 0.0
        st["emitted"] += n
        if not self.residual:
            return stem
        dry = st["dry"]
        dry.append(x)
        out = dry.view(0, n) - stem
        dry.drop(n)
        return out

    # ----- processing ----------------------------------------------------------------------------
    def process(self, audio, sample_rate, buffer_size: int = 0, reset: bool = True) -> np.ndarray:
        x, mono = as_channels(audio)
        sr = check_rate(sample_rate)
        if reset:
            self.reset()
            self._start(sr, x.shape[0])
            latency = self._state["latency"]
            self._end_signal(x.shape[-1])
            y = self._stream(np.concatenate([x, np.zeros((x.shape[0], latency), np.float32)], axis=-1))[:, latency:]
            self.reset()
        else:
            if self._state is None:
                self._start(sr, x.shape[0])
            elif sr != self._sr or x.shape[0] != self._channels:
                raise AudioError(f"stream changed from {self._channels} ch @ {self._sr} Hz to {x.shape[0]} ch @ {sr} Hz; "
                                 "call reset() (or reset=True) before changing format")
            y = self._stream(x)
        return y[0] if mono else y

    __call__ = process

    def flush(self) -> np.ndarray:
        """End a stream: the last ``latency_samples`` of output (the input followed by silence), then reset."""
        if self._state is None:
            raise SepBoardError("nothing to flush: the effect has not been fed a stream")
        self._end_signal(self._state["pushed"])
        y = self._stream(np.zeros((self._channels, self._state["latency"]), np.float32))
        self.reset()
        return y

    def _end_signal(self, n_host: int) -> None:
        """The input ends after ``n_host`` samples given to the engine: its last block then reflects at
        the end like ``Separator.separate`` (block-wise or whole clip) instead of seeing the flush."""
        self._state["engine"].end_signal(model_length(n_host, self._sr, self.separator.sample_rate))

    def __repr__(self) -> str:
        what = "residual" if self.residual else "stem"
        return f"SeparationEffect({self.query!r}, {what}, latency={self.plan.latency} @ {self.separator.sample_rate} Hz)"


def _is_pedalboard_plugin(obj) -> bool:
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
        self._fifos: List[Optional[_Buffer]] = []
        self._pb_latency = 0
        self._sr = None
        self._warned = set()
        self._streamed = 0  # input samples of the current stream
        self._leads: List[int] = []  # silence each segment sees at the start of the current stream
        for p in self:
            self._check(p)

    @staticmethod
    def _check(p):
        if not (_is_pedalboard_plugin(p) or isinstance(p, (SeparationEffect, Chain))):
            raise TypeError(f"Chain holds pedalboard plugins and SepBoard effects, not {type(p).__name__}")

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
            if _is_pedalboard_plugin(p):
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

    def reset(self) -> None:
        self._build()
        for s in self._segments:
            s.reset()
        self._sr = None
        self._warned = set()
        self._streamed = 0  # input samples of the current stream
        self._leads: List[int] = []  # silence each segment sees at the start of the current stream

    def latency_at(self, sample_rate) -> int:
        """Streaming latency at ``sample_rate`` before any pedalboard plugin held back more than ``holdback``."""
        if self._segments is None:
            self._build()
        ours = sum(p.latency_at(sample_rate) for p in self if not _is_pedalboard_plugin(p))
        return ours + self.holdback * sum(1 for s in self._segments if _is_pedalboard_plugin(s))

    @property
    def latency_samples(self) -> int:
        if self._sr is None:
            raise SepBoardError("latency depends on the sample rate: call the chain once or use chain.latency_at(sr)")
        return self.latency_at(self._sr) + self._pb_latency

    def process(self, audio, sample_rate, buffer_size: int = 8192, reset: bool = True) -> np.ndarray:
        x, mono = as_channels(audio)
        sr = check_rate(sample_rate)
        if reset:
            self.reset()
            y = x
            for s in self._segments:  # each segment aligns its own output in whole-buffer mode
                y = s(y, sr, reset=True) if isinstance(s, SeparationEffect) or isinstance(s, Chain) else \
                    s(y, sr, buffer_size=buffer_size, reset=True)
                y = np.asarray(y, np.float32)
            self.reset()
            return y[0] if mono else y
        if self._segments is None:
            self.reset()
        if self._sr is None:
            self._sr = sr
            lead = 0  # silence our effects will see at the start of this stream
            self._leads = [0] * len(self._segments)
            for i, seg in enumerate(self._segments):
                self._leads[i] = lead
                if _is_pedalboard_plugin(seg):
                    lead += self.holdback
                elif isinstance(seg, SeparationEffect):
                    seg.reset()
                    seg.lead_in = lead
                    lead += seg.latency_at(sr)
                else:
                    lead += seg.latency_at(sr)
        elif sr != self._sr:
            raise AudioError(f"stream rate changed from {self._sr} to {sr} Hz; call reset() first")
        self._channels = x.shape[0]
        self._streamed += x.shape[-1]
        return self._run_stream(x, sr, buffer_size, mono)

    def _end_signal(self, n: int) -> None:
        """The stream's input ends after ``n`` samples: tell every effect inside, in its own coordinates
        (an effect skips its lead-in, so it counts from the input's first sample; a nested chain does not)."""
        for seg, lead in zip(self._segments, self._leads):
            if isinstance(seg, SeparationEffect) and seg._state is not None:
                seg._end_signal(n)
            elif isinstance(seg, Chain) and seg._sr is not None:
                seg._end_signal(n + lead)

    def _run_stream(self, x, sr, buffer_size, mono, flushing: bool = False):
        y = x
        n = x.shape[-1]
        upstream = True  # no SeparationEffect seen yet
        for i, s in enumerate(self._segments):
            if flushing and upstream and _is_pedalboard_plugin(s):
                # whole-buffer semantics: what plugins before our first effect ring past the end
                # of the input is cut, so our effects see silence there
                y = np.zeros_like(y)
                continue
            if not _is_pedalboard_plugin(s):
                upstream = False
            if _is_pedalboard_plugin(s):
                out = np.asarray(s(y, sr, buffer_size=buffer_size, reset=False), np.float32)
                fifo = self._fifos[i]
                if fifo is None:
                    fifo = self._fifos[i] = _Buffer(out.shape[0])
                    fifo.extend_zeros(self.holdback)
                fifo.append(out)
                if len(fifo) < n:  # held back more than the allowance: pad with silence, latency grows
                    short = n - len(fifo)
                    fifo.extend_zeros(short)
                    self._pb_latency += short
                    names = ", ".join(type(p).__name__ for p in s)
                    if i not in self._warned:
                        self._warned.add(i)
                        log.warning("pedalboard segment [%s] held back %d samples more than Chain(holdback=%d) "
                                    "allows: the stream has a gap here and its latency grew to %d samples; use "
                                    "reset=True for whole buffers or a larger holdback", names, short, self.holdback,
                                    self.latency_samples)
                y = fifo.view(0, n).copy()
                fifo.drop(n)
            else:
                y = s(y, sr, reset=False)
        return y[0] if mono else y

    __call__ = process

    def flush(self, buffer_size: int = 8192) -> np.ndarray:
        """End a stream: the last ``latency_samples`` of output, exactly the tail of what one
        whole-buffer call on the same input returns; then reset. Shape (channels, latency)."""
        if self._sr is None:
            raise SepBoardError("nothing to flush: the chain has not been fed a stream")
        n = self.latency_samples
        self._end_signal(self._streamed)
        y = self._run_stream(np.zeros((self._channels, n), np.float32), self._sr, buffer_size, False, flushing=True)
        self.reset()
        return y

    def __repr__(self) -> str:
        return f"Chain([{', '.join(repr(p) for p in self)}])"
