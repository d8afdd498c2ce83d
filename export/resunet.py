"""AudioSep's ResUNet30 separator in torch, width-configurable: the conditioned network and its whole-clip path.

With the default arguments this is the official ResUNet30 (32 kHz, n_fft 2048, hop 320, encoder widths
32-64-128-256-384-384, β-only FiLM from a 512-d condition), and its state dict uses the official names,
so ``export.checkpoint`` loads AudioSep's checkpoint into it by stripping the ``ss_model.`` prefix.
The embedded default model uses the same class with narrower widths and two options the official model
does not have (log-magnitude input, FiLM scale as well as shift); both are declared in the bundle
manifest, and neither changes the bundle's I/O contract.

Module layout (official names):
    base.bn0                       BatchNorm2d over the n_fft//2+1 frequency bins
    base.pre_conv                  1x1 conv, 1 -> widths[0]
    base.encoder_block{i}          residual conv block + avg-pool
    base.conv_block{N+1}a          centre block (N = number of encoder blocks; 7a officially)
    base.decoder_block{i}          transposed conv (upsample) + concat skip + residual conv block
    base.after_conv                1x1 conv -> 3 channels (magnitude mask, phase real, phase imag)
    film.<block>-><sub>->beta{1,2} Linear(condition_dim, C): per-channel bias added after each BN

``SeparatorCore.forward(magnitude, condition)`` is what goes into ``separator.onnx``: magnitude
[B, 1, T, F] with F = n_fft // 2 (Nyquist bin dropped), condition [B, D] -> mask, cos, sin [B, 1, T, F].
``separate_waveform`` is the whole official path (STFT -> net -> complex mask -> ISTFT) used for
training and as the torch reference in parity tests.

This module holds the FiLM layers, ``ResUNet30`` and the whole-clip path; the configuration and the
U-Net body are in ``export.resunet_blocks``, the query-specialised forms exported to ONNX
(``FilmSites``, ``SpecialisedCore``, ``SeparatorCore``) in ``export.resunet_sites``. Every public
name of the three is importable from here.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .resunet_blocks import (PHASE_FLOOR, ConvBlockRes, DecoderBlockRes1B, EncoderBlockRes1B, ResUNetBase,
                             ResUNetConfig, masks_from_raw)
from .resunet_sites import AffineSite, FilmSites, SeparatorCore, SpecialisedCore, film_sites, site_name

__all__ = [  # this module's own names and those of its two parts, resunet_blocks and resunet_sites
    "MAG_FLOOR", "film_layout", "FiLM", "ResUNet30", "torch_stft", "torch_istft", "apply_masks",
    "separate_waveform", "count_parameters",
    "PHASE_FLOOR", "ConvBlockRes", "DecoderBlockRes1B", "EncoderBlockRes1B", "ResUNetBase", "ResUNetConfig",
    "masks_from_raw", "AffineSite", "FilmSites", "SeparatorCore", "SpecialisedCore", "film_sites", "site_name",
]

MAG_FLOOR = 1e-10  # |X| = sqrt(max(re² + im², MAG_FLOOR)), as torchlibrosa/AudioSep


def film_layout(base: ResUNetBase) -> Dict[str, Dict]:
    """Nested {block: {sub: {beta1: C, ...}}} in the official pre-order (defines FiLM key names)."""

    def walk(module: nn.Module) -> Dict:
        meta: Dict = {}
        if getattr(module, "has_film", False):
            meta.update(module.film_sizes())
        for name, child in module.named_children():
            sub = walk(child)
            if sub:
                meta[name] = sub
        return meta

    return walk(base)


class FiLM(nn.Module):
    """One Linear(condition_dim, C) per FiLM'd BN, named like the official '<a>-><b>->beta1'.

    With ``scale_shift`` each β layer gets a twin γ layer ('...->gamma1') for a multiplicative term.
    """

    def __init__(self, layout: Dict, condition_dim: int, scale_shift: bool = False):
        super().__init__()
        self.layout = layout
        self.scale_shift = scale_shift
        self.paths: List[Tuple[Tuple[str, ...], str]] = []
        self._build(layout, (), condition_dim)

    def _build(self, meta: Dict, prefix: Tuple[str, ...], dim: int):
        for key, value in meta.items():
            if isinstance(value, int):
                self.add_module("->".join(prefix + (key,)), nn.Linear(dim, value))
                self.paths.append((prefix, key))
                if self.scale_shift:
                    g = key.replace("beta", "gamma")
                    layer = nn.Linear(dim, value)
                    nn.init.zeros_(layer.weight)
                    nn.init.zeros_(layer.bias)
                    self.add_module("->".join(prefix + (g,)), layer)
                    self.paths.append((prefix, g))
            else:
                self._build(value, prefix + (key,), dim)

    def forward(self, condition: torch.Tensor) -> Dict:
        out: Dict = {}
        for prefix, key in self.paths:
            d = out
            for p in prefix:
                d = d.setdefault(p, {})
            d[key] = getattr(self, "->".join(prefix + (key,)))(condition)[:, :, None, None]
        return out


class ResUNet30(nn.Module):
    """``base`` + ``film`` exactly as AudioSep's ``ss_model`` (minus its STFT kernel buffers)."""

    def __init__(self, cfg: Optional[ResUNetConfig] = None):
        super().__init__()
        self.cfg = cfg or ResUNetConfig()
        self.base = ResUNetBase(self.cfg)
        self.film = FiLM(film_layout(self.base), self.cfg.condition_dim, scale_shift=self.cfg.film == "scale_shift")
        self.reset_parameters()

    def reset_parameters(self):
        """AudioSep's init: xavier-uniform weights, zero biases, BN weight 1 / bias 0."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                if self.cfg.film == "scale_shift" and isinstance(m, nn.Linear) and m.weight.abs().sum() == 0:
                    continue  # γ layers start at zero (identity scale)
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_masks(self, mag: torch.Tensor, condition: torch.Tensor):
        """mag [B,1,T,F], condition [B,D] -> (mask, cos, sin), each [B,1,T,F]."""
        return masks_from_raw(self.base(mag, self.film(condition)))


def torch_stft(wav: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """wav [..., N] -> complex [..., T, n_fft//2+1] (periodic Hann, center reflect)."""
    lead = wav.shape[:-1]
    spec = torch.stft(
        wav.reshape(-1, wav.shape[-1]),
        n_fft,
        hop,
        window=torch.hann_window(n_fft, device=wav.device, dtype=wav.dtype),
        center=True,
        pad_mode="reflect",
        return_complex=True,
    )
    return spec.transpose(-1, -2).reshape(*lead, spec.shape[-1], spec.shape[-2])


def torch_istft(spec: torch.Tensor, n_fft: int, hop: int, length: int) -> torch.Tensor:
    lead = spec.shape[:-2]
    s = spec.reshape(-1, *spec.shape[-2:]).transpose(-1, -2)
    y = torch.istft(
        s, n_fft, hop, window=torch.hann_window(n_fft, device=spec.device), center=True, length=length
    )
    return y.reshape(*lead, length)


def apply_masks(spec: torch.Tensor, mask, cos_m, sin_m) -> torch.Tensor:
    """Official complex mask: |Y| = |X|·mask, ∠Y = ∠X + ∠M; Nyquist bin set to zero.

    spec [B,1,T,F+1] complex; mask/cos_m/sin_m [B,1,T,F]."""
    re, im = spec.real, spec.imag
    mag = torch.sqrt(torch.clamp(re * re + im * im, min=MAG_FLOOR))
    cos_x, sin_x = re / mag, im / mag
    fb = mask.shape[-1]
    m = mag[..., :fb] * mask
    out_re = m * (cos_x[..., :fb] * cos_m - sin_x[..., :fb] * sin_m)
    out_im = m * (sin_x[..., :fb] * cos_m + cos_x[..., :fb] * sin_m)
    out = torch.complex(out_re, out_im)
    return F.pad(out, (0, spec.shape[-1] - fb))


def separate_waveform(model: ResUNet30, wav: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
    """The official whole-clip path in torch: wav [B, N] (model rate), condition [B, D] -> [B, N].

    Clips shorter than reflect padding allows are zero-padded to n_fft samples first and cropped back.
    """
    cfg = model.cfg
    n = wav.shape[-1]
    x = wav
    if n <= cfg.n_fft // 2:
        x = F.pad(wav, (0, cfg.n_fft - n))
    spec = torch_stft(x, cfg.n_fft, cfg.hop)[:, None]  # [B,1,T,F+1]
    mag = torch.sqrt(torch.clamp(spec.real ** 2 + spec.imag ** 2, min=MAG_FLOOR))
    mask, cos_m, sin_m = model.forward_masks(mag[..., : cfg.freq_bins], condition)
    out = apply_masks(spec, mask, cos_m, sin_m)
    return torch_istft(out[:, 0], cfg.n_fft, cfg.hop, x.shape[-1])[..., :n]


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
