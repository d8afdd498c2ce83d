"""Block-wise vs whole-clip output on a 60 s mixture: are the seams inaudible?

    python bench/bench_block_quality.py [--bundle DIR] [--plot docs/block_boundary.png]

Renders a 60 s arrangement (export.demo: drums, bass, piano, strings, saxophone, voice with the
held-out soundfont), separates several queries whole-clip (the official single pass) and
block-wise with several block/context settings, and reports SI-SDR(whole, block) per setting
(target: >= 30 dB) with the compute overhead of each setting. With --plot, saves spectrograms of
whole, block-wise and their difference around the first block boundary (needs matplotlib).
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

from _common import ROOT, machine

sys.path.insert(0, str(ROOT))

QUERIES = ["bass guitar", "drums", "piano", "saxophone"]
OFFLINE = None  # separate() without block_seconds: Separator.offline_plan for this length
SETTINGS = [OFFLINE, (6.0, 1.0), (6.0, 0.5), (12.0, 1.0), (10.0, 1.0), (4.0, 1.0), (3.0, 0.5)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bundle", default=None)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--plot", default=None)
    a = ap.parse_args()
    from export.demo import render_demo
    from export.metrics import si_sdr
    from plugin import Separator

    sep = Separator.load(a.bundle, threads=2)
    mix, _, sr = render_demo(a.seconds, seed=11, sr_out=44100)
    t = time.perf_counter()
    whole = sep.separate_many(mix, sr, QUERIES, block_seconds=None)
    t_whole = time.perf_counter() - t
    print(f"Machine: {machine()}; model {sep.name}; {a.seconds:g} s stereo mix at 44.1 kHz, queries {QUERIES}.\n")
    print("| block (s) | context each side (s) | latency (s) | compute vs whole clip | SI-SDR(whole, block), mean / worst (dB) |")
    print("|---|---|---|---|---|")
    results = {}
    for setting in SETTINGS:
        t = time.perf_counter()
        if setting is OFFLINE:
            stems = sep.separate_many(mix, sr, QUERIES)
            plan = sep.plan_for(mix.shape[-1], sr, None, None)  # the plan separate_many just used
            cells = (f"offline plan: {plan.centre / sep.sample_rate:.2f} centre", f"{plan.left / sep.sample_rate:.2f}",
                     "(offline)")
        else:
            block, ctx = setting
            stems = sep.separate_many(mix, sr, QUERIES, block_seconds=block, context_seconds=ctx)
            cells = (f"{block:g}", f"{ctx:g}", f"{sep.plan(block, ctx).latency / sep.sample_rate:.2f}")
        dt = time.perf_counter() - t
        vals = [si_sdr(w[c], b[c]) for w, b in zip(whole, stems) for c in range(mix.shape[0])]
        results[setting] = stems
        print(f"| {' | '.join(cells)} | {dt / t_whole:.2f}x | {np.mean(vals):.1f} / {np.min(vals):.1f} |", flush=True)
    if a.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        plan = sep.plan(*SETTINGS[1])
        edge = plan.centre / sep.sample_rate  # first block boundary (s)
        lo, hi = int((edge - 0.6) * sr), int((edge + 0.6) * sr)
        w, b = whole[0][0, lo:hi], results[SETTINGS[1]][0][0, lo:hi]
        fig, ax = plt.subplots(3, 1, figsize=(9, 7), sharex=True)
        for axis, x, title in zip(ax, (w, b, b - w), ("whole clip", "block-wise (6 s blocks, 1 s context)",
                                                       "difference (same colour scale)")):
            axis.specgram(x + 1e-9, NFFT=1024, Fs=sr, noverlap=768, cmap="magma", vmin=-140, vmax=-20,
                          xextent=(lo / sr, hi / sr))
            axis.axvline(edge, color="cyan", lw=0.8, ls="--")
            axis.set_ylim(0, 12000)
            axis.set_title(f"'{QUERIES[0]}' stem: {title}", fontsize=9)
            axis.set_ylabel("Hz")
        ax[-1].set_xlabel("time (s); dashed: block boundary")
        plt.tight_layout()
        Path(a.plot).parent.mkdir(parents=True, exist_ok=True)
        plt.savefig(a.plot, dpi=80)
        print(f"\nspectrogram around the first block boundary: {a.plot}")


if __name__ == "__main__":
    main()
