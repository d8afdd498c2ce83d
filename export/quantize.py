"""An int8 form of the query-specialised separator core (opt-in speed; fp32 stays the default).

ONNX Runtime's CPU convolutions are ~80 % of a full-size separation and run in fp32 (MLAS); its
int8 convolutions (QLinearConv: u8 activations x s8 weights) are about twice as fast. This module
quantises the same folded core as the fp32 path (``resunet.SpecialisedCore``): weights per output
channel, symmetric s8; activations per tensor, u8, with ranges calibrated on real music for several
queries. Every convolution that depends on the query stays patchable: a FiLM site is a depthwise
1x1 conv whose int8 weight is +-127 and whose scale is |w|/127, and a folded conv1 keeps its
query-independent rows ``q0`` with scale ``s0``; per query the runtime (``plugin.bundle.patch_core``)
writes ``q0 * sign(w)``, ``s0 * |w|``, the bias scale ``in_scale * s0 * |w|`` and the int32 bias
``round(b / bias_scale)``. Keeping the sites quantised matters: an fp32 site between int8 convs costs
two layout changes and a quantise/dequantise pair each, which ate the whole gain (measured).

The export measures the int8 core against the fp32 torch model on conditions and inputs it did not
calibrate with and records the difference in the manifest: an approximation, not held to the fp32
parity bound (1e-4).
"""
from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from .resunet import FilmSites, ResUNet30, site_name

log = logging.getLogger("sepboard.export")

MAX_MEAN_MASK_DIFF = 0.02  # refuse an int8 core whose masks stray further than this on average
DEMO_SONG = Path(__file__).resolve().parents[1] / "plugin" / "demo" / "demo_song.flac"
# what users type: calibration covers these queries' activation ranges (the last two are held out
# to measure the int8 core)
CALIBRATION_QUERIES = ["bass guitar", "drums", "piano", "acoustic guitar", "electric guitar", "vocals", "violin",
                       "trumpet", "saxophone", "synthesizer", "organ", "flute", "a funky slap bass", "female singing"]


def _film_values(model: ResUNet30, cond: np.ndarray, n_sites: int) -> Dict[str, np.ndarray]:
    """film.onnx's outputs for one condition, computed in torch."""
    with torch.no_grad():
        vals = FilmSites(model).eval()(torch.from_numpy(np.asarray(cond, np.float32).reshape(1, -1)))
    return {site_name(k, w): vals[2 * k + j].numpy().astype(np.float32)
            for k in range(n_sites) for j, w in enumerate(("weight", "bias"))}


def _offsets(model, names: Sequence[str]) -> Dict[str, int]:
    """Byte offset of each named initializer's raw data in ``model``'s serialisation: each is
    overwritten with a random marker of the same length (the layout does not change), found, and put back."""
    inits = {i.name: i for i in model.graph.initializer}
    saved = {n: bytes(inits[n].raw_data) for n in names}
    rng = np.random.default_rng(7)
    markers = {}
    for n in names:
        markers[n] = rng.integers(0, 256, len(saved[n]), dtype=np.uint8).tobytes()
        inits[n].raw_data = markers[n]
    data = model.SerializeToString()
    out = {}
    for n in names:
        at = data.find(markers[n])
        if at < 0 or data.find(markers[n], at + 1) >= 0:
            raise RuntimeError(f"cannot locate {n!r} in the int8 core")
        out[n] = at
        inits[n].raw_data = saved[n]
    return out


def export_int8_core(model: ResUNet30, magnitudes: Sequence[np.ndarray], conditions: Sequence[np.ndarray],
                     core_path: Optional[os.PathLike] = None, check_conditions: Optional[Sequence[np.ndarray]] = None,
                     check_magnitudes: Optional[Sequence[np.ndarray]] = None,
                     max_mean_diff: Optional[float] = None):
    """Quantise the query-specialised core of ``model``.

    ``magnitudes``: calibration inputs [1, 1, T, F] (real music's STFT magnitudes); ``conditions``:
    calibration condition vectors [D] (the queries users will type, through the text encoder).
    Returns (core bytes, the manifest's patch list, report {max/mean abs mask difference to fp32}).
    """
    from .onnx_export import ExportError, atomic_write_bytes, export_placeholder_core

    model = model.eval()
    core, fp32 = export_placeholder_core(model)
    n_sites = len(core.kinds)
    q = _quantize_calibrated(model, fp32, core.patches(), n_sites, magnitudes, conditions)
    data, patches = _make_patchable(q, core.kinds)

    # measure: int8 core (patched the runtime's way) vs the fp32 torch model, on held-out inputs
    checks = list(check_conditions) if check_conditions is not None else list(conditions[-2:])
    mags = list(check_magnitudes) if check_magnitudes is not None else list(magnitudes[-2:])
    report = _mask_difference(model, data, patches, n_sites, checks, mags)
    report["calibration"] = {"conditions": len(conditions), "inputs": len(magnitudes)}
    max_mean_diff = MAX_MEAN_MASK_DIFF if max_mean_diff is None else max_mean_diff
    if report["mean_abs_mask_vs_fp32"] > max_mean_diff:
        raise ExportError(f"the int8 core's masks differ from fp32 by {report['mean_abs_mask_vs_fp32']:.3f} on "
                          f"average (> {max_mean_diff}): not writing it")
    log.info("separator_core_int8.onnx %.1f MB, mask vs fp32: max %.3f, mean %.4f", len(data) / 1e6,
             report["max_abs_mask_vs_fp32"], report["mean_abs_mask_vs_fp32"])
    if core_path is not None:
        atomic_write_bytes(Path(core_path), data)
    return data, patches, report


