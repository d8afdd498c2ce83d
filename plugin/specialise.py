"""Query specialisation: one query's FiLM values written into the bytes of the separator core graph.

The FiLM conditioning depends only on the query, so a bundle may ship ``film.onnx`` (condition ->
per-channel affines, BatchNorm folded in) and ``separator_core.onnx``, whose query-dependent
initializers are placeholders at byte offsets the manifest lists (``patches``). For each query the
runtime runs film.onnx once and opens the core with the values written in (:func:`patch_core`), so
ONNX Runtime sees constants where the generic graph has a runtime input and can fuse them
(BENCHMARKS.md §1). The bytes are patched because ``SessionOptions.add_initializer`` overrides are
not seen by ONNX Runtime's NCHWc layout transformer.
"""
from __future__ import annotations

from typing import Any, Dict, List

import numpy as np

from .errors import BundleError

# Element size of each patch operation's data. The int8 core's operations (export/quantize.py) keep a
# query-dependent int8 convolution exact to its quantisation: weight rows q0*sign(w), scales s0*|w|,
# int32 bias round(b / bias_scale).
PATCH_ITEMSIZE = {"replace": 4, "scale": 4, "scale_abs": 4, "q8_sign": 1, "q8_bias": 4}
FP32_OPS = ("replace", "scale")  # the operations an fp32 core may use


def _checked_values(core: bytes, patch: Dict[str, Any], values: Dict[str, Any], where: Any) -> np.ndarray:
    """The patch's value as flat float32, after checking that it fits the bytes it is written to."""
    op = patch["op"]
    for name in (patch["value"], patch.get("weight", patch["value"])):
        if name not in values:
            raise BundleError(f"film.onnx gives no {name!r} that {where} needs; re-export the bundle.")
    v = np.ascontiguousarray(values[patch["value"]], dtype="<f4").reshape(-1)
    offset, count, size = patch["offset"], patch["count"], PATCH_ITEMSIZE.get(op, 0)
    rows = op in ("scale", "scale_abs", "q8_sign")
    bad_bias = op == "q8_bias" and (patch["scale_offset"] + 4 * count > len(core)
                                    or np.size(values[patch["weight"]]) != count)
    if not size or offset + size * count > len(core) or bad_bias or \
            (not rows and v.size != count) or (rows and (v.size == 0 or count % v.size)):
        raise BundleError(f"{where}: patch {patch['value']!r} ({op}, {v.size} values) does not fit {count} items at "
                          f"byte {offset}; re-export the bundle.")
    return v


def _patched_bytes(core: bytes, patch: Dict[str, Any], v: np.ndarray, values: Dict[str, Any]) -> bytes:
    """The new bytes of one patch's span, computed from the original bytes there."""
    op, offset, count = patch["op"], patch["offset"], patch["count"]
    if op in ("scale", "scale_abs"):
        factor = np.abs(v) if op == "scale_abs" else v
        v = (np.frombuffer(core, "<f4", count, offset).reshape(v.size, -1) * factor[:, None]).astype("<f4")
    elif op == "q8_sign":
        base = np.frombuffer(core, np.int8, count, offset).reshape(v.size, -1)
        v = np.where((v < 0)[:, None], -base, base).astype(np.int8)
    elif op == "q8_bias":
        w = np.abs(np.asarray(values[patch["weight"]], "<f4").reshape(-1))
        scale = np.frombuffer(core, "<f4", count, patch["scale_offset"]).astype(np.float64) * np.maximum(w, 1e-30)
        v = np.clip(np.rint(v / scale), -2 ** 31, 2 ** 31 - 1).astype("<i4")
    return v.tobytes()


def patch_core(core: bytes, patches: List[Dict[str, Any]], values: Dict[str, Any], where: Any = "core") -> bytes:
    """A copy of a specialised core's bytes with film.onnx's outputs written in: 'replace' writes a
    value's float32 data at [offset, offset + 4*count); 'scale' multiplies the float32 data there,
    viewed as one row per value element (output channels of a conv), by the value; 'scale_abs' the
    same by its magnitude; 'q8_sign' flips the int8 rows there where the value is negative; 'q8_bias'
    writes round(value / (float32 at ``scale_offset`` * |values[weight]|)) as int32. Every operation
    reads the original bytes; patches must not overlap. The result is assembled in one allocation."""
    view = memoryview(core)
    pieces, at = [], 0
    for patch in sorted(patches, key=lambda p: p["offset"]):
        v = _checked_values(core, patch, values, where)
        offset = patch["offset"]
        if offset < at:
            raise BundleError(f"{where}: patch {patch['value']!r} ({patch['op']}, {v.size} values) does not fit "
                              f"{patch['count']} items at byte {offset}; re-export the bundle.")
        pieces += [view[at:offset], _patched_bytes(core, patch, v, values)]
        at = offset + PATCH_ITEMSIZE[patch["op"]] * patch["count"]
    pieces.append(view[at:])
    return b"".join(pieces)
