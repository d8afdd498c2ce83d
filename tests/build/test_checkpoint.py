import os
import pathlib

import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # build-time test: compares with / builds torch models

from export.audiosep import main as audiosep_main
from export.checkpoint import import_official, infer_config, load_separator, safe_torch_load
from export.resunet import ResUNet30, ResUNetConfig
from plugin.errors import CheckpointError

from conftest import TINY_WIDTHS, tiny_model


def official_layout(model, extra=None):
    sd = {"ss_model." + k: v for k, v in model.state_dict().items()}
    sd["ss_model.base.stft.conv_real.weight"] = torch.zeros(3, 1, 4)  # torchlibrosa kernels are ignored
    sd["ss_model.base.istft.ola_window"] = torch.zeros(4)
    sd.update(extra or {})
    return {"state_dict": sd, "global_step": 7}


@pytest.fixture
def tiny_ckpt(tmp_path):
    path = tmp_path / "tiny.ckpt"
    torch.save(official_layout(tiny_model(3)), path)
    return path


class Evil:
    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(os.environ["EVIL_MARKER"]),))


def test_tiny_official_layout_round_trip(tiny_ckpt):
    model, text, report = import_official(tiny_ckpt)
    ref = tiny_model(3)
    for k, v in ref.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k
    assert model.cfg.widths == TINY_WIDTHS and model.cfg.condition_dim == 16
    assert report["global_step"] == 7 and text == {}


def test_infer_config_reads_strides_and_film_kind():
    cfg = ResUNetConfig(n_fft=1024, widths=(4, 8, 8, 16, 16), downsamples=((2, 2), (2, 2), (1, 2), (2, 2), (2, 2)),
                        condition_dim=8, film="scale_shift")
    got = infer_config({k: v for k, v in ResUNet30(cfg).state_dict().items()})
    assert got.widths == cfg.widths and got.downsamples == cfg.downsamples
    assert got.n_fft == 1024 and got.condition_dim == 8 and got.film == "scale_shift"


def test_nonexistent(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        safe_torch_load(tmp_path / "missing.ckpt")


def test_empty(tmp_path):
    p = tmp_path / "empty.ckpt"
    p.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        safe_torch_load(p)


def test_corrupt(tmp_path):
    p = tmp_path / "junk.ckpt"
    p.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(CheckpointError, match="corrupt"):
        safe_torch_load(p)


def test_truncated(tiny_ckpt, tmp_path):
    data = tiny_ckpt.read_bytes()
    p = tmp_path / "cut.ckpt"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        safe_torch_load(p)


def refused_message(tmp_path, monkeypatch, payload) -> str:
    """Save a checkpoint carrying ``payload``, check that loading it is refused and runs nothing; the message."""
    marker = tmp_path / "pwned"
    monkeypatch.setenv("EVIL_MARKER", str(marker))
    p = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "payload": payload}, p)
    with pytest.raises(CheckpointError, match="needs code execution") as err:
        safe_torch_load(p)
    assert not marker.exists()
    return str(err.value)


def test_code_execution_is_refused_not_run(tmp_path, monkeypatch):
    assert "(it references " in refused_message(tmp_path, monkeypatch, Evil())  # the refused global is named


class SystemCall:
    def __reduce__(self):
        return (os.system, ("touch " + os.environ["EVIL_MARKER"],))


def test_refused_os_system_is_named(tmp_path, monkeypatch):
    """torch 2.13 words it "unsupported GLOBAL posix.system", which the message pattern used to miss."""
    message = refused_message(tmp_path, monkeypatch, SystemCall())
    assert re.search(r"references (posix|os|nt)\.system", message), message


def test_an_html_page_is_not_called_code_execution(tmp_path):
    p = tmp_path / "audiosep.ckpt"
    p.write_text("<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Log in to continue</body></html>")
    with pytest.raises(CheckpointError, match="HTML page") as err:
        safe_torch_load(p)
    assert "code execution" not in str(err.value)


def test_missing_and_unexpected_keys_are_listed(tmp_path):
    ck = official_layout(tiny_model(3))
    sd = ck["state_dict"]
    del sd["ss_model.base.encoder_block2.conv_block1.conv2.weight"]
    sd["ss_model.base.extra_layer.weight"] = torch.zeros(2)
    with pytest.raises(CheckpointError) as e:
        load_separator(sd, cfg=ResUNetConfig(widths=TINY_WIDTHS, condition_dim=16))
    msg = str(e.value)
    assert "1 missing: base.encoder_block2.conv_block1.conv2.weight" in msg
    assert "1 unexpected: base.extra_layer.weight" in msg


def test_shape_mismatch_is_listed():
    sd = official_layout(tiny_model(3))["state_dict"]
    sd["ss_model.base.after_conv.weight"] = torch.zeros(5, 4, 1, 1)
    with pytest.raises(CheckpointError, match=r"shape mismatches: base.after_conv.weight: checkpoint \(5, 4, 1, 1\)"):
        load_separator(sd, cfg=ResUNetConfig(widths=TINY_WIDTHS, condition_dim=16))


def test_not_an_audiosep_checkpoint(tmp_path):
    p = tmp_path / "other.ckpt"
    torch.save({"state_dict": {"encoder.weight": torch.zeros(3)}}, p)
    with pytest.raises(CheckpointError, match="no separator weights"):
        import_official(p)


def test_nan_weights_are_refused():
    sd = official_layout(tiny_model(3))["state_dict"]
    sd["ss_model.base.pre_conv.weight"][0] = float("nan")
    with pytest.raises(CheckpointError, match="NaN"):
        load_separator(sd)


@pytest.mark.parametrize("kind", ["missing", "corrupt", "evil"])
def test_cli_bad_checkpoint_is_one_message_no_traceback(tmp_path, capsys, kind, monkeypatch):
    p = tmp_path / "x.ckpt"
    if kind == "corrupt":
        p.write_bytes(b"PK\x03\x04 definitely not a checkpoint")
    elif kind == "evil":
        monkeypatch.setenv("EVIL_MARKER", str(tmp_path / "pwned"))
        torch.save({"x": Evil()}, p)
    out = tmp_path / "bundle"
    assert audiosep_main(["--checkpoint", str(p), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and not list(tmp_path.glob(".bundle*"))


def test_cli_writes_bundle_without_text_encoder(tiny_ckpt, tmp_path, capsys):
    from plugin.bundle import Bundle

    out = tmp_path / "b"
    assert audiosep_main(["--checkpoint", str(tiny_ckpt), "--out", str(out), "--name", "tiny"]) == 0
    b = Bundle(out)
    assert b.manifest.name == "tiny" and b.manifest.text_encoder is None
    assert set(b.manifest.files) == {"separator.onnx", "film.onnx", "separator_core.onnx"}
    assert b.specialised  # the official import gets the query-specialised graphs too
    assert b.manifest.raw["import"]["note"].startswith("the checkpoint has no query_encoder weights")
