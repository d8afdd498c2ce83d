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


# Plausible ranges of the numeric fields: beyond them a bundle is broken or hostile (n_fft 2^30 asks
# for gigabytes per frame, hop 1 makes a second of audio take minutes).
SAMPLE_RATES = (8000, 192000)
N_FFT_RANGE = (16, 16384)
MAX_HOP_DIVISOR = 32  # hop >= n_fft / 32
CONDITION_DIMS = (1, 8192)
TIME_MULTIPLES = (1, 1024)
MAX_TOKENS = (1, 4096)
MAX_FILES = 256
_HEX64 = frozenset("0123456789abcdef")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _require(d: Dict, key: str, kind, where: Path, bounds=None, prefix: str = ""):
    """``d[key]`` checked to be of ``kind`` (and within ``bounds`` for ints), or one BundleError."""
    if key not in d:
        raise BundleError(f"{where}: manifest has no {prefix + key!r}. The bundle is incomplete; re-export it.")
    return _typed(d[key], key, kind, where, bounds, prefix)


def _typed(v, key: str, kind, where: Path, bounds=None, prefix: str = ""):
    if kind is int and not _is_int(v) or not isinstance(v, kind):
        raise BundleError(f"{where}: manifest field {prefix + key!r} should be {kind.__name__}, got {v!r:.80}.")
    if bounds is not None and not (bounds[0] <= v <= bounds[1]):
        raise BundleError(f"{where}: manifest field {prefix + key!r} is {v}, outside {bounds[0]}..{bounds[1]}; "
                          "the bundle is broken, re-export it.")
    return v


def _names(v, key: str, where: Path, allow_dict: bool = False) -> List[str]:
    """A list of non-empty strings (or, with ``allow_dict``, an object whose keys are such names)."""
    items = list(v) if allow_dict and isinstance(v, dict) else v
    if not (isinstance(items, list) and all(isinstance(x, str) and x.strip() for x in items)):
        kind = "a list of names (or an object keyed by name)" if allow_dict else "a list of non-empty strings"
        raise BundleError(f"{where}: manifest field {key!r} should be {kind}, got {v!r:.80}.")
    return items


def check_file_name(name, where: Path) -> str:
    """A bundle file name: a relative path inside the bundle folder (no absolute path, no '..')."""
    p = Path(name) if isinstance(name, str) else None
    if p is None or not name or name.startswith(("/", "\\")) or p.is_absolute() or ".." in p.parts \
            or ".." in name.split("\\") or "\x00" in name:
        raise BundleError(f"{where}: bundle file name {name!r:.120} points outside the bundle folder (an absolute "
                          "path or '..'); refusing the bundle. Every bundle file must lie inside its folder.")
    return name


def _check_files(files, where: Path) -> Dict[str, str]:
    if len(files) > MAX_FILES:
        raise BundleError(f"{where}: 'files' lists {len(files)} files (at most {MAX_FILES}); the bundle is broken.")
    out = {}
    for name, digest in files.items():
        check_file_name(name, where)
        if not (isinstance(digest, str) and len(digest) == 64 and set(digest) <= _HEX64):
            raise BundleError(f"{where}: the sha256 of {name!r} should be 64 lowercase hex digits, got {digest!r:.80}.")
        out[name] = digest
    return out


def _check_architecture(arch, where: Path) -> None:
    if arch is None:
        return
    ok = isinstance(arch, dict)
    widths, downs = (arch.get("widths", []), arch.get("downsamples", [])) if ok else (None, None)
    ok = ok and isinstance(widths, list) and all(_is_int(w) and 0 < w <= 65536 for w in widths)
    ok = ok and isinstance(downs, list) and all(
        isinstance(d, list) and len(d) == 2 and all(_is_int(x) and 0 < x <= 64 for x in d) for d in downs)
    if not ok:
        raise BundleError(f"{where}: 'separator.architecture' should hold 'widths' (positive integers) and "
                          "'downsamples' ([time, freq] pairs of positive integers); re-export the bundle.")


