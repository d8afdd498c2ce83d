"""What wider levels would cost the embedded default at inference (for export.widen).

    python bench/bench_widths.py [--rounds 2] [--widths 8,16,32,96,192 12,24,48,96,160]

Random-weight bundles of the default architecture with the shipped widths and each variant (speed does
not depend on the weights), `Separator.separate` on 60 s of stereo 44.1 kHz with the offline plan,
2 threads, each variant in its own process, variants interleaved round by round; RTF is the median,
the ratio is against the shipped widths in the same run.
"""
import argparse
import json
import sys

import numpy as np

from _common import CACHE, ROOT, machine, run_json

sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def main():
    from bench_blockwise import SEPARATE, default_arch_bundle, make_file
    from export.train import DEFAULT_ARCH

    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--widths", nargs="+", default=["8,16,32,96,192", "12,24,48,96,160"])
    a = ap.parse_args()
    variants = [tuple(DEFAULT_ARCH.widths)] + [tuple(int(x) for x in w.split(",")) for w in a.widths]
    paths = {w: default_arch_bundle(None if k == 0 else w) for k, w in enumerate(variants)}
    song = make_file(1, CACHE)
    times = {w: [] for w in variants}
    for _ in range(a.rounds):
        for w in variants:
            r = run_json(SEPARATE.format(bundle=paths[w], inp=song, kw="", repeats=2))
            times[w] += [t / r["audio"] for t in r["all"]]
    print(f"Machine: {machine()}\n")
    print("| widths | separator parameters | RTF (median) | vs shipped widths |\n|---|---|---|---|")
    base = np.median(times[variants[0]])
    for w in variants:
        params = json.loads((paths[w] / "manifest.json").read_text())["separator"]["parameters"]
        print(f"| {list(w)} | {params / 1e6:.2f} M | {np.median(times[w]):.4f} | {np.median(times[w]) / base:.2f}x |")


if __name__ == "__main__":
    main()
