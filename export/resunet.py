"""AudioSep's ResUNet30 separator in torch, width-configurable.

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
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

MAG_FLOOR = 1e-10  # |X| = sqrt(max(re² + im², MAG_FLOOR)), as torchlibrosa/AudioSep
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
    (:class:`SpecialisedCore`), one per-channel affine ``site{idx}`` that holds BN and FiLM folded
    together for one condition."""
    site = film.get(f"site{idx}")
    if site is not None:
        return site(x)
    return _film(bn(x), film, idx)


class AffineSite(nn.Module):
    """A per-channel affine written as a depthwise 1x1 convolution: ONNX Runtime fuses the leaky ReLU
    that follows into it and keeps the tensor in its blocked (NCHWc) layout, which a BN followed by an
    Add of a runtime β cannot do (full-size model: 1.19x faster, 20 % less peak memory; BENCHMARKS.md §1)."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels, 1, 1, 1))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias, groups=self.weight.shape[0])


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


def masks_from_raw(raw: torch.Tensor):
    """The net's 3 output channels -> (sigmoid magnitude mask, unit-norm phase cos, sin)."""
    mask = torch.sigmoid(raw[:, 0:1])
    re = torch.tanh(raw[:, 1:2])
    im = torch.tanh(raw[:, 2:3])
    norm = torch.clamp(torch.sqrt(re * re + im * im), min=PHASE_FLOOR)
    return mask, re / norm, im / norm


def film_sites(base: ResUNetBase) -> List[Tuple[Tuple[str, ...], int, nn.Module]]:
    """Every FiLM'd BN the forward pass uses, as (block path, index, module), in a fixed pre-order."""
    out: List[Tuple[Tuple[str, ...], int, nn.Module]] = []

    def walk(module: nn.Module, prefix: Tuple[str, ...]):
        if getattr(module, "has_film", False):
            for idx in module.film_used:
                out.append((prefix, idx, module))
        for name, child in module.named_children():
            walk(child, prefix + (name,))

    walk(base, ())
    return out


def site_name(k: int, what: str) -> str:
    """Initializer name of site ``k``'s weight/bias in separator_core.onnx (= film.onnx output name)."""
    return f"sites.{k}.{what}"


class FilmSites(nn.Module):
    """What is exported to ``film.onnx``: condition [1, D] -> for every site, the folded BN+FiLM affine
    (weight [C,1,1,1], bias [C]) that ``separator_core.onnx`` takes as initializers. With the β-only
    FiLM: weight = s, bias = t + β; with scale_shift: weight = s(1+γ), bias = t(1+γ) + β, where
    s = bn.weight / sqrt(var + eps) and t = bn.bias - mean * s (BN in inference mode)."""

    def __init__(self, model: ResUNet30):
        super().__init__()
        self.model = model
        self.sites = film_sites(model.base)

    def forward(self, condition: torch.Tensor):
        film = self.model.film(condition)
        outs = []
        for prefix, idx, mod in self.sites:
            d = film
            for p in prefix:
                d = d[p]
            bn = getattr(mod, f"bn{idx}")
            s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            t = bn.bias - bn.running_mean * s
            beta = d[f"beta{idx}"][0, :, 0, 0]
            gamma = d.get(f"gamma{idx}")
            if gamma is not None:
                s = s * (1.0 + gamma[0, :, 0, 0])
                t = t * (1.0 + gamma[0, :, 0, 0])
            outs += [s.reshape(-1, 1, 1, 1), t + beta]
        return tuple(outs)


class SpecialisedCore(nn.Module):
    """What is exported to ``separator_core.onnx``: magnitude -> (mask, cos, sin) for ONE condition.

    Every site's BN+FiLM is a per-channel affine (:class:`AffineSite`, ``sites.<k>.weight|bias``),
    except the one right after a residual block's first conv, which is folded into that conv
    (``folded.<k>.weight`` = conv1 weight scaled per output channel, ``folded.<k>.bias``). The
    runtime writes each query's values (film.onnx outputs) over these placeholders: see
    :meth:`patches` and plugin.bundle."""

    def __init__(self, model: ResUNet30):
        super().__init__()
        self.model = model
        sites = film_sites(model.base)
        self.paths = [(prefix, idx) for prefix, idx, _ in sites]
        self.kinds: List[str] = []
        self.sites = nn.ModuleDict()
        self.folded = nn.ModuleDict()
        for k, (_, idx, mod) in enumerate(sites):
            if isinstance(mod, ConvBlockRes) and idx == 2:
                conv = nn.Conv2d(mod.conv1.in_channels, mod.conv1.out_channels, mod.conv1.kernel_size,
                                 padding=mod.conv1.padding, bias=True)
                with torch.no_grad():
                    conv.weight.copy_(mod.conv1.weight)  # the runtime scales these rows per query
                self.folded[str(k)] = conv
                self.kinds.append("folded")
            else:
                self.sites[str(k)] = AffineSite(getattr(mod, f"bn{idx}").num_features)
                self.kinds.append("site")

    def patches(self) -> List[Tuple[str, str, str]]:
        """(film.onnx output, operation, core initializer): 'replace' writes the values, 'scale'
        multiplies the initializer's rows (output channels) by them."""
        out = []
        for k, kind in enumerate(self.kinds):
            if kind == "site":
                out += [(site_name(k, "weight"), "replace", f"sites.{k}.weight"),
                        (site_name(k, "bias"), "replace", f"sites.{k}.bias")]
            else:
                out += [(site_name(k, "weight"), "scale", f"folded.{k}.weight"),
                        (site_name(k, "bias"), "replace", f"folded.{k}.bias")]
        return out

    @torch.no_grad()
    def set_condition(self, condition: torch.Tensor) -> "SpecialisedCore":
        """Fill the placeholders for one condition in torch (what the runtime does to the ONNX file)."""
        values = FilmSites(self.model)(condition[:1])
        base = film_sites(self.model.base)
        for k, kind in enumerate(self.kinds):
            w, b = values[2 * k], values[2 * k + 1]
            if kind == "site":
                self.sites[str(k)].weight.copy_(w)
                self.sites[str(k)].bias.copy_(b)
            else:
                conv1 = base[k][2].conv1
                self.folded[str(k)].weight.copy_(conv1.weight * w.reshape(-1, 1, 1, 1))
                self.folded[str(k)].bias.copy_(b)
        return self

    def forward(self, magnitude: torch.Tensor):
        film: Dict = {}
        for k, ((prefix, idx), kind) in enumerate(zip(self.paths, self.kinds)):
            d = film
            for p in prefix:
                d = d.setdefault(p, {})
            if kind == "site":
                d[f"site{idx}"] = self.sites[str(k)]
            else:
                d["conv1_site2"] = self.folded[str(k)]
        return masks_from_raw(self.model.base(magnitude, film))


class SeparatorCore(nn.Module):
    """What is exported to ``separator.onnx``: (magnitude, condition) -> (mask, cos, sin)."""

    def __init__(self, model: ResUNet30):
        super().__init__()
        self.model = model

    def forward(self, magnitude: torch.Tensor, condition: torch.Tensor):
        return self.model.forward_masks(magnitude, condition)


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
