"""Torch pieces shared by training and evaluation: the STFT pair the runtime uses, and the source loss.

``stft``/``istft`` are the runtime's transform (periodic Hann, centre reflect; ``plugin.stft`` is the
bit-compatible numpy version). ``SourceLoss`` scores estimates of several sources at once:
a source present in the mixture costs its negative SNR in dB (soft-capped near 30 dB, so a nearly
perfect source does not dominate), an absent one the energy it lets through above ``ABSENT_FLOOR_DB``
re the mixture, in dB, times ``absent_weight``.
"""
from __future__ import annotations

import torch

from .resunet import torch_istft, torch_stft

SNR_TAU = 1e-3  # soft ceiling of the per-source SNR (~30 dB)
ABSENT_FLOOR_DB = -30.0


def stft(wav: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """wav [..., L] -> complex [..., T, n_fft // 2 + 1]."""
    return torch_stft(wav, n_fft, hop)


def istft(spec: torch.Tensor, n_fft: int, hop: int, length: int) -> torch.Tensor:
    """complex [..., T, n_fft // 2 + 1] -> wav [..., length] (computed in float32)."""
    return torch_istft(spec.to(torch.complex64), n_fft, hop, length)


def magnitude(spec: torch.Tensor) -> torch.Tensor:
    """|X| as the runtime computes it: sqrt(max(re² + im², 1e-10))."""
    return torch.sqrt(torch.clamp(spec.real ** 2 + spec.imag ** 2, min=1e-10))


class SourceLoss:
    """est, ref [B, S, L], mix [B, L], present [B, S] (bool) -> scalar loss."""

    def __init__(self, absent_weight: float = 0.5):
        self.absent_weight = absent_weight

    def __call__(self, est: torch.Tensor, ref: torch.Tensor, mix: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        sig = ref.pow(2).sum(-1)
        err = (est - ref).pow(2).sum(-1)
        neg_snr = 10 * torch.log10(err + SNR_TAU * sig + 1e-10) - 10 * torch.log10(sig + 1e-10)
        floor = 10 ** (ABSENT_FLOOR_DB / 10) * mix.pow(2).sum(-1, keepdim=True) + 1e-10
        leak = 10 * torch.log10(err + floor) - 10 * torch.log10(floor)
        per = torch.where(present, neg_snr, self.absent_weight * leak)
        return per.mean()


class SpectralLoss:
    """L1 of magnitudes plus L1 of complex values between estimated and true source spectra, each
    over the mixture's mean magnitude; silent (absent) sources are targets like any other. Unlike a
    log-domain SNR it has no pull towards silence: a quiet, incoherent estimate (a scrambled phase
    cancels in the overlap-add) costs as much as the source it misses."""

    def __call__(self, est_spec: torch.Tensor, ref_spec: torch.Tensor, mix_spec: torch.Tensor) -> torch.Tensor:
        scale = mix_spec.abs().mean(dim=(-1, -2)).clamp(min=1e-6)[:, None]  # [B, 1]
        mag = (est_spec.abs() - ref_spec.abs()).abs().mean(dim=(-1, -2))
        cplx = (est_spec - ref_spec).abs().mean(dim=(-1, -2))
        return ((mag + cplx) / scale).mean()


def snr_weight(step: int, start: int = 1000, full: int = 3000) -> float:
    """How much of the SNR loss joins the spectral one: none before ``start``, all from ``full``."""
    return min(1.0, max(0.0, (step - start) / max(1, full - start)))
