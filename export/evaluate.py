"""Evaluate a bundle on held-out synthetic mixtures: ``python -m export.evaluate --bundle DIR``.

The test pool uses a different seed, MuseScore General and other espeak-ng voices. MuseScore General
reuses FluidR3's samples for several instruments, so this pool is not independent of training:
``export.assess`` scores the sets reserved for evaluation (export.heldout). For every family,
``--per-family`` mixtures hold it plus 1-3 other families at random loudness (-28..-12 dBFS each).
Metrics as AudioSep defines them: SDRi = SDR(s, ŝ) - SDR(s, mix) with SDR the plain energy ratio,
and SI-SDRi; mean per family, then over families. Also: output energy for a query of a family that
is absent from the mix (dB relative to the mix), held-out phrasings per family, and the answer's
level against the true stem's (median dB, and the share of "muted" answers more than 10 dB too
quiet: SI-SDR ignores gain, and SDRi even rewards silence for a quiet stem). Separation runs
through the runtime (ONNX Runtime, block-wise, as users get it); all queries of a mixture share one
pass. Results: a JSON file and a markdown table.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Dict

import numpy as np

from . import data as D
from .metrics import energy_db_rel, level_error_db, muted_share, sdr, si_sdr


def make_test_mixtures(pool: Dict[str, np.ndarray], per_family: int, seconds: float, seed: int):
    rng = np.random.default_rng(seed)
    fams = [f for f in D.FAMILY_NAMES if f in pool]
    n = int(seconds * D.SR)
    out = []
    for fi, fam in enumerate(fams):
        for i in range(per_family):
            others = list(rng.choice([f for f in fams if f != fam], size=int(rng.integers(1, 4)), replace=False))
            stems = []
            for f in [fam] + others:
                arr = pool[f]
                for _ in range(6):
                    clip = arr[int(rng.integers(len(arr)))]
                    off = int(rng.integers(0, clip.shape[0] - n + 1))
                    x = clip[off : off + n].astype(np.float32) / 32767.0
                    if D.rms_db(x) > -45:
                        break
                stems.append(x * np.float32(10 ** ((rng.uniform(-28, -12) - D.rms_db(x)) / 20)))
            mix = np.sum(stems, axis=0)
            g = min(1.0, 0.95 / float(np.abs(mix).max()))
            absent = str(rng.choice([f for f in fams if f not in [fam] + others]))
            out.append(dict(family=fam, target=stems[0] * g, mix=(mix * g).astype(np.float32), others=others,
                            absent=absent))
    return out


def evaluate(sep, pool_dir: Path, per_family: int = 12, seconds: float = 4.0, seed: int = 4242,
             progress=True, split: str = "test", heldout_phrasings: bool = True) -> Dict:
    """``sep`` is anything with ``separate_many(mix, sr, queries) -> stems`` (a Separator, or
    export.select's torch wrapper). ``split="valid"`` with ``heldout_phrasings=False`` is the protocol
    export.select ranks checkpoints by: the held-out phrasings and the test soundfont stay unseen."""
    pool = D.load_pool(pool_dir, split)
    mixes = make_test_mixtures(pool, per_family, seconds, seed)
    per = {f: {"sdri": [], "si_sdri": [], "absent_db": [], "heldout_si_sdri": [], "level_db": []}
           for f in D.FAMILY_NAMES if f in pool}
    per_mixture = []  # in draw order: the same seed gives every model the same list, for paired comparisons
    t_sep = 0.0
    audio_s = 0.0
    for k, m in enumerate(mixes):
        fam = D.FAMILIES[m["family"]]
        held = list(fam.heldout_phrases) if heldout_phrasings else []
        queries = [fam.phrases[0]] + held + [D.FAMILIES[m["absent"]].phrases[0]]
        t0 = time.perf_counter()
        stems = sep.separate_many(m["mix"], D.SR, queries)
        t_sep += time.perf_counter() - t0
        audio_s += seconds
        s, x = m["target"], m["mix"]
        r = per[m["family"]]
        r["sdri"].append(sdr(s, stems[0]) - sdr(s, x))
        r["si_sdri"].append(si_sdr(s, stems[0]) - si_sdr(s, x))
        r["heldout_si_sdri"] += [si_sdr(s, y) - si_sdr(s, x) for y in stems[1:-1]]
        r["absent_db"].append(energy_db_rel(stems[-1], x))
        r["level_db"].append(level_error_db(s, stems[0]))
        per_mixture.append({"family": m["family"], "si_sdri": r["si_sdri"][-1], "sdri": r["sdri"][-1],
                            "absent_db": r["absent_db"][-1]})
        if progress and (k + 1) % 20 == 0:
            print(f"  {k + 1}/{len(mixes)} mixtures", file=sys.stderr, flush=True)
    fams = {f: {k: float(np.median(v) if k == "level_db" else np.mean(v)) for k, v in r.items() if v}
            for f, r in per.items()}
    for f, r in per.items():
        fams[f]["muted"] = muted_share(r["level_db"])
        if len(r["si_sdri"]) > 1:  # standard error of the family's mean, over its mixtures
            for k in ("sdri", "si_sdri"):
                fams[f][f"{k}_se"] = float(np.std(r[k], ddof=1) / np.sqrt(len(r[k])))
    summary = {k: float(np.mean([fams[f][k] for f in fams]))
               for k in ("sdri", "si_sdri", "absent_db", "heldout_si_sdri", "level_db", "muted") if k in fams[next(iter(fams))]}
    for k in ("sdri", "si_sdri"):
        ci95 = mean_over_families({f: r[k] for f, r in per.items()})["ci95"]
        if ci95 is not None:
            summary[f"{k}_ci95"] = ci95
    summary["worst_family"] = min(fams, key=lambda f: fams[f]["si_sdri"])
    summary["worst_family_si_sdri"] = fams[summary["worst_family"]]["si_sdri"]
    where = getattr(getattr(sep, "bundle", None), "path", None)
    return {"summary": summary, "families": fams, "mixtures": len(mixes), "per_family": per_family,
            "level_errors_db": [v for r in per.values() for v in r["level_db"]], "per_mixture": per_mixture,
            "seconds": seconds, "seed": seed, "rtf_separation": t_sep / audio_s,
            "queries_per_pass": 2 + (len(next(iter(D.FAMILIES.values())).heldout_phrases) if heldout_phrasings else 0),
            "split": split, "test_soundfont": json.loads((Path(pool_dir) / split / "index.json").read_text())
            .get(next(iter(fams)), {}).get("soundfonts"),
            "command": (f"python -m export.evaluate --bundle {where} --per-family {per_family}"
                        + (f" --seed {seed}" if seed != 4242 else "") + (f" --seconds {seconds:g}" if seconds != 4.0 else "")
                        if where else None)}


def mean_over_families(values: Dict[str, list]) -> Dict:
    """The mean of the family means and its 95 % half-width: the family means are independent, so the
    variance of their mean is sum(se_f^2) / F^2 (None when a family has fewer than two values)."""
    mean = float(np.mean([np.mean(v) for v in values.values()]))
    if min(len(v) for v in values.values()) < 2:
        return {"mean": mean, "ci95": None}
    se2 = sum(np.var(v, ddof=1) / len(v) for v in values.values())
    return {"mean": mean, "ci95": float(1.96 * np.sqrt(se2) / len(values))}


def paired_difference(a, b, key: str = "si_sdri") -> Dict:
    """Mean over families of ``a - b`` on the same mixtures (two ``per_mixture`` lists from the same draw)
    and its 95 % half-width from the per-family spread of the differences: models compared on one draw
    share most of its luck, so this is far tighter than the two means' own intervals."""
    if len(a) != len(b) or any(x["family"] != y["family"] for x, y in zip(a, b)):
        raise ValueError("paired_difference needs two evaluations of the same mixtures")
    diffs: Dict[str, list] = {}
    for x, y in zip(a, b):
        diffs.setdefault(x["family"], []).append(x[key] - y[key])
    return mean_over_families(diffs)


def markdown(res: Dict) -> str:
    lines = ["| family | SDRi (dB) | SI-SDRi (dB) | held-out phrasings SI-SDRi | answer level vs true stem (median dB) "
             "| muted answers | absent query output (dB re mix) |",
             "|---|---|---|---|---|---|---|"]
    for f, r in res["families"].items():
        lines.append(f"| {f} | {r['sdri']:.2f} | {r['si_sdri']:.2f} | {r['heldout_si_sdri']:.2f} | {r['level_db']:+.1f} "
                     f"| {r['muted']:.0%} | {r['absent_db']:.1f} |")
    s = res["summary"]

    def pm(k):  # the mean with its 95 % interval when the run had more than one mixture per family
        return f"{s[k]:.2f}" + (f" ± {s[k + '_ci95']:.2f}" if f"{k}_ci95" in s else "")

    lines.append(f"| **mean over families** | **{pm('sdri')}** | **{pm('si_sdri')}** | **{s['heldout_si_sdri']:.2f}** "
                 f"| **{s['level_db']:+.1f}** | **{s['muted']:.0%}** | **{s['absent_db']:.1f}** |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m export.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("--bundle", default=None, help="bundle folder (default: the embedded default model)")
    p.add_argument("--pool", default="runs/pool", help="stem pools (the test split is rendered if missing)")
    p.add_argument("--per-family", type=int, default=48,
                   help="mixtures per family (48: the mean's 95 %% interval is about ±0.4 dB, a family's about ±1.5 dB)")
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--seed", type=int, default=4242)
    p.add_argument("--json", help="write the full results here")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--int8", action="store_true", help="evaluate the bundle's int8 core instead of fp32")
    a = p.parse_args(argv)
    from plugin import Separator
    from plugin.errors import SepBoardError

    from .default_examples import ensure_pools

    try:
        sep = Separator.load(a.bundle, threads=a.threads, precision="int8" if a.int8 else "fp32")
    except SepBoardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not (Path(a.pool) / "test" / "index.json").exists():
        ensure_pools(Path(a.pool), 600, 2, splits=("test",))
    res = evaluate(sep, Path(a.pool), a.per_family, a.seconds, a.seed)
    print(markdown(res))
    s = res["summary"]
    ci = f" (± {s['si_sdri_ci95']:.2f}, 95 % interval over the draw of mixtures)" if "si_sdri_ci95" in s else ""
    print(f"\nmean SDRi {s['sdri']:.2f} dB, SI-SDRi {s['si_sdri']:.2f} dB{ci}, worst family {s['worst_family']} "
          f"{s['worst_family_si_sdri']:.2f} dB, answer level {s['level_db']:+.1f} dB ({s['muted']:.0%} muted), "
          f"absent {s['absent_db']:.1f} dB; RTF {res['rtf_separation']:.3f} "
          f"({res['queries_per_pass']} queries per pass)")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
