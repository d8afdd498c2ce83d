"""The Separator: text- (or embedding-) queried separation of any audio, whole-clip or block-wise.

Signal path (DESIGN.md): any rate / channel count -> soxr to the bundle rate -> per channel STFT ->
magnitude -> separator (the query-specialised core, or separator.onnx) -> complex mask -> ISTFT ->
(block-wise: crossfaded overlap-add) -> soxr back -> exactly the input's shape, rate and length.
residual = input - stem, an exact null.

Block-wise mode (the default) cuts the model-rate signal into hop-aligned segments of
``left context + centre + right context`` samples; every segment goes through the whole-clip path
on its own; consecutive centres are joined with complementary linear crossfades that lie in the
right context of the earlier segment. Memory is constant in the length of the input, several
queries share each segment's STFT (each query runs segments x channels as one batch through its
query-specialised session, see plugin.bundle), and the same engine streams (``plugin.effect``)
with an exact latency of ``centre + right context`` samples.
"""
from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, List, Optional, Sequence, Union

import numpy as np

from . import stft as S
from .audio import as_channels, check_rate, resample
from .bundle import DEFAULT_BUNDLE, Bundle
from .errors import AudioError, Cancelled, QueryError

log = logging.getLogger("sepboard")

DEFAULT_BLOCK_SECONDS = 6.0  # streaming (the effect): latency 5.1 s
DEFAULT_CONTEXT_SECONDS = 1.0
# Offline work (files, the host, separate() without block_seconds): see Separator.offline_plan
OFFLINE_MIN_BLOCK_SECONDS = 12.0  # below this the activation budget is too tight: the streaming plan
OFFLINE_MAX_BLOCK_SECONDS = 24.0
OFFLINE_CONTEXT_SECONDS = 0.5  # measured as good as 1 s at block boundaries (BENCHMARKS.md §2)
WHOLE_CLIP_MAX_SECONDS = 600.0
_UNSET = object()

ProgressFn = Callable[[float], None]
CancelFn = Union[Callable[[], bool], threading.Event, None]


def _is_cancelled(cancel: CancelFn) -> bool:
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    return bool(cancel())


ACTIVATION_BUDGET_BYTES = 256 * 2 ** 20  # live activations per ONNX call (measured ~1 MB/frame, full ResUNet30)
ARENA_MAX_FRAME_BYTES = 256 * 2 ** 10  # models this light get ORT's memory arena (fast, small peak)


def activation_bytes_per_frame(arch: Optional[dict], freq_bins: int) -> int:
    """Rough peak activation memory per STFT frame of one batch item, from the architecture.

    Sum over U-Net levels of channels x frequency bins / time downsampling, times 4 bytes and ~4
    tensors alive; for the official ResUNet30 this gives ~1 MB/frame, which matches ORT's measured
    peak (bench/bench_runtime.py). Unknown architectures are assumed to be full size."""
    if not arch:
        return 1 << 20
    total, f, t = 0.0, float(freq_bins), 1.0
    for w, (dt, df) in zip(arch.get("widths", []), arch.get("downsamples", [])):
        total += w * f / t
        f, t = f / df, t * dt
    return int(max(total, 1.0) * 4 * 4)


