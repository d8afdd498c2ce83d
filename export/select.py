"""Rank training checkpoints on a larger validation set: ``python -m export.select CKPT [CKPT ...]``.

export.train scores the model every ``--eval-every`` steps on 96 three-second validation mixtures and
keeps the best in best.pt. That set holds about 14 absent queries, and neighbouring evaluations of a
converged run differ by +-0.2 in score: near the end of a run, best.pt is partly chosen by noise.
This tool scores each candidate with export.evaluate's protocol on the *validation* split (training
soundfonts, a seed training never drew; ``--per-family`` mixtures per family, 1-3 other families each)
with the family's first phrasing and an absent family's; the held-out phrasings and the test soundfont
stay unseen, so the held-out table measured afterwards is still a held-out measurement. Separation
is torch, whole clip (the runtime matches it to 1e-4). Ranked by
export.default_validation.selection_score (SI-SDRi less the level and absent penalties), the absent
output's margin under -15 dB printed beside it.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np


class TorchQueries:
    """``separate_many(mix, sr, queries)`` on a DefaultModel (export.evaluate's interface), whole clip."""

    def __init__(self, model, embed=None):
        self.model = model
        self._embed = embed
        self._cache: Dict[str, np.ndarray] = {}

    def embedding(self, queries: Sequence[str]) -> np.ndarray:
        missing = [q for q in dict.fromkeys(queries) if q not in self._cache]
        if missing:
            if self._embed is None:
                from .minilm import embed_texts

                self._embed = embed_texts
            for q, e in zip(missing, self._embed(missing)):
                self._cache[q] = np.asarray(e, np.float32)
        return np.stack([self._cache[q] for q in queries])

    def separate_many(self, mix, sr, queries) -> List[np.ndarray]:
        import torch

        from . import data as D

        if sr != D.SR:
            raise ValueError(f"TorchQueries takes {D.SR} Hz mixtures, got {sr}")
        wav = torch.from_numpy(np.repeat(np.asarray(mix, np.float32)[None], len(queries), 0))
        with torch.no_grad():
            out = self.model(wav, torch.from_numpy(self.embedding(queries))).numpy()
        return list(out)


def score_checkpoint(path, pool_dir: Path, per_family: int = 12, seconds: float = 4.0, seed: int = 777,
                     embed=None, progress: bool = False) -> Dict:
    from .default_bundle import load_default_model
    from .evaluate import evaluate
    from .default_validation import selection_score

    model, state = load_default_model(path)
    res = evaluate(TorchQueries(model, embed), Path(pool_dir), per_family=per_family, seconds=seconds, seed=seed,
                   progress=progress, split="valid", heldout_phrasings=False)
    s = res["summary"]
    absent = [r["absent_db"] for r in res["families"].values()]
    return {"checkpoint": str(path), "step": state.get("step"), "si_sdri": s["si_sdri"], "sdri": s["sdri"],
            "level_db": s["level_db"], "muted": s["muted"], "absent_db": s["absent_db"],
            "mixtures": res["mixtures"], "worst_family": s["worst_family"], "worst_family_si_sdri": s["worst_family_si_sdri"],
            "score": selection_score(s["si_sdri"], res["level_errors_db"], absent),
            "families": {f: r["si_sdri"] for f, r in res["families"].items()},
            "per_mixture": [{k: m[k] for k in ("family", "si_sdri", "absent_db")} for m in res["per_mixture"]]}


def _pm(x: Dict) -> str:
    return f"{x['mean']:+.2f}" + (f" ± {x['ci95']:.2f}" if x["ci95"] is not None else "")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m export.select", description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoints", nargs="+")
    p.add_argument("--pool", default="runs/pool", help="stem pools (the valid split must exist: export.train renders it)")
    p.add_argument("--per-family", type=int, default=12)
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--seed", type=int, default=777, help="mixture seed (export.evaluate's test seed is 4242)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", help="write every candidate's numbers here")
    a = p.parse_args(argv)
    from plugin.errors import SepBoardError

    missing = [c for c in a.checkpoints if not Path(c).is_file()]
    if missing:
        print(f"error: no such checkpoint: {', '.join(missing)}", file=sys.stderr)
        return 2
    if not (Path(a.pool) / "valid" / "index.json").exists():
        print(f"error: no validation pool in {a.pool}/valid (export.train renders it)", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(a.threads)
    rows = []
    for c in a.checkpoints:
        try:
            r = score_checkpoint(c, Path(a.pool), a.per_family, a.seconds, a.seed)
        except (SepBoardError, KeyError, RuntimeError) as e:
            print(f"error: {c}: {e}", file=sys.stderr)
            return 2
        rows.append(r)
        print(f"  {c}: score {r['score']:.3f}", file=sys.stderr, flush=True)
    print("| checkpoint | step | SI-SDRi (dB) | SDRi (dB) | level (median dB) | muted | absent (dB re mix) | worst family | score |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['checkpoint']} | {r['step']} | {r['si_sdri']:.2f} | {r['sdri']:.2f} | {r['level_db']:+.1f} "
              f"| {r['muted']:.0%} | {r['absent_db']:.1f} | {r['worst_family']} {r['worst_family_si_sdri']:.2f} "
              f"| {r['score']:.3f} |")
    best = max(rows, key=lambda r: r["score"])
    from .evaluate import paired_difference

    for r in rows:  # every candidate saw the same mixtures: how far from the best, beyond the draw's luck
        if r is not best:
            d = {k: paired_difference(best["per_mixture"], r["per_mixture"], k) for k in ("si_sdri", "absent_db")}
            r["vs_best"] = d
            print(f"best - {r['checkpoint']}: SI-SDRi {_pm(d['si_sdri'])} dB, absent {_pm(d['absent_db'])} dB "
                  "(paired over the same mixtures, 95 %)")
    print(f"best: {best['checkpoint']} (score {best['score']:.3f}, absent {best['absent_db']:.1f} dB)")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