def _quantize_calibrated(model: ResUNet30, fp32: bytes, plan, n_sites: int, magnitudes: Sequence[np.ndarray],
                         conditions: Sequence[np.ndarray]):
    """The placeholder core ``fp32`` quantised statically (QDQ, per-channel s8 weights, u8 activations),
    with activation ranges calibrated on ``magnitudes`` over every condition; an onnx ModelProto."""
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.calibrate import create_calibrator, save_tensors_data
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from plugin.bundle import patch_core

    from .onnx_export import site_patches

    class Reader(CalibrationDataReader):
        def __init__(self, items):
            self.it = iter(items)

        def get_next(self):
            return next(self.it, None)

    # The first and last convs stay fp32: pre_conv reads one channel and after_conv writes three
    # (nothing to gain), and the mask and phase logits keep their full precision
    ends = [n.name for n in onnx.load_from_string(fp32).graph.node
            if n.op_type == "Conv" and ("/pre_conv/" in n.name or "/after_conv/" in n.name)]
    opts = dict(quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8, op_types_to_quantize=["Conv"], calibrate_method=CalibrationMethod.MinMax,
                nodes_to_exclude=ends, extra_options={"WeightSymmetric": True, "ActivationSymmetric": False})
    with tempfile.TemporaryDirectory(prefix="sepboard-int8-") as tmp:
        tmp = Path(tmp)
        (tmp / "raw.onnx").write_bytes(fp32)
        # ORT's basic graph optimisation and shape inference first: without them 6 of the 57 convs
        # (the decoders' shortcuts) stay fp32 between a dequantise and a quantise
        quant_pre_process(str(tmp / "raw.onnx"), str(tmp / "core.onnx"), skip_symbolic_shape=True)
        # activation ranges: the union over every calibration query. ORT's MinMax calibrator merges the
        # ranges of successive collect_data calls; giving it a session of the core patched for each query
        # (its augmented model, same placeholders) is how one calibrator sees many queries
        cal = create_calibrator(tmp / "core.onnx", ["Conv"], augmented_model_path=str(tmp / "aug.onnx"),
                                calibrate_method=CalibrationMethod.MinMax)
        aug = (tmp / "aug.onnx").read_bytes()
        aug_patches = site_patches(aug, plan)
        for c in conditions:
            values = _film_values(model, c, n_sites)
            cal.infer_session = ort.InferenceSession(patch_core(aug, aug_patches, values),
                                                     providers=["CPUExecutionProvider"])
            cal.collect_data(Reader([{"magnitude": m.astype(np.float32)} for m in magnitudes]))
        save_tensors_data(cal.compute_data(), tmp / "ranges.json")
        del cal
        quantize_static(str(tmp / "core.onnx"), str(tmp / "int8.onnx"), None,
                        calibration_cache_path=str(tmp / "ranges.json"), **opts)
        q = onnx.load(str(tmp / "int8.onnx"))
    return q


