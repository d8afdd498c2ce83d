"""ResUNet30's body in torch: its configuration, the FiLM'd residual blocks and the U-Net they form.

``ResUNetBase.forward(magnitude, film)`` maps a magnitude spectrogram [B, 1, T, F] to the net's three
raw output channels; ``film`` is the nested dict of per-block FiLM tensors that ``export.resunet.FiLM``
computes from a condition (or, in a query-specialised graph, the per-channel sites of
``export.resunet_sites``). ``masks_from_raw`` turns the raw channels into the magnitude mask and the
phase's cos and sin. Module and parameter names are the official AudioSep ones (see ``export.resunet``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

PHASE_FLOOR = 1e-10  # magphase: cos = re / max(|M|, PHASE_FLOOR)


@dataclass
class ResUNetConfig:
    """Architecture of one ResUNet separator. Defaults are the official AudioSep ResUNet30."""

    sample_rate: int = 32000
    n_fft: int = 2048
    hop: int = 320
    condition_dim: int = 512
    widths: Tuple[int, ...] = (32, 64, 128, 256, 384, 384)
    downsamples: Tuple[Tuple[int, int], ...] = ((2, 2), (2, 2), (2, 2), (2, 2), (2, 2), (1, 2))
    center_width: Optional[int] = None  # defaults to widths[-1]
    momentum: float = 0.01
    input_transform: str = "none"  # "none" (official) or "log": log(|X| + 1e-5) before bn0
    film: str = "beta"  # "beta" (official, shift only) or "scale_shift"

    def __post_init__(self):
        self.widths = tuple(int(w) for w in self.widths)
        self.downsamples = tuple(tuple(int(v) for v in d) for d in self.downsamples)
        if len(self.widths) != len(self.downsamples):
            raise ValueError("widths and downsamples need the same length")
        if self.input_transform not in ("none", "log"):
            raise ValueError(f"unknown input_transform {self.input_transform!r}")
        if self.film not in ("beta", "scale_shift"):
            raise ValueError(f"unknown film {self.film!r}")
        freq_ratio = 1
        for _, f in self.downsamples:
            freq_ratio *= f
        if (self.n_fft // 2) % freq_ratio:
            raise ValueError(f"n_fft//2 = {self.n_fft // 2} is not divisible by the frequency downsampling {freq_ratio}")

    @property
    def time_multiple(self) -> int:
        m = 1
        for t, _ in self.downsamples:
            m *= t
        return m

    @property
    def freq_bins(self) -> int:
        """Bins the net sees: n_fft // 2 (the Nyquist bin is dropped)."""
        return self.n_fft // 2

    def to_dict(self) -> dict:
        d = asdict(self)
        d["widths"] = list(self.widths)
        d["downsamples"] = [list(x) for x in self.downsamples]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ResUNetConfig":
        d = dict(d)
        d["widths"] = tuple(d["widths"])
        d["downsamples"] = tuple(tuple(x) for x in d["downsamples"])
        return cls(**d)


def _film(x: torch.Tensor, film: Dict[str, torch.Tensor], idx: int) -> torch.Tensor:
    """Apply FiLM entry ``beta{idx}`` (and ``gamma{idx}`` when present) to normalised features."""
    gamma = film.get(f"gamma{idx}")
    if gamma is not None:
        x = x * (1.0 + gamma)
    return x + film[f"beta{idx}"]


def _pre(bn: nn.BatchNorm2d, x: torch.Tensor, film: Dict, idx: int) -> torch.Tensor:
    """The pre-activation of a FiLM'd BN: ``film(bn(x))``, or, in a query-specialised graph
    (``export.resunet_sites.SpecialisedCore``), one per-channel affine ``site{idx}`` that holds BN and FiLM folded
    together for one condition."""
    site = film.get(f"site{idx}")
    if site is not None:
        return site(x)
    return _film(bn(x), film, idx)


class ConvBlockRes(nn.Module):
    """Pre-activation residual block: BN -> +β -> leaky ReLU -> 3x3 conv, twice, plus shortcut."""

    def __init__(self, in_channels: int, out_channels: int, momentum: float):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels, momentum=momentum)
        self.bn2 = nn.BatchNorm2d(out_channels, momentum=momentum)
        self.conv1 = nn.Conv2d(in_channels, out_channels, (3, 3), padding=(1, 1), bias=False)
        self.conv2 = nn.Conv2d(out_channels, out_channels, (3, 3), padding=(1, 1), bias=False)
        self.is_shortcut = in_channels != out_channels
        if self.is_shortcut:
            self.shortcut = nn.Conv2d(in_channels, out_channels, (1, 1))
        self.has_film = True
        self.film_used = (1, 2)

    def film_sizes(self) -> Dict[str, int]:
        return {"beta1": self.bn1.num_features, "beta2": self.bn2.num_features}

    def forward(self, x: torch.Tensor, film: Dict[str, torch.Tensor]) -> torch.Tensor:
        a = F.leaky_relu(_pre(self.bn1, x, film, 1), negative_slope=0.01)
        folded = film.get("conv1_site2")
        if folded is not None:  # query-specialised graph: conv1 and the BN+FiLM after it are one conv
            h = F.leaky_relu(folded(a), negative_slope=0.01)
        else:
            h = F.leaky_relu(_pre(self.bn2, self.conv1(a), film, 2), negative_slope=0.01)
        h = self.conv2(h)
        return (self.shortcut(x) if self.is_shortcut else x) + h


