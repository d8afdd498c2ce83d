"""The opt-in int8 separator core: its patch operations, export, per-query patching, and errors."""
import json

import numpy as np
import pytest

from conftest import tiny_model
from plugin.bundle import Bundle, patch_core
from plugin.errors import BundleError


def test_int8_patch_operations_match_their_definitions():
    rng = np.random.default_rng(0)
    q0 = rng.integers(-127, 128, (3, 4), dtype=np.int8)
    s0 = rng.uniform(0.01, 0.02, 3).astype("<f4")
    bs0 = (s0 * 0.5).astype("<f4")
    raw = b"HEAD" + q0.tobytes() + s0.tobytes() + bs0.tobytes() + np.zeros(3, "<i4").tobytes() + b"TAIL"
    o_q, o_s = 4, 4 + 12
    o_bs, o_b = o_s + 12, o_s + 24
    w = np.array([0.5, -2.0, 1.5], np.float32)
    b = np.array([0.3, -0.1, 0.02], np.float32)
    patches = [{"value": "w", "op": "q8_sign", "offset": o_q, "count": 12},
               {"value": "w", "op": "scale_abs", "offset": o_s, "count": 3},
               {"value": "w", "op": "scale_abs", "offset": o_bs, "count": 3},
               {"value": "b", "op": "q8_bias", "weight": "w", "offset": o_b, "count": 3, "scale_offset": o_bs}]
    out = patch_core(raw, patches, {"w": w, "b": b})
    assert len(out) == len(raw) and out[:4] == b"HEAD" and out[-4:] == b"TAIL"
    q = np.frombuffer(out, np.int8, 12, o_q).reshape(3, 4)
    s = np.frombuffer(out, "<f4", 3, o_s)
    bs = np.frombuffer(out, "<f4", 3, o_bs)
    bq = np.frombuffer(out, "<i4", 3, o_b)
    # the dequantised weight is the base weight with each row scaled by w (sign included)
    np.testing.assert_allclose(q * s[:, None], q0 * s0[:, None] * w[:, None], rtol=1e-6)
    np.testing.assert_allclose(bs, bs0 * np.abs(w), rtol=1e-6)
    np.testing.assert_array_equal(bq, np.rint(b / (bs0.astype(np.float64) * np.abs(w))).astype(np.int32))
    np.testing.assert_allclose(bq * bs, b, atol=np.max(bs))  # the bias comes back to within one step
    with pytest.raises(BundleError, match="no 'w'"):
        patch_core(raw, patches, {"b": b})
    with pytest.raises(BundleError, match="does not fit"):
        patch_core(raw, [{**patches[1], "count": 4}], {"w": w})
    with pytest.raises(BundleError, match="does not fit"):  # a bias scale beyond the file's end
        patch_core(raw, [{**patches[3], "scale_offset": len(raw) - 4}], {"w": w, "b": b})


@pytest.fixture(scope="module")
def int8_bundle(tmp_path_factory):
    pytest.importorskip("torch")  # exported here from a torch model
    from export.bundle_writer import write_bundle
    from export.quantize import music_magnitudes

    model = tiny_model(3, n_fft=1024, hop=320, widths=(4, 4, 8, 8, 8), downsamples=((2, 2),) * 5)
    sr = 32000
    t = np.arange(6 * sr) / sr
    g = np.random.default_rng(1)
    song = sum(np.sin(2 * np.pi * f * t) * (0.5 + 0.5 * np.sin(2 * np.pi * r * t))
               for f, r in zip(g.uniform(60, 2000, 8), g.uniform(0.5, 4, 8))).astype(np.float32) * 0.05
    mags = music_magnitudes(model.cfg, song, sr, frames=64, count=6)
    conds = g.standard_normal((6, 16)).astype(np.float32)
    conds /= np.linalg.norm(conds, axis=1, keepdims=True)
    path = write_bundle(tmp_path_factory.mktemp("int8") / "b", model, name="tiny-int8", source="tests", license="MIT",
                        int8={"magnitudes": mags[:4], "conditions": list(conds[:4]),
                              "check_magnitudes": mags[4:], "check_conditions": list(conds[4:])})
    return path, model, song, conds


