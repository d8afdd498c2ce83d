"""Batches of augmented mixtures with every family's stem, made in torch (CPU or GPU) from a stem pool.

``StemBank`` holds a pool (``export.data.load_pool`` format: int16 clips per family, "other" last)
as one tensor on the training device. ``TorchMixer.batch(n)`` returns mixtures [n, L], the stem of
every source [n, S, L] (zeros for absent families) and a presence mask [n, S]. Each mixture holds
2-5 families at song-like levels (``LEVELS``), sometimes a neighbour of another (a "partner", the
hard case), sometimes an "other" stem; each stem may get an EQ curve and a room (a synthetic impulse
response); the bus may get a tilt EQ and compression. Every effect is linear per stem or a gain
common to all stems, so the stems always sum exactly to the mixture.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

SR = 32000
# loudness (dBFS RMS) range per family in a mix: rhythm section and voice forward, pads behind
LEVELS: Dict[str, tuple] = {"drums": (-22, -10), "bass": (-24, -11), "voice": (-24, -10), "synth pad": (-32, -15),
                            "strings": (-30, -13), "organ": (-30, -13), "other": (-34, -16)}
DEFAULT_LEVEL = (-28, -12)


@dataclass
class MixConfig:
    seconds: float = 3.0
    min_stems: int = 2
    max_stems: int = 5
    other_p: float = 0.35  # share of mixtures with an "other" stem
    partner_p: float = 0.3  # share of mixtures that pair a family with one of its neighbours
    eq_p: float = 0.5
    room_p: float = 0.3
    bus_p: float = 0.5
    solo_p: float = 0.03  # share of mixtures holding one family alone (a solo instrument)


class StemBank:
    """Pool clips of ``families`` (in that order) as one int16 tensor [clips, N] on ``device``."""

    def __init__(self, pool: Dict[str, np.ndarray], families: Sequence[str], device="cpu"):
        self.families = list(families)
        arrays = [np.asarray(pool[f]) for f in self.families]
        self.clip_len = int(arrays[0].shape[1])
        counts = [len(a) for a in arrays]
        self.start = torch.tensor(np.cumsum([0] + counts[:-1]), device=device)
        self.count = torch.tensor(counts, device=device)
        self.data = torch.from_numpy(np.concatenate(arrays).reshape(-1)).to(device)
        self.device = torch.device(device)


def _neighbour_table(families: Sequence[str], neighbours: Dict[str, Sequence[str]], device) -> torch.Tensor:
    k = len(families)
    table = torch.zeros(k, k, dtype=torch.bool)
    for i, f in enumerate(families):
        for n in neighbours.get(f, ()):
            if n in families:
                table[i, families.index(n)] = True
    return table.to(device)


class TorchMixer:
    """Random mixtures from a ``StemBank`` whose last family is "other" (never a query)."""

    def __init__(self, bank: StemBank, cfg: MixConfig, seed: int = 0, neighbours: Optional[Dict] = None):
        self.bank = bank
        self.cfg = cfg
        self.device = bank.device
        self.n = int(cfg.seconds * SR)
        self.gen = torch.Generator(device=self.device).manual_seed(seed)
        self.k = len(bank.families) - 1  # queryable families
        lv = [LEVELS.get(f, DEFAULT_LEVEL) for f in bank.families]
        self.level_lo = torch.tensor([a for a, _ in lv], device=self.device, dtype=torch.float32)
        self.level_hi = torch.tensor([b for _, b in lv], device=self.device, dtype=torch.float32)
        self.neigh = _neighbour_table(bank.families[:self.k], neighbours or {}, self.device)

    def _rand(self, *shape) -> torch.Tensor:
        return torch.rand(*shape, generator=self.gen, device=self.device)

    def _choose(self, b: int) -> torch.Tensor:
        """Presence [b, S] (bool): 2-5 families, partners, solos, and "other"."""
        cfg, k = self.cfg, self.k
        counts = torch.randint(cfg.min_stems, cfg.max_stems + 1, (b,), generator=self.gen, device=self.device)
        counts = torch.where(self._rand(b) < cfg.solo_p, torch.ones_like(counts), counts)
        order = self._rand(b, k).argsort(dim=1)
        rank = order.argsort(dim=1)
        present = rank < counts[:, None]
        # partners: make sure a neighbour of the first chosen family is in the mix too
        first = order[:, 0]
        neigh = self.neigh[first] & ~present
        has = neigh.any(dim=1) & (self._rand(b) < cfg.partner_p) & (counts > 1)
        pick = (self._rand(b, k) * neigh).argmax(dim=1)
        present[has, pick[has]] = True
        other = self._rand(b) < cfg.other_p
        return torch.cat([present, other[:, None]], dim=1)

    def _crops(self, present: torch.Tensor) -> torch.Tensor:
        """[b, S, L] float32 crops of random clips (zeros where absent)."""
        b, s = present.shape
        bank, n = self.bank, self.n
        clip = (self._rand(b, s) * bank.count[None, :]).long().clamp(max=bank.count.max() - 1)
        clip = torch.minimum(clip, bank.count[None, :] - 1) + bank.start[None, :]
        off = (self._rand(b, s) * (bank.clip_len - n + 1)).long()
        base = (clip * bank.clip_len + off).reshape(-1)
        rows = present.reshape(-1).nonzero().squeeze(1)
        x = torch.zeros(b * s, n, device=self.device)
        if len(rows):
            idx = base[rows][:, None] + torch.arange(n, device=self.device)
            x[rows] = bank.data[idx.reshape(-1)].reshape(len(rows), n).float() / 32767.0
        return x.reshape(b, s, n)

    def _spectral(self, x: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """Per-stem EQ curve and room, as one frequency-domain filter (linear: stems still sum);
        computed for the present stems only."""
        rows = present.reshape(-1).nonzero().squeeze(1)
        flat = x.reshape(-1, x.shape[-1])
        out = torch.zeros_like(flat)
        out[rows] = self._filter(flat[rows][:, None])[:, 0]
        return out.reshape(x.shape)

    def _filter(self, x: torch.Tensor) -> torch.Tensor:
        b, s, n = x.shape
        cfg = self.cfg
        nfft = 1 << math.ceil(math.log2(n + SR))  # room tails up to 1 s wrap around into the crop start
        spec = torch.fft.rfft(x, nfft)
        freqs = torch.fft.rfftfreq(nfft, 1 / SR).to(self.device)
        logf = torch.log2(freqs.clamp(min=20.0) / 1000.0)  # octaves re 1 kHz
        eq_on = (self._rand(b, s, 1) < cfg.eq_p).float()
        tilt = (self._rand(b, s, 1) * 2 - 1) * 3.0 * eq_on  # dB per octave
        centre = self._rand(b, s, 1) * 6 - 3  # octaves re 1 kHz (125 Hz .. 8 kHz)
        peak_db = (self._rand(b, s, 1) * 16 - 8) * eq_on
        width = 0.3 + self._rand(b, s, 1)
        gain_db = (tilt * logf).clamp(-12, 12) + peak_db * torch.exp(-0.5 * ((logf - centre) / width) ** 2)
        h = torch.pow(10.0, gain_db / 20).to(spec.dtype)
        room_on = self._rand(b, s, 1) < cfg.room_p
        wet = (0.1 + 0.5 * self._rand(b, s, 1)) * room_on
        rt60 = 0.2 + 1.2 * self._rand(b, s, 1)
        idx = room_on.reshape(-1).nonzero().squeeze(1)
        if len(idx):
            t = torch.arange(SR, device=self.device) / SR
            noise = torch.randn(len(idx), SR, generator=self.gen, device=self.device)
            ir = noise * torch.exp(-6.9 * t / rt60.reshape(-1, 1)[idx])  # -60 dB at rt60
            ir = ir / ir.pow(2).sum(-1, keepdim=True).sqrt()
            h = h.expand(b, s, h.shape[-1]).reshape(b * s, -1).clone()
            h[idx] = h[idx] * (1 + wet.reshape(-1, 1)[idx] * torch.fft.rfft(ir, nfft))
            h = h.reshape(b, s, -1)
        return torch.fft.irfft(spec * h, nfft)[..., :n]

    def _bus(self, stems: torch.Tensor) -> torch.Tensor:
        """Bus compression as one gain curve for all stems (from the mix's 10 ms RMS envelope)."""
        b = stems.shape[0]
        mix = stems.sum(dim=1, keepdim=True)  # [b, 1, n]
        hop = SR // 100
        env = torch.nn.functional.avg_pool1d(mix.pow(2), hop, hop).clamp(min=1e-10)
        level = 10 * torch.log10(env)
        thr = level.amax(dim=-1, keepdim=True) - (3 + 12 * self._rand(b, 1, 1))
        ratio = 2 + 6 * self._rand(b, 1, 1)
        gr = torch.clamp(thr - level, max=0) * (1 - 1 / ratio)
        gr = torch.nn.functional.avg_pool1d(gr, 5, 1, 2, count_include_pad=False)  # ~50 ms smoothing
        on = (self._rand(b, 1, 1) < self.cfg.bus_p).float()
        g = torch.pow(10.0, gr * on / 20)
        g = torch.nn.functional.interpolate(g, size=stems.shape[-1], mode="linear", align_corners=False)
        return stems * g

    @torch.no_grad()
    def batch(self, b: int):
        """(mixture [b, L], stems [b, S, L], present [b, S] bool), mixtures peaking at <= 0.95."""
        present = self._choose(b)
        x = self._crops(present)
        x = self._spectral(x, present)
        rms = x.pow(2).mean(-1).clamp(min=1e-10).sqrt()
        target_db = self.level_lo + (self.level_hi - self.level_lo) * self._rand(b, x.shape[1])
        gain = torch.pow(10.0, target_db / 20) / rms
        x = x * (gain * present)[..., None]
        x = self._bus(x)
        mix = x.sum(dim=1)
        peak = mix.abs().amax(dim=-1).clamp(min=1e-6)
        scale = torch.clamp(0.95 / peak, max=1.0) * torch.pow(10.0, -6 * self._rand(b))
        x = x * scale[:, None, None]
        mix = x.sum(dim=1)
        energy = x.pow(2).sum(-1)
        audible = energy > 1e-3 * mix.pow(2).sum(-1, keepdim=True)  # within 30 dB of the mix
        return mix, x, present & audible


def load_bank(pool_dir, split: str, families: List[str], device="cpu") -> StemBank:
    from .data import load_pool

    return StemBank(load_pool(pool_dir, split), families, device)
