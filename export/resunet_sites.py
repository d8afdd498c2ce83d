"""ResUNet30 for one query: BN and FiLM folded into per-channel sites, and the cores exported to ONNX.

``FilmSites`` (film.onnx) computes every site's folded affine from a condition; ``SpecialisedCore``
(separator_core.onnx) is the network with those affines as placeholders the runtime overwrites per
query (``patches``); ``SeparatorCore`` (separator.onnx) is the generic network that takes the
condition as an input. ``model`` is an ``export.resunet.ResUNet30`` throughout.
"""
from __future__ import annotations

from typing import Dict, List, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .resunet_blocks import ConvBlockRes, ResUNetBase, masks_from_raw


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

    def __init__(self, model: nn.Module):
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

    def __init__(self, model: nn.Module):
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

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, magnitude: torch.Tensor, condition: torch.Tensor):
        return self.model.forward_masks(magnitude, condition)
