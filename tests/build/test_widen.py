"""export.widen: a wider model that computes exactly what the trained one did, and can learn more."""
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from export.resunet import ResUNetConfig  # noqa: E402
from export.train import DEFAULT_ARCH, DefaultModel, load_checkpoint, save_checkpoint  # noqa: E402
from export.widen import channel_maps, main, max_output_difference, widen_model  # noqa: E402

TINY = [4, 8, 8, 16, 16]


def trained_like(widths=TINY, seed=0):
    """A tiny model whose every weight, BN statistic and FiLM layer is non-trivial (as after training)."""
    torch.manual_seed(seed)
    m = DefaultModel(ResUNetConfig.from_dict({**DEFAULT_ARCH.to_dict(), "widths": widths, "condition_dim": 16}))
    with torch.no_grad():
        for name, t in m.state_dict().items():
            if t.dtype.is_floating_point:
                t.add_(0.05 * torch.randn_like(t))
                if name.endswith("running_var"):
                    t.abs_().add_(0.5)
    return m


def test_widening_keeps_the_function_in_eval_and_training_mode():
    """[4, 8, 8, 16, 16] -> [4, 8, 12, 24, 32]: encoder blocks 3 and 5 had identity shortcuts and get
    1x1 convolutions, the decoders' concatenations move their skip halves; the output must not move."""
    old = trained_like()
    new = widen_model(old, [4, 8, 12, 24, 32], seed=3)
    assert list(new.sep.cfg.widths) == [4, 8, 12, 24, 32]
    assert not old.sep.base.encoder_block3.conv_block1.is_shortcut
    assert new.sep.base.encoder_block3.conv_block1.is_shortcut
    assert max_output_difference(old, new, seconds=1.0) < 1e-5
    g = torch.Generator().manual_seed(1)
    wav = 0.1 * torch.randn(4, 16000, generator=g)
    emb = torch.randn(4, 384, generator=g)
    old.train(), new.train()  # batch statistics: the old channels never see the new ones
    with torch.no_grad():
        assert float((old(wav, emb) - new(wav, emb)).abs().max()) < 1e-4


def test_the_new_channels_learn():
    """The old outputs' weights on new channels start at zero but get a gradient: the new capacity is
    reachable. Without the zeros (plain random init) the function would change: checked too."""
    old = trained_like()
    new = widen_model(old, [4, 8, 8, 24, 24])
    conv = new.sep.base.encoder_block5.conv_block1.conv1  # reads 24 channels, 16 of them old
    assert float(conv.weight[:16, 16:].abs().max()) == 0.0 and float(conv.weight[16:].abs().max()) > 0
    wav = 0.1 * torch.randn(2, 16000)
    new.train()
    new(wav, torch.randn(2, 384)).pow(2).mean().backward()
    assert float(conv.weight.grad[:16, 16:].abs().max()) > 0
    with torch.no_grad():
        conv.weight[:16, 16:] = 0.1
    assert max_output_difference(old, new, seconds=1.0) > 1e-3


def test_channel_maps_follow_the_decoder_concatenation():
    maps = channel_maps([4, 8], [6, 10])
    mi, mo, ni, no = maps["decoder_block1.conv_block2"]  # cat(upsampled 8, skip 8) -> cat(10, 10)
    assert list(mi) == list(range(8)) + list(range(10, 18)) and ni == 20 and no == 10 and list(mo) == list(range(8))


def test_widen_cli_writes_a_checkpoint_training_can_start_from(tmp_path, capsys, monkeypatch):
    old = trained_like()
    save_checkpoint(tmp_path / "old.pt", old, torch.optim.AdamW(old.parameters()), {"step": 123, "phases": []})
    assert main(["--checkpoint", str(tmp_path / "old.pt"), "--widths", "4,8,8,24,32", "--out", str(tmp_path / "w.pt")]) == 0
    assert "max |output difference|" in capsys.readouterr().out
    ck, cfg, state = load_checkpoint(tmp_path / "w.pt")
    assert list(cfg.widths) == [4, 8, 8, 24, 32] and state["step"] == 123
    assert state["widened_from"]["widths"] == TINY and state["widened_from"]["max_abs_difference"] < 1e-5
    m = DefaultModel(cfg)
    m.load_state_dict(ck["model"])
    assert ck["optimizer"]["state"] == {}  # Adam starts afresh (export.train warms it up)
    assert max_output_difference(old, m, seconds=1.0) < 1e-5
    # widths may only grow, level for level
    assert main(["--checkpoint", str(tmp_path / "old.pt"), "--widths", "4,8,8,8,16", "--out", str(tmp_path / "x.pt")]) == 2
    assert main(["--checkpoint", str(tmp_path / "old.pt"), "--widths", "4,8,8,16", "--out", str(tmp_path / "x.pt")]) == 2
    assert main(["--checkpoint", str(tmp_path / "nope.pt"), "--widths", "4,8,8,16,16", "--out", str(tmp_path / "x.pt")]) == 2
    assert not (tmp_path / "x.pt").exists()
    assert json.loads(ck["arch"])["widths"] == [4, 8, 8, 24, 32]
    # the model card says so when such a checkpoint is shipped
    import export.default_bundle as DB
    from conftest import write_tiny_text_encoder

    # the tests' tiny text encoder instead of MiniLM (an export-extra dependency the test install lacks)
    monkeypatch.setattr(DB, "text_writer", lambda model, report: (lambda d: write_tiny_text_encoder(d, dim=16)))
    bundle_main, widening_text = DB.main, DB.widening_text
    assert bundle_main(["--checkpoint", str(tmp_path / "w.pt"), "--out", str(tmp_path / "b"), "--no-eval"]) == 0
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["separator"]["architecture"]["widths"] == [4, 8, 8, 24, 32]
    line = widening_text(manifest["training"])
    assert line.startswith("- At step 123 the model was widened from encoder widths [4, 8, 8, 16, 16]")
    assert line in (tmp_path / "b" / "MODEL_CARD.md").read_text()
    assert widening_text({}) == ""
    assert np.isfinite(state["widened_from"]["max_abs_difference"])
