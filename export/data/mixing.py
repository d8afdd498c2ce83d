"""Training/validation mixtures drawn from a stem pool (numpy; one query per example)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Tuple

import numpy as np

from .effects import rms_db
from .synth import SR
from .taxonomy import FAMILIES, FAMILY_NAMES, NEIGHBOURS

@dataclass
class Example:
    mixture: np.ndarray  # [N] float32
    target: np.ndarray  # [N] float32 (zeros for an absent query)
    family: str  # queried family
    present: List[str]  # families in the mix


class MixSampler:
    """Random mixtures of 2-5 stems with AudioSep-style loudness augmentation.

    Each stem gets a random loudness in ``loudness_db``; with probability ``absent_p`` the query is
    a family not in the mix and the target is silence. A share ``hard_p`` of those absent queries
    names a neighbour (``NEIGHBOURS``) of an instrument in the mix when one is free. A share ``pair_p``
    of the examples is a "partner" mix instead: the queried family plus one of its neighbours (and
    random others), e.g. "bass" with drums, so the model must tell the two apart where uniform mixes
    rarely ask it to.
    """

    def __init__(self, pool: Dict[str, np.ndarray], seconds: float, seed: int, min_stems: int = 2,
                 max_stems: int = 5, absent_p: float = 0.12, loudness_db=(-28.0, -12.0),
                 hard_p: float = 0.0, pair_p: float = 0.0):
        self.pool = pool
        self.families = [f for f in FAMILY_NAMES if f in pool]
        self.n = int(seconds * SR)
        self.rng = np.random.default_rng(seed)
        self.min_stems, self.max_stems = min_stems, max_stems
        self.absent_p = absent_p
        self.hard_p = hard_p
        self.pair_p = pair_p
        self.loudness_db = loudness_db
        self._paired = [f for f in self.families if any(n in self.families for n in NEIGHBOURS.get(f, ()))]

    def _crop(self, fam: str) -> np.ndarray:
        arr = self.pool[fam]
        for _ in range(4):
            clip = arr[int(self.rng.integers(len(arr)))]
            off = int(self.rng.integers(0, clip.shape[0] - self.n + 1))
            x = clip[off : off + self.n].astype(np.float32) / 32767.0
            if rms_db(x) > -55:
                break
        gain_db = self.rng.uniform(*self.loudness_db) - rms_db(x)
        return x * np.float32(10 ** (gain_db / 20))

    def _partner_mix(self, k: int) -> Example:
        fam = str(self.rng.choice(self._paired))
        partner = str(self.rng.choice([n for n in NEIGHBOURS[fam] if n in self.families]))
        rest = [f for f in self.families if f not in (fam, partner)]
        present = [fam, partner] + [str(f) for f in self.rng.choice(rest, size=min(max(k - 2, 0), len(rest)), replace=False)]
        stems, mix = self._mixdown(present)
        return Example(mix, stems[0], fam, present)

    def _mixdown(self, present) -> Tuple[List[np.ndarray], np.ndarray]:
        """Each family's stem at a random loudness, and their sum, all scaled so the mix peaks <= 0.95."""
        stems = [self._crop(f) for f in present]
        mix = np.sum(stems, axis=0)
        peak = float(np.abs(mix).max())
        scale = np.float32(0.95 / peak if peak > 0.95 else 1.0)
        return [(x * scale).astype(np.float32) for x in stems], (mix * scale).astype(np.float32)

    def sample(self) -> Example:
        k = int(self.rng.integers(self.min_stems, self.max_stems + 1))
        # no extra draw when partner mixes are off: older runs and validation keep their mixes
        if self.pair_p > 0 and self._paired and self.rng.random() < self.pair_p:
            return self._partner_mix(k)
        present = list(self.rng.choice(self.families, size=min(k, len(self.families)), replace=False))
        stems, mix = self._mixdown(present)
        if self.rng.random() < self.absent_p and len(present) < len(self.families):
            free = [f for f in self.families if f not in present]
            near = sorted({n for p in present for n in NEIGHBOURS.get(p, ()) if n in free})
            # no extra draw when hard negatives are off: older runs and validation keep their mixes
            if self.hard_p > 0 and near and self.rng.random() < self.hard_p:
                free = near
            fam = str(self.rng.choice(free))
            target = np.zeros(self.n, np.float32)
        else:
            i = int(self.rng.integers(len(present)))
            fam, target = str(present[i]), stems[i]
        return Example(mix, target, fam, [str(p) for p in present])

    def phrase(self, fam: str) -> str:
        p = FAMILIES[fam].phrases
        return p[int(self.rng.integers(len(p)))]