class EncoderBlockRes1B(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, downsample: Tuple[int, int], momentum: float):
        super().__init__()
        self.conv_block1 = ConvBlockRes(in_channels, out_channels, momentum)
        self.downsample = tuple(downsample)

    def forward(self, x, film):
        enc = self.conv_block1(x, film["conv_block1"])
        if self.downsample == (1, 1):
            return enc, enc
        return F.avg_pool2d(enc, kernel_size=self.downsample), enc


class DecoderBlockRes1B(nn.Module):
    """Transposed-conv upsampling, concat with the skip, residual block.

    ``bn2`` (and the FiLM ``beta2`` of this block) exist in the official model but are unused in its
    forward pass; they are kept so that the official state dict loads without unexpected keys.
    """

    def __init__(self, in_channels: int, out_channels: int, upsample: Tuple[int, int], momentum: float):
        super().__init__()
        self.conv1 = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=upsample, stride=upsample, bias=False)
        self.bn1 = nn.BatchNorm2d(in_channels, momentum=momentum)
        self.conv_block2 = ConvBlockRes(out_channels * 2, out_channels, momentum)
        self.bn2 = nn.BatchNorm2d(in_channels, momentum=momentum)
        self.has_film = True
        self.film_used = (1,)  # bn2 / beta2 are unused (see above)

    def film_sizes(self) -> Dict[str, int]:
        return {"beta1": self.bn1.num_features, "beta2": self.bn2.num_features}

    def forward(self, x, skip, film):
        h = self.conv1(F.leaky_relu(_pre(self.bn1, x, film, 1), negative_slope=0.01))
        h = torch.cat((h, skip), dim=1)
        return self.conv_block2(h, film["conv_block2"])


class ResUNetBase(nn.Module):
    def __init__(self, cfg: ResUNetConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.widths
        n = len(w)
        center = cfg.center_width or w[-1]
        self.n_blocks = n
        self.bn0 = nn.BatchNorm2d(cfg.n_fft // 2 + 1, momentum=cfg.momentum)
        self.pre_conv = nn.Conv2d(1, w[0], (1, 1))
        ins = [w[0]] + list(w[:-1])
        for i in range(n):
            self.add_module(f"encoder_block{i + 1}", EncoderBlockRes1B(ins[i], w[i], cfg.downsamples[i], cfg.momentum))
        self.add_module(f"conv_block{n + 1}a", EncoderBlockRes1B(w[-1], center, (1, 1), cfg.momentum))
        prev = center
        for i in range(n):
            out = w[n - 1 - i]
            self.add_module(
                f"decoder_block{i + 1}", DecoderBlockRes1B(prev, out, cfg.downsamples[n - 1 - i], cfg.momentum)
            )
            prev = out
        self.after_conv = nn.Conv2d(w[0], 3, (1, 1))

    @property
    def center_name(self) -> str:
        return f"conv_block{self.n_blocks + 1}a"

    def block_names(self) -> List[str]:
        n = self.n_blocks
        return [f"encoder_block{i + 1}" for i in range(n)] + [self.center_name] + [
            f"decoder_block{i + 1}" for i in range(n)
        ]

    def normalise_input(self, mag: torch.Tensor) -> torch.Tensor:
        """bn0 over the frequency bins the net sees (bin-wise affine; the Nyquist statistic is unused)."""
        x = torch.log(mag + 1e-5) if self.cfg.input_transform == "log" else mag
        fb = x.shape[-1]
        bn = self.bn0
        x = x.transpose(1, 3)  # (B, F, T, 1)
        x = F.batch_norm(
            x,
            bn.running_mean[:fb] if bn.running_mean is not None else None,
            bn.running_var[:fb] if bn.running_var is not None else None,
            bn.weight[:fb],
            bn.bias[:fb],
            self.training,
            bn.momentum,
            bn.eps,
        )
        return x.transpose(1, 3)

    def forward(self, mag: torch.Tensor, film: Dict) -> torch.Tensor:
        """mag [B, 1, T, F] (Nyquist dropped) -> raw 3-channel output [B, 3, T, F]."""
        x = self.normalise_input(mag)
        t = x.shape[2]
        m = self.cfg.time_multiple
        pad = (m - t % m) % m
        x = F.pad(x, (0, 0, 0, pad))
        x = self.pre_conv(x)
        skips = []
        for i in range(self.n_blocks):
            name = f"encoder_block{i + 1}"
            x, skip = getattr(self, name)(x, film[name])
            skips.append(skip)
        x, _ = getattr(self, self.center_name)(x, film[self.center_name])
        for i in range(self.n_blocks):
            name = f"decoder_block{i + 1}"
            x = getattr(self, name)(x, skips[self.n_blocks - 1 - i], film[name])
        x = self.after_conv(x)
        return x[:, :, :t, :]


def masks_from_raw(raw: torch.Tensor):
    """The net's 3 output channels -> (sigmoid magnitude mask, unit-norm phase cos, sin)."""
    mask = torch.sigmoid(raw[:, 0:1])
    re = torch.tanh(raw[:, 1:2])
    im = torch.tanh(raw[:, 2:3])
    norm = torch.clamp(torch.sqrt(re * re + im * im), min=PHASE_FLOOR)
    return mask, re / norm, im / norm
