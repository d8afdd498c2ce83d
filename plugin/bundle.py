"""Model bundles: a validated bundle folder and its lazily opened ONNX Runtime sessions.

A bundle is a folder with ``manifest.json`` (:mod:`plugin.manifest`), ``separator.onnx`` and
optionally a text encoder and a query-specialised form of the separator (``film.onnx`` +
``separator_core.onnx``, see :mod:`plugin.specialise`). It is the only contract between ``export/``
(torch, build time) and this runtime. Loading checks the format version, that every listed file
exists and matches its sha256, and (when a session opens) that the graphs have the declared inputs
and outputs; every problem is one :class:`BundleError` that names the file and says what to do.

Query-specialised sessions are cached per query, least recently used dropped first, as many as
``SPECIALISED_CACHE_BYTES`` of core weights allow.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Union

import numpy as np

from .confine import inside
from .errors import BundleError
from .hashing import sha256_file
from .manifest import (FORMAT_VERSION, MANIFEST, SEPARATOR_INPUTS, SEPARATOR_OUTPUTS, Manifest, TextEncoderSpec,
                       parse_manifest, write_manifest)
from .runtime import PREFERRED_PROVIDERS, choose_providers, import_onnxruntime, make_session, session_options
from .specialise import PATCH_ITEMSIZE, patch_core

log = logging.getLogger("sepboard")

DEFAULT_BUNDLE = Path(__file__).resolve().parent / "bundles" / "default"
PRECISIONS = ("fp32", "int8")
SPECIALISED_CACHE_BYTES = 320 * 2 ** 20  # weight bytes of query-specialised sessions kept open
MAX_MANIFEST_BYTES = 16 * 2 ** 20

__all__ = [
    "Bundle", "DEFAULT_BUNDLE", "FORMAT_VERSION", "MANIFEST", "PATCH_ITEMSIZE", "PRECISIONS", "PREFERRED_PROVIDERS",
    "SEPARATOR_INPUTS", "SEPARATOR_OUTPUTS", "SPECIALISED_CACHE_BYTES", "Manifest", "TextEncoderSpec",
    "choose_providers", "import_onnxruntime", "make_session", "parse_manifest", "patch_core", "session_options",
    "sha256_file", "write_manifest",
]


def read_manifest(path: Path, verify: bool = True) -> Manifest:
    """The validated manifest of bundle folder ``path``; with ``verify`` every file's sha256 is checked."""
    if not path.exists():
        hint = ""
        if path.resolve() == DEFAULT_BUNDLE:
            hint = " The embedded default model is missing from this install; reinstall sepboard."
        raise BundleError(f"model bundle not found: {path}.{hint}")
    if not path.is_dir():
        raise BundleError(f"{path} is not a bundle folder (expected a folder with {MANIFEST}).")
    mpath = path / MANIFEST
    if not mpath.is_file():
        raise BundleError(f"{path} has no {MANIFEST}; it is not a SepBoard model bundle.")
    if inside(path, MANIFEST) is None:
        raise BundleError(f"{mpath} points outside the bundle folder; refusing the bundle.")
    try:
        if mpath.stat().st_size > MAX_MANIFEST_BYTES:
            raise BundleError(f"{mpath} is {mpath.stat().st_size} bytes, too large for a bundle manifest; "
                              "the bundle is corrupt.")
        raw = json.loads(mpath.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BundleError(f"cannot read {mpath}: {exc.strerror or exc}; check its permissions.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{mpath} is not valid JSON ({exc}); the bundle is corrupt, re-export it.") from exc
    except RecursionError:
        raise BundleError(f"{mpath} nests too deeply to be a bundle manifest; the bundle is corrupt.") from None
    manifest = parse_manifest(raw, mpath)
    outside = [name for name in manifest.files if inside(path, name) is None]
    if outside:  # checked for every file before any is opened: nothing outside the folder is read
        raise BundleError(f"bundle {path}: {outside[0]!r} points outside the bundle folder (a link, an absolute "
                          "path or '..'); refusing the bundle. Every bundle file must lie inside its folder.")
    for name, digest in manifest.files.items():
        fp = path / name
        if not fp.is_file():
            raise BundleError(f"bundle {path} is missing {name}; re-export or re-download the bundle.")
        try:
            actual = sha256_file(fp) if verify else digest
        except OSError as exc:
            raise BundleError(f"cannot read {fp}: {exc.strerror or exc}; check its permissions.") from None
        if actual != digest:
            raise BundleError(f"checksum mismatch for {fp}: the file is corrupt or was modified; re-export the bundle.")
    return manifest


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
        self.manifest = read_manifest(self.path, verify)
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

    # --- the generic separator --------------------------------------------------------------------
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
        self._check_dim(where, "condition input", ins["condition"])

    def _check_dim(self, where: Path, what: str, shape) -> None:
        """A graph's condition-sized input or output must have the manifest's condition_dim."""
        d = shape[-1] if shape else None
        if isinstance(d, int) and d != self.manifest.condition_dim:
            raise BundleError(f"{where}: {what} has size {d}, but the manifest's condition_dim is "
                              f"{self.manifest.condition_dim}; the bundle is inconsistent, re-export it.")

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
            where = self.path / self.manifest.specialised["film"]
            if ins != ["condition"]:
                raise BundleError(f"{where} should take one input 'condition', has {ins}; re-export the bundle.")
            self._check_dim(where, "condition input", sess.get_inputs()[0].shape)
            self._film = sess
            self._provider = self._provider or sess.get_providers()[0]
        return self._film

    def film_values(self, condition) -> Dict[str, Any]:
        """{initializer name: value} of the specialised core for one condition vector [D]."""
        sess = self.film_session
        names = [o.name for o in sess.get_outputs()]
        values = sess.run(names, {"condition": np.asarray(condition, np.float32).reshape(1, -1)})
        return dict(zip(names, values))

    @property
    def core_entry(self) -> Dict[str, Any]:
        """{"core": file, "patches": [...]} of the specialised core this bundle runs (fp32 or int8)."""
        special = self.manifest.specialised
        return special["int8"] if self.precision == "int8" else special

    @property
    def specialised_capacity(self) -> int:
        """How many query-specialised sessions stay open (each holds its own copy of the weights)."""
        size = (self.path / self.core_entry["core"]).stat().st_size
        return int(max(1, min(16, SPECIALISED_CACHE_BYTES // max(1, size))))

    def session_for(self, condition):
        """The separator session specialised for one condition vector [D] (cached, least recently used
        dropped first). Its only input is ``magnitude``."""
        cond = np.ascontiguousarray(np.asarray(condition, np.float32).reshape(-1))
        key = cond.tobytes()
        with self._special_lock:
            sess = self._special.get(key)
            if sess is not None:
                self._special.move_to_end(key)
                return sess
            sess = self._open_specialised(cond)
            self._provider = sess.get_providers()[0]
            self._special[key] = sess
            while len(self._special) > self.specialised_capacity:
                self._special.popitem(last=False)
            return sess

    def _open_specialised(self, cond: np.ndarray):
        """A new session of the specialised core (fp32 or int8) with one query's values written in."""
        entry = self.core_entry
        where = self.path / entry["core"]
        core = patch_core(where.read_bytes(), entry["patches"], self.film_values(cond), where)
        # int8 runs on the CPU: ONNX Runtime's int8 convolutions (QLinearConv) are CPU kernels
        providers = ["CPUExecutionProvider"] if self.precision == "int8" else self.requested_providers
        sess = make_session(core, providers, self.threads, bool(self.mem_arena))
        ins = [i.name for i in sess.get_inputs()]
        outs = [o.name for o in sess.get_outputs()]
        if ins != ["magnitude"] or any(n not in outs for n in SEPARATOR_OUTPUTS):
            raise BundleError(f"{where} should map 'magnitude' to {list(SEPARATOR_OUTPUTS)}; has {ins} -> {outs}. "
                              "Re-export the bundle.")
        return sess

    # --- device -----------------------------------------------------------------------------------
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

    # --- text ---------------------------------------------------------------------------------------
    @property
    def has_text_encoder(self) -> bool:
        return self.manifest.text_encoder is not None

    @property
    def text_session(self):
        spec = self.manifest.text_encoder
        if spec is None:
            return None
        if self._text is None:
            where = self.path / spec.file
            sess = make_session(where, self.requested_providers, self.threads, True)
            ins = [i.name for i in sess.get_inputs()]
            outs = {o.name: o.shape for o in sess.get_outputs()}
            if sorted(ins) != sorted(spec.input_names) or spec.output_name not in outs:
                raise BundleError(f"{where} maps {ins} -> {sorted(outs)}, but the manifest names inputs "
                                  f"{spec.input_names} and output {spec.output_name!r}; re-export the bundle.")
            self._check_dim(where, "embedding output", outs[spec.output_name])
            self._text = sess
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
