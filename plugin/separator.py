"""The Separator: text- (or embedding-) queried separation of any audio, whole-clip or block-wise.

Signal path: any rate / channel count -> soxr to the bundle rate -> per channel STFT -> magnitude ->
separator graph -> complex mask -> ISTFT (block-wise: crossfaded overlap-add of segments) -> soxr
back -> exactly the input's shape, rate and length; residual = input - stem, an exact null. The
parts live in :mod:`plugin.core` (the model), :mod:`plugin.blocks` (segments) and
:mod:`plugin.streams` (rates and alignment); this module is the public API over them.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Iterator, List, Optional, Sequence, Union

import numpy as np

from .arrays import MAX_ABS_SAMPLE, as_channels, check_rate, out_of_range
from .blocks import (DEFAULT_BLOCK_SECONDS, DEFAULT_CONTEXT_SECONDS, OFFLINE_CONTEXT_SECONDS,
                     OFFLINE_MAX_BLOCK_SECONDS, OFFLINE_MIN_BLOCK_SECONDS, BlockEngine, BlockPlan, offline_plan)
from .bundle import DEFAULT_BUNDLE, Bundle
from .core import ACTIVATION_BUDGET_BYTES, ARENA_MAX_FRAME_BYTES, ModelCore, activation_bytes_per_frame
from .errors import AudioError, QueryError
from .fifo import FifoBuffer
from .progress import CancelFn, ProgressFn, raise_if_cancelled
from .resample import ResampleStream, model_delay_at, model_length, rate_ratio, resample
from .streams import separate_buffer, separate_stream

WHOLE_CLIP_MAX_SECONDS = 600.0
_UNSET = object()

__all__ = [
    "ACTIVATION_BUDGET_BYTES", "ARENA_MAX_FRAME_BYTES", "DEFAULT_BLOCK_SECONDS", "DEFAULT_CONTEXT_SECONDS",
    "OFFLINE_CONTEXT_SECONDS", "OFFLINE_MAX_BLOCK_SECONDS", "OFFLINE_MIN_BLOCK_SECONDS", "WHOLE_CLIP_MAX_SECONDS",
    "BlockEngine", "BlockPlan", "CancelFn", "FifoBuffer", "ModelCore", "ProgressFn", "ResampleStream", "Separator",
    "activation_bytes_per_frame", "model_delay_at", "model_length", "rate_ratio",
]


class Separator:
    """Text-queried separation with one model bundle (see README, "Python API")."""

    def __init__(self, bundle: Bundle, max_batch: int = 8):
        self.bundle = bundle
        self.core = ModelCore(bundle, max_batch=max_batch)
        if bundle.mem_arena is None:
            # The arena makes repeated runs faster but keeps each peak: light models get it, heavy
            # ones go without so that block-wise mode stays within its memory budget (BENCHMARKS.md §1).
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
        graphs (see plugin.specialise; the results agree to float rounding). ``precision="int8"`` runs
        the bundle's int8 core (exported with ``--int8``; CPU only; an approximation whose measured
        difference is in the manifest)."""
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

    def conditions(self, queries=None, embedding=None) -> np.ndarray:
        """[Q, D] float32 condition vectors from text queries (a string or a list) or from
        ``embedding`` ([D] or [Q, D]); exactly one of the two. Raises QueryError for anything unusable."""
        if (queries is None) == (embedding is None):
            raise QueryError("pass either a text query or embedding=..., not both" if queries is not None
                             else "nothing to separate: pass a text query (e.g. 'bass guitar') or embedding=...")
        if queries is not None:
            qs = [queries] if isinstance(queries, str) else list(queries)
            if not qs:
                raise QueryError("empty list of queries")
            return self._to_conditions(self.embed(qs))
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
        if out_of_range(e):
            raise QueryError(f"embedding has values up to {out_of_range(e):.3g}; a condition vector's values must "
                             f"stay within ±{MAX_ABS_SAMPLE:g} (text encoders give unit-length vectors)")
        return self._to_conditions(e)

    def _to_conditions(self, emb: np.ndarray) -> np.ndarray:
        """What the core takes: the embeddings, or for a multi-source bundle their source weights."""
        return emb if self.core.head is None else self.core.head.weights(emb)

    # ----- families (multi-source bundles) ----------------------------------------------------------
    @property
    def families(self) -> List[str]:
        """The instrument families this model separates in one pass ([] without a family head)."""
        return list(self.core.head.families) if self.core.head is not None else []

    def route(self, query: str) -> dict:
        """{family: weight in [0, 1]} that ``query`` maps to (a multi-source bundle's router); all
        near 0 means the query names none of the known families. {} without a family head."""
        if self.core.head is None:
            return {}
        weights = self.core.head.routes(self.embed([query]))[0]
        return {f: float(w) for f, w in zip(self.core.head.families, weights)}

    def split(self, audio, sr, **kwargs) -> dict:
        """{name: stem} of the families present plus "other", summing exactly to ``audio``; see
        :func:`plugin.split.split`."""
        from .split import split

        return split(self, audio, sr, **kwargs)

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
        return self.separate_conditions(audio, sr, self.conditions(queries, embeddings), block_seconds=block_seconds,
                                        context_seconds=context_seconds, residual=residual, progress=progress,
                                        cancel=cancel)

    def separate_conditions(self, audio, sr, conds: np.ndarray, *, block_seconds=_UNSET,
                            context_seconds: Optional[float] = None, residual: bool = False,
                            progress: Optional[ProgressFn] = None, cancel: CancelFn = None) -> List[np.ndarray]:
        """Stems for condition rows from :meth:`conditions` (or a family head's selectors)."""
        x, mono = as_channels(audio)
        rate = check_rate(sr)
        if block_seconds is None:
            stems = list(self._whole_clip(x, rate, conds, progress, cancel))
        else:
            if block_seconds is _UNSET:
                block_seconds = None  # the offline plan
            plan = self.plan_for(x.shape[-1], rate, block_seconds, context_seconds)
            seconds = block_seconds if block_seconds is not None else plan.centre / self.sample_rate
            step = max(1, int(seconds * rate))  # progress (and cancel) about once per block
            stems = list(separate_buffer(self.core, x, rate, conds, plan, step, progress, cancel))
        outs = []
        for stem in stems:
            if not np.isfinite(stem).all():
                raise AudioError("the separation produced NaN/inf samples: the input or the embedding is out of "
                                 "the range this model handles; scale the audio to full scale (1.0)")
            if residual:
                stem = x - stem
            outs.append(stem[0] if mono else stem)
        return outs

    def _whole_clip(self, x: np.ndarray, rate, conds: np.ndarray, progress: Optional[ProgressFn],
                    cancel: CancelFn) -> List[np.ndarray]:
        """Stems of the whole clip in one pass at the model rate (the official model's inference)."""
        n = x.shape[-1]
        xm = resample(x, rate, self.sample_rate)
        if xm.shape[-1] == 0:  # shorter than one model-rate sample
            xm = np.zeros((x.shape[0], 1), np.float32)
        if xm.shape[-1] / self.sample_rate > WHOLE_CLIP_MAX_SECONDS:
            raise AudioError(f"whole-clip mode holds the entire spectrogram in memory; {n / rate:.0f} s is over "
                             f"{WHOLE_CLIP_MAX_SECONDS:.0f} s. Use block-wise mode (block_seconds=...)")
        raise_if_cancelled(cancel, "separation cancelled")
        ym = self.core.separate(xm, conds)  # [Q, C, N_model]
        stems = [resample(y, self.sample_rate, rate, length=n) for y in ym]
        if progress:
            progress(1.0)
        return stems

    # ----- block plans ----------------------------------------------------------------------------
    def offline_plan(self, n: Optional[int] = None, context_seconds: Optional[float] = None) -> BlockPlan:
        """The segment plan of offline work (``separate()`` without ``block_seconds``, the renderer,
        the host) for ``n`` model-rate samples: see :func:`plugin.blocks.offline_plan`."""
        return offline_plan(self.core, n, context_seconds)

    def plan(self, block_seconds: float = DEFAULT_BLOCK_SECONDS, context_seconds: float = DEFAULT_CONTEXT_SECONDS) -> BlockPlan:
        """Fixed segments of ``block_seconds`` with ``context_seconds`` of context each side."""
        return BlockPlan.make(self.core, block_seconds, context_seconds)

    def plan_for(self, n_total: int, sr, block_seconds: Optional[float] = None,
                 context_seconds: Optional[float] = None) -> BlockPlan:
        """The segments for ``n_total`` samples at rate ``sr``: :meth:`offline_plan` without
        ``block_seconds``, else fixed blocks with ``context_seconds`` (1 s when left out)."""
        if block_seconds is None:
            return self.offline_plan(math.ceil(n_total * self.sample_rate / sr), context_seconds)
        return self.plan(block_seconds, DEFAULT_CONTEXT_SECONDS if context_seconds is None else context_seconds)

    def iter_separate(self, chunks: Iterable[np.ndarray], sr, conds: np.ndarray, channels: int, n_total: int,
                      block_seconds: Optional[float] = None, context_seconds: Optional[float] = None,
                      cancel: CancelFn = None) -> Iterator[np.ndarray]:
        """Block-wise separation of a stream of (channels, n) chunks at rate ``sr``.

        Yields (queries, channels, m) stem chunks aligned with the input (latency already removed),
        ``n_total`` samples in all, in constant memory (see :mod:`plugin.streams`). Segments follow
        :meth:`plan_for`. ``conds`` [Q, D] come from :meth:`conditions`.
        """
        plan = self.plan_for(n_total, sr, block_seconds, context_seconds)
        yield from separate_stream(self.core, chunks, sr, conds, channels, n_total, plan, cancel)

    # ----- streaming ------------------------------------------------------------------------------
    def effect(self, query: Optional[str] = None, *, embedding=None, residual: bool = False,
               block_seconds: float = DEFAULT_BLOCK_SECONDS, context_seconds: float = DEFAULT_CONTEXT_SECONDS):
        """A streaming effect (see :class:`plugin.effect.SeparationEffect`)."""
        from .effect import SeparationEffect

        return SeparationEffect(self, query, embedding=embedding, residual=residual,
                                block_seconds=block_seconds, context_seconds=context_seconds)

    def __repr__(self) -> str:
        return f"Separator({self.name!r}, {self.sample_rate} Hz, provider={self.bundle.provider})"