def test_int8_core_is_exported_measured_and_close_to_fp32(int8_bundle):
    """The fp32 runtime equals the torch model to 1e-4 (test_separator); int8 is held against it."""
    from plugin import Separator

    path, model, song, conds = int8_bundle
    manifest = json.loads((path / "manifest.json").read_text())
    entry = manifest["separator"]["specialised"]["int8"]
    assert entry["core"] in manifest["files"] and entry["quality"]["mean_abs_mask_vs_fp32"] < 0.02
    fp = Separator.load(path)
    q8 = Separator.load(path, precision="int8")
    assert q8.bundle.precision == "int8"
    a = song[: 3 * 32000]
    outs = {}
    for k in (0, 1):
        c = conds[4 + k]
        outs[k] = (fp.separate(a, 32000, embedding=c), q8.separate(a, 32000, embedding=c))
        y, yq = outs[k]
        snr = 10 * np.log10(np.sum(y ** 2) / np.sum((y - yq) ** 2))
        assert snr > 15, snr  # int8 output within ~3 % (RMS) of fp32
    # per-query patching is real: query 0's int8 output is closer to query 0's fp32 than to query 1's
    d_same = np.sum((outs[0][1] - outs[0][0]) ** 2)
    d_other = np.sum((outs[0][1] - outs[1][0]) ** 2)
    assert d_same < 0.1 * d_other


def test_int8_needs_an_int8_core_and_says_so(text_bundle, tmp_path, capsys):
    from plugin.render import main

    with pytest.raises(BundleError, match="--int8"):
        Bundle(text_bundle, precision="int8")
    with pytest.raises(BundleError, match="precision"):
        Bundle(text_bundle, precision="fp16")
    wav = tmp_path / "a.wav"
    import soundfile as sf

    sf.write(wav, np.zeros(16000, np.float32), 16000)
    assert main([str(wav), "-q", "bass", "-o", str(tmp_path / "out"), "--bundle", str(text_bundle), "--int8"]) == 2
    assert "no int8 separator core" in capsys.readouterr().err


def test_official_import_writes_an_int8_core_calibrated_with_clap_queries(tmp_path, monkeypatch, capsys):
    """python -m export.audiosep --int8: the CLAP text tower embeds the calibration queries; an int8
    core that strays too far from fp32 is refused (this tiny random network does, at the default gate)."""
    pytest.importorskip("transformers")
    from test_clap_text import COND, TOKDIR, TorchClap, official_checkpoint

    from export.audiosep import main
    from export.quantize import CALIBRATION_QUERIES
    from plugin import Separator

    model = tiny_model(5, cond=COND, n_fft=1024, hop=320, widths=(4, 4, 8, 8, 8), downsamples=((2, 2),) * 5)
    ckpt = official_checkpoint(tmp_path / "audiosep.ckpt", model, TorchClap(seed=1))
    out = tmp_path / "bundle"
    args = ["--checkpoint", str(ckpt), "--out", str(out), "--tokenizer", str(TOKDIR), "--int8"]
    assert main(args) == 2
    assert "differ from fp32" in capsys.readouterr().err and not out.exists()
    import export.quantize as Q

    monkeypatch.setattr(Q, "MAX_MEAN_MASK_DIFF", 0.2)
    assert main(args) == 0
    q = json.loads((out / "manifest.json").read_text())["separator"]["specialised"]["int8"]["quality"]
    assert q["calibration"]["conditions"] == len(CALIBRATION_QUERIES) - 2 and 0.02 < q["mean_abs_mask_vs_fp32"] < 0.2
    x = np.random.default_rng(0).standard_normal(32000 * 2).astype(np.float32) * 0.1
    yq = Separator.load(out, precision="int8").separate(x, 32000, "bass guitar")
    assert yq.shape == x.shape and np.all(np.isfinite(yq))  # (quality is the other tests' business)
