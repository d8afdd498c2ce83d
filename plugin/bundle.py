"""Model bundles: a folder with ``manifest.json``, ``separator.onnx`` and optionally a text encoder
and a query-specialised form of the separator (``film.onnx`` + ``separator_core.onnx``).

The bundle is the only contract between ``export/`` (torch, build time) and this runtime. Loading
checks the format version, that every listed file exists and matches its sha256, and that the ONNX
graphs have the declared inputs and outputs; every problem is one :class:`BundleError` that names
the file and says what to do.

ONNX Runtime sessions get CUDA first when ``onnxruntime-gpu`` and a GPU are present, CPU otherwise;
the provider actually in use is logged and exposed as :attr:`Bundle.provider`.

Query specialisation: the FiLM conditioning only depends on the query, so for each query the runtime
runs the small ``film.onnx`` once (condition -> per-channel affines, BN folded in) and opens
``separator_core.onnx`` with those values written over its placeholder initializers (at byte offsets
the manifest lists; the file's checksum was verified). ONNX Runtime then sees constants where the
generic graph has a runtime β, fuses each affine with its leaky ReLU and keeps the whole U-Net in
its blocked NCHWc layout: same numbers (float rounding), faster and smaller (BENCHMARKS.md §1).
Sessions are cached per query (LRU, sized by the model's weight). ``SessionOptions.add_initializer``
would be the obvious tool, but ORT 1.32's NCHWc transformer reads the original values, not the
overrides (measured: wrong output), so the runtime patches the bytes instead.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from .errors import BundleError, RuntimeMissingError

log = logging.getLogger("sepboard")

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DEFAULT_BUNDLE = Path(__file__).resolve().parent / "bundles" / "default"

PREFERRED_PROVIDERS = ("CUDAExecutionProvider", "CPUExecutionProvider")
SEPARATOR_INPUTS = ("magnitude", "condition")
SEPARATOR_OUTPUTS = ("mask", "cos", "sin")
PRECISIONS = ("fp32", "int8")
SPECIALISED_CACHE_BYTES = 320 * 2 ** 20  # weight bytes of query-specialised sessions kept open


def import_onnxruntime():
    """Import onnxruntime or raise one clear error saying which extra to install."""
    try:
        import onnxruntime as ort  # noqa: F401
    except ImportError as exc:
        raise RuntimeMissingError(
            "ONNX Runtime is not installed. Install exactly one of: "
            "pip install 'sepboard[cpu]'  (onnxruntime)  or  pip install 'sepboard[gpu]'  (onnxruntime-gpu, CUDA). "
            "They share one import folder, so never both."
        ) from exc
    if not hasattr(ort, "InferenceSession"):
        raise RuntimeMissingError(
            "The onnxruntime package is broken (both onnxruntime and onnxruntime-gpu were installed and one "
            "was removed?). Reinstall one: pip install --force-reinstall 'sepboard[cpu]' or 'sepboard[gpu]'."
        )
    return ort


def choose_providers(requested: Optional[Sequence[str]] = None) -> List[str]:
    """Providers to ask for, CUDA first and CPU last, among those this onnxruntime build has.

    ``requested`` overrides the preference order; names this build lacks are dropped with a warning,
    and the CPU provider is always appended as the fallback.
    """
    ort = import_onnxruntime()
    available = list(ort.get_available_providers())
    if requested:
        chosen = [p for p in requested if p in available]
        missing = [p for p in requested if p not in available]
        if missing:
            log.warning("execution providers not available in this onnxruntime build: %s; using %s",
                        ", ".join(missing), ", ".join(chosen) or "CPUExecutionProvider")
    else:
        chosen = [p for p in PREFERRED_PROVIDERS if p in available]
    if "CPUExecutionProvider" in available and "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")
    return chosen


_ENV_ARENA = False


def _shared_arena(ort) -> bool:
    """Register (once per process) a CPU arena that grows by exactly what is requested instead of
    doubling, shared by the sessions that opt in. Falls back to per-session arenas if unsupported."""
    global _ENV_ARENA
    if not _ENV_ARENA:
        try:
            info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
            ort.create_and_register_allocator(info, ort.OrtArenaCfg(0, 1, -1, -1))  # 1 = kSameAsRequested
            _ENV_ARENA = True
        except Exception as exc:  # pragma: no cover - older/other builds
            log.debug("no shared ONNX Runtime arena: %s", exc)
            return False
    return True


def session_options(threads: Optional[int] = None, mem_arena: bool = False):
    """Session options. ``mem_arena``: ONNX Runtime's CPU arena reuses memory between runs, which
    is much faster when the same shapes repeat (block-wise mode; bench/bench_blockwise.py) but keeps
    every peak allocation; without it peak RSS stays close to the graph's working set."""
    ort = import_onnxruntime()
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.enable_cpu_mem_arena = bool(mem_arena)
    # With the arena, ORT's memory pattern (one planned block per input shape, allocated on the second
    # run) comes on top of the chunks the first run left in the arena: off, the arena alone reuses
    # its chunks and the peak stays near the working set (full-size model, 10 s: 1979 -> 1299 MB at
    # the same speed). Without the arena the pattern is what avoids a fresh allocation per tensor.
    so.enable_mem_pattern = not mem_arena
    if mem_arena and _shared_arena(ort):
        so.add_session_config_entry("session.use_env_allocators", "1")
    so.add_session_config_entry("session.set_denormal_as_zero", "1")
    if threads:
        so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return so


