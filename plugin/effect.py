"""The streaming separation effect: one query's stem (or residual) as a pedalboard-style effect.

``SeparationEffect`` follows pedalboard's calling convention (see :mod:`plugin.effect_api`). Its
latency at the host rate is the block engine's ``centre + right context``, rounded up to a whole
number of samples at both rates and converted to the host rate, plus a fixed allowance for the
samples the two soxr resampling streams hold back (:func:`~plugin.resample.resampler_holdback`).
It is an exact integer. ``Chain`` (re-exported here) lives in :mod:`plugin.chain`.

The query is in the query language of :mod:`plugin.query`. All of its descriptions run through the
engine together and are combined at the model rate (:class:`plugin.compound.QueryMix`): a union
sums its stems; "the rest" ("everything but the drums") is the residual of what it leaves out; an
exclusion from a sound ("guitar, not the drums") adds the Wiener stream's delay to the latency.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from .arrays import as_channels, check_rate
from .blocks import DEFAULT_BLOCK_SECONDS, DEFAULT_CONTEXT_SECONDS, BlockEngine
from .chain import Chain
from .compound import QueryMix
from .effect_api import StreamEffect
from .errors import AudioError, SepBoardError
from .fifo import FifoBuffer
from .query import Query, parse
from .resample import ResampleStream, model_delay_at, model_length, rate_ratio, resampler_holdback

__all__ = ["Chain", "SeparationEffect", "resampler_holdback"]


class _Stream:
    """The state of one open stream of a SeparationEffect."""

    def __init__(self, effect: "SeparationEffect", sr, channels: int):
        sep = effect.separator
        sr_m = sep.sample_rate
        pad, prefill, latency = effect.geometry(sr)
        self.engine = BlockEngine(sep.core, effect.conds, channels, effect.plan)
        self.mix = effect.new_mix(channels)  # None: one description, its stem as is
        self.in_rs = None if sr == sr_m else ResampleStream(sr, sr_m, channels)
        self.out_rs = None if sr == sr_m else ResampleStream(sr_m, sr, channels)
        self.latency = latency
        self.emitted = 0
        self.pushed = 0  # host samples given to the engine (after any skipped lead-in)
        # A stream that starts with `lead_in` samples of silence inserted by upstream delay (a Chain) is
        # processed from its real start instead, so the block grid sits where it does for the whole
        # buffer; the skipped silence is given back at the output, keeping the latency unchanged.
        self.skip = effect.lead_in
        self.stems = FifoBuffer(channels)  # host-rate stem, ahead of the output by the resampler prefill
        self.stems.extend_zeros(prefill + effect.lead_in)
        self.dry = FifoBuffer(channels)  # the input, delayed by the latency (for the residual)
        self.dry.extend_zeros(latency)
        self.pad = pad  # model-rate zeros that round the engine delay to whole host samples


class SeparationEffect(StreamEffect):
    """A block-wise separation effect (stem, or the residual with ``residual=True``) for any rate."""

    def __init__(self, separator, query: Optional[str] = None, *, embedding=None, residual: bool = False,
                 block_seconds: float = DEFAULT_BLOCK_SECONDS, context_seconds: float = DEFAULT_CONTEXT_SECONDS):
        self.separator = separator  # a plugin.separator.Separator
        self.query = query
        self.residual = residual
        self.combined: Optional[Query] = None  # the union (and exclusions) the engine's stems are mixed into
        if query is not None and embedding is None:
            q = parse(query)
            if q.rest:  # everything but X: the residual of X
                q, self.residual = Query(q.negatives), not residual
            self.combined = None if q.plain else q
            self.conds = separator.conditions(q.texts)
        else:
            self.conds = separator.conditions(query, embedding)[:1]
        self.plan = separator.plan(block_seconds, context_seconds)
        self.mix_delay = self.new_mix(1).delay if self.combined is not None else 0  # model-rate samples
        if separator.bundle.specialised:  # open the queries' sessions now, not in the first audio callback
            for cond in self.conds:
                separator.bundle.session_for(cond)
        self._sr = None
        self._last_sr = None  # the rate of the last call, which latency_samples refers to after a reset
        self._channels = None
        self._stream: Optional[_Stream] = None
        self.lead_in = 0

    # ----- latency -------------------------------------------------------------------------------
    def latency_at(self, sample_rate) -> int:
        """Exact latency in samples at ``sample_rate`` for streaming (``reset=False``) calls."""
        return self.geometry(check_rate(sample_rate))[2]

    @property
    def latency_samples(self) -> int:
        """Latency of streaming calls at the rate of the open stream, else of the last call (a
        whole-buffer call too); before any call it depends on the rate: use ``latency_at(sr)``."""
        sr = self._sr or self._last_sr
        if sr is None:
            raise SepBoardError("latency depends on the sample rate: call the effect once or use fx.latency_at(sr)")
        return self.latency_at(sr)

    def new_mix(self, channels: int) -> Optional[QueryMix]:
        """A fresh model-rate mix of the engine's stems into the query's stem (None for one description)."""
        if self.combined is None:
            return None
        q = self.combined
        return QueryMix(q, q.texts, channels, self.separator.sample_rate, fixed_delay=True, lead=self.plan.latency)

    def geometry(self, sr):
        """(extra model-rate delay, host prefill, host latency) for host rate ``sr``."""
        sr_m = self.separator.sample_rate
        extra, delay_h = model_delay_at(self.plan.latency + self.mix_delay, sr_m, sr)
        if sr == sr_m:
            return 0, 0, delay_h
        num, den = rate_ratio(sr, sr_m)
        prefill = int(math.ceil(resampler_holdback(sr, sr_m) * num / den)) + resampler_holdback(sr_m, sr)
        return extra, prefill, delay_h + prefill

    # ----- state ---------------------------------------------------------------------------------
    @property
    def streaming(self) -> bool:
        return self._stream is not None

    def reset(self) -> None:
        """Forget all audio: the next call starts a new stream."""
        self._stream = None
        self._sr = None
        self._channels = None
        self.lead_in = 0

    def _start(self, sr, channels: int) -> None:
        self._stream = _Stream(self, sr, channels)
        self._sr = sr
        self._channels = channels

    def _push(self, x: np.ndarray) -> np.ndarray:
        st = self._stream
        n = x.shape[-1]
        proc = x
        if st.skip:
            k = min(st.skip, n)
            proc = x[:, k:]
            st.skip -= k
        st.pushed += proc.shape[-1]
        xm = st.in_rs(proc) if st.in_rs is not None else proc
        ym = st.engine.push(xm)
        ym = ym[0] if st.mix is None else st.mix.push(ym)
        if st.pad:  # after the engine, so its block grid matches Separator.separate's
            ym = np.concatenate([np.zeros((x.shape[0], st.pad), np.float32), ym], axis=-1)
            st.pad = 0
        yh = st.out_rs(ym) if st.out_rs is not None else ym
        st.stems.append(yh)
        if len(st.stems) < n:  # cannot happen when the hold-back allowance is right; never emit misaligned audio
            raise RuntimeError(f"resampler owed more than its measured hold-back ({n - len(st.stems)} samples short)")
        stem = st.stems.pop(n)
        # Before the latency has passed the output is, by definition, silence: what the output
        # resampler rings ahead of the stem's first sample belongs to negative time, which the
        # whole-buffer call trims; zeroing it keeps stateful plugins downstream identical.
        early = st.latency - st.emitted
        if early > 0:
            stem[:, : min(early, n)] = 0.0
        st.emitted += n
        if not self.residual:
            return stem
        st.dry.append(x)
        out = st.dry.view(0, n) - stem
        st.dry.drop(n)
        return out

    # ----- processing ----------------------------------------------------------------------------
    def process(self, audio, sample_rate, buffer_size: int = 0, reset: bool = True) -> np.ndarray:
        x, mono = as_channels(audio)
        sr = check_rate(sample_rate)
        self._last_sr = sr
        if reset:
            self.reset()
            self._start(sr, x.shape[0])
            latency = self._stream.latency
            self.end_signal(x.shape[-1])
            y = self._push(np.concatenate([x, np.zeros((x.shape[0], latency), np.float32)], axis=-1))[:, latency:]
            self.reset()
        else:
            if self._stream is None:
                self._start(sr, x.shape[0])
            elif sr != self._sr or x.shape[0] != self._channels:
                raise AudioError(f"stream changed from {self._channels} ch @ {self._sr} Hz to {x.shape[0]} ch @ {sr} Hz; "
                                 "call reset() (or reset=True) before changing format")
            y = self._push(x)
        return y[0] if mono else y

    __call__ = process

    def flush(self) -> np.ndarray:
        """End a stream: the last ``latency_samples`` of output (the input followed by silence), then reset."""
        if self._stream is None:
            raise SepBoardError("nothing to flush: the effect has not been fed a stream")
        self.end_signal(self._stream.pushed)
        y = self._push(np.zeros((self._channels, self._stream.latency), np.float32))
        self.reset()
        return y

    def end_signal(self, n: int) -> None:
        """The input ends after ``n`` host samples given to the engine: its last block then reflects at
        the end like ``Separator.separate`` (block-wise or whole clip) instead of seeing the flush."""
        n_model = model_length(n, self._sr, self.separator.sample_rate)
        self._stream.engine.end_signal(n_model)
        if self._stream.mix is not None:
            self._stream.mix.end_signal(n_model)

    def __repr__(self) -> str:
        what = "residual" if self.residual else "stem"
        latency = self.plan.latency + self.mix_delay
        return f"SeparationEffect({self.query!r}, {what}, latency={latency} @ {self.separator.sample_rate} Hz)"
