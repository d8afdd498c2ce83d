"""Export a ResUNet separator to ONNX, and refuse to write one that does not match torch.

The graph has dynamic batch and time axes and opset >= 17; it is validated with ``onnx.checker`` and
then run with ONNX Runtime against the torch module on random inputs of several lengths (the time
axis is padded to a multiple of the model's stride inside the graph, so odd lengths are the risky
ones). A mismatch above the tolerance raises and nothing is written to the destination.
"""
from __future__ import annotations

import io
import logging
import os
import warnings
from pathlib import Path
from typing import Iterable, Optional

import numpy as np
import torch

from plugin.atomic import write_bytes as atomic_write_bytes
from plugin.errors import SepBoardError

from .resunet import FilmSites, ResUNet30, SeparatorCore, SpecialisedCore, site_name

log = logging.getLogger(__name__)

OPSET = 18
INPUT_NAMES = ["magnitude", "condition"]
OUTPUT_NAMES = ["mask", "cos", "sin"]
PARITY_TOL = 1e-4  # on the magnitude mask
# cos/sin of the phase mask are normalised tanh pairs: where both are near 0 the angle is ill-conditioned
# and float32 reordering alone moves it by ~1e-4, so they get a looser bound; the end-to-end waveform
# parity (tests/build/test_parity_official.py) holds the whole path to 1e-4.
PHASE_TOL = 1e-3


class ExportError(SepBoardError):
    """The exported graph is invalid or does not reproduce the torch model."""


def _export_to_bytes(core: torch.nn.Module, example: tuple) -> bytes:
    dyn = {"magnitude": {0: "batch", 2: "time"}, "condition": {0: "batch"}}
    dyn.update({name: {0: "batch", 2: "time"} for name in OUTPUT_NAMES})
    return export_plain(core, example, INPUT_NAMES, OUTPUT_NAMES, dyn)


def check_parity(
    core: torch.nn.Module,
    onnx_bytes: bytes,
    freq_bins: int,
    condition_dim: int,
    frames: Iterable[int] = (7, 33, 101),
    batch: int = 2,
    seed: int = 0,
) -> float:
    """Max |torch - ORT| over masks and phases on random inputs; raises ExportError above tolerance."""
    from plugin.bundle import make_session

    sess = make_session(onnx_bytes, providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(seed)
    worst = {"mask": 0.0, "cos": 0.0, "sin": 0.0}
    for t in frames:
        mag = torch.rand(batch, 1, t, freq_bins, generator=gen) * 2.0
        cond = torch.nn.functional.normalize(torch.randn(batch, condition_dim, generator=gen), dim=-1)
        with torch.no_grad():
            ref = [r.numpy() for r in core(mag, cond)]
        got = sess.run(OUTPUT_NAMES, {"magnitude": mag.numpy(), "condition": cond.numpy()})
        _accumulate(worst, ref, got, f"ONNX output (T={t})")
    _check_worst(worst, "ONNX export")
    return worst


def _accumulate(worst: dict, ref, got, what: str) -> None:
    """Fold one comparison of (mask, cos, sin) into ``worst`` (max |torch - ORT| per output)."""
    for name, r, g in zip(OUTPUT_NAMES, ref, got):
        if r.shape != g.shape:
            raise ExportError(f"{what} {name!r} has shape {g.shape}, torch gives {r.shape}")
        worst[name] = max(worst[name], float(np.max(np.abs(r - g))))


def _check_worst(worst: dict, what: str) -> None:
    if not worst["mask"] <= PARITY_TOL:
        raise ExportError(f"{what} does not match torch: mask max abs difference {worst['mask']:.3g} > {PARITY_TOL:g}")
    phase = max(worst["cos"], worst["sin"])
    if not phase <= PHASE_TOL:
        raise ExportError(f"{what} does not match torch: phase max abs difference {phase:.3g} > {PHASE_TOL:g}")


def export_separator(model: ResUNet30, path: Optional[os.PathLike] = None, check_frames=(7, 33, 101)) -> bytes:
    """Export ``model`` (eval mode) to ONNX, verify it, and write it atomically to ``path`` if given.

    Returns the ONNX bytes. Raises ExportError when the checker or the parity check fails.
    """
    import onnx

    model = model.eval()
    core = SeparatorCore(model).eval()
    cfg = model.cfg
    example = (torch.rand(1, 1, 40, cfg.freq_bins), torch.randn(1, cfg.condition_dim))
    data = _export_to_bytes(core, example)
    proto = onnx.load_from_string(data)
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as exc:  # pragma: no cover - torch produced an invalid graph
        raise ExportError(f"onnx.checker rejected the separator graph: {exc}") from exc
    opset = max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    if opset < 17:
        raise ExportError(f"separator graph has opset {opset}; need >= 17")
    worst = check_parity(core, data, cfg.freq_bins, cfg.condition_dim, frames=check_frames)
    log.info("separator.onnx: %.1f MB, opset %d, max |torch-ORT| mask %.2e, phase %.2e", len(data) / 1e6, opset,
             worst["mask"], max(worst["cos"], worst["sin"]))
    if path is not None:
        atomic_write_bytes(Path(path), data)
    return data


def export_plain(module: torch.nn.Module, example: tuple, inputs, outputs, dynamic, fold: bool = True) -> bytes:
    """``module`` as ONNX bytes. ``fold=False`` keeps every parameter as its own initializer under its
    state-dict name (no conv+BN fusion; ONNX Runtime fuses at load), so the weights can be read back."""
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, example, buf, input_names=list(inputs), output_names=list(outputs),
                          dynamic_axes=dynamic, opset_version=OPSET, do_constant_folding=fold, dynamo=False)
    return buf.getvalue()