def _check_optional(raw: Dict[str, Any], sep: Dict[str, Any], where: Path) -> None:
    """Optional fields: absent, or of the right type (names as non-empty strings); ``vocabulary`` is
    checked by :func:`_parse_vocabulary`."""
    for key, allow_dict in (("inputs", True), ("outputs", True), ("families", False)):
        if sep.get(key) is not None:
            names = _names(sep[key], f"separator.{key}", where, allow_dict)
            if key == "outputs" and not set(SEPARATOR_OUTPUTS) <= set(names):
                raise BundleError(f"{where}: 'separator.outputs' must include {list(SEPARATOR_OUTPUTS)}, "
                                  f"has {names}; re-export the bundle.")
    _check_architecture(sep.get("architecture"), where)


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
    for name in (special["film"], special["core"]) + ((int8["core"],) if int8 else ()):
        check_file_name(name, where)
    return {"film": special["film"], "core": special["core"], "patches": patches, "int8": int8}


def _parse_text_encoder(te, where: Path) -> Optional[TextEncoderSpec]:
    if te is None:
        return None
    if not isinstance(te, dict):
        raise BundleError(f"{where}: 'text_encoder' must be an object or null.")
    p = "text_encoder."
    spec = TextEncoderSpec(
        file=check_file_name(_require(te, "file", str, where, prefix=p), where),
        tokenizer=check_file_name(_require(te, "tokenizer", str, where, prefix=p), where),
        kind=_require(te, "kind", str, where, prefix=p),
        max_tokens=_require(te, "max_tokens", int, where, MAX_TOKENS, prefix=p),
        pooling=_require(te, "pooling", str, where, prefix=p),
    )
    optional = (("normalize", bool, None), ("output_name", str, None), ("pad_id", int, (0, 2 ** 31 - 1)),
                ("lowercase", bool, None))
    for key, kind, bounds in optional:
        if key in te:
            setattr(spec, key, _typed(te[key], key, kind, where, bounds, prefix=p))
    if "input_names" in te:
        names = _names(te["input_names"], p + "input_names", where)
        if not 1 <= len(names) <= 2:
            raise BundleError(f"{where}: 'text_encoder.input_names' should name 1 or 2 inputs (ids, mask), "
                              f"got {names}.")
        spec.input_names = names
    return spec


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
    """The validated :class:`Manifest` of a parsed manifest.json (``where`` names it in errors).

    Every field is checked for its type and a plausible range; unknown fields are ignored, and the
    optional fields a newer exporter may add (``separator.families``, extra ``separator.outputs``)
    are checked for their type only (``vocabulary``: 1 to 5000 phrases of at most 200 characters)."""
    version = _check_version(raw, where)
    sep = _require(raw, "separator", dict, where)
    files = _check_files(_require(raw, "files", dict, where), where)
    window = _require(raw, "window", str, where)
    if window != "hann":
        raise BundleError(f"{where}: window {window!r:.40} is not supported (only 'hann').")
    n_fft = _require(raw, "n_fft", int, where, N_FFT_RANGE)
    if n_fft % 2:
        raise BundleError(f"{where}: n_fft {n_fft} must be even.")
    _check_optional(raw, sep, where)
    special = _parse_specialised(sep.get("specialised"), where)
    spec = _parse_text_encoder(raw.get("text_encoder"), where)
    vocabulary, min_cosine = _parse_vocabulary(raw, where)
    m = Manifest(
        format_version=version,
        name=_require(raw, "name", str, where),
        sample_rate=_require(raw, "sample_rate", int, where, SAMPLE_RATES),
        n_fft=n_fft,
        hop=_require(raw, "hop", int, where, (max(1, n_fft // MAX_HOP_DIVISOR), n_fft // 2)),
        window=window,
        condition_dim=_require(raw, "condition_dim", int, where, CONDITION_DIMS),
        time_multiple=_typed(raw.get("time_multiple", 1), "time_multiple", int, where, TIME_MULTIPLES),
        separator_file=check_file_name(_require(sep, "file", str, where, prefix="separator."), where),
        files=files,
        specialised=special,
        text_encoder=spec,
        raw=raw,
        vocabulary=vocabulary,
        vocabulary_min_cosine=min_cosine,
    )
    needed = [m.separator_file] + ([spec.file, spec.tokenizer] if spec else [])
    needed += [special["film"], special["core"]] if special else []
    needed += [special["int8"]["core"]] if special and special.get("int8") else []
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
