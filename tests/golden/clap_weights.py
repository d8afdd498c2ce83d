"""Deterministic random weights for CLAP text towers, keyed by tensor name (numpy only).

Shared by ``scripts/clap_reference/reference.py`` (which fills laion-clap's own CLAP model with
them, in its isolated environment) and the tests (which write them into an official-layout
checkpoint for ``export.audiosep``), so ``clap_text_reference.npz`` stores only token ids and
embeddings, not the weights.

laion-clap hard-codes ``text_projection = Linear(768, 512) - ReLU - Linear(512, 512)``, so the
reference tower is 768 wide; it is only 2 layers deep with a 512 feed-forward to stay fast.
"""
from __future__ import annotations

import zlib

import numpy as np

# RobertaConfig fields of the reference tower (vocab_size comes from the stand-in tokenizer)
REFERENCE_CONFIG = dict(hidden_size=768, num_hidden_layers=2, num_attention_heads=12, intermediate_size=512,
                        max_position_embeddings=514, type_vocab_size=1, layer_norm_eps=1e-5, pad_token_id=1)
REFERENCE_SEED = 7
BUFFERS = ("position_ids", "token_type_ids")


def is_weight(name: str) -> bool:
    """Text-tower tensors the golden weights cover (buffers keep their values)."""
    return name.startswith(("text_branch.", "text_projection.")) and not name.endswith(BUFFERS)


def clap_text_tensor(name: str, shape, seed: int = REFERENCE_SEED) -> np.ndarray:
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    shape = tuple(int(s) for s in shape)
    if "LayerNorm.weight" in name:
        return rng.uniform(0.8, 1.2, shape).astype(np.float32)
    if name.endswith(".bias"):
        return rng.normal(0.0, 0.05, shape).astype(np.float32)
    if "embeddings." in name:
        return rng.normal(0.0, 0.5, shape).astype(np.float32)
    fan_in = shape[-1] if len(shape) > 1 else 1  # nn.Linear weight: [out, in]
    return (rng.normal(0.0, 1.0, shape) / np.sqrt(fan_in)).astype(np.float32)


def fill(state_dict_shapes, seed: int = REFERENCE_SEED):
    """{name: array} for every covered name in ``{name: shape}``."""
    return {k: clap_text_tensor(k, s, seed) for k, s in state_dict_shapes.items() if is_weight(k)}