def _name_outputs(data: bytes, names) -> bytes:
    """Give graph outputs exactly ``names``: the exporter renames an output that it folded to a
    constant (with the β-only FiLM every site's weight is one), so route those through Identity."""
    import onnx

    proto = onnx.load_from_string(data)
    for out, name in zip(proto.graph.output, names):
        if out.name != name:
            proto.graph.node.append(onnx.helper.make_node("Identity", [out.name], [name], name=f"name_{name}"))
            out.name = name
    return proto.SerializeToString()


def export_specialised(model: ResUNet30, film_path: Optional[os.PathLike] = None,
                       core_path: Optional[os.PathLike] = None, check_frames=(7, 33, 101),
                       conditions: int = 2, seed: int = 0):
    """Export the query-specialised form of ``model``: ``film.onnx`` (condition [1, D] -> every site's
    folded BN+FiLM affine) and ``separator_core.onnx`` (magnitude -> mask, cos, sin, with the sites as
    initializers ``sites.<k>.weight|bias``). Verified like the generic graph: for ``conditions``
    random conditions, the runtime's way of combining them (film values as initializers) must match
    the torch model; written atomically only if it does. Returns (film bytes, core bytes, the
    manifest's patch list)."""
    import onnx

    from plugin.bundle import make_session, patch_core

    model = model.eval()
    cfg = model.cfg
    film = FilmSites(model).eval()
    names = [site_name(k, w) for k in range(len(film.sites)) for w in ("weight", "bias")]
    film_bytes = _name_outputs(export_plain(film, (torch.randn(1, cfg.condition_dim),), ["condition"], names, None),
                               names)
    core, core_bytes = export_placeholder_core(model)
    for label, data in (("film", film_bytes), ("separator_core", core_bytes)):
        try:
            onnx.checker.check_model(onnx.load_from_string(data))
        except onnx.checker.ValidationError as exc:  # pragma: no cover
            raise ExportError(f"onnx.checker rejected {label}.onnx: {exc}") from exc
    patches = site_patches(core_bytes, core.patches())
    film_sess = make_session(film_bytes, providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(seed)
    worst = {"mask": 0.0, "cos": 0.0, "sin": 0.0}
    for _ in range(conditions):
        cond = torch.nn.functional.normalize(torch.randn(1, cfg.condition_dim, generator=gen), dim=-1)
        values = dict(zip(names, film_sess.run(names, {"condition": cond.numpy()})))
        sess = make_session(patch_core(core_bytes, patches, values), providers=["CPUExecutionProvider"])
        for t in check_frames:
            mag = torch.rand(2, 1, t, cfg.freq_bins, generator=gen) * 2.0
            with torch.no_grad():
                ref = [r.numpy() for r in model.forward_masks(mag, cond.expand(2, -1))]
            got = sess.run(OUTPUT_NAMES, {"magnitude": mag.numpy()})
            _accumulate(worst, ref, got, f"specialised output (T={t})")
    _check_worst(worst, "specialised export")
    log.info("film.onnx %.2f MB + separator_core.onnx %.1f MB, max |torch-ORT| mask %.2e", len(film_bytes) / 1e6,
             len(core_bytes) / 1e6, worst["mask"])
    if film_path is not None:
        atomic_write_bytes(Path(film_path), film_bytes)
    if core_path is not None:
        atomic_write_bytes(Path(core_path), core_bytes)
    return film_bytes, core_bytes, patches


def export_placeholder_core(model: ResUNet30, seed: int = 1234):
    """(SpecialisedCore, its ONNX bytes) with distinct random placeholders in every query-dependent
    initializer: the exporter must not merge two sites' initializers, and their bytes locate the patches."""
    core = SpecialisedCore(model).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for site in core.sites.values():
            site.weight.uniform_(0.5, 1.5, generator=gen)
            site.bias.uniform_(-0.5, 0.5, generator=gen)
        for conv in core.folded.values():
            conv.bias.uniform_(-0.5, 0.5, generator=gen)
    dyn = {"magnitude": {0: "batch", 2: "time"}}
    dyn.update({n: {0: "batch", 2: "time"} for n in OUTPUT_NAMES})
    return core, export_plain(core, (torch.rand(1, 1, 40, model.cfg.freq_bins),), ["magnitude"], OUTPUT_NAMES, dyn)


def site_patches(core_bytes: bytes, plan) -> list:
    """The manifest's patch list: for each (film output, op, core initializer), where the
    initializer's float32 data lies in the file ({"value", "op", "offset", "count"}). The runtime
    (plugin.bundle) writes each query's values there. Each placeholder must occur exactly once."""
    import onnx
    from onnx import numpy_helper

    inits = {i.name: i for i in onnx.load_from_string(core_bytes).graph.initializer}
    out = []
    for value, op, name in plan:
        if name not in inits:
            raise ExportError(f"separator_core.onnx lacks the initializer {name!r} (the exporter renamed or "
                              "folded it), so the runtime could not specialise it")
        raw = numpy_helper.to_array(inits[name]).astype("<f4").tobytes()
        at = core_bytes.find(raw)
        if at < 0 or core_bytes.find(raw, at + 1) >= 0:
            raise ExportError(f"{name!r}: its placeholder bytes are not unique in separator_core.onnx")
        out.append({"value": value, "op": op, "offset": at, "count": len(raw) // 4})
    return out


