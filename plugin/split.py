"""Split into stems: the stems of the families present, plus "other", summing exactly to the input.

With a multi-source bundle one pass gives every family's stem (:mod:`plugin.families`); with any
other bundle each query of ``DEFAULT_QUERIES`` is separated. A stem is kept when its energy is
within ``threshold_db`` of the input's, so families the model does not hear are not returned as
faint noise; "other" is the input minus the kept stems, which makes the sum exact.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np

from .arrays import as_channels
from .errors import QueryError
from .families import OTHER

THRESHOLD_DB = -24.0  # a stem quieter than this re the input is left in "other"
DEFAULT_QUERIES = ("vocals", "drums", "bass guitar", "piano", "acoustic guitar", "electric guitar", "strings",
                   "brass", "saxophone", "woodwinds", "organ", "synthesizer")


def energy_db(stem: np.ndarray, ref: np.ndarray) -> float:
    """Energy of ``stem`` re ``ref`` in dB (-inf for silence)."""
    e = float(np.vdot(stem, stem).real)
    r = float(np.vdot(ref, ref).real)
    if e <= 0:
        return float("-inf")
    return 10.0 * np.log10(e / max(r, 1e-30))


def keep(names: Sequence[str], stems: Sequence[np.ndarray], audio: np.ndarray,
         threshold_db: float = THRESHOLD_DB) -> Dict[str, np.ndarray]:
    """The stems at least ``threshold_db`` re ``audio``, in order, then "other" = audio - their sum."""
    out: Dict[str, np.ndarray] = {}
    rest = np.array(audio, dtype=np.float32, copy=True)
    for name, stem in zip(names, stems):
        if energy_db(stem, audio) >= threshold_db:
            out[name] = stem
            rest -= stem
    out[OTHER] = rest
    return out


def split(separator, audio, sr, *, threshold_db: float = THRESHOLD_DB, queries: Optional[Sequence[str]] = None,
          progress=None, cancel=None, **separate_kwargs) -> Dict[str, np.ndarray]:
    """``separator``'s stems of ``audio`` (any shape ``Separator.separate`` takes) as {name: stem}:
    the families present (a multi-source bundle's families, or ``queries`` / ``DEFAULT_QUERIES``
    for a bundle without a family head), then "other"; every stem has the input's shape and the
    stems sum to the input up to float32 rounding. ``separate_kwargs`` go to the separation
    (``block_seconds``, ``context_seconds``)."""
    x, mono = as_channels(audio)
    head = separator.core.head
    if head is not None and queries is None:
        names: List[str] = list(head.families)
        conds = head.selectors(names)
    else:
        names = list(queries or DEFAULT_QUERIES)
        if not names:
            raise QueryError("split needs at least one query")
        conds = separator.conditions(names)
    stems = separator.separate_conditions(x, sr, conds, progress=progress, cancel=cancel, **separate_kwargs)
    kept = keep(names, stems, x, threshold_db)
    return {k: (v[0] if mono else v) for k, v in kept.items()}
