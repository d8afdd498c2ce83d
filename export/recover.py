"""Rebuild a training checkpoint from a default bundle's ONNX files, so training can go on when the
run folder (``runs/``, never committed) is gone: a new machine, a fresh clone.

    python -m export.recover --bundle plugin/bundles/default --out runs/recovered.pt [--pool runs/pool]
    python -m export.train --init runs/recovered.pt --out runs/ft2 --minutes 120 --loss sisdr --lr 5e-4

What comes back, and how exactly:

* Every separator weight the ONNX graph holds under its torch name is copied as it is.
* The torch exporter folds each ``conv1 -> bn2`` pair of a residual block into one convolution with a
  bias (eval mode makes BN affine). The folded weight goes back into ``conv1`` and ``bn2`` becomes the
  affine that adds the folded bias, so eval-mode outputs are unchanged (checked against ONNX Runtime).
  In training mode BN normalises with batch statistics, so ``bn2`` is then *calibrated*: its running
  statistics are measured on training mixtures and its scale/shift set so that
  ``bn2(y) = y + bias`` still holds exactly in eval mode and, with batch statistics close to the
  running ones, approximately in training mode. The original split between conv scale and BN scale
  is not recoverable (only their product is in the graph), and the optimiser state is not in a bundle
  (the run restarts Adam, with a short warm-up).
* The 384 -> condition projection comes from ``text_encoder.onnx``; when that file was int8-quantised
  the projection is dequantised (per-channel scale and zero point), an approximation the card's
  cosine >= 0.99 bounds.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from plugin.errors import SepBoardError


def _initializers(model) -> Dict[str, np.ndarray]:
    from onnx import numpy_helper

    return {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}


def _projection(text_path: Path, dim: int):
    """(weight [dim, 384], bias [dim], quantised?) of the projection inside text_encoder.onnx."""
    import onnx

    inits = _initializers(onnx.load(str(text_path)))
    if "projection.bias" not in inits:
        raise SepBoardError(f"{text_path} holds no 'projection.bias': not a SepBoard default text encoder")
    bias = inits["projection.bias"].astype(np.float32)
    if "projection.weight" in inits:
        return inits["projection.weight"].astype(np.float32), bias, False
    for name, arr in inits.items():  # MatMul initialisers are stored [in, out]
        if name.endswith("_quantized") and arr.shape == (384, dim):
            base = name[: -len("_quantized")]
            scale = inits[base + "_scale"].astype(np.float32)
            zero = inits[base + "_zero_point"].astype(np.float32)
            return ((arr.astype(np.float32) - zero) * scale).T.copy(), bias, True
    fp = [a for n, a in inits.items() if a.shape == (384, dim) and a.dtype == np.float32]
    if len(fp) == 1:
        return fp[0].T.copy(), bias, False
    raise SepBoardError(f"cannot find the 384 x {dim} projection weight in {text_path}")


def recover_model(bundle: Path):
    """The bundle's separator and projection as a ``DefaultModel`` (eval mode, bn2 not yet calibrated).

    Returns (model, manifest, report).
    """
    import onnx
    import torch

    from .resunet import ResUNetConfig
    from .default_model import DefaultModel

    bundle = Path(bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    sep_info = manifest["separator"]
    if "architecture" not in sep_info:
        raise SepBoardError(f"{bundle}: the manifest declares no architecture, so no torch model can be rebuilt")
    cfg = ResUNetConfig.from_dict(sep_info["architecture"])
    model = DefaultModel(cfg)
    sd = model.state_dict()
    graph = onnx.load(str(bundle / sep_info["file"]))
    inits = _initializers(graph)

    new: Dict[str, torch.Tensor] = {}
    for name, arr in inits.items():
        if name.startswith("model."):
            key = "sep." + name[len("model."):]
            if key in sd:
                if tuple(sd[key].shape) != arr.shape:
                    raise SepBoardError(f"{name}: shape {arr.shape} in the graph, {tuple(sd[key].shape)} in the model")
                new[key] = torch.from_numpy(arr.copy())
    folded = []
    modules = dict(model.named_modules())
    for node in graph.graph.node:  # conv1 with BN folded in: weight and bias are anonymous initialisers
        if node.op_type != "Conv" or len(node.input) < 3 or not node.name.endswith("/conv1/Conv"):
            continue
        if node.input[1] not in inits or node.input[1].startswith("model."):
            continue
        path = "sep." + node.name.strip("/").rsplit("/", 1)[0].replace("/", ".")  # sep.base.<block>...conv1
        bn = path[: -len("conv1")] + "bn2"
        w, b = inits[node.input[1]], inits[node.input[2]]
        if tuple(sd[path + ".weight"].shape) != w.shape:
            raise SepBoardError(f"{node.name}: folded weight {w.shape} does not fit {path}")
        eps = modules[bn].eps
        new[path + ".weight"] = torch.from_numpy(w.copy())
        new[bn + ".weight"] = torch.ones(len(b))
        new[bn + ".bias"] = torch.from_numpy(b.copy())
        new[bn + ".running_mean"] = torch.zeros(len(b))
        new[bn + ".running_var"] = torch.full((len(b),), 1.0 - eps)
        folded.append(path)

    weight, bias, quantised = _projection(bundle / manifest["text_encoder"]["file"], cfg.condition_dim)
    new["projection.weight"] = torch.from_numpy(weight)
    new["projection.bias"] = torch.from_numpy(bias)

    # what may stay at its initial value: BN step counters, and the official model's unused decoder
    # bn2 with its FiLM (beta2, and gamma2 for scale-shift FiLM)
    unused = set()
    for i in range(len(cfg.widths)):
        unused |= {f"sep.base.decoder_block{i + 1}.bn2", f"sep.film.decoder_block{i + 1}->beta2",
                   f"sep.film.decoder_block{i + 1}->gamma2"}
    missing = [k for k in sd if k not in new and not k.endswith("num_batches_tracked")
               and k.rsplit(".", 1)[0] not in unused]
    if missing:
        raise SepBoardError(f"{bundle}: {len(missing)} weights could not be recovered: {', '.join(missing[:8])}")
    model.load_state_dict({**sd, **new})
    model.eval()
    return model, manifest, {"folded_convs": folded, "projection_dequantised": quantised, "tensors": len(new)}


def check_against_onnx(model, bundle: Path, frames: int = 96, seed: int = 0) -> float:
    """Max abs difference of (mask, cos, sin) between the torch model and the bundle's separator.onnx."""
    import torch

    from plugin.bundle import make_session

    manifest = json.loads((Path(bundle) / "manifest.json").read_text())
    bins = manifest["n_fft"] // 2
    rng = np.random.default_rng(seed)
    mag = np.abs(rng.normal(0, 1, (2, 1, frames, bins))).astype(np.float32) ** 2
    cond = rng.normal(0, 1, (2, manifest["condition_dim"])).astype(np.float32)
    cond /= np.linalg.norm(cond, axis=1, keepdims=True)
    sess = make_session(Path(bundle) / manifest["separator"]["file"], providers=["CPUExecutionProvider"])
    ref = sess.run(None, {"magnitude": mag, "condition": cond})
    with torch.no_grad():
        got = model.sep.forward_masks(torch.from_numpy(mag), torch.from_numpy(cond))
    return float(max(np.abs(r - g.numpy()).max() for r, g in zip(ref, got)))


