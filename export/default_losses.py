"""Training losses of the FiLM default model: one query per mixture, the queried stem as the target.

Every loss takes the estimate, the target stem and the mixture (each [B, N]) and returns a scalar.
A query whose family is absent from the mixture has a silent target; the SNR-shaped losses then
penalise the output's energy above -25 dB re the mixture instead (``ABSENT_TAU``), bounded and
weighted by ``absent_weight``. ``LOSSES`` names them for ``export.train --loss``; ``training_loss``
calls one with the arguments it takes.
"""
from __future__ import annotations

import torch

SNR_TAU = 1e-3  # soft ceiling of the per-example SNR loss (~30 dB above the target)
ABSENT_TAU = 10 ** (-25 / 10)  # absent queries: penalise output energy above -25 dB re the mixture
ABSENT_WEIGHT = 0.5
ABSENT_P = 0.12  # default share of training examples whose query is absent from the mix
LEVEL_WEIGHT = 1.0  # sisdr_level: dB of loss per dB the output's level misses the stem's
LEVEL_FLOOR = 1e-4  # level error saturates 40 dB below the stem


def _present(ref: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
    return ref.pow(2).sum(-1) > 1e-8 * mix.pow(2).sum(-1).clamp(min=1e-12)


def _neg_snr(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Per example -SNR in dB, soft-capped at ~30 dB by SNR_TAU."""
    sig = ref.pow(2).sum(-1)
    err = (est - ref).pow(2).sum(-1)
    return 10 * torch.log10(err + SNR_TAU * sig + 1e-10) - 10 * torch.log10(sig + 1e-10)


def _neg_si_sdr(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Per example -SI-SDR in dB (the reference optimally scaled), soft-capped like :func:`_neg_snr`."""
    alpha = (est * ref).sum(-1, keepdim=True) / (ref.pow(2).sum(-1, keepdim=True) + 1e-10)
    return _neg_snr(est, alpha * ref)


def _absent_term(est: torch.Tensor, mix: torch.Tensor, weight: float = ABSENT_WEIGHT) -> torch.Tensor:
    """Per example output energy above -25 dB re the mixture, in dB, times ``weight`` (half by default)."""
    floor = ABSENT_TAU * mix.pow(2).sum(-1) + 1e-10
    return weight * (10 * torch.log10(est.pow(2).sum(-1) + floor) - 10 * torch.log10(floor))


def sdr_loss(est: torch.Tensor, ref: torch.Tensor, mix: torch.Tensor, absent_weight: float = ABSENT_WEIGHT) -> torch.Tensor:
    """Per example: thresholded negative SNR when the queried stem is present; when it is absent
    (silent target), the output energy above -25 dB re the mixture, in dB (bounded, half weight).

    A single log-domain loss with a mixture-relative floor for both cases made silence a strong
    attractor early in training (an absent example costs up to +30 dB, a present one gains little),
    and the model collapsed to zero output; bounding and down-weighting the absent term avoids that.
    """
    return torch.where(_present(ref, mix), _neg_snr(est, ref), _absent_term(est, mix, absent_weight)).mean()


def sisdr_loss(est: torch.Tensor, ref: torch.Tensor, mix: torch.Tensor, absent_weight: float = ABSENT_WEIGHT) -> torch.Tensor:
    """The evaluation metric's shape: thresholded negative SI-SDR when the queried stem is present,
    plus 0.1 x the negative SNR (SI-SDR ignores the output's gain; the SNR term sets it, so stem and
    residual still add up to the mixture); absent queries as in :func:`sdr_loss`.

    An SNR loss is minimised by hedging: where the model is unsure, half of everything is a cheap
    answer in SNR (SDRi rewards it) but worth 0 dB of SI-SDRi. The step-8500 model trained mostly on
    magnitudes and SNR shows that pattern (SDRi 6.2 dB, SI-SDRi 2.6 dB).
    """
    present_term = _neg_si_sdr(est, ref) + 0.1 * _neg_snr(est, ref)
    return torch.where(_present(ref, mix), present_term, _absent_term(est, mix, absent_weight)).mean()


def _level_error_db(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Per example: output energy over the stem's energy in dB (saturating 40 dB below it)."""
    sig = ref.pow(2).sum(-1)
    return 10 * torch.log10(est.pow(2).sum(-1) + LEVEL_FLOOR * sig + 1e-10) - 10 * torch.log10(sig + 1e-10)


def sisdr_level_loss(est: torch.Tensor, ref: torch.Tensor, mix: torch.Tensor,
                     absent_weight: float = ABSENT_WEIGHT) -> torch.Tensor:
    """Thresholded negative SI-SDR for the stem's shape plus LEVEL_WEIGHT x the smoothed absolute level
    error in dB for its gain, when the queried stem is present; absent queries as in :func:`sdr_loss`.

    :func:`sisdr_loss` let the gain go: 0.1 x SNR is worth at most ~3 dB of loss, while an output 30 dB
    below the stem keeps its full SI-SDR and costs nothing if the query turns out absent. Trained with
    it, the model answered 12 of 14 families correctly shaped but ~30 dB too quiet (median level error
    -30 dB on the held-out set; only bass and drums at level). A symmetric dB penalty has its minimum at
    the right level whatever the model's doubt about the shape, and makes "quiet when unsure" cost as
    much as it saves: with the absent term's ``absent_weight`` w dB per dB, the model answers at full
    level once it believes the instrument present with probability > w / (1 + w) (1/3 for w = 0.5,
    1/2 for w = 1), and near silence below that. At w = 0.5 the fine-tune from the muted model got
    the level right within 250 steps (median -0.7 dB) but answered absent queries at -12 dB re the
    mix (target <= -15); w = 1 (``--absent-weight``) barely moved that, w = 1 with absent queries in
    25 % of the examples (``--absent-p 0.25``, 12 % before) brought it to about -15 dB.
    """
    lvl = _level_error_db(est, ref)
    present_term = _neg_si_sdr(est, ref) + LEVEL_WEIGHT * (torch.sqrt(lvl * lvl + 1.0) - 1.0)
    return torch.where(_present(ref, mix), present_term, _absent_term(est, mix, absent_weight)).mean()


def l1_loss(est: torch.Tensor, ref: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
    """Waveform L1 (AudioSep's loss), normalised per example by the mixture's RMS."""
    scale = mix.pow(2).mean(-1).clamp(min=1e-10).sqrt()
    return ((est - ref).abs().mean(-1) / scale).mean()


def spec_l1_loss(est: torch.Tensor, ref: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
    """L1 between STFT magnitudes (1024/256 and 2048/512), per example normalised by the mixture's
    mean magnitude, plus a 0.1-weighted waveform L1: magnitudes carry no phase error, which a
    mask-based model cannot fix early on and which makes waveform L1 slow to learn from."""
    total = 0.0
    for n_fft, hop in ((1024, 256), (2048, 512)):
        w = torch.hann_window(n_fft, device=est.device)
        spec = lambda x: torch.stft(x, n_fft, hop, window=w, return_complex=True).abs()
        sm = spec(mix).mean(dim=(-1, -2)).clamp(min=1e-8)
        total = total + ((spec(est) - spec(ref)).abs().mean(dim=(-1, -2)) / sm).mean()
    return total / 2 + 0.1 * l1_loss(est, ref, mix)


def mixed_loss(est, ref, mix, step: int = 0) -> torch.Tensor:
    """Magnitude + waveform L1 from the start (robust, no collapse to silence), with the SNR term
    (the metric's shape) faded in between steps 1000 and 3000."""
    w = min(1.0, max(0.0, (step - 1000) / 2000))
    loss = spec_l1_loss(est, ref, mix)
    if w > 0:
        loss = loss + w * 0.1 * sdr_loss(est, ref, mix)
    return loss


LOSSES = {"snr": sdr_loss, "sisdr": sisdr_loss, "sisdr_level": sisdr_level_loss, "l1": l1_loss, "mixed": mixed_loss, "spec": spec_l1_loss}


def training_loss(name: str, est: torch.Tensor, ref: torch.Tensor, mix: torch.Tensor, step: int,
                  absent_weight: float = ABSENT_WEIGHT) -> torch.Tensor:
    """The loss ``LOSSES[name]`` at training step ``step``: ``mixed`` fades its SNR term in by step,
    the SNR-shaped losses weigh absent queries by ``absent_weight``, the L1 losses take neither."""
    fn = LOSSES[name]
    if fn is mixed_loss:
        return fn(est, ref, mix, step)
    if fn in (sdr_loss, sisdr_loss, sisdr_level_loss):
        return fn(est, ref, mix, absent_weight=absent_weight)
    return fn(est, ref, mix)
