"""Write a complete model bundle (manifest with checksums + ONNX graphs) from a torch ResUNet.

The bundle is assembled in a temporary folder beside the destination and moved into place only
when every file exists, the separator passed its parity check and the manifest is written, so a
failed export never leaves a half bundle behind (nor replaces a good one).
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from plugin import atomic
from plugin.bundle import FORMAT_VERSION, Bundle, write_manifest

from .onnx_export import OUTPUT_NAMES, export_separator, export_specialised
from .resunet import ResUNet30, count_parameters


def separator_manifest(model: ResUNet30) -> Dict[str, Any]:
    cfg = model.cfg
    fb = cfg.freq_bins
    return {
        "sample_rate": cfg.sample_rate,
        "n_fft": cfg.n_fft,
        "hop": cfg.hop,
        "window": "hann",
        "condition_dim": cfg.condition_dim,
        "time_multiple": cfg.time_multiple,
        "separator": {
            "file": "separator.onnx",
            "inputs": {"magnitude": ["batch", 1, "time", fb], "condition": ["batch", cfg.condition_dim]},
            "outputs": {n: ["batch", 1, "time", fb] for n in OUTPUT_NAMES},
            "mask": "Y = X * mask * (cos + j sin) on the first n_fft/2 bins; Nyquist bin = 0",
            "architecture": cfg.to_dict(),
            "parameters": count_parameters(model),
        },
    }


def write_bundle(
    out: Path,
    model: ResUNet30,
    name: str,
    source: str,
    license: str,
    text_encoder: Optional[Callable[[Path], Dict[str, Any]]] = None,
    extra: Optional[Dict[str, Any]] = None,
    overwrite: bool = True,
    specialised: bool = True,
    int8: Optional[Dict[str, Any]] = None,
) -> Path:
    """Export ``model`` (+ optional text encoder) into bundle folder ``out``.

    ``specialised`` also writes the query-specialised form (film.onnx + separator_core.onnx) that the
    runtime uses by default (plugin.bundle); without it the runtime runs separator.onnx.

    ``int8`` (keyword arguments of :func:`export.quantize.export_int8_core`: calibration
    ``magnitudes`` and ``conditions``, ...) also writes the int8 form of the specialised core.

    ``text_encoder`` is called with the staging folder; it writes its files there and returns the
    manifest's ``text_encoder`` entry (file, tokenizer, kind, max_tokens, ...).
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists")

    def separator_files(stage: Path):
        export_separator(model, stage / "separator.onnx")
        part = separator_manifest(model)
        files = ["separator.onnx"]
        if specialised:
            _, _, patches = export_specialised(model, stage / "film.onnx", stage / "separator_core.onnx")
            part["separator"]["specialised"] = {"film": "film.onnx", "core": "separator_core.onnx", "patches": patches}
            files += ["film.onnx", "separator_core.onnx"]
            if int8 is not None:
                from .quantize import export_int8_core

                _, q_patches, q_report = export_int8_core(model, core_path=stage / "separator_core_int8.onnx", **int8)
                part["separator"]["specialised"]["int8"] = {"core": "separator_core_int8.onnx",
                                                            "patches": q_patches, "quality": q_report}
                files.append("separator_core_int8.onnx")
        return part, files

    return stage_bundle(out, separator_files, name=name, source=source, license=license,
                        text_encoder=text_encoder, extra=extra)


def stage_bundle(out: Path, separator_files: Callable[[Path], Tuple[Dict[str, Any], List[str]]], *, name: str,
                 source: str, license: str, text_encoder: Optional[Callable[[Path], Dict[str, Any]]] = None,
                 vocabulary: Optional[List[str]] = None, extra: Optional[Dict[str, Any]] = None) -> Path:
    """Build bundle folder ``out`` in a staging folder beside it and move it into place when complete.

    ``separator_files(stage)`` writes the separator's files and returns its part of the manifest and
    their names; ``text_encoder(stage)`` likewise returns the manifest's ``text_encoder`` entry. The
    manifest: format, name, source, licence, the separator's part, text encoder, ``vocabulary``,
    files with their checksums, then ``extra``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = atomic.temp_dir(out)
    try:
        manifest: Dict[str, Any] = {"format_version": FORMAT_VERSION, "name": name, "source": source, "license": license}
        part, files = separator_files(stage)
        manifest.update(part)
        te = text_encoder(stage) if text_encoder is not None else None
        if te is not None:
            files = files + [te["file"], te["tokenizer"]]
        manifest["text_encoder"] = te
        if vocabulary:
            manifest["vocabulary"] = list(vocabulary)
        manifest["files"] = {f: "" for f in files}
        manifest.update(extra or {})
        write_manifest(stage, manifest)
        publish_staged(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return out


def publish_staged(stage: Path, out: Path) -> None:
    """Validate the bundle in ``stage`` (format, files, checksums) and move it to ``out``, replacing
    an existing bundle only once the new one is complete."""
    Bundle(stage)
    atomic.publish_mode(stage, directory=True)
    for f in stage.iterdir():
        atomic.publish_mode(f)
    if out.exists():
        old = out.with_name(f".{out.name}.old")
        if old.exists():
            shutil.rmtree(old)
        os.replace(out, old)
        os.replace(stage, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(stage, out)


def update_manifest(bundle: Path, updates: Dict[str, Any]) -> Dict[str, Any]:
    """Merge ``updates`` into an existing bundle's manifest (checksums recomputed)."""
    bundle = Path(bundle)
    m = json.loads((bundle / "manifest.json").read_text())
    m.update(updates)
    return write_manifest(bundle, m)