def folded_bn2(model, convs) -> Dict[str, Any]:
    """The ``bn2`` module that follows each folded ``conv1`` in ``convs`` (module names, as
    ``recover_model`` reports them), by conv name."""
    mods = dict(model.named_modules())
    return {name: mods[name[: -len("conv1")] + "bn2"] for name in convs}


def conv_outputs(model, convs, batches, keep) -> Dict[str, list]:
    """Run ``batches`` ((mixture [B, N], text embedding [B, 384]) tensors) through ``model`` in eval
    mode; for each module named in ``convs``, ``keep(output)`` of every batch."""
    import torch

    mods = dict(model.named_modules())
    kept: Dict[str, list] = {n: [] for n in convs}
    hooks = [mods[n].register_forward_hook(lambda m, i, o, n=n: kept[n].append(keep(o))) for n in convs]
    model.eval()
    try:
        with torch.no_grad():
            for mix, emb in batches:
                model(mix, emb)
    finally:
        for h in hooks:
            h.remove()
    return kept


def calibrate_bn2(model, batches, convs) -> int:
    """Give the ``bn2`` after each folded ``conv1`` in ``convs`` (module names, as ``recover_model``
    reports them) running statistics measured on ``batches`` (an iterable of (mixture [B, N], text
    embedding [B, 384]) tensors), without changing the eval-mode function. Returns how many."""
    import torch

    bns = folded_bn2(model, convs)
    stats = conv_outputs(model, convs, batches,
                         lambda o: (o.double().mean((0, 2, 3)), (o.double() ** 2).mean((0, 2, 3))))
    done = 0
    for name, bn in bns.items():
        if not stats[name]:
            continue
        mean = torch.stack([s[0] for s in stats[name]]).mean(0)
        var = (torch.stack([s[1] for s in stats[name]]).mean(0) - mean ** 2).clamp_min(1e-8)
        # eval: w * (y - mean) / sqrt(var + eps) + b  ==  y + shift   with  w = sqrt(var + eps), b = shift + mean
        with torch.no_grad():
            bn.bias.add_(mean.float())
            bn.running_mean.copy_(mean.float())
            bn.running_var.copy_(var.float())
            bn.weight.copy_(torch.sqrt(var + bn.eps).float())
        done += 1
    return done


