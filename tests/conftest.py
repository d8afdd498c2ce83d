"""Shared fixtures: tiny random-weight bundles built once per session (seconds, no network)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

GOLDEN = Path(__file__).resolve().parent / "golden"

TINY_WIDTHS = (4, 8, 8, 16, 16, 16)


def randomize_bn(model, seed: int = 0):
    """Give BatchNorm layers non-trivial statistics so parity tests exercise them."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.rand(m.num_features, generator=g) * 0.4 - 0.2)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.rand(m.num_features, generator=g) * 0.4 - 0.2)
    return model


def tiny_model(seed: int = 0, cond: int = 16, **kw):
    import torch

    from export.resunet import ResUNet30, ResUNetConfig

    torch.manual_seed(seed)
    cfg = ResUNetConfig(widths=kw.pop("widths", TINY_WIDTHS), condition_dim=cond, **kw)
    return randomize_bn(ResUNet30(cfg), seed).eval()


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory):
    """(bundle path, torch model) of a tiny official-layout ResUNet at 32 kHz / n_fft 2048."""
    from export.bundle_writer import write_bundle

    model = tiny_model(0)
    path = tmp_path_factory.mktemp("bundles") / "tiny"
    write_bundle(path, model, name="tiny-test", source="tests", license="MIT")
    return path, model


@pytest.fixture(scope="session")
def identity_bundle(tmp_path_factory):
    """A bundle whose separator passes the input through (mask 1, phase 0): stem == input."""
    import torch

    from export.bundle_writer import write_bundle

    model = tiny_model(1, n_fft=1024, hop=256, widths=(4, 4, 4, 4, 4), downsamples=((2, 2),) * 5)
    with torch.no_grad():
        ac = model.base.after_conv
        ac.weight.zero_()
        ac.bias.copy_(torch.tensor([40.0, 40.0, 0.0]))  # sigmoid(40) = 1 in float32; angle(tanh 40 + 0j) = 0
    path = tmp_path_factory.mktemp("bundles") / "identity"
    write_bundle(path, model, name="identity-test", source="tests", license="MIT")
    return path


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def music_like(n: int, sr: int = 32000, channels: int = 1, seed: int = 0) -> np.ndarray:
    """A deterministic mixture with tones, a pulse and noise, peak well below 1."""
    r = np.random.default_rng(seed)
    t = np.arange(n) / sr
    out = []
    for c in range(channels):
        x = 0.15 * np.sin(2 * np.pi * (220 + 30 * c) * t) + 0.08 * np.sin(2 * np.pi * 660 * t + c)
        x += 0.1 * (np.sin(2 * np.pi * 2 * t) > 0.95) * r.standard_normal(n)
        x += 0.02 * r.standard_normal(n)
        out.append(x)
    return np.asarray(out, np.float32)
