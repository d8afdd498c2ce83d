"""Train the multi-source model's router: sentence embedding -> a weight per family (or none).

    python -m export.router --out runs/router.pt

The router is a small MLP on all-MiniLM-L6-v2's 384-d sentence embedding with one sigmoid per
family, trained with binary cross-entropy on many phrasings: each family's training phrasings in
templates ("isolate the {p}", ...), pairs joined by "and" / "with" / "plus" (both families on:
"bass and drums" is a union), and phrases that name no family (other instruments, sounds of the
world, chatter), whose target is all zeros. Each family's held-out phrasings
(``export.data.FAMILIES[f].heldout_phrases``) are never trained on and are reported as accuracy.
"""
from __future__ import annotations

import argparse
import json
import random
from typing import Dict, List, Tuple

import numpy as np
import torch

from .data import FAMILIES, FAMILY_NAMES

NONE_PHRASES = (
    "a dog barking", "rain on a roof", "traffic noise", "birds singing in the morning", "applause", "a crowd cheering",
    "footsteps", "a door slamming", "wind", "ocean waves", "thunder", "a car engine", "a phone ringing",
    "keyboard typing", "silence", "white noise", "a baby crying", "laughter", "glass breaking", "a siren",
    "tubular bells", "wind chimes", "a harp", "marimba", "xylophone", "glockenspiel", "vibraphone", "timpani",
    "a music box", "sound effects", "vinyl crackle", "tape hiss", "a clock ticking", "a helicopter",
    "banjo", "sitar", "bagpipes", "kalimba", "steel drums", "a cowbell", "hello", "the", "music", "the song",
    "a nice sound", "something", "stuff", "that thing", "the best part", "noise", "reverb", "the mix",
)
# wordings musicians type that the families' phrase lists lack (training only; the held-out phrasings stay unseen)
EXTRA_PHRASES = {
    "voice": ("lead vocal", "lead vocals", "lead singer", "backing vocals", "vocal", "the singer", "choir"),
    "drums": ("drum loop", "drum groove", "the kit", "snare and hi-hat"),
    "bass": ("bassline", "upright bass", "sub bass"),
    "synth lead": ("lead synthesizer", "synth melody"),
    "electric guitar": ("guitar solo", "power chords", "guitar riff"),
    "piano": ("rhodes", "keyboard"),
    "strings": ("string quartet", "violin section"),
    "brass": ("trumpets", "horn section"),
}
JOINERS = ("{a} and {b}", "{a} with {b}", "{a} plus {b}", "{a} & {b}", "both {a} and {b}", "{a}, {b}")


def phrase_set(seed: int = 0) -> Tuple[List[str], np.ndarray, List[str], np.ndarray]:
    """(training phrases, targets [N, K]), (held-out phrases, targets)."""
    from .minilm import training_phrases

    rng = random.Random(seed)
    k = len(FAMILY_NAMES)
    per = training_phrases({f: FAMILIES[f].phrases for f in FAMILY_NAMES}, seed=seed, per_family=40)
    texts: List[str] = []
    rows: List[np.ndarray] = []

    def add(text: str, fams) -> None:
        t = np.zeros(k, np.float32)
        for f in fams:
            t[FAMILY_NAMES.index(f)] = 1.0
        texts.append(text)
        rows.append(t)

    for f in FAMILY_NAMES:
        for p in list(per[f]) + list(EXTRA_PHRASES.get(f, ())):
            add(p, [f])
    for _ in range(600):
        a, b = rng.sample(FAMILY_NAMES, 2)
        pa, pb = rng.choice(FAMILIES[a].phrases), rng.choice(FAMILIES[b].phrases)
        add(rng.choice(JOINERS).format(a=pa, b=pb), [a, b])
    for p in NONE_PHRASES:
        add(p, [])
        add(f"the {p}", [])
    held, held_rows = [], []
    for f in FAMILY_NAMES:
        for p in FAMILIES[f].heldout_phrases:
            held.append(p)
            t = np.zeros(k, np.float32)
            t[FAMILY_NAMES.index(f)] = 1.0
            held_rows.append(t)
    return texts, np.stack(rows), held, np.stack(held_rows)


def train_router(router: torch.nn.Module, emb: np.ndarray, targets: np.ndarray, steps: int = 3000,
                 seed: int = 0) -> float:
    """Fit ``router`` (embedding -> sigmoid weights) to ``targets``; returns the final training loss."""
    torch.manual_seed(seed)
    torch.set_num_threads(1)  # a 200k-parameter MLP: more threads only contend
    x = torch.from_numpy(emb)
    y = torch.from_numpy(targets)
    opt = torch.optim.AdamW(router.parameters(), lr=3e-3, weight_decay=1e-3)
    loss = torch.tensor(0.0)
    for step in range(steps):
        idx = torch.randint(0, len(x), (256,))
        noisy = torch.nn.functional.normalize(x[idx] + 0.02 * torch.randn_like(x[idx]), dim=-1)
        p = router(noisy).clamp(1e-6, 1 - 1e-6)
        loss = torch.nn.functional.binary_cross_entropy(p, y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return float(loss.detach())


def accuracy(router: torch.nn.Module, emb: np.ndarray, targets: np.ndarray) -> Dict[str, float]:
    """Share of one-family phrases whose strongest weight is their family (and above 0.5), of phrases
    naming no family with every weight below 0.5, and of unions with exactly their families above 0.5."""
    with torch.no_grad():
        p = router(torch.from_numpy(emb)).numpy()
    named = targets.sum(1) == 1  # one family named (a union has no single right answer for argmax)
    top_ok = (p.argmax(1) == targets.argmax(1)) & (p.max(1) > 0.5)
    none_rows = targets.sum(1) == 0
    none_ok = p.max(1) < 0.5
    union = targets.sum(1) > 1
    union_ok = ((p > 0.5) == (targets > 0.5)).all(axis=1)
    return {"named": float(top_ok[named].mean()) if named.any() else float("nan"),
            "none": float(none_ok[none_rows].mean()) if none_rows.any() else float("nan"),
            "unions": float(union_ok[union].mean()) if union.any() else float("nan")}


def main(argv=None) -> int:
    from .minilm import embed_texts
    from .multisource import Router

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--steps", type=int, default=3000)
    args = p.parse_args(argv)
    texts, targets, held, held_targets = phrase_set()
    emb, held_emb = embed_texts(texts), embed_texts(held)
    router = Router(emb.shape[1], len(FAMILY_NAMES), args.hidden)
    loss = train_router(router, emb, targets, args.steps)
    report = {"loss": loss, "train": accuracy(router, emb, targets), "heldout": accuracy(router, held_emb, held_targets),
              "phrases": len(texts), "families": FAMILY_NAMES}
    torch.save({"router": router.state_dict(), "hidden": args.hidden, "report": json.dumps(report)}, args.out)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