def make_session(model: Union[str, os.PathLike, bytes], providers: Optional[Sequence[str]] = None,
                 threads: Optional[int] = None, mem_arena: bool = False):
    """An ORT InferenceSession for a path or serialized model, with automatic provider choice."""
    ort = import_onnxruntime()
    chosen = choose_providers(providers)
    src = model if isinstance(model, (bytes, bytearray)) else str(model)
    try:
        sess = ort.InferenceSession(src, sess_options=session_options(threads, mem_arena), providers=chosen)
    except Exception as exc:  # ORT raises its own exception types
        name = "in-memory model" if isinstance(model, (bytes, bytearray)) else str(model)
        raise BundleError(f"ONNX Runtime cannot open {name}: {exc}. Re-export the bundle.") from exc
    used = sess.get_providers()
    if chosen and chosen[0] != "CPUExecutionProvider" and used and used[0] == "CPUExecutionProvider":
        log.warning("%s was requested but ONNX Runtime fell back to CPU (GPU libraries missing?)", chosen[0])
    return sess


# element size of each patch operation's data; the int8 core's operations (export/quantize.py) keep
# a query-dependent int8 convolution exact to its quantisation: weight rows q0*sign(w), scales s0*|w|,
# int32 bias round(b / bias_scale)
PATCH_ITEMSIZE = {"replace": 4, "scale": 4, "scale_abs": 4, "q8_sign": 1, "q8_bias": 4}


def patch_core(core: bytes, patches: List[Dict[str, Any]], values: Dict[str, Any], where: Any = "core") -> bytes:
    """A copy of a specialised core's bytes with film.onnx's outputs written in: 'replace' writes a
    value's float32 data at [offset, offset + 4*count); 'scale' multiplies the float32 data there,
    viewed as one row per value element (output channels of a conv), by the value; 'scale_abs' the
    same by its magnitude; 'q8_sign' flips the int8 rows there where the value is negative; 'q8_bias'
    writes round(value / (float32 at ``scale_offset`` * |values[weight]|)) as int32. Every operation
    reads the original bytes. The result is assembled in one allocation (the core can be ~100 MB)."""
    import numpy as np

    view = memoryview(core)
    pieces, at = [], 0
    for p in sorted(patches, key=lambda p: p["offset"]):
        op = p["op"]
        for name in (p["value"], p.get("weight", p["value"])):
            if name not in values:
                raise BundleError(f"film.onnx gives no {name!r} that {where} needs; re-export the bundle.")
        v = np.ascontiguousarray(values[p["value"]], dtype="<f4").reshape(-1)
        offset, count, size = p["offset"], p["count"], PATCH_ITEMSIZE.get(op, 0)
        rows = op in ("scale", "scale_abs", "q8_sign")
        bad_bias = op == "q8_bias" and (p["scale_offset"] + 4 * count > len(core)
                                        or np.size(values[p["weight"]]) != count)
        if not size or offset < at or offset + size * count > len(core) or bad_bias or \
                (not rows and v.size != count) or (rows and (v.size == 0 or count % v.size)):
            raise BundleError(f"{where}: patch {p['value']!r} ({op}, {v.size} values) does not fit {count} items at "
                              f"byte {offset}; re-export the bundle.")
        if op in ("scale", "scale_abs"):
            factor = np.abs(v) if op == "scale_abs" else v
            v = (np.frombuffer(core, "<f4", count, offset).reshape(v.size, -1) * factor[:, None]).astype("<f4")
        elif op == "q8_sign":
            base = np.frombuffer(core, np.int8, count, offset).reshape(v.size, -1)
            v = np.where((v < 0)[:, None], -base, base).astype(np.int8)
        elif op == "q8_bias":
            w = np.abs(np.asarray(values[p["weight"]], "<f4").reshape(-1))
            scale = np.frombuffer(core, "<f4", count, p["scale_offset"]).astype(np.float64) * np.maximum(w, 1e-30)
            v = np.clip(np.rint(v / scale), -2 ** 31, 2 ** 31 - 1).astype("<i4")
        pieces += [view[at:offset], v.tobytes()]
        at = offset + size * count
    pieces.append(view[at:])
    return b"".join(pieces)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


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
    specialised: Optional[Dict[str, Any]]  # {"film": file, "core": file, "patches": [...]}
    text_encoder: Optional[TextEncoderSpec]
    raw: Dict[str, Any]

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


