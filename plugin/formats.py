"""Output file formats: which format / bit-depth pairs exist and how samples are stored in them.

Integer formats clip to full scale (never wrap around); 32-bit float keeps every sample. The batch
renderer, the audio writer and the host's export all check their choice with :func:`check_output`.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .errors import OutputError

OUTPUT_FORMATS = ("wav", "flac")
BIT_DEPTHS = ("16", "24", "32f")
SUBTYPES = {"16": "PCM_16", "24": "PCM_24", "32f": "FLOAT"}  # soundfile subtype of each bit depth
SAMPLE_BYTES = {"16": 2, "24": 3, "32f": 4}  # bytes per sample of each bit depth (uncompressed)
FLOAT_DEPTH = "32f"


def output_problem(fmt: str, bit_depth: str) -> Optional[str]:
    """Why ``fmt`` / ``bit_depth`` cannot be written (a sentence), or None when they can."""
    if fmt not in OUTPUT_FORMATS:
        return f"unsupported output format {fmt!r}; use wav or flac"
    if bit_depth not in BIT_DEPTHS:
        return f"unsupported bit depth {bit_depth!r}; use 16, 24 or 32f"
    if fmt == "flac" and bit_depth == FLOAT_DEPTH:
        return "FLAC cannot store 32-bit float; use --bit-depth 16 or 24, or --format wav"
    return None


def check_output(fmt: str, bit_depth: str) -> None:
    """Raise :class:`OutputError` when ``fmt`` / ``bit_depth`` cannot be written."""
    problem = output_problem(fmt, bit_depth)
    if problem:
        raise OutputError(problem)


def full_scale_top(bit_depth: str) -> float:
    """The largest sample an integer format holds: 1 - 1 LSB."""
    return 1.0 - 1.0 / (2 ** (int(bit_depth) - 1))


def encode_for_subtype(x: np.ndarray, bit_depth: str) -> np.ndarray:
    """Integer formats clip to [-1, 1 - 1 LSB] (never wrap around); float passes through."""
    if bit_depth == FLOAT_DEPTH:
        return x.astype(np.float32)
    return np.clip(x, -1.0, full_scale_top(bit_depth)).astype(np.float32)
