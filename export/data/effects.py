"""Random per-stem effect chains (EQ, distortion, chorus, compression, reverb) through pedalboard."""
from __future__ import annotations

import math

import numpy as np

from .synth import SR
from .taxonomy import Family

def random_effects(fam: Family, rng, sr: int = SR):
    """A random pedalboard chain for one stem (may be empty)."""
    import pedalboard as pb

    fx = []
    if rng.random() < 0.5:
        fx.append(pb.PeakFilter(cutoff_frequency_hz=float(np.exp(rng.uniform(np.log(150), np.log(6000)))),
                                gain_db=float(rng.uniform(-6, 6)), q=float(rng.uniform(0.5, 2.0))))
    if rng.random() < 0.3:
        fx.append(pb.HighShelfFilter(cutoff_frequency_hz=float(rng.uniform(3000, 9000)), gain_db=float(rng.uniform(-6, 4))))
    if rng.random() < 0.25:
        fx.append(pb.LowShelfFilter(cutoff_frequency_hz=float(rng.uniform(80, 300)), gain_db=float(rng.uniform(-6, 4))))
    dist_p = {"electric guitar": 0.35, "bass": 0.1, "synth lead": 0.2, "organ": 0.15}.get(fam.name, 0.0)
    if rng.random() < dist_p:
        fx.append(pb.Distortion(drive_db=float(rng.uniform(8, 28))))
    chorus_p = {"electric guitar": 0.2, "synth pad": 0.3, "piano": 0.1, "acoustic guitar": 0.1, "synth lead": 0.15}.get(fam.name, 0.03)
    if rng.random() < chorus_p:
        fx.append(pb.Chorus(rate_hz=float(rng.uniform(0.3, 2.0)), depth=float(rng.uniform(0.1, 0.4)), mix=float(rng.uniform(0.2, 0.5))))
    if rng.random() < 0.3:
        fx.append(pb.Compressor(threshold_db=float(rng.uniform(-30, -10)), ratio=float(rng.uniform(2, 8)),
                                attack_ms=float(rng.uniform(1, 30)), release_ms=float(rng.uniform(50, 300))))
    if rng.random() < 0.5:
        fx.append(pb.Reverb(room_size=float(rng.uniform(0.1, 0.9)), damping=float(rng.uniform(0.2, 0.8)),
                            wet_level=float(rng.uniform(0.05, 0.35)), dry_level=1.0, width=1.0))
    return fx


def apply_effects(x: np.ndarray, fx, sr: int = SR) -> np.ndarray:
    if not fx:
        return x
    import pedalboard as pb

    y = pb.Pedalboard(fx)(x[None, :].astype(np.float32), sr)[0]
    if not np.all(np.isfinite(y)):
        return x
    return y.astype(np.float32)


def rms_db(x: np.ndarray) -> float:
    return 10 * math.log10(float(np.mean(np.square(x, dtype=np.float64))) + 1e-12)


