"""Score a bundle on a held-out set (export.heldout): ``python -m export.assess --set real --bundle DIR``.

Per mixture (44.1 kHz stereo, through the runtime as users get it, default block-wise plan): the
target family's canonical query and its held-out phrasings, and a query for a family that is absent.
Reported per family and as the mean over families with its 95 % interval: SI-SDRi and SDRi of the
answer (AudioSep's definitions, on both channels), the answer's level against the true part, the
absent query's output energy re the mix, and whether the answer is closer to the asked part than to
any other: the answer is fitted as a sum of gains on the true parts (least squares) and the asked
part's fitted energy must be the largest. With ``--split`` the bundle's split into stems is scored
too (which families it returns, and the returned stems' SI-SDRi), at ``--split-threshold`` and over a
sweep of thresholds; a stem named by a query stands for its family (``SPLIT_QUERY_FAMILIES``).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Dict, List

import numpy as np

from plugin.split import THRESHOLD_DB

from .data.taxonomy import FAMILIES
from .evaluate import mean_over_families
from .metrics import energy_db_rel, level_error_db, sdr, si_sdr


def closest_part(est: np.ndarray, parts: np.ndarray) -> int:
    """Index of the part whose least-squares share of ``est`` (as sum of gains x parts) has the most energy."""
    a = parts.reshape(len(parts), -1).astype(np.float64)
    g, *_ = np.linalg.lstsq(a.T, est.reshape(-1).astype(np.float64), rcond=None)
    return int(np.argmax((g ** 2) * np.sum(a * a, axis=1)))


def score_mixture(sep, m: Dict, sr: int, phrasings: bool = True) -> Dict:
    parts, fam = m["parts"], m["family"]
    mix = parts.sum(axis=0)
    held = list(FAMILIES[fam].heldout_phrases) if phrasings else []
    queries = [FAMILIES[fam].phrases[0]] + held + [FAMILIES[m["absent"]].phrases[0]]
    t0 = time.perf_counter()
    stems = sep.separate_many(mix, sr, queries)
    elapsed = time.perf_counter() - t0
    s, x, y = parts[0].reshape(-1), mix.reshape(-1), stems[0].reshape(-1)
    return {"family": fam, "si_sdri": si_sdr(s, y) - si_sdr(s, x), "sdri": sdr(s, y) - sdr(s, x),
            "heldout_si_sdri": [si_sdr(s, z.reshape(-1)) - si_sdr(s, x) for z in stems[1:-1]],
            "level_db": level_error_db(s, y), "absent_db": energy_db_rel(stems[-1].reshape(-1), x),
            "closest_ok": closest_part(stems[0], parts) == 0, "seconds": elapsed, "queries": len(queries)}


# what a split stem named by a query (plugin.split.DEFAULT_QUERIES) holds, where the name is not a family's
SPLIT_QUERY_FAMILIES = {"vocals": ("voice",), "bass guitar": ("bass",), "synthesizer": ("synth pad", "synth lead"),
                        "strings": ("strings", "cello")}
SWEEP_DB = tuple(range(-36, -3, 3))


def stem_families(name: str) -> tuple:
    """The families a split stem called ``name`` stands for (a family's own name stands for itself)."""
    return SPLIT_QUERY_FAMILIES.get(name, (name,))


def score_split(sep, m: Dict, sr: int) -> Dict:
    """Every stem the split can return, with its level re the mix and, where it stands for a family
    present in the mixture, its SI-SDRi against that part; ``split_at`` applies a threshold."""
    parts, names = m["parts"], [m["family"]] + list(m["others"])
    mix = parts.sum(axis=0)
    stems = sep.split(mix, sr, threshold_db=float("-inf"))
    stems.pop("other")
    x = mix.reshape(-1)
    rows = []
    for name, stem in stems.items():
        fams = [f for f in stem_families(name) if f in names]
        gain = None
        if fams:
            s = parts[names.index(fams[0])].reshape(-1)
            gain = si_sdr(s, stem.reshape(-1)) - si_sdr(s, x)
        rows.append({"name": name, "level_db": energy_db_rel(stem.reshape(-1), x), "families": fams, "si_sdri": gain})
    return {"present": names, "stems": rows}


def split_at(scored: List[Dict], threshold_db: float) -> Dict:
    """Recall of the present families, stems returned that stand for no present family (per mixture),
    and the returned stems' mean SI-SDRi, when stems below ``threshold_db`` re the mix stay in "other"."""
    hits = present = false = 0
    gains: List[float] = []
    for s in scored:
        kept = [r for r in s["stems"] if r["level_db"] >= threshold_db]
        covered = {f for r in kept for f in r["families"]}
        hits += sum(f in covered for f in s["present"])
        present += len(s["present"])
        false += sum(not r["families"] for r in kept)
        gains += [r["si_sdri"] for r in kept if r["si_sdri"] is not None]
    return {"threshold_db": threshold_db, "recall": hits / max(1, present),
            "false_per_mixture": false / max(1, len(scored)), "si_sdri": float(np.mean(gains)) if gains else float("nan")}


def summarise(rows: List[Dict]) -> Dict:
    fams = sorted({r["family"] for r in rows}, key=lambda f: list(FAMILIES).index(f))
    per = {f: [r for r in rows if r["family"] == f] for f in fams}
    out = {"families": {}, "mixtures": len(rows)}
    for f, rs in per.items():
        col = lambda k: [r[k] for r in rs]
        si = col("si_sdri")
        out["families"][f] = {
            "si_sdri": float(np.mean(si)), "si_sdri_ci95": float(1.96 * np.std(si, ddof=1) / np.sqrt(len(si))) if len(si) > 1 else None,
            "sdri": float(np.mean(col("sdri"))), "heldout_si_sdri": float(np.mean([v for r in rs for v in r["heldout_si_sdri"]] or [np.nan])),
            "level_db": float(np.median(col("level_db"))), "absent_db": float(np.mean(col("absent_db"))),
            "closest_ok": float(np.mean(col("closest_ok"))), "below_0db": float(np.mean(np.array(si) < 0))}
    summary = {}
    for k in ("si_sdri", "sdri", "absent_db"):
        mo = mean_over_families({f: [r[k] for r in rs] for f, rs in per.items()})
        summary[k], summary[f"{k}_ci95"] = mo["mean"], mo["ci95"]
    summary["closest_ok"] = float(np.mean([r["closest_ok"] for r in rows]))
    summary["heldout_si_sdri"] = float(np.nanmean([v["heldout_si_sdri"] for v in out["families"].values()]))
    summary["level_db"] = float(np.median([r["level_db"] for r in rows]))
    worst = min(out["families"], key=lambda f: out["families"][f]["si_sdri"])
    summary.update(worst_family=worst, worst_family_si_sdri=out["families"][worst]["si_sdri"],
                   below_0db=float(np.mean([r["si_sdri"] < 0 for r in rows])),
                   rtf_pass=float(sum(r["seconds"] for r in rows) / max(1e-9, sum(r.get("audio_s", 0) for r in rows))))
    out["summary"] = summary
    return out


def markdown(res: Dict) -> str:
    lines = ["| family | SI-SDRi (dB) | SDRi | held-out phrasings | answer level (median dB) | answer closest to the asked part "
             "| absent query (dB re mix) |", "|---|---|---|---|---|---|---|"]
    for f, r in res["families"].items():
        ci = f" ± {r['si_sdri_ci95']:.2f}" if r["si_sdri_ci95"] is not None else ""
        lines.append(f"| {f} | {r['si_sdri']:.2f}{ci} | {r['sdri']:.2f} | {r['heldout_si_sdri']:.2f} | {r['level_db']:+.1f} "
                     f"| {r['closest_ok']:.0%} | {r['absent_db']:.1f} |")
    s = res["summary"]
    pm = lambda k: f"{s[k]:.2f}" + (f" ± {s[k + '_ci95']:.2f}" if s.get(k + "_ci95") is not None else "")
    lines.append(f"| **mean over families** | **{pm('si_sdri')}** | **{pm('sdri')}** | **{s['heldout_si_sdri']:.2f}** "
                 f"| **{s['level_db']:+.1f}** | **{s['closest_ok']:.0%}** | **{pm('absent_db')}** |")
    return "\n".join(lines)


def assess(sep, mixtures: List[Dict], sr: int, split: bool = False, progress: bool = True,
           split_threshold_db: float = THRESHOLD_DB) -> Dict:
    rows, splits = [], []
    for i, m in enumerate(mixtures):
        row = score_mixture(sep, m, sr)
        row["audio_s"] = m["parts"].shape[-1] / sr * row["queries"]
        rows.append(row)
        if split:
            splits.append(score_split(sep, m, sr))
        if progress and (i + 1) % 24 == 0:
            print(f"  {i + 1}/{len(mixtures)}", file=sys.stderr, flush=True)
    res = summarise(rows)
    res["per_mixture"] = [{k: r[k] for k in ("family", "si_sdri", "sdri", "absent_db", "closest_ok")} for r in rows]
    if split:
        res["split"] = split_at(splits, split_threshold_db)
        res["split_sweep"] = [split_at(splits, t) for t in SWEEP_DB]
    return res


def first_per_family(mixtures: List[Dict], n: int) -> List[Dict]:
    """The first ``n`` mixtures of each family, in the set's order."""
    count: Dict[str, int] = {}
    out = []
    for m in mixtures:
        count[m["family"]] = count.get(m["family"], 0) + 1
        if count[m["family"]] <= n:
            out.append(m)
    return out


def validation_set(pool_dir: Path, n: int = 240, seconds: float = 4.0, seed: int = 20_000) -> List[Dict]:
    """Mixtures from a pool's valid split (training sources, unseen renders) in held-out form, for
    choosing between models: the target is each mixture's first family, one absent family is asked too."""
    import torch

    from .data import load_pool
    from .mixer import MixConfig, StemBank, TorchMixer
    from .trainer import neighbours, families_of

    pool = load_pool(pool_dir, "valid")
    families = families_of(list(pool))
    mixer = TorchMixer(StemBank(pool, families), MixConfig(seconds=seconds, other_p=0.35), seed=seed,
                       neighbours=neighbours())
    rng = np.random.default_rng(seed)
    out: List[Dict] = []
    while len(out) < n:
        _, stems, present = mixer.batch(8)
        for st, pr in zip(stems, present):
            names = [f for f, p in zip(families[:-1], pr[:-1].tolist()) if p]
            if not names or len(out) >= n:
                continue
            rng.shuffle(names)
            idx = [families.index(f) for f in names]
            rest = st.sum(0) - st[idx].sum(0)  # "other" and inaudible stems stay in the mix
            parts = torch.cat([st[idx], rest[None]]).numpy()[:, None, :]
            absent = str(rng.choice([f for f in families[:-1] if f not in names]))
            out.append({"family": names[0], "others": names[1:], "absent": absent, "parts": parts})
    return out


def main(argv=None) -> int:
    from plugin import Separator

    from .heldout import OUT_SR, build

    p = argparse.ArgumentParser(prog="python -m export.assess", description=__doc__.split("\n\n")[0])
    p.add_argument("--set", choices=["freepats", "real", "valid"], required=True,
                   help="a held-out set (export.heldout), or 'valid': the pool's valid split, for choosing models")
    p.add_argument("--pool", default="runs/pool2", help="with --set valid: the stem pool")
    p.add_argument("--bundle", default=None, help="bundle folder (default: the embedded default model)")
    p.add_argument("--per-family", type=int, default=32)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--cache", default="cache/heldout")
    p.add_argument("--take", type=int, default=0, help="score only the first N mixtures of each family of the set")
    p.add_argument("--split", action="store_true", help="also score split into stems (and a sweep of thresholds)")
    p.add_argument("--split-threshold", type=float, default=THRESHOLD_DB, help="split's level threshold, dB re the input")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", help="write the full results here")
    a = p.parse_args(argv)
    if a.set == "valid":
        mixtures, sr = validation_set(Path(a.pool), n=a.per_family * 14), 32000
    else:
        mixtures, sr = build(a.set, a.per_family, seed=a.seed, cache=Path(a.cache)), OUT_SR
    if a.take:
        mixtures = first_per_family(mixtures, a.take)
    sep = Separator.load(a.bundle, threads=a.threads)
    res = assess(sep, mixtures, sr, split=a.split, split_threshold_db=a.split_threshold)
    res["command"] = " ".join(["python -m export.assess"] + (argv if argv is not None else sys.argv[1:]))
    print(markdown(res))
    s = res["summary"]
    print(f"\n{a.set}: SI-SDRi {s['si_sdri']:.2f} ± {s['si_sdri_ci95']:.2f} dB over {len(res['families'])} families, "
          f"{s['below_0db']:.0%} of mixtures below 0 dB, answer closest to the asked part in {s['closest_ok']:.0%}, "
          f"absent {s['absent_db']:.1f} dB" + (f"; split recall {res['split']['recall']:.0%}, "
                                               f"{res['split']['false_per_mixture']:.2f} false families per mixture"
                                               if a.split else ""))
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
