"""Training and validation examples of the FiLM default model: phrasings and their embeddings, batches, pools.

``PhraseBank`` holds every family's training phrasings and their MiniLM sentence embeddings (cached in
the run folder as ``phrases.npz``); ``make_batch`` draws a batch of (mixture, queried stem, phrasing
embedding) from a ``export.data.MixSampler``; ``fixed_eval_set`` is the run's validation set;
``ensure_pools`` renders the stem pools a run needs when they are missing.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch

from . import data as D


class PhraseBank:
    """Training phrasings per family and their MiniLM embeddings (cached in the run folder)."""

    def __init__(self, out: Path, seed: int = 0):
        path = out / "phrases.npz"
        fams = {f: D.FAMILIES[f].phrases for f in D.FAMILY_NAMES}
        phrases = None
        if path.exists():
            z = np.load(path, allow_pickle=False)
            phrases = json.loads(str(z["phrases"]))
            emb = z["emb"]
        if phrases is None or sorted(phrases) != sorted(fams):
            from .minilm import embed_texts, training_phrases

            phrases = training_phrases(fams, seed=seed)
            flat = [p for f in D.FAMILY_NAMES for p in phrases[f]]
            emb = embed_texts(flat)
            np.savez(path, phrases=json.dumps(phrases), emb=emb)
        self.phrases: Dict[str, List[str]] = phrases
        self.emb: Dict[str, np.ndarray] = {}
        i = 0
        for f in D.FAMILY_NAMES:
            n = len(phrases[f])
            self.emb[f] = emb[i : i + n]
            i += n

    def sample(self, fam: str, rng: np.random.Generator, noise: float = 0.0) -> np.ndarray:
        e = self.emb[fam][int(rng.integers(len(self.emb[fam])))]
        if noise:
            e = e + rng.normal(0, noise, e.shape).astype(np.float32)
            e = e / np.linalg.norm(e)
        return e.astype(np.float32)


def make_batch(sampler: D.MixSampler, bank: PhraseBank, rng, n: int, noise: float = 0.02):
    mixes, targets, embs = [], [], []
    for _ in range(n):
        ex = sampler.sample()
        mixes.append(ex.mixture)
        targets.append(ex.target)
        embs.append(bank.sample(ex.family, rng, noise))
    return (torch.from_numpy(np.stack(mixes)), torch.from_numpy(np.stack(targets)), torch.from_numpy(np.stack(embs)))


def fixed_eval_set(pool, n: int, seconds: float, seed: int):
    sampler = D.MixSampler(pool, seconds, seed=seed, absent_p=0.15)
    return [sampler.sample() for _ in range(n)]


def ensure_pools(pool_dir: Path, clips: int, workers: int, splits=("train", "valid")) -> None:
    sizes = {"train": clips, "valid": max(2, clips // 10), "test": max(2, clips // 8)}
    for split in splits:
        cfg = D.SPLITS[split]
        spec = D.PoolSpec(split, sizes[split], 4.0, cfg["seed"], list(cfg["soundfonts"]), list(cfg["voices"]),
                          list(cfg["langs"]))
        last = {}

        def progress(fam, done, total):
            if last.get(fam) != done and done == total:
                print(f"  pool {split}: {fam} {done}/{total}", flush=True)
            last[fam] = done

        D.build_pool(pool_dir, spec, workers=workers, progress=progress)
