"""Write a multi-source model bundle: separator.onnx with the family head and router, text encoder, manifest.

The separator keeps the bundle contract (magnitude + condition -> mask, cos, sin), so any runtime can
use it as a plain text-queried separator; the manifest's ``separator.families`` tells ours that the
graph also outputs every family's mask (``family_re``, ``family_im``) and the router's weights
(``routes``), see ``plugin.families``. The text encoder is plain all-MiniLM-L6-v2 (mean pooling,
L2 norm; 384-d), the router's input. ``vocabulary`` lists wordings the model was trained on, for
the runtime's "did you mean" suggestions.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from plugin import atomic
from plugin.bundle import FORMAT_VERSION, write_manifest

from .bundle_writer import publish_staged
from .multisource import MultiSourceModel, count_parameters
from .onnx_multisource import OUTPUTS, export_multisource

MASK_TEXT = ("Y = X * mask * (cos + j sin) on the first n_fft/2 bins; Nyquist bin = 0. family_re/family_im: "
             "every source's complex mask (families in order, then 'other'); routes: the router's weight per family")


def separator_manifest(model: MultiSourceModel, families: List[str]) -> Dict[str, Any]:
    cfg = model.cfg
    fb, s = cfg.freq_bins, cfg.sources
    if len(families) != s - 1:
        raise ValueError(f"{len(families)} family names for a model of {s} sources (families + other)")
    shapes = {"mask": ["batch", 1, "time", fb], "cos": ["batch", 1, "time", fb], "sin": ["batch", 1, "time", fb],
              "family_re": ["batch", s, "time", fb], "family_im": ["batch", s, "time", fb],
              "routes": ["conditions", s - 1]}
    return {
        "sample_rate": cfg.sample_rate, "n_fft": cfg.n_fft, "hop": cfg.hop, "window": "hann",
        "condition_dim": cfg.text_dim, "time_multiple": cfg.time_multiple,
        "separator": {
            "file": "separator.onnx",
            "inputs": {"magnitude": ["batch", 1, "time", fb], "condition": ["conditions", cfg.text_dim]},
            "outputs": {name: shapes[name] for name in OUTPUTS},
            "families": list(families),
            "mask": MASK_TEXT,
            "architecture": cfg.to_dict(),
            "parameters": count_parameters(model),
        },
    }


def minilm_text_writer(report: dict, quantize: bool = True) -> Callable[[Path], Dict[str, Any]]:
    """Writes text_encoder.onnx (MiniLM, mean pooling, L2) and tokenizer.json into a staging folder."""

    def write(stage: Path) -> Dict[str, Any]:
        from .minilm import MAX_TOKENS, export_text_encoder, tokenizer_path

        report.update(export_text_encoder(None, stage / "text_encoder.onnx", quantize=quantize))
        shutil.copyfile(tokenizer_path(), stage / "tokenizer.json")
        return {"file": "text_encoder.onnx", "tokenizer": "tokenizer.json", "kind": "minilm-l6",
                "max_tokens": MAX_TOKENS, "pooling": "mean", "normalize": True,
                "input_names": ["input_ids", "attention_mask"], "output_name": "embedding", "pad_id": 0,
                "lowercase": False}

    return write


def write_multisource_bundle(out: Path, model: MultiSourceModel, families: List[str], *, name: str, source: str,
                             license: str, text_encoder: Optional[Callable[[Path], Dict[str, Any]]] = None,
                             vocabulary: Optional[List[str]] = None, extra: Optional[Dict[str, Any]] = None) -> Path:
    """Export ``model`` into bundle folder ``out``, staged beside it and moved into place when complete."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = atomic.temp_dir(out)
    try:
        export_multisource(model, stage / "separator.onnx")
        manifest: Dict[str, Any] = {"format_version": FORMAT_VERSION, "name": name, "source": source, "license": license}
        manifest.update(separator_manifest(model, families))
        files = ["separator.onnx"]
        te = text_encoder(stage) if text_encoder is not None else None
        if te is not None:
            files += [te["file"], te["tokenizer"]]
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