def parse_manifest(raw: Dict[str, Any], where: Path) -> Manifest:
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
    sep = _require(raw, "separator", dict, where)
    files = _require(raw, "files", dict, where)
    window = _require(raw, "window", str, where)
    if window != "hann":
        raise BundleError(f"{where}: window {window!r} is not supported (only 'hann').")
    special = sep.get("specialised")
    if special is not None:
        if not (isinstance(special, dict) and isinstance(special.get("film"), str)
                and isinstance(special.get("core"), str)):
            raise BundleError(f"{where}: 'separator.specialised' must be {{\"film\": file, \"core\": file}}; re-export the bundle.")
        patches = _check_patches(special.get("patches"), ("replace", "scale"), where, "separator.specialised.patches")
        int8 = special.get("int8")
        if int8 is not None:
            if not (isinstance(int8, dict) and isinstance(int8.get("core"), str)):
                raise BundleError(f"{where}: 'separator.specialised.int8' must be {{\"core\": file, \"patches\": [...]}}; "
                                  "re-export the bundle.")
            int8 = {**int8, "patches": _check_patches(int8.get("patches"), tuple(PATCH_ITEMSIZE), where,
                                                      "separator.specialised.int8.patches")}
        special = {"film": special["film"], "core": special["core"], "patches": patches, "int8": int8}
    te = raw.get("text_encoder")
    spec = None
    if te is not None:
        if not isinstance(te, dict):
            raise BundleError(f"{where}: 'text_encoder' must be an object or null.")
        try:
            spec = TextEncoderSpec(**te)
        except TypeError as exc:
            raise BundleError(f"{where}: bad 'text_encoder' entry: {exc}") from exc
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
    )
    if not (8000 <= m.sample_rate <= 192000) or not (0 < m.hop < m.n_fft) or m.n_fft % 2:
        raise BundleError(f"{where}: implausible STFT settings sr={m.sample_rate} n_fft={m.n_fft} hop={m.hop}.")
    needed = [m.separator_file] + ([spec.file, spec.tokenizer] if spec else [])
    needed += [special["film"], special["core"]] if special else []
    for f in needed:
        if f not in m.files:
            raise BundleError(f"{where}: manifest lists no checksum for {f!r}; re-export the bundle.")
    return m