def _make_patchable(q, kinds: Sequence[str]):
    """Put every site's int8 parameters of ``q`` in the base form the runtime's patches start from;
    returns (core bytes, the manifest's patch list)."""
    import onnx
    from onnx import numpy_helper

    from .onnx_export import ExportError

    inits = {i.name: i for i in q.graph.initializer}

    def arr(name):
        return numpy_helper.to_array(inits[name])

    def put(name, value):
        inits[name].CopyFrom(numpy_helper.from_array(np.ascontiguousarray(value), name))

    targets = []
    for k, kind in enumerate(kinds):
        x = f"sites.{k}" if kind == "site" else f"folded.{k}"
        names = [f"{x}.weight_quantized", f"{x}.weight_scale", f"{x}.bias_quantized", f"{x}.bias_quantized_scale"]
        missing = [n for n in names if n not in inits]
        if missing:
            raise ExportError(f"the int8 quantiser did not produce {missing}: cannot make {x} query-patchable")
        wq, ws, bs = arr(names[0]), arr(names[1]), arr(names[3])
        in_scale = np.float32(bs.reshape(-1)[0] / ws.reshape(-1)[0])
        if kind == "site":  # base weight 1 per channel: q 127, scale 1/127
            wq, ws = np.full_like(wq, 127), np.full_like(ws, 1 / 127)
        put(names[0], wq.astype(np.int8))
        put(names[1], ws.astype(np.float32))
        put(names[2], np.zeros(ws.shape, np.int32))
        put(names[3], (ws * in_scale).astype(np.float32))
        targets.append((k, names))
    offsets = _offsets(q, [n for _, names in targets for n in names])
    data = q.SerializeToString()
    try:
        onnx.checker.check_model(onnx.load_from_string(data))
    except onnx.checker.ValidationError as exc:  # pragma: no cover
        raise ExportError(f"onnx.checker rejected the int8 core: {exc}") from exc
    patches = []
    for k, names in targets:
        w, b = site_name(k, "weight"), site_name(k, "bias")
        c, n8 = int(np.prod(inits[names[1]].dims)), int(np.prod(inits[names[0]].dims))
        patches += [{"value": w, "op": "q8_sign", "offset": offsets[names[0]], "count": n8},
                    {"value": w, "op": "scale_abs", "offset": offsets[names[1]], "count": c},
                    {"value": b, "op": "q8_bias", "weight": w, "offset": offsets[names[2]], "count": c,
                     "scale_offset": offsets[names[3]]},
                    {"value": w, "op": "scale_abs", "offset": offsets[names[3]], "count": c}]
    return data, patches


def _mask_difference(model: ResUNet30, data: bytes, patches, n_sites: int, checks, mags) -> Dict:
    """{max, mean abs mask difference} between the int8 core ``data`` patched for each of ``checks``
    (the runtime's way) and the fp32 torch model, on the magnitudes ``mags``."""
    from plugin.bundle import make_session, patch_core

    worst, total, count = 0.0, 0.0, 0
    for c in checks:
        sess = make_session(patch_core(data, patches, _film_values(model, c, n_sites)),
                            providers=["CPUExecutionProvider"])
        cond = torch.from_numpy(np.asarray(c, np.float32).reshape(1, -1))
        for m in mags:
            got = sess.run(["mask"], {"magnitude": m.astype(np.float32)})[0]
            with torch.no_grad():
                ref = model.forward_masks(torch.from_numpy(m.astype(np.float32)), cond)[0].numpy()
            d = np.abs(got - ref)
            worst, total, count = max(worst, float(d.max())), total + float(d.sum()), count + d.size
    return {"max_abs_mask_vs_fp32": worst, "mean_abs_mask_vs_fp32": total / max(count, 1)}


def music_magnitudes(model_cfg, audio: np.ndarray, sr: int, frames: int = 200, count: int = 6) -> List[np.ndarray]:
    """Calibration inputs: ``count`` windows of ``frames`` STFT frames of real audio (mono, resampled
    to the model rate), as magnitudes [1, 1, frames, F] the way the runtime computes them."""
    from plugin.audio import resample
    from plugin.stft import magnitude_phase, stft

    x = np.asarray(audio, np.float32)
    if x.ndim == 2:  # (channels, samples), as plugin.audio.read_audio gives -> mono
        x = x.mean(axis=0)
    x = resample(x[None], sr, model_cfg.sample_rate)[0]
    spec = stft(x, model_cfg.n_fft, model_cfg.hop)
    mag = magnitude_phase(spec)[0][..., : model_cfg.freq_bins]
    starts = np.linspace(0, max(mag.shape[0] - frames, 0), count).astype(int)
    return [np.ascontiguousarray(mag[s : s + frames][None, None]).astype(np.float32) for s in starts]


def calibration_set(model: ResUNet30, embed=None, audio: Optional[os.PathLike] = None, seed: int = 0) -> Dict:
    """``export_int8_core`` keyword arguments: magnitudes of ``audio`` (default: the shipped demo song)
    and the conditions of :data:`CALIBRATION_QUERIES` through ``embed`` (texts -> [N, D]); without a
    text encoder, random unit conditions (then the int8 core is calibrated less well for real queries)."""
    from plugin.audio import read_audio

    x, sr = read_audio(audio or DEMO_SONG)
    mags = music_magnitudes(model.cfg, x, sr, count=8)
    if embed is not None:
        conds = np.asarray(embed(CALIBRATION_QUERIES), np.float32)
    else:
        conds = np.random.default_rng(seed).standard_normal((len(CALIBRATION_QUERIES), model.cfg.condition_dim))
        conds = (conds / np.linalg.norm(conds, axis=1, keepdims=True)).astype(np.float32)
    return {"magnitudes": mags[:6], "conditions": list(conds[:-2]), "check_magnitudes": mags[6:],
            "check_conditions": list(conds[-2:])}
