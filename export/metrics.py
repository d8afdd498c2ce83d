"""Separation metrics as AudioSep defines them (numpy, no projection filters).

SDR(s, ŝ) = 10·log10(Σ s² / Σ (ŝ − s)²); SDRi = SDR(s, ŝ) − SDR(s, mixture).
SI-SDR uses the optimally scaled reference α·s with α = <ŝ, s> / <s, s> (zero-mean not applied,
like torchmetrics' default for AudioSep's evaluation). All take 1-D arrays of equal length.
"""
from __future__ import annotations

import numpy as np

EPS = 1e-10


def sdr(ref: np.ndarray, est: np.ndarray) -> float:
    ref = np.asarray(ref, np.float64)
    est = np.asarray(est, np.float64)
    return float(10 * np.log10((np.sum(ref ** 2) + EPS) / (np.sum((est - ref) ** 2) + EPS)))


def si_sdr(ref: np.ndarray, est: np.ndarray) -> float:
    ref = np.asarray(ref, np.float64)
    est = np.asarray(est, np.float64)
    alpha = (np.dot(est, ref) + EPS) / (np.dot(ref, ref) + EPS)
    target = alpha * ref
    return float(10 * np.log10((np.sum(target ** 2) + EPS) / (np.sum((est - target) ** 2) + EPS)))


def sdri(ref: np.ndarray, est: np.ndarray, mix: np.ndarray) -> float:
    return sdr(ref, est) - sdr(ref, mix)


def si_sdri(ref: np.ndarray, est: np.ndarray, mix: np.ndarray) -> float:
    return si_sdr(ref, est) - si_sdr(ref, mix)


def energy_db_rel(est: np.ndarray, mix: np.ndarray) -> float:
    """Energy of ``est`` relative to ``mix`` in dB (for absent-instrument queries)."""
    e = float(np.sum(np.asarray(est, np.float64) ** 2))
    m = float(np.sum(np.asarray(mix, np.float64) ** 2))
    return float(10 * np.log10((e + EPS) / (m + EPS)))


MUTED_DB = -10.0  # an answer this far below the true stem's level counts as muted


def level_error_db(ref: np.ndarray, est: np.ndarray) -> float:
    """Energy of ``est`` relative to the true stem ``ref`` in dB: 0 at the right level, -30 for an
    answer 30 dB too quiet. SI-SDR is blind to it; a musician is not."""
    return energy_db_rel(est, ref)


def muted_share(level_errors) -> float:
    """Share of answers more than 10 dB (MUTED_DB) below their true stems (nan for none)."""
    lv = np.asarray(level_errors, np.float64)
    return float(np.mean(lv < MUTED_DB)) if lv.size else float("nan")