class Bundle:
    """A validated bundle folder with lazily opened ONNX Runtime sessions."""

    def __init__(self, path: Union[str, os.PathLike], providers: Optional[Sequence[str]] = None,
                 threads: Optional[int] = None, verify: bool = True, mem_arena: Optional[bool] = None,
                 specialise: bool = True, precision: str = "fp32"):
        self.path = Path(path).expanduser()
        self.specialise = bool(specialise)
        if precision not in PRECISIONS:
            raise BundleError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}.")
        self.precision = precision
        self.requested_providers = list(providers) if providers else None
        self.threads = threads
        self.mem_arena = mem_arena
        if not self.path.exists():
            hint = ""
            if self.path.resolve() == DEFAULT_BUNDLE:
                hint = " The embedded default model is missing from this install; reinstall sepboard."
            raise BundleError(f"model bundle not found: {self.path}.{hint}")
        if not self.path.is_dir():
            raise BundleError(f"{self.path} is not a bundle folder (expected a folder with {MANIFEST}).")
        mpath = self.path / MANIFEST
        if not mpath.is_file():
            raise BundleError(f"{self.path} has no {MANIFEST}; it is not a SepBoard model bundle.")
        try:
            raw = json.loads(mpath.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BundleError(f"{mpath} is not valid JSON ({exc}); the bundle is corrupt, re-export it.") from exc
        self.manifest = parse_manifest(raw, mpath)
        for name, digest in self.manifest.files.items():
            fp = self.path / name
            if not fp.is_file():
                raise BundleError(f"bundle {self.path} is missing {name}; re-export or re-download the bundle.")
            if verify and sha256_file(fp) != digest:
                raise BundleError(
                    f"checksum mismatch for {fp}: the file is corrupt or was modified; re-export the bundle."
                )
        if precision == "int8" and not (self.specialise and self.manifest.specialised
                                        and self.manifest.specialised.get("int8")):
            raise BundleError(f"{self.path} has no int8 separator core (precision='int8' needs one): export the "
                              "bundle with --int8, or use precision='fp32'.")
        self._sep = None
        self._text = None
        self._tokenizer = None
        self._film = None
        self._special: "OrderedDict[bytes, Any]" = OrderedDict()
        self._special_lock = threading.Lock()
        self._provider: Optional[str] = None

    # --- sessions -------------------------------------------------------------------------------
    @property
    def separator_session(self):
        if self._sep is None:
            sess = make_session(self.path / self.manifest.separator_file, self.requested_providers,
                                self.threads, bool(self.mem_arena))
            self._check_separator_io(sess)
            self._sep = sess
            self._provider = sess.get_providers()[0]
            log.info("bundle %s: separator on %s", self.manifest.name, self.provider)
        return self._sep

    # --- query specialisation ---------------------------------------------------------------------
    @property
    def specialised(self) -> bool:
        """True when separation runs through per-query specialised sessions (the bundle has them and
        ``specialise`` was not turned off)."""
        return self.specialise and self.manifest.specialised is not None

    @property
    def film_session(self):
        if self._film is None:
            sess = make_session(self.path / self.manifest.specialised["film"], self.requested_providers, 1, True)
            ins = [i.name for i in sess.get_inputs()]
            if ins != ["condition"]:
                raise BundleError(f"{self.path / self.manifest.specialised['film']} should take one input "
                                  f"'condition', has {ins}; re-export the bundle.")
            self._film = sess
            self._provider = self._provider or sess.get_providers()[0]
        return self._film

    def film_values(self, condition) -> Dict[str, Any]:
        """{initializer name: value} of the specialised core for one condition vector [D]."""
        import numpy as np

        sess = self.film_session
        names = [o.name for o in sess.get_outputs()]
        values = sess.run(names, {"condition": np.asarray(condition, np.float32).reshape(1, -1)})
        return dict(zip(names, values))

    @property
    def specialised_capacity(self) -> int:
        """How many query-specialised sessions stay open (each holds its own copy of the weights)."""
        size = (self.path / self._core_entry["core"]).stat().st_size
        return int(max(1, min(16, SPECIALISED_CACHE_BYTES // max(1, size))))

    def session_for(self, condition):
        """The separator session specialised for one condition vector [D] (cached, least recently used
        dropped first). Its only input is ``magnitude``."""
        import numpy as np

        cond = np.ascontiguousarray(np.asarray(condition, np.float32).reshape(-1))
        key = cond.tobytes()
        with self._special_lock:
            sess = self._special.get(key)
            if sess is not None:
                self._special.move_to_end(key)
                return sess
            where = self.path / self._core_entry["core"]
            # int8 runs on the CPU: ONNX Runtime's int8 convolutions (QLinearConv) are CPU kernels
            providers = ["CPUExecutionProvider"] if self.precision == "int8" else self.requested_providers
            sess = make_session(self._patched_core(self.film_values(cond)), providers,
                                self.threads, bool(self.mem_arena))
            ins = [i.name for i in sess.get_inputs()]
            outs = [o.name for o in sess.get_outputs()]
            if ins != ["magnitude"] or any(n not in outs for n in SEPARATOR_OUTPUTS):
                raise BundleError(f"{where} should map 'magnitude' to {list(SEPARATOR_OUTPUTS)}; has {ins} -> {outs}. "
                                  "Re-export the bundle.")
            self._provider = sess.get_providers()[0]
            self._special[key] = sess
            while len(self._special) > self.specialised_capacity:
                self._special.popitem(last=False)
            return sess

    @property
    def _core_entry(self) -> Dict[str, Any]:
        """{"core": file, "patches": [...]} of the specialised core this bundle runs (fp32 or int8)."""
        special = self.manifest.specialised
        return special["int8"] if self.precision == "int8" else special

    def _patched_core(self, values: Dict[str, Any]) -> bytes:
        """The specialised core (separator_core.onnx, or its int8 form) with one query's values written
        over its placeholders."""
        entry = self._core_entry
        where = self.path / entry["core"]
        return patch_core(where.read_bytes(), entry["patches"], values, where)

    @property
    def provider(self) -> str:
        """The execution provider actually in use (first of the session's providers)."""
        if self._provider is None:
            if self.specialised:
                _ = self.film_session
            else:
                _ = self.separator_session
        return self._provider

    @property
    def device_label(self) -> str:
        return "CUDA" if self.provider == "CUDAExecutionProvider" else "CPU"

    def _check_separator_io(self, sess) -> None:
        ins = {i.name: i.shape for i in sess.get_inputs()}
        outs = {o.name: o.shape for o in sess.get_outputs()}
        where = self.path / self.manifest.separator_file
        for n in SEPARATOR_INPUTS:
            if n not in ins:
                raise BundleError(f"{where} has no input {n!r} (has {sorted(ins)}); not a SepBoard separator.")
        for n in SEPARATOR_OUTPUTS:
            if n not in outs:
                raise BundleError(f"{where} has no output {n!r} (has {sorted(outs)}); not a SepBoard separator.")
        fb = ins["magnitude"][-1]
        if isinstance(fb, int) and fb != self.manifest.freq_bins:
            raise BundleError(f"{where}: magnitude input has {fb} bins, manifest n_fft implies {self.manifest.freq_bins}.")
        d = ins["condition"][-1]
        if isinstance(d, int) and d != self.manifest.condition_dim:
            raise BundleError(f"{where}: condition input has size {d}, manifest says {self.manifest.condition_dim}.")

    @property
    def has_text_encoder(self) -> bool:
        return self.manifest.text_encoder is not None

    @property
    def text_session(self):
        spec = self.manifest.text_encoder
        if spec is None:
            return None
        if self._text is None:
            self._text = make_session(self.path / spec.file, self.requested_providers, self.threads, True)
        return self._text

    @property
    def tokenizer(self):
        spec = self.manifest.text_encoder
        if spec is None:
            return None
        if self._tokenizer is None:
            from tokenizers import Tokenizer

            try:
                self._tokenizer = Tokenizer.from_file(str(self.path / spec.tokenizer))
            except Exception as exc:
                raise BundleError(f"{self.path / spec.tokenizer} is not a valid tokenizer.json: {exc}") from exc
        return self._tokenizer

    def __repr__(self) -> str:
        return f"Bundle({str(self.path)!r}, name={self.manifest.name!r})"


def write_manifest(folder: Path, manifest: Dict[str, Any]) -> Dict[str, Any]:
    """Fill in checksums for every file in ``manifest['files']`` and write manifest.json atomically."""
    folder = Path(folder)
    files = {}
    for name in manifest.get("files", {}):
        files[name] = sha256_file(folder / name)
    manifest = dict(manifest)
    manifest["files"] = files
    manifest.setdefault("format_version", FORMAT_VERSION)
    tmp = folder / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, folder / MANIFEST)
    return manifest
