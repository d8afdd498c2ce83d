"""A parsed query (:mod:`plugin.query`) as audio: unions, exclusions and "the rest" from the model's stems.

Every description in a query goes through the model in one pass (``Separator.separate_many``:
shared STFT, one batch), then the stems are combined:

* a union ("bass and drums") is the sum of its terms' stems;
* "the rest" ("everything but the drums", "no vocals") is the input minus the sum of the stems left
  out, so it and the stems left out add up to the input exactly;
* an exclusion from a sound ("guitar, not the drums") removes from the terms' stem what the
  excluded stems explain, with the Wiener-style gain of :mod:`plugin.wiener` (never adding energy);
* a residual is the input minus the query's stem.

:class:`QueryMix` does this on a stream of chunks (the batch renderer, the streaming effect);
:func:`evaluate_query` on a whole buffer. ``separate_compound`` is the original name of the latter::

    from plugin.compound import separate_compound
    stem = separate_compound(sep, audio, sr, "guitar, not the bass, not the drums")
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np

from .arrays import as_channels
from .fifo import FifoBuffer
from .query import Query, parse
from .text import clean_query
from .wiener import WienerStream, combine_stems

__all__ = ["QueryMix", "combine_stems", "evaluate_query", "separate_compound"]


class QueryMix:
    """One query's stem (or its residual) from the stems of ``texts``, chunk by chunk.

    ``push(stems, x)`` takes the model's stems (len(texts), channels, m) and the input chunk
    (channels, m) they came from (None when neither "the rest" nor a residual is asked for) and
    returns the output samples that are ready; ``finish()`` returns the rest. An exclusion from a
    sound lags by up to :attr:`delay` samples; with ``fixed_delay`` every push returns exactly as many
    samples as it was given, delayed by exactly :attr:`delay` (the streaming effect's way). There,
    ``lead`` samples of silence that precede the signal (an engine's latency) are skipped and given
    back at the output, and :meth:`end_signal` marks where the signal ends, so that the exclusion
    sees the signal's own frames and zeros beyond its end, as on a whole buffer.
    """

    def __init__(self, query: Query, texts: Sequence[str], channels: int, sr, residual: bool = False,
                 strength: float = 1.0, power: float = 2.0, fixed_delay: bool = False, lead: int = 0):
        index = {t: i for i, t in enumerate(texts)}
        self.terms = [index[t] for t in query.terms]
        self.negs = [index[t] for t in query.negatives]
        self.rest = query.rest
        self.residual = residual
        self.wiener = (WienerStream(channels, sr, len(self.negs), strength, power)
                       if self.terms and self.negs else None)
        self.delay = self.wiener.delay if self.wiener is not None else 0
        self.dry = FifoBuffer(channels) if self.wiener is not None and residual else None
        self.out = None
        self.skip = lead if self.wiener is not None else 0
        self.position = 0  # signal samples given to the exclusion
        self.end: Optional[int] = None
        if fixed_delay and self.delay:
            self.out = FifoBuffer(channels)
            self.out.extend_zeros(self.delay + self.skip)

    def end_signal(self, n: int) -> None:
        """The signal ends after ``n`` samples (counted after the lead): what comes later counts as silence."""
        self.end = n

    def _sum(self, stems: np.ndarray, which) -> np.ndarray:
        return stems[which[0]] if len(which) == 1 else stems[which].sum(0)

    def push(self, stems: np.ndarray, x: Optional[np.ndarray] = None) -> np.ndarray:
        if self.wiener is None:
            if self.rest:  # the input minus what is left out; its residual is what is left out
                left_out = self._sum(stems, self.negs)
                return left_out if self.residual else x - left_out
            stem = self._sum(stems, self.terms)
            return x - stem if self.residual else stem
        n = stems.shape[-1]
        if self.skip:
            k = min(self.skip, n)
            stems, x, self.skip = stems[..., k:], (x[:, k:] if x is not None else None), self.skip - k
        if self.end is not None and self.position + stems.shape[-1] > self.end:
            stems = stems.copy()
            stems[..., max(0, self.end - self.position):] = 0.0
        self.position += stems.shape[-1]
        y = self.wiener.push(self._sum(stems, self.terms), [stems[i] for i in self.negs])
        return self._ready(y, x, n)

    def finish(self) -> np.ndarray:
        if self.wiener is None:
            return np.zeros((0, 0), np.float32)
        y = self.wiener.finish()
        return self._ready(y, None, y.shape[-1])

    def _ready(self, y: np.ndarray, x: Optional[np.ndarray], n: int) -> np.ndarray:
        if self.dry is not None:
            if x is not None:
                self.dry.append(x)
            y = self.dry.pop(y.shape[-1]) - y
        if self.out is None:
            return y
        self.out.append(y)
        return self.out.pop(n)


def evaluate_query(separator, audio, sr, query: Union[str, Query], *, residual: bool = False,
                   strength: float = 1.0, power: float = 2.0, **kwargs) -> np.ndarray:
    """The stem of ``query`` (text in the query language, or a parsed :class:`~plugin.query.Query`),
    or its residual, with exactly ``audio``'s shape. Other keyword arguments (block_seconds,
    context_seconds, progress, cancel) go to ``Separator.separate_many``. A plain query is exactly
    ``separator.separate``."""
    q = query if isinstance(query, Query) else parse(query)
    if q.plain:
        return separator.separate(audio, sr, q.terms[0], residual=residual, **kwargs)
    x, mono = as_channels(audio)
    stems = np.stack(separator.separate_many(x, sr, q.texts, **kwargs))
    mix = QueryMix(q, q.texts, x.shape[0], sr, residual=residual, strength=strength, power=power)
    head, tail = mix.push(stems, x), mix.finish()
    out = np.concatenate([head, tail], axis=-1) if tail.size else head
    return out[0] if mono else out


def separate_compound(separator, audio, sr, query: str, *, negatives: Optional[Sequence[str]] = None,
                      residual: bool = False, strength: float = 1.0, power: float = 2.0, **kwargs) -> np.ndarray:
    """:func:`evaluate_query` under its original name. ``negatives`` overrides parsing: ``query`` is
    then one description taken as is, and ``negatives`` are left out of it."""
    if negatives is None:
        q = parse(query)
    else:
        negs = tuple(dict.fromkeys(clean_query(n) for n in negatives if n and n.strip()))
        q = Query((clean_query(query),), negs, text=clean_query(query))
    return evaluate_query(separator, audio, sr, q, residual=residual, strength=strength, power=power, **kwargs)