class ModelCore:
    """Model-rate separation of equal-length segments: STFT -> ONNX masks -> ISTFT."""

    def __init__(self, bundle: Bundle, max_batch: int = 8):
        m = bundle.manifest
        self.bundle = bundle
        self.sr = m.sample_rate
        self.n_fft = m.n_fft
        self.hop = m.hop
        self.fb = m.freq_bins
        self.cond_dim = m.condition_dim
        self.time_multiple = max(1, m.time_multiple)
        self.max_batch = max(1, int(max_batch))
        self.frame_bytes = activation_bytes_per_frame(m.raw.get("separator", {}).get("architecture"), self.fb)

    def batch_for(self, frames: int) -> int:
        """Items per ONNX call for segments of ``frames`` frames, within the activation budget."""
        budget = ACTIVATION_BUDGET_BYTES // max(1, self.frame_bytes * frames)
        return int(max(1, min(self.max_batch, budget)))

    def masks(self, mag: np.ndarray, cond: np.ndarray):
        """mag [B,1,T,F], cond [B,D] -> (mask, cos, sin) [B,1,T,F] with the generic separator.onnx
        (any mix of conditions in one batch), run in batches within the activation budget."""
        sess = self.bundle.separator_session
        return self._batched(sess, mag, lambda i, j: {"magnitude": mag[i:j], "condition": cond[i:j]})

    def masks_for(self, mag: np.ndarray, cond: np.ndarray):
        """mag [B,1,T,F], one condition [D] for every item -> (mask, cos, sin) [B,1,T,F] through the
        session specialised for that condition (the bundle must have one: ``bundle.specialised``)."""
        sess = self.bundle.session_for(cond)
        return self._batched(sess, mag, lambda i, j: {"magnitude": mag[i:j]})

    def _batched(self, sess, mag, feed):
        outs = []
        step = self.batch_for(mag.shape[2])
        for i in range(0, mag.shape[0], step):
            outs.append(sess.run(["mask", "cos", "sin"], feed(i, i + step)))
        if len(outs) == 1:
            return outs[0]
        return [np.concatenate([o[k] for o in outs]) for k in range(3)]

    def separate(self, x: np.ndarray, conds: np.ndarray) -> np.ndarray:
        """x [S, N] model-rate segments (any count S, equal length N), conds [Q, D] -> stems [Q, S, N].

        The STFT of each segment is shared by all queries; each query runs the S segments as one
        batch through its specialised session (or, without one, all S*Q items through the generic graph).
        """
        n = x.shape[-1]
        pad_to = max(n, self.n_fft)  # reflect padding needs more than n_fft/2 samples
        xs = x if pad_to == n else np.pad(x, ((0, 0), (0, pad_to - n)))
        spec = S.stft(xs, self.n_fft, self.hop)  # [S, T, F+1]
        n_seg, t, f1 = spec.shape
        q = conds.shape[0]
        mag = np.sqrt(np.maximum(spec.real ** 2 + spec.imag ** 2, np.float32(1e-10))).astype(np.float32)
        mag = np.ascontiguousarray(mag[:, None, :, : self.fb])  # [S, 1, T, F]
        if self.bundle.specialised:
            res = [self.masks_for(mag, conds[k]) for k in range(q)]
            mask, cos_m, sin_m = (np.concatenate([r[i] for r in res]) for i in range(3))
        else:
            mag_b = np.broadcast_to(mag[None], (q,) + mag.shape).reshape(q * n_seg, 1, t, self.fb)
            cond_b = np.repeat(conds.astype(np.float32), n_seg, axis=0)
            mask, cos_m, sin_m = self.masks(np.ascontiguousarray(mag_b), cond_b)
        gain = np.empty((q, n_seg, t, self.fb), np.complex64)  # mask x (cos + j sin), in single precision
        mask = mask.reshape(gain.shape)
        np.multiply(mask, cos_m.reshape(gain.shape), out=gain.real)
        np.multiply(mask, sin_m.reshape(gain.shape), out=gain.imag)
        out = np.zeros((q, n_seg, t, f1), np.complex64)
        np.multiply(spec[None, :, :, : self.fb], gain, out=out[..., : self.fb])
        return S.istft(out, self.n_fft, self.hop, pad_to)[..., :n]


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
        multiples of its time stride (32 frames for ResUNet30), so every segment starts on a frame
        that is a multiple of the stride, counted from the start of the signal, like the whole clip's
        frames. Then a segment reproduces the whole-clip output wherever its receptive field lies
        inside the segment. left = L, centre = C whole strides; right = L strides less one frame, so
        that a segment has exactly (2L + C) strides of frames (no padding inside the model)."""
        hop, sr, tm = core.hop, core.sr, core.time_multiple
        if not (block_seconds > 0) or not math.isfinite(block_seconds):
            raise AudioError(f"block_seconds must be a positive number of seconds (or None), got {block_seconds!r}")
        if not (context_seconds >= 0) or not math.isfinite(context_seconds):
            raise AudioError(f"context_seconds must be >= 0 seconds, got {context_seconds!r}")
        strides = max(1, int(round(context_seconds * sr / hop / tm)))
        strides = max(strides, -(-2 // tm))  # right context >= 1 frame
        total = max(int(round(block_seconds * sr / hop / tm)), 2 * strides + 1)
        centre = (total - 2 * strides) * tm
        left = strides * tm
        right = left - 1
        fade = max(1, right // 2) * hop
        return BlockPlan(left=left * hop, centre=centre * hop, right=right * hop, fade=fade)


class _Buffer:
    """A (rows, n) FIFO with amortised O(1) append/drop, so tiny streaming chunks stay cheap."""

    def __init__(self, rows: int, capacity: int = 1 << 14):
        self.a = np.zeros((rows, capacity), np.float32)
        self.lo = 0
        self.hi = 0

    def __len__(self) -> int:
        return self.hi - self.lo

    def _reserve(self, n: int) -> None:
        if self.hi + n <= self.a.shape[1]:
            return
        size = len(self)
        cap = self.a.shape[1]
        while size + n > cap:
            cap *= 2
        if cap != self.a.shape[1]:
            b = np.zeros((self.a.shape[0], cap), np.float32)
            b[:, :size] = self.a[:, self.lo : self.hi]
            self.a = b
        else:
            self.a[:, :size] = self.a[:, self.lo : self.hi]
        self.lo, self.hi = 0, size

    def append(self, x: np.ndarray) -> None:
        n = x.shape[-1]
        self._reserve(n)
        self.a[:, self.hi : self.hi + n] = x
        self.hi += n

    def extend_zeros(self, n: int) -> None:
        self._reserve(n)
        self.a[:, self.hi : self.hi + n] = 0
        self.hi += n

    def view(self, start: int, n: int) -> np.ndarray:
        return self.a[:, self.lo + start : self.lo + start + n]

    def drop(self, n: int) -> None:
        self.lo += min(n, len(self))


class BlockEngine:
    """Streaming block-wise separation at the model rate.

    ``push(x)`` takes (channels, n) and returns (queries, channels, n): the stems delayed by exactly
    ``plan.latency`` samples (zeros before). Segments are processed as soon as their right context
    has arrived; several pending segments run as one batch.
    """

    def __init__(self, core: ModelCore, conds: np.ndarray, channels: int, plan: BlockPlan, max_segments: int = 4):
        self.core = core
        self.conds = np.asarray(conds, np.float32)
        self.q = self.conds.shape[0]
        self.c = channels
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
        self.inp = _Buffer(self.c)
        self.inp.extend_zeros(p.left)  # primed left context of segment 0
        self.inp_start = -p.left  # input position of the buffer's first sample
        self.next_seg = 0
        self.acc = _Buffer(self.q * self.c)  # stem (queries*channels rows) from position acc_start on
        self.acc_start = 0
        self.n_in = 0
        self.n_out = 0
        self.segments_done = 0
        self.segments_skipped = 0
        self.end = None  # input position where the signal ends, once known (end_signal)

    def end_signal(self, at: Optional[int] = None) -> None:
        """The signal ends at input position ``at`` (default: everything pushed so far); push silence
        afterwards to flush. Segments that reach past the end are then computed on the signal alone, so
        their STFT reflects at its last sample exactly as the whole clip's does, instead of seeing the
        flushing silence (with it, the file's last second differed from the whole clip at -2..-8 dB
        re its peak, where the body agrees to ONNX Runtime's rounding). A segment already computed
        keeps what it saw; none reaches past ``at`` as long as ``at`` is set before ``right`` samples
        past it have been pushed."""
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
            group = [k for k in ks if self._span(k)[1] == length]
            x = np.stack([self.inp.view(self._span(k)[0] - self.inp_start, length) for k in group])
            y = self.core.separate(x.reshape(len(group) * self.c, length), self.conds)
            y = y.reshape(self.q, len(group), self.c, length)
            if length < p.window:  # segment 0, or cut at the signal's end: nothing after it
                y = np.concatenate([y, np.zeros(y.shape[:-1] + (p.window - length,), np.float32)], axis=-1)
            for j, k in enumerate(group):
                start = k * p.centre  # centre start (input position)
                off = start - self._span(k)[0]
                seg = y[:, j, :, off : off + p.centre + p.fade].reshape(self.q * self.c, -1).copy()
                if k > 0:
                    seg[:, : p.fade] *= self.ramp_up
                seg[:, p.centre :] *= self.ramp_down
                self.acc.view(start - self.acc_start, seg.shape[-1])[:] += seg
        self.segments_done += len(ks)

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
            if _is_cancelled(cancel):
                raise Cancelled("separation cancelled")
            self._run_segments(ready[i : i + self.max_segments])
        if ready:
            keep_from = self.next_seg * p.centre - p.left
            if keep_from > self.inp_start:
                self.inp.drop(keep_from - self.inp_start)
                self.inp_start = keep_from
        # emit output positions [n_out, n_in) = stem positions shifted by the latency
        out = np.zeros((self.q * self.c, self.n_in - self.n_out), np.float32)
        lo, hi = self.n_out - p.latency, self.n_in - p.latency
        if hi > self.next_seg * p.centre:  # impossible with latency = centre + right: guard the invariant
            raise RuntimeError("block engine emitted past its finalised output")
        s = max(lo, self.acc_start)
        if hi > s:
            out[:, s - lo : hi - lo] = self.acc.view(s - self.acc_start, hi - s)
            self.acc.drop(hi - self.acc_start)
            self.acc_start = hi
        self.n_out = self.n_in
        return out.reshape(self.q, self.c, -1)


def model_length(n: int, sr, sr_m) -> int:
    """Samples that ``n`` samples at ``sr`` become at ``sr_m`` in a whole-signal soxr resample
    (``plugin.audio.resample``): n * sr_m / sr rounded half up."""
    if sr == sr_m:
        return int(n)
    num, den = rate_ratio(sr_m, sr)
    return (2 * n * num + den) // (2 * den)


def rate_ratio(a, b):
    """a/b as a reduced fraction of integers (rates may be non-integer floats)."""
    from fractions import Fraction

    f = Fraction(a).limit_denominator(10 ** 6) / Fraction(b).limit_denominator(10 ** 6)
    return f.numerator, f.denominator


def model_delay_at(latency_m: int, sr_m, sr):
    """(extra model-rate delay, host-rate delay) so that latency_m + extra is a whole number of samples
    at both rates: the smallest such extra."""
    if sr == sr_m:
        return 0, latency_m
    num, den = rate_ratio(sr, sr_m)  # host samples per model sample = num/den
    total = -(-latency_m // den) * den
    return total - latency_m, total * num // den


class _ResampleStream:
    """soxr ResampleStream for (channels, n) float32 arrays; ``last=True`` flushes."""

    def __init__(self, sr_in, sr_out, channels: int, quality: str = "HQ"):
        import soxr

        self.st = soxr.ResampleStream(sr_in, sr_out, channels, dtype="float32", quality=quality)

    def __call__(self, x: np.ndarray, last: bool = False) -> np.ndarray:
        y = self.st.resample_chunk(np.ascontiguousarray(x.T, dtype=np.float32), last=last)
        return np.ascontiguousarray(y.T)


class Separator:
    """Text-queried separation with one model bundle (see DESIGN.md, "Public API")."""

    def __init__(self, bundle: Bundle, max_batch: int = 8):
        self.bundle = bundle
        self.core = ModelCore(bundle, max_batch=max_batch)
        if bundle.mem_arena is None:
            # The arena makes repeated runs 1.5-2x faster but keeps each peak; for the full-size model
            # that peak would break the 1.5 GB budget of block-wise mode, so heavy models go without.
            bundle.mem_arena = self.core.frame_bytes <= ARENA_MAX_FRAME_BYTES
        self._text = None

    # ----- construction ---------------------------------------------------------------------------
    @classmethod
    def load(cls, path: Union[str, Path, None] = None, providers: Optional[Sequence[str]] = None,
             threads: Optional[int] = None, max_batch: int = 8, verify: bool = True,
             mem_arena: Optional[bool] = None, specialise: bool = True, precision: str = "fp32") -> "Separator":
        """Load a bundle folder (default: the embedded default model shipped in the package).

        ``mem_arena`` None chooses ONNX Runtime's memory arena by model size (see Separator).
        ``specialise`` False runs the generic separator.onnx even when the bundle has query-specialised
        graphs (see plugin.bundle; the results agree to float rounding). ``precision="int8"`` runs the
        bundle's int8 core (exported with ``--int8``; CPU, about 1.7x faster convolutions on the
        full-size model, an approximation: its measured difference is in the manifest)."""
        return cls(Bundle(path or DEFAULT_BUNDLE, providers=providers, threads=threads, verify=verify,
                          mem_arena=mem_arena, specialise=specialise, precision=precision), max_batch)

    @property
    def sample_rate(self) -> int:
        return self.bundle.manifest.sample_rate

    @property
    def condition_dim(self) -> int:
        return self.bundle.manifest.condition_dim

    @property
    def name(self) -> str:
        return self.bundle.manifest.name

    @property
    def provider(self) -> str:
        return self.bundle.provider

    @property
    def has_text_encoder(self) -> bool:
        return self.bundle.has_text_encoder

    # ----- conditions -----------------------------------------------------------------------------
    def embed(self, queries: Union[str, Sequence[str]]) -> np.ndarray:
        """Condition vector(s) for text queries: [D] for one string, [Q, D] for a list."""
        from .text import TextEncoder

        if self._text is None:
            self._text = TextEncoder(self.bundle)
        if isinstance(queries, str):
            return self._text.encode([queries])[0]
        return self._text.encode(list(queries))

    def _conditions(self, queries, embedding) -> np.ndarray:
        if (queries is None) == (embedding is None):
            raise QueryError("pass either a text query or embedding=..., not both" if queries is not None
                             else "nothing to separate: pass a text query (e.g. 'bass guitar') or embedding=...")
        if queries is not None:
            qs = [queries] if isinstance(queries, str) else list(queries)
            if not qs:
                raise QueryError("empty list of queries")
            return self.embed(qs)
        e = np.asarray(embedding)
        if e.dtype == object or not np.issubdtype(e.dtype, np.number):
            raise QueryError(f"embedding must be numeric, got dtype {e.dtype}")
        e = e.astype(np.float32)
        if e.ndim == 1:
            e = e[None]
        if e.ndim != 2 or e.shape[-1] != self.condition_dim:
            raise QueryError(f"embedding has shape {np.shape(embedding)}; this model needs [{self.condition_dim}] "
                             f"(or [queries, {self.condition_dim}])")
        if not np.all(np.isfinite(e)):
            raise QueryError("embedding contains NaN or inf values")
        return e

    # ----- separation -----------------------------------------------------------------------------
    def separate(self, audio, sr, query: Optional[str] = None, *, embedding=None, block_seconds=_UNSET,
                 context_seconds: Optional[float] = None, residual: bool = False,
                 progress: Optional[ProgressFn] = None, cancel: CancelFn = None) -> np.ndarray:
        """The stem for one query, with exactly ``audio``'s shape (or the residual with ``residual=True``).

        ``block_seconds``: left out, block-wise with :meth:`offline_plan`; a number, block-wise with
        segments of that many seconds (``context_seconds`` of context each side, 1 s when left out);
        None, the whole clip at once."""
        if query is not None and not isinstance(query, str):
            raise QueryError("separate() takes one query; use separate_many() for several")
        return self.separate_many(audio, sr, query if query is not None else None, embeddings=embedding,
                                  block_seconds=block_seconds, context_seconds=context_seconds,
                                  residual=residual, progress=progress, cancel=cancel)[0]

    def separate_many(self, audio, sr, queries=None, *, embeddings=None, block_seconds=_UNSET,
                      context_seconds: Optional[float] = None, residual: bool = False,
                      progress: Optional[ProgressFn] = None, cancel: CancelFn = None) -> List[np.ndarray]:
        """Stems for several queries in one pass (shared STFT, one ONNX batch per block)."""
        x, mono = as_channels(audio)
        rate = check_rate(sr)
        conds = self._conditions(queries, embeddings)
        n = x.shape[-1]
        if block_seconds is None:
            xm = resample(x, rate, self.sample_rate)
            if xm.shape[-1] == 0:  # shorter than one model-rate sample
                xm = np.zeros((x.shape[0], 1), np.float32)
            if xm.shape[-1] / self.sample_rate > WHOLE_CLIP_MAX_SECONDS:
                raise AudioError(f"whole-clip mode holds the entire spectrogram in memory; {n / rate:.0f} s is over "
                                 f"{WHOLE_CLIP_MAX_SECONDS:.0f} s. Use block-wise mode (block_seconds=...)")
            if _is_cancelled(cancel):
                raise Cancelled("separation cancelled")
            ym = self.core.separate(xm, conds)  # [Q, C, N_model]
            stems = [resample(y, self.sample_rate, rate, length=n) for y in ym]
            if progress:
                progress(1.0)
        else:
            if block_seconds is _UNSET:
                block_seconds = None  # iter_separate: the offline plan
            stems = list(self._blockwise(x, rate, conds, block_seconds, context_seconds, progress, cancel))
        outs = []
        for stem in stems:
            if residual:
                stem = x - stem
            outs.append(stem[0] if mono else stem)
        return outs

    def offline_plan(self, n: Optional[int] = None, context_seconds: Optional[float] = None) -> BlockPlan:
        """The segment plan of offline work (``separate()`` without ``block_seconds``, the renderer,
        the host) for ``n`` model-rate samples.

        Latency does not matter offline, so a light model takes the longest window whose activations
        fit the budget (``ACTIVATION_BUDGET_BYTES``, at most ``OFFLINE_MAX_BLOCK_SECONDS``; 21 s for the
        embedded default) with ``OFFLINE_CONTEXT_SECONDS`` of context each side; a model too heavy for a
        ``OFFLINE_MIN_BLOCK_SECONDS`` window keeps the streaming plan (6 s + 1 s). Then, when ``n`` is
        known, the centres shrink to the smallest stride multiple that still needs no more segments,
        so the last segment is not mostly padding: 60 s of audio on the embedded default is computed
        as 4 x 15 s centres, 6460 frames instead of 7200 with fixed 12 s blocks (BENCHMARKS.md §2)."""
        core = self.core
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

    def plan(self, block_seconds: float = DEFAULT_BLOCK_SECONDS, context_seconds: float = DEFAULT_CONTEXT_SECONDS) -> BlockPlan:
        return BlockPlan.make(self.core, block_seconds, context_seconds)

    def iter_separate(self, chunks: Iterable[np.ndarray], sr, conds: np.ndarray, channels: int, n_total: int,
                      block_seconds: Optional[float] = None, context_seconds: Optional[float] = None,
                      cancel: CancelFn = None) -> Iterator[np.ndarray]:
        """Block-wise separation of a stream of (channels, n) chunks at rate ``sr``.

        Yields (queries, channels, m) stem chunks aligned with the input (latency already removed),
        ``n_total`` samples in all. Memory stays constant in the stream's length: resampling runs as
        soxr streams, and the engine keeps only one window of audio. Segments follow
        :meth:`offline_plan` for ``n_total`` samples unless ``block_seconds`` is given (then
        ``context_seconds``, 1 s when left out, of context each side).
        """
        plan = self._plan_for(n_total, sr, block_seconds, context_seconds)
        yield from self._iter_plan(chunks, sr, conds, channels, n_total, plan, cancel)

    def _plan_for(self, n_total: int, sr, block_seconds: Optional[float], context_seconds: Optional[float]) -> BlockPlan:
        """The segments for ``n_total`` samples at rate ``sr``: :meth:`offline_plan` without
        ``block_seconds``, else fixed blocks with ``context_seconds`` (1 s when left out)."""
        if block_seconds is None:
            return self.offline_plan(math.ceil(n_total * self.sample_rate / sr), context_seconds)
        return self.plan(block_seconds, DEFAULT_CONTEXT_SECONDS if context_seconds is None else context_seconds)

    def _iter_plan(self, chunks: Iterable[np.ndarray], sr, conds: np.ndarray, channels: int, n_total: int,
                   plan: BlockPlan, cancel: CancelFn) -> Iterator[np.ndarray]:
        """:meth:`iter_separate` with the plan already chosen."""
        q = conds.shape[0]
        sr_m = self.sample_rate
        eng = BlockEngine(self.core, conds, channels, plan)
        in_rs = _ResampleStream(sr, sr_m, channels) if sr != sr_m else None
        out_rs = _ResampleStream(sr_m, sr, q * channels) if sr != sr_m else None
        # The delayed stem goes through the output resampler (as in the streaming effect, so both give
        # the same samples) with the delay rounded up to a whole number of host samples, then trimmed.
        extra, skip = model_delay_at(plan.latency, sr_m, sr)
        state = {"skip": skip, "emitted": 0, "extra": extra}

        def through(xm: np.ndarray, last: bool):
            y = eng.push(xm, cancel).reshape(q * channels, -1)
            if state["extra"]:
                y = np.concatenate([np.zeros((y.shape[0], state["extra"]), np.float32), y], axis=-1)
                state["extra"] = 0
            if out_rs is not None:
                y = out_rs(y, last)
            if state["skip"]:
                k = min(state["skip"], y.shape[-1])
                y, state["skip"] = y[:, k:], state["skip"] - k
            y = y[:, : max(0, n_total - state["emitted"])]
            state["emitted"] += y.shape[-1]
            return y.reshape(q, channels, -1)

        for chunk in chunks:
            if _is_cancelled(cancel):
                raise Cancelled("separation cancelled")
            xm = in_rs(chunk, False) if in_rs is not None else chunk
            y = through(xm, False)
            if y.shape[-1]:
                yield y
        eng.end_signal(model_length(n_total, sr, sr_m))  # the last segment reflects at the end, as the whole clip does
        # Flush with silence (not the resampler's end-of-stream mode), exactly as the streaming effect
        # does, until every output sample is out.
        zeros = np.zeros((channels, max(1024, int(0.25 * sr))), np.float32)
        while state["emitted"] < n_total:
            y = through(in_rs(zeros) if in_rs is not None else zeros, False)
            if y.shape[-1]:
                yield y

    def _blockwise(self, x, sr, conds, block_seconds, context_seconds, progress, cancel) -> np.ndarray:
        n = x.shape[-1]
        plan = self._plan_for(n, sr, block_seconds, context_seconds)
        seconds = block_seconds if block_seconds is not None else plan.centre / self.sample_rate
        step = max(1, int(seconds * sr))  # progress (and cancel) about once per block

        def chunks():
            for i in range(0, n, step):
                yield x[:, i : i + step]
                if progress:
                    progress(min(1.0, (i + step) / n))

        out = np.zeros((conds.shape[0], x.shape[0], n), np.float32)
        pos = 0
        for y in self._iter_plan(chunks(), sr, conds, x.shape[0], n, plan, cancel):
            out[..., pos : pos + y.shape[-1]] = y
            pos += y.shape[-1]
        return out

    def effect(self, query: Optional[str] = None, *, embedding=None, residual: bool = False,
               block_seconds: float = DEFAULT_BLOCK_SECONDS, context_seconds: float = DEFAULT_CONTEXT_SECONDS):
        """A streaming effect (see :class:`plugin.effect.SeparationEffect`)."""
        from .effect import SeparationEffect

        return SeparationEffect(self, query, embedding=embedding, residual=residual,
                                block_seconds=block_seconds, context_seconds=context_seconds)

    def __repr__(self) -> str:
        return f"Separator({self.name!r}, {self.sample_rate} Hz, provider={self.bundle.provider})"
