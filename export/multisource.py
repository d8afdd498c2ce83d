"""The multi-source separator: one pass estimates a complex mask for every family and "other" at once.

``MultiSourceNet`` maps the mixture's magnitude [B, 1, T, F] to a complex mask per source [B, S, T, F]
(S = families + "other"): magnitudes are a softmax over the sources (they share each time-frequency
bin out), phases a unit phasor per source. A U-Net trunk (pre-activation residual blocks, no
conditioning) does the work; with ``patch`` > 1 the first level works on patch x patch tiles of the
spectrogram and the head unfolds them again (sub-pixel), so the costly full-resolution level is
skipped. ``Router`` maps a sentence embedding to a weight in [0, 1] per family ("bass and drums"
-> both near 1, "kazoo" -> all near 0). ``MultiSourceCore`` is what goes into ``separator.onnx``:
it keeps the bundle contract (magnitude + condition -> mask, cos, sin, where the answer's complex
mask is the routed sum of family masks) and also outputs every family's mask and the routes.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

PHASE_FLOOR = 1e-10


@dataclass
class MultiSourceConfig:
    sample_rate: int = 32000
    n_fft: int = 1024
    hop: int = 320
    sources: int = 15  # families + "other" (the last one)
    widths: Tuple[int, ...] = (16, 32, 64, 96, 128)
    patch: int = 1  # 1: the first level at full resolution; 2: on 2x2 tiles
    text_dim: int = 384
    router_hidden: int = 256
    momentum: float = 0.1

    def __post_init__(self):
        self.widths = tuple(int(w) for w in self.widths)
        if self.patch not in (1, 2):
            raise ValueError("patch must be 1 or 2")
        if (self.n_fft // 2) % (self.patch * 2 ** len(self.widths)):
            raise ValueError("n_fft // 2 must be divisible by patch x 2^levels")

    @property
    def freq_bins(self) -> int:
        return self.n_fft // 2

    @property
    def time_multiple(self) -> int:
        return self.patch * 2 ** len(self.widths)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["widths"] = list(self.widths)
        d["kind"] = "multisource"
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "MultiSourceConfig":
        d = {k: v for k, v in d.items() if k != "kind"}
        d["widths"] = tuple(d["widths"])
        return cls(**d)


class ResBlock(nn.Module):
    """BN -> leaky ReLU -> 3x3 conv, twice, plus a (1x1 when the width changes) shortcut."""

    def __init__(self, cin: int, cout: int, momentum: float):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin, momentum=momentum)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout, momentum=momentum)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.leaky_relu(self.bn1(x), 0.01))
        h = self.conv2(F.leaky_relu(self.bn2(h), 0.01))
        return self.shortcut(x) + h


class MultiSourceNet(nn.Module):
    def __init__(self, cfg: MultiSourceConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.widths
        p = cfg.patch
        self.bn0 = nn.BatchNorm2d(cfg.freq_bins, momentum=cfg.momentum)
        self.stem = nn.Conv2d(1, w[0], kernel_size=p, stride=p) if p > 1 else nn.Conv2d(1, w[0], 1)
        self.encoders = nn.ModuleList(ResBlock(w[max(i - 1, 0)], w[i], cfg.momentum) for i in range(len(w)))
        self.center = ResBlock(w[-1], w[-1], cfg.momentum)
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        prev = w[-1]
        for i in reversed(range(len(w))):
            self.ups.append(nn.ConvTranspose2d(prev, w[i], 2, stride=2, bias=False))
            self.decoders.append(ResBlock(2 * w[i], w[i], cfg.momentum))
            prev = w[i]
        self.head_bn = nn.BatchNorm2d(w[0], momentum=cfg.momentum)
        self.head = nn.Conv2d(w[0], 3 * cfg.sources * p * p, 1)
        self.reset_parameters()

    def reset_parameters(self):
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        # start every phasor at 0 rad (re = tanh 2, im = 0) and magnitudes uniform: output = mix / S
        s, p = self.cfg.sources, self.cfg.patch
        with torch.no_grad():
            self.head.weight.view(3, s, p * p, -1)[1:].zero_()
            self.head.bias.view(3, s, p * p)[1].fill_(2.0)

    def normalise(self, mag: torch.Tensor) -> torch.Tensor:
        x = torch.log(mag + 1e-5).transpose(1, 3)  # [B, F, T, 1]: BN over frequency bins
        return self.bn0(x).transpose(1, 3)

    def forward(self, mag: torch.Tensor):
        """mag [B, 1, T, F] -> (magnitude [B, S, T, F] summing to 1 over S, cos, sin)."""
        b, _, t, f = mag.shape
        m = self.cfg.time_multiple
        x = F.pad(self.normalise(mag), (0, 0, 0, (m - t % m) % m))
        x = self.stem(x)
        skips = []
        for enc in self.encoders:
            x = enc(x)
            skips.append(x)
            x = F.avg_pool2d(x, 2)
        x = self.center(x)
        for up, dec, skip in zip(self.ups, self.decoders, reversed(skips)):
            x = dec(torch.cat((up(x), skip), dim=1))
        raw = self.head(F.leaky_relu(self.head_bn(x), 0.01))
        s, p = self.cfg.sources, self.cfg.patch
        if p > 1:
            raw = F.pixel_shuffle(raw, p)
        raw = raw[:, :, :t, :f].reshape(b, 3, s, t, f)
        mask = torch.softmax(raw[:, 0].float(), dim=1)
        re, im = torch.tanh(raw[:, 1].float()), torch.tanh(raw[:, 2].float())
        # clamp before the square root: sqrt's gradient at 0 is infinite, and bf16 tanh gives exact zeros
        norm = torch.sqrt(torch.clamp(re * re + im * im, min=PHASE_FLOOR ** 2))
        return mask, re / norm, im / norm


class Router(nn.Module):
    """Sentence embedding [B, D] -> weight per family [B, K] in [0, 1] (sigmoid: several may hold)."""

    def __init__(self, text_dim: int, families: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(text_dim, hidden), nn.GELU(), nn.Linear(hidden, families))

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(emb))


class MultiSourceModel(nn.Module):
    def __init__(self, cfg: MultiSourceConfig):
        super().__init__()
        self.cfg = cfg
        self.net = MultiSourceNet(cfg)
        self.router = Router(cfg.text_dim, cfg.sources - 1, cfg.router_hidden)


class MultiSourceCore(nn.Module):
    """The ONNX graph: magnitude [B, 1, T, F] and condition [Bc, D] (Bc = B, or 1 for every item)
    -> mask, cos, sin [B, 1, T, F] of the routed sum of family masks; family_re, family_im
    [B, S, T, F]; routes [Bc, K]."""

    def __init__(self, model: MultiSourceModel):
        super().__init__()
        self.net = model.net
        self.router = model.router

    def forward(self, magnitude: torch.Tensor, condition: torch.Tensor):
        mag, cos, sin = self.net(magnitude)
        re, im = mag * cos, mag * sin
        routes = self.router(condition)
        k = routes.shape[1]
        w = routes[:, :, None, None]
        q_re = (w * re[:, :k]).sum(dim=1, keepdim=True)
        q_im = (w * im[:, :k]).sum(dim=1, keepdim=True)
        q_mag = torch.sqrt(torch.clamp(q_re * q_re + q_im * q_im, min=PHASE_FLOOR ** 2))
        return q_mag, q_re / q_mag, q_im / q_mag, re, im, routes


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
