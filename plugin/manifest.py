"""The bundle manifest (``manifest.json``): its fields, their validation, and writing it with checksums.

The manifest is the bundle's table of contents: format version, STFT settings, the separator graph
and its optional query-specialised form, the optional text encoder, and the sha256 of every file.
Every problem is one :class:`BundleError` naming the manifest and saying what to do.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from . import atomic
from .errors import BundleError
from .hashing import sha256_file
from .specialise import FP32_OPS, PATCH_ITEMSIZE

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SEPARATOR_INPUTS = ("magnitude", "condition")
SEPARATOR_OUTPUTS = ("mask", "cos", "sin")


@dataclass
class TextEncoderSpec:
    file: str
    tokenizer: str
    kind: str
    max_tokens: int
    pooling: str
    normalize: bool = True
    input_names: List[str] = field(default_factory=lambda: ["input_ids", "attention_mask"])
    output_name: str = "embedding"
    pad_id: int = 0
    lowercase: bool = False


@dataclass
class Manifest:
    format_version: int
    name: str
    sample_rate: int
    n_fft: int
    hop: int
    window: str
    condition_dim: int
    time_multiple: int
    separator_file: str
    files: Dict[str, str]
    specialised: Optional[Dict[str, Any]]  # {"film": file, "core": file, "patches": [...], "int8": {...} | None}
    text_encoder: Optional[TextEncoderSpec]
    raw: Dict[str, Any]
    vocabulary: Optional[List[str]] = None  # wordings the model knows (plugin.vocabulary); None: the built-in list
    vocabulary_min_cosine: Optional[float] = None  # plugin.vocabulary's threshold for this model's embeddings

    @property
    def freq_bins(self) -> int:
        return self.n_fft // 2


def _require(d: Dict, key: str, kind, where: Path):
    if key not in d:
        raise BundleError(f"{where}: manifest has no {key!r}. The bundle is incomplete; re-export it.")
    v = d[key]
    if kind is int and isinstance(v, bool) or not isinstance(v, kind):
        raise BundleError(f"{where}: manifest field {key!r} should be {kind.__name__}, got {v!r}.")
    return v


def _check_patches(patches, ops, where: Path, what: str) -> List[Dict[str, Any]]:
    def index(v) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    if not (isinstance(patches, list) and patches and all(
            isinstance(p, dict) and isinstance(p.get("value"), str) and p.get("op") in ops
            and index(p.get("offset")) and index(p.get("count"))
            and (p["op"] != "q8_bias" or (isinstance(p.get("weight"), str) and index(p.get("scale_offset"))))
            for p in patches)):
        raise BundleError(f"{where}: '{what}' must be a list of {{value, op: {'|'.join(ops)}, offset, count}}; "
                          "re-export the bundle.")
    return patches


def _check_version(raw: Dict[str, Any], where: Path) -> int:
    if not isinstance(raw, dict):
        raise BundleError(f"{where}: manifest is not a JSON object.")
    version = raw.get("format_version")
    if not isinstance(version, int):
        raise BundleError(f"{where}: manifest has no integer 'format_version'; this is not a SepBoard bundle.")
    if version > FORMAT_VERSION:
        raise BundleError(
            f"{where}: bundle format_version {version} is newer than this SepBoard understands ({FORMAT_VERSION}). "
            "Upgrade SepBoard (pip install -U sepboard) or re-export the bundle with this version."
        )
    if version < 1:
        raise BundleError(f"{where}: bundle format_version {version} is not valid (expected {FORMAT_VERSION}).")
    return version


def _parse_specialised(special, where: Path) -> Optional[Dict[str, Any]]:
    if special is None:
        return None
    if not (isinstance(special, dict) and isinstance(special.get("film"), str)
            and isinstance(special.get("core"), str)):
        raise BundleError(f"{where}: 'separator.specialised' must be {{\"film\": file, \"core\": file}}; re-export the bundle.")
    patches = _check_patches(special.get("patches"), FP32_OPS, where, "separator.specialised.patches")
    int8 = special.get("int8")
    if int8 is not None:
        if not (isinstance(int8, dict) and isinstance(int8.get("core"), str)):
            raise BundleError(f"{where}: 'separator.specialised.int8' must be {{\"core\": file, \"patches\": [...]}}; "
                              "re-export the bundle.")
        int8 = {**int8, "patches": _check_patches(int8.get("patches"), tuple(PATCH_ITEMSIZE), where,
                                                  "separator.specialised.int8.patches")}
    return {"film": special["film"], "core": special["core"], "patches": patches, "int8": int8}


def _parse_text_encoder(te, where: Path) -> Optional[TextEncoderSpec]:
    if te is None:
        return None
    if not isinstance(te, dict):
        raise BundleError(f"{where}: 'text_encoder' must be an object or null.")
    try:
        return TextEncoderSpec(**te)
    except TypeError as exc:
        raise BundleError(f"{where}: bad 'text_encoder' entry: {exc}") from exc


def _parse_vocabulary(raw: Dict[str, Any], where: Path):
    """The optional ``vocabulary`` (a list of phrases) and ``vocabulary_min_cosine`` (a number in (-1, 1])."""
    words, cos = raw.get("vocabulary"), raw.get("vocabulary_min_cosine")
    if words is not None and not (isinstance(words, list) and 0 < len(words) <= 5000 and all(
            isinstance(w, str) and w.strip() and len(w) <= 200 for w in words)):
        raise BundleError(f"{where}: 'vocabulary' must be a list of 1 to 5000 non-empty phrases (at most 200 "
                          "characters each); fix or remove it.")
    if cos is not None and not (isinstance(cos, (int, float)) and not isinstance(cos, bool) and -1 < cos <= 1):
        raise BundleError(f"{where}: 'vocabulary_min_cosine' must be a number in (-1, 1], got {cos!r}; fix or remove it.")
    return ([" ".join(w.split()) for w in words] if words is not None else None), \
        (float(cos) if cos is not None else None)


def parse_manifest(raw: Dict[str, Any], where: Path) -> Manifest:
    """The validated :class:`Manifest` of a parsed manifest.json (``where`` names it in errors)."""
    version = _check_version(raw, where)
    sep = _require(raw, "separator", dict, where)
    files = _require(raw, "files", dict, where)
    window = _require(raw, "window", str, where)
    if window != "hann":
        raise BundleError(f"{where}: window {window!r} is not supported (only 'hann').")
    special = _parse_specialised(sep.get("specialised"), where)
    spec = _parse_text_encoder(raw.get("text_encoder"), where)
    vocabulary, min_cosine = _parse_vocabulary(raw, where)
    m = Manifest(
        format_version=version,
        name=_require(raw, "name", str, where),
        sample_rate=_require(raw, "sample_rate", int, where),
        n_fft=_require(raw, "n_fft", int, where),
        hop=_require(raw, "hop", int, where),
        window=window,
        condition_dim=_require(raw, "condition_dim", int, where),
        time_multiple=int(raw.get("time_multiple", 1)),
        separator_file=_require(sep, "file", str, where),
        files={str(k): str(v) for k, v in files.items()},
        specialised=special,
        text_encoder=spec,
        raw=raw,
        vocabulary=vocabulary,
        vocabulary_min_cosine=min_cosine,
    )
    if not (8000 <= m.sample_rate <= 192000) or not (0 < m.hop < m.n_fft) or m.n_fft % 2:
        raise BundleError(f"{where}: implausible STFT settings sr={m.sample_rate} n_fft={m.n_fft} hop={m.hop}.")
    needed = [m.separator_file] + ([spec.file, spec.tokenizer] if spec else [])
    needed += [special["film"], special["core"]] if special else []
    for f in needed:
        if f not in m.files:
            raise BundleError(f"{where}: manifest lists no checksum for {f!r}; re-export the bundle.")
    return m


def write_manifest(folder: Path, manifest: Dict[str, Any]) -> Dict[str, Any]:
    """Fill in checksums for every file in ``manifest['files']`` and write manifest.json atomically."""
    folder = Path(folder)
    files = {}
    for name in manifest.get("files", {}):
        files[name] = sha256_file(folder / name)
    manifest = dict(manifest)
    manifest["files"] = files
    manifest.setdefault("format_version", FORMAT_VERSION)
    atomic.write_text(folder / MANIFEST, json.dumps(manifest, indent=2, sort_keys=False) + "\n")
    return manifest
