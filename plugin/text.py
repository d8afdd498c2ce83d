"""Query text -> condition vector, through the bundle's tokenizer.json and text_encoder.onnx.

Embeddings are cached per query string, so a query typed twice (or used by several files in a
batch) is encoded once. Queries longer than the encoder's token limit are truncated, with a warning
that says so; empty or absurdly long texts are refused.
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Sequence

import numpy as np

from .errors import QueryError
from .tokens import pad_batch

log = logging.getLogger("sepboard")

MAX_QUERY_CHARS = 2000


def clean_query(q) -> str:
    if not isinstance(q, str):
        raise QueryError(f"query must be text, got {type(q).__name__}")
    s = " ".join(q.split())
    if not s:
        raise QueryError("empty query: describe what to extract, e.g. 'bass guitar' or 'drums'")
    if len(s) > MAX_QUERY_CHARS:
        raise QueryError(f"query is {len(s)} characters long; describe the sound in a few words (max {MAX_QUERY_CHARS})")
    return s


class TextEncoder:
    """A bundle's text encoder with a per-query cache (least recently used dropped first)."""

    def __init__(self, bundle, cache_size: int = 512):
        self.bundle = bundle
        self.spec = bundle.manifest.text_encoder
        if self.spec is None:
            raise QueryError(
                f"bundle {bundle.manifest.name!r} has no text encoder, so it cannot separate by text; "
                "pass embedding=... instead, or use a bundle exported with a text encoder"
            )
        self._cache: "OrderedDict[str, np.ndarray]" = OrderedDict()
        self._size = cache_size
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def tokenize(self, queries: Sequence[str]):
        """(ids, mask) of ``queries``, truncated to the encoder's token limit (with a warning)."""
        tok = self.bundle.tokenizer
        spec = self.spec
        texts = [q.lower() if spec.lowercase else q for q in queries]
        tok.no_padding()
        tok.enable_truncation(spec.max_tokens)
        encs = tok.encode_batch(texts)
        for q, e in zip(queries, encs):
            if e.overflowing:
                log.warning("query %r is longer than %d tokens; only its beginning is used", q[:40] + "...", spec.max_tokens)
        return pad_batch(encs, spec.pad_id)

    def encode(self, queries: Sequence[str]) -> np.ndarray:
        """[Q, D] float32 condition vectors, cached per (cleaned) query."""
        qs = [clean_query(q) for q in queries]
        with self._lock:
            todo = [q for q in dict.fromkeys(qs) if q not in self._cache]
            self.hits += len(qs) - len(todo)
            self.misses += len(todo)
        fresh = {}
        # One query per run: an int8 text encoder quantises its activations dynamically over the whole
        # batch (and a batch pads to its longest query), so a query's vector must not depend on the
        # queries encoded beside it (BENCHMARKS.md §3).
        sess = self.bundle.text_session if todo else None
        names = self.spec.input_names
        for q in todo:
            ids, mask = self.tokenize([q])
            feed = {names[0]: ids}
            if len(names) > 1:
                feed[names[1]] = mask
            out = sess.run([self.spec.output_name], feed)[0][0].astype(np.float32)
            if self.spec.normalize:
                out = out / max(float(np.linalg.norm(out)), 1e-12)
            fresh[q] = out
        with self._lock:
            result = np.stack([fresh[q] if q in fresh else self._cache[q] for q in qs])
            for q, v in fresh.items():
                self._cache[q] = v
            for q in qs:
                self._cache.move_to_end(q)
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return result
