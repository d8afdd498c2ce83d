"""Deterministic random weights keyed by tensor name (numpy only).

Shared by ``make_official_golden.py`` (which fills AudioSep's own ResUNet30 with them) and the
tests (which fill ``export.resunet`` through the checkpoint importer), so the golden file needs to
store only inputs and outputs, not 100 MB of weights.
"""
from __future__ import annotations

import zlib

import numpy as np


def golden_tensor(name: str, shape, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    shape = tuple(int(s) for s in shape)
    if name.endswith("running_var"):
        return rng.uniform(0.5, 2.0, shape).astype(np.float32)
    if name.endswith("running_mean"):
        return rng.normal(0.0, 0.3, shape).astype(np.float32)
    if len(shape) == 1 and name.endswith(".weight"):  # BatchNorm scale
        return rng.uniform(0.6, 1.4, shape).astype(np.float32)
    if name.endswith(".bias"):
        return rng.normal(0.0, 0.05, shape).astype(np.float32)
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    if ".conv1.weight" in name and len(shape) == 4 and "decoder" in name and name.count("conv_block") == 0:
        fan_in = int(shape[0] * shape[2] * shape[3])  # ConvTranspose2d weight is [in, out, kh, kw]
    return (rng.normal(0.0, 1.0, shape) * (0.7 / np.sqrt(max(fan_in, 1)))).astype(np.float32)


def is_random_weight(name: str) -> bool:
    """Tensors the golden weights cover (not STFT kernels, not BN counters)."""
    return not (name.endswith("num_batches_tracked") or ".stft." in name or ".istft." in name)
