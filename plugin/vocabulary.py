"""Queries far from everything a model knows: a typo ("drmus") or an unknown word gets a warning and
the nearest known wordings, before anything is separated.

A model's vocabulary is its manifest's optional ``vocabulary`` (a list of phrases), else
:data:`DEFAULT_VOCABULARY`, common instrument wordings (used for the official AudioSep model too).
A description that is a vocabulary phrase (ignoring case, a leading article and a plural ``s``) is
known at once. Otherwise its condition vector is compared with the vocabulary's: cosine similarity
after subtracting the vocabulary's mean vector, since text encoders give every phrase a large
common component that makes even nonsense look similar to everything. Below ``min_cosine`` (the
manifest's ``vocabulary_min_cosine``, else :data:`MIN_COSINE`) the description is reported with up
to three suggestions: wordings spelled alike first (what a typo needs), then the nearest in meaning.
"""
from __future__ import annotations

import difflib
import re
import threading
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from .query import Query

# Chosen on the embedded default model's embeddings (MiniLM + projection): phrases of the list
# and free wordings of them ("the violins", "a funky slap bass") score 0.9 or more, misspellings
# and unrelated words 0.6-0.83.
MIN_COSINE = 0.85
SUGGESTIONS = 3

DEFAULT_VOCABULARY: Tuple[str, ...] = (
    "bass", "bass guitar", "electric bass", "double bass", "upright bass", "synth bass", "slap bass",
    "drums", "drum kit", "kick drum", "snare drum", "hi-hat", "cymbals", "toms", "percussion", "shaker",
    "tambourine", "congas", "bongos", "hand claps", "drum machine",
    "piano", "grand piano", "electric piano", "keyboard", "organ", "harpsichord", "clavinet",
    "guitar", "acoustic guitar", "electric guitar", "distorted guitar", "clean guitar", "rhythm guitar",
    "lead guitar", "guitar solo", "nylon guitar", "steel guitar", "banjo", "mandolin", "ukulele", "sitar",
    "vocals", "voice", "singing", "lead vocals", "backing vocals", "harmonies", "choir", "speech", "rap",
    "strings", "violin", "viola", "cello", "string section", "orchestra", "harp", "pizzicato strings",
    "brass", "trumpet", "trombone", "french horn", "tuba", "horn section",
    "saxophone", "woodwinds", "flute", "clarinet", "oboe", "bassoon", "recorder",
    "synthesizer", "synth", "synth pad", "synth lead", "pad", "arpeggio", "bells", "glockenspiel", "marimba",
    "vibraphone", "xylophone", "accordion", "harmonica",
)

_ARTICLE = re.compile(r"^(?:the|a|an|some)\s+", re.IGNORECASE)


def _key(text: str) -> str:
    return _ARTICLE.sub("", " ".join(text.lower().split()))


@dataclass(frozen=True)
class Unknown:
    """A description far from the vocabulary: its best cosine and the wordings to suggest."""

    text: str
    cosine: float
    suggestions: Tuple[str, ...]

    def message(self) -> str:
        hint = f"; did you mean {', '.join(f'“{s}”' for s in self.suggestions)}?" if self.suggestions else ""
        return f"“{self.text}” is far from every wording this model knows{hint}"


class Vocabulary:
    """The phrases a model knows and their condition vectors (computed once, on first need).

    ``embed(texts) -> [len(texts), D]`` is the model's text encoder (``Separator.embed``)."""

    def __init__(self, phrases: Sequence[str], embed: Callable[[List[str]], np.ndarray],
                 min_cosine: Optional[float] = None):
        self.phrases = list(dict.fromkeys(" ".join(p.split()) for p in phrases if p and p.strip()))
        self.embed = embed
        self.min_cosine = MIN_COSINE if min_cosine is None else float(min_cosine)
        self._keys = {_key(p) for p in self.phrases}
        self._matrix: Optional[np.ndarray] = None
        self._mean: Optional[np.ndarray] = None
        self._lock = threading.Lock()

    def knows(self, text: str) -> bool:
        """``text`` is one of the phrases (ignoring case, a leading article, a plural s)."""
        k = _key(text)
        return k in self._keys or (k.endswith("s") and k[:-1] in self._keys)

    def _centred(self, v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, np.float64) - self._mean
        return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)

    def _vectors(self) -> np.ndarray:
        with self._lock:
            if self._matrix is None:
                raw = np.asarray(self.embed(self.phrases), np.float64)
                self._mean = raw.mean(0)
                self._matrix = self._centred(raw)
            return self._matrix

    def prepare(self) -> None:
        """Compute the vocabulary's vectors now (a background task), not on the first unknown query."""
        self._vectors()

    def nearest(self, text: str, k: int = SUGGESTIONS) -> List[Tuple[str, float]]:
        """The ``k`` phrases nearest to ``text`` in meaning, with their cosine, nearest first."""
        m = self._vectors()
        c = m @ self._centred(np.asarray(self.embed([text]), np.float64)[0])
        order = np.argsort(-c)[:k]
        return [(self.phrases[i], float(c[i])) for i in order]

    def check(self, text: str) -> Optional[Unknown]:
        """None when ``text`` is known or near a phrase; else what to tell the user."""
        if self.knows(text) or not self.phrases:
            return None
        near = self.nearest(text, max(SUGGESTIONS, 8))
        if near[0][1] >= self.min_cosine:
            return None
        spelled = difflib.get_close_matches(_key(text), self.phrases, n=SUGGESTIONS, cutoff=0.6)
        picks = list(dict.fromkeys(spelled + [p for p, _ in near]))[:SUGGESTIONS]
        return Unknown(text, near[0][1], tuple(picks))

    def check_query(self, query: Query) -> List[Unknown]:
        """The descriptions of a parsed query that are far from the vocabulary (a quoted one is
        taken as meant and not checked)."""
        if query.literal:
            return []
        return [u for u in map(self.check, query.texts) if u is not None]


def vocabulary_of(separator) -> Optional[Vocabulary]:
    """The vocabulary of a loaded :class:`~plugin.separator.Separator` (None without a text encoder)."""
    if not getattr(separator, "has_text_encoder", False) or not hasattr(separator, "embed"):
        return None
    manifest = getattr(getattr(separator, "bundle", None), "manifest", None)
    phrases = getattr(manifest, "vocabulary", None) or DEFAULT_VOCABULARY
    return Vocabulary(phrases, lambda texts: separator.embed(list(texts)),
                      getattr(manifest, "vocabulary_min_cosine", None))
