"""Export a multi-source separator to ONNX (``separator.onnx``), verified against torch before it is written.

Inputs: magnitude [B, 1, T, F], condition [Bc, D] (Bc = B, or 1 for all items). Outputs: the bundle
contract's mask, cos, sin [B, 1, T, F] (the routed sum of family masks), plus family_re, family_im
[B, S, T, F] (every source's complex mask, "other" last) and routes [Bc, K] (the router's weights).
Every parameter stays an initializer under its state-dict name, so :func:`recover` rebuilds the torch
model from a bundle (training can go on from a shipped model on another machine).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterable, Optional

import numpy as np
import torch

from .multisource import MultiSourceCore, MultiSourceModel
from .onnx_export import PARITY_TOL, PHASE_TOL, ExportError, export_plain, atomic_write_bytes

log = logging.getLogger(__name__)

INPUTS = ["magnitude", "condition"]
OUTPUTS = ["mask", "cos", "sin", "family_re", "family_im", "routes"]


def check_parity(core: MultiSourceCore, data: bytes, freq_bins: int, text_dim: int,
                 frames: Iterable[int] = (7, 33, 101), seed: int = 0) -> dict:
    from plugin.bundle import make_session

    sess = make_session(data, providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(seed)
    worst = {name: 0.0 for name in OUTPUTS}
    for t in frames:
        for b, bc in ((2, 2), (3, 1)):
            mag = torch.rand(b, 1, t, freq_bins, generator=gen) * 2.0
            cond = torch.nn.functional.normalize(torch.randn(bc, text_dim, generator=gen), dim=-1)
            with torch.no_grad():
                ref = [r.numpy() for r in core(mag, cond)]
            got = sess.run(OUTPUTS, {"magnitude": mag.numpy(), "condition": cond.numpy()})
            for name, r, g in zip(OUTPUTS, ref, got):
                if r.shape != g.shape:
                    raise ExportError(f"ONNX output {name!r} (T={t}) has shape {g.shape}, torch gives {r.shape}")
                worst[name] = max(worst[name], float(np.max(np.abs(r - g))))
    for name, value in worst.items():
        tol = PHASE_TOL if name in ("cos", "sin") else PARITY_TOL
        if not value <= tol:
            raise ExportError(f"multi-source ONNX export does not match torch: {name} differs by {value:.3g} > {tol:g}")
    return worst


def export_multisource(model: MultiSourceModel, path: Optional[os.PathLike] = None,
                       check_frames=(7, 33, 101)) -> bytes:
    """Export ``model`` (eval mode), check it, write it atomically to ``path`` if given; returns the bytes."""
    import onnx

    core = MultiSourceCore(model.eval()).eval()
    cfg = model.cfg
    example = (torch.rand(1, 1, 40, cfg.freq_bins), torch.randn(1, cfg.text_dim))
    dyn = {"magnitude": {0: "batch", 2: "time"}, "condition": {0: "conditions"},
           "mask": {0: "batch", 2: "time"}, "cos": {0: "batch", 2: "time"}, "sin": {0: "batch", 2: "time"},
           "family_re": {0: "batch", 2: "time"}, "family_im": {0: "batch", 2: "time"}, "routes": {0: "conditions"}}
    data = export_plain(core, example, INPUTS, OUTPUTS, dyn, fold=False)  # weights stay readable: recover()
    try:
        onnx.checker.check_model(onnx.load_from_string(data))
    except onnx.checker.ValidationError as exc:  # pragma: no cover - torch produced an invalid graph
        raise ExportError(f"onnx.checker rejected the multi-source graph: {exc}") from exc
    worst = check_parity(core, data, cfg.freq_bins, cfg.text_dim, frames=check_frames)
    log.info("separator.onnx (multi-source): %.1f MB, max |torch-ORT| %s", len(data) / 1e6,
             {k: f"{v:.1e}" for k, v in worst.items()})
    if path is not None:
        atomic_write_bytes(Path(path), data)
    return data


# where a module's parameters enter its ONNX node: input index per parameter name, by op type
PARAM_INPUTS = {"Conv": {"weight": 1, "bias": 2}, "ConvTranspose": {"weight": 1, "bias": 2}, "Gemm": {"weight": 1, "bias": 2},
                "BatchNormalization": {"weight": 1, "bias": 2, "running_mean": 3, "running_var": 4}}


def graph_parameters(proto) -> dict:
    """{state-dict name: array} read from an exported graph: each parameter is found as an input of
    the node the exporter named after its module ("/net/encoders.0/conv1/Conv" for
    "net.encoders.0.conv1.weight"), through Identity nodes (the exporter keeps one copy of equal tensors)."""
    from onnx import numpy_helper

    arrays = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    alias = {n.output[0]: n.input[0] for n in proto.graph.node if n.op_type == "Identity"}
    out = {}
    for node in proto.graph.node:
        slots = PARAM_INPUTS.get(node.op_type)
        if not slots or not node.name.startswith("/"):
            continue
        parts: list = []
        for part in node.name.strip("/").split("/")[:-1]:  # a Sequential scopes its children as "net/net.0"
            if "." in part and parts and parts[-1] == part.split(".")[0]:
                parts.pop()
            parts.append(part)
        module = ".".join(parts)
        for param, k in slots.items():
            if k < len(node.input) and node.input[k]:
                src = node.input[k]
                while src in alias:
                    src = alias[src]
                if src in arrays:
                    out[f"{module}.{param}"] = arrays[src]
    return out


def recover(bundle) -> tuple:
    """(MultiSourceModel, manifest) rebuilt from a multi-source bundle's separator.onnx and manifest,
    so that training can go on from a shipped model on another machine; raises ExportError when a
    parameter is missing or has another shape."""
    import json
    from pathlib import Path

    import onnx

    from .multisource import MultiSourceConfig

    bundle = Path(bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    cfg = MultiSourceConfig.from_dict(manifest["separator"]["architecture"])
    model = MultiSourceModel(cfg)
    weights = graph_parameters(onnx.load(str(bundle / manifest["separator"]["file"])))
    state = model.state_dict()
    for name, value in state.items():
        if name.endswith("num_batches_tracked"):
            continue
        found = weights.get(name)
        if found is None or tuple(found.shape) != tuple(value.shape):
            raise ExportError(f"{bundle}: separator.onnx has no parameter {name!r} of shape {tuple(value.shape)}; "
                              "it was not written by export.ms_bundle")
        state[name] = torch.from_numpy(found.copy())
    model.load_state_dict(state)
    return model.eval(), manifest