def recover(bundle: Path, out: Path, pool: Optional[Path] = None, batches: int = 16, seed: int = 0) -> Dict:
    import torch

    from . import data as D
    from .default_examples import PhraseBank, ensure_pools, make_batch
    from .default_model import save_checkpoint

    model, manifest, report = recover_model(bundle)
    report["max_abs_vs_onnx"] = check_against_onnx(model, bundle)
    if report["max_abs_vs_onnx"] > 1e-4:
        raise SepBoardError(f"the rebuilt model differs from {bundle}'s separator by "
                            f"{report['max_abs_vs_onnx']:.2e} (> 1e-4): not writing a checkpoint")
    out.parent.mkdir(parents=True, exist_ok=True)
    if pool is not None:
        if not (Path(pool) / "train" / "index.json").exists():  # what training needs anyway (~2 min on 2 cores)
            ensure_pools(Path(pool), 600, 2, splits=("train",))
        bank = PhraseBank(out.parent, seed=seed)
        sampler = D.MixSampler(D.load_pool(Path(pool), "train"), 2.0, seed=seed + 12345)
        rng = np.random.default_rng(seed + 54321)
        report["calibrated_bn"] = calibrate_bn2(model, (make_batch(sampler, bank, rng, 8)[::2] for _ in range(batches)),
                                                report["folded_convs"])
        report["max_abs_vs_onnx_calibrated"] = check_against_onnx(model, bundle)
        if report["max_abs_vs_onnx_calibrated"] > 1e-4:
            raise SepBoardError("BN calibration changed the eval-mode function: not writing a checkpoint")
    training = manifest.get("training", {})
    phases = json.loads(training.get("phases") or "[]")
    state = {"step": int(training.get("steps", 0)), "elapsed_min": float(training.get("minutes", 0.0)),
             "planned_min": float(training.get("minutes", 0.0)), "best": -1e9, "seed": seed,
             "phases": phases, "recovered_from": str(bundle), "recovered_at_step": int(training.get("steps", 0)),
             "recovery": report}
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-4)
    save_checkpoint(out, model, opt, state)
    return report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m export.recover", description=__doc__.split("\n\n")[0])
    p.add_argument("--bundle", default="plugin/bundles/default")
    p.add_argument("--out", required=True, help="checkpoint to write (train.py's format; use with --init)")
    p.add_argument("--pool", default=None, help="stem pool whose train split calibrates the folded BN layers "
                                                "(rendered if missing)")
    p.add_argument("--batches", type=int, default=16)
    args = p.parse_args(argv)
    try:
        report = recover(Path(args.bundle), Path(args.out), Path(args.pool) if args.pool else None, args.batches)
    except SepBoardError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
