"""Tokenising for text encoders: texts -> (token ids, attention mask), padded with the tokenizer's pad id.

Both arrays are int64 ``[texts, longest]``; ``mask`` is 1 on real tokens and 0 on padding. The
runtime (``plugin.text``) and the exporters (``export/``) use the same function, so an encoder is
traced and run on identically padded input.
"""
from __future__ import annotations

from typing import Iterable, Optional, Sequence, Tuple

import numpy as np

PAD_TOKENS = ("[PAD]", "<pad>")  # BERT-style and RoBERTa-style vocabularies


def pad_id_of(tokenizer, default: int = 0) -> int:
    """The id of the tokenizer's padding token ([PAD] or <pad>), or ``default`` when it has none."""
    for token in PAD_TOKENS:
        found: Optional[int] = tokenizer.token_to_id(token)
        if found is not None:
            return int(found)
    return int(default)


def pad_batch(encodings: Iterable, pad_id: int) -> Tuple[np.ndarray, np.ndarray]:
    """(ids, mask) of ``tokenizers`` encodings, right-padded with ``pad_id`` to the longest."""
    encodings = list(encodings)
    longest = max(len(e.ids) for e in encodings)
    ids = np.full((len(encodings), longest), pad_id, np.int64)
    mask = np.zeros((len(encodings), longest), np.int64)
    for row, enc in enumerate(encodings):
        ids[row, : len(enc.ids)] = enc.ids
        mask[row, : len(enc.ids)] = 1
    return ids, mask


def tokenize(tokenizer, texts: Sequence[str], pad_id: int) -> Tuple[np.ndarray, np.ndarray]:
    """(ids, mask) of ``texts`` with the tokenizer's current truncation settings."""
    return pad_batch(tokenizer.encode_batch(list(texts)), pad_id)
