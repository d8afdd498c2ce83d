"""One query and a whole split into stems, timed on 2 threads: the default model against another bundle.

    python bench/bench_split.py [--bundle DIR] [--reference DIR] [--seconds 30] [--rounds 3]

Real-time factor = separation wall time / audio duration (44.1 kHz stereo from the demo song, the
renderer's offline plan). Each bundle runs in its own interpreter; the best of ``--rounds`` is kept.
Ratios are against ``--reference`` (default: the bundle of the previous release, if given).
"""
from __future__ import annotations

import argparse
import json
import sys

from _common import ROOT, machine, run_json

CODE = r"""
import time, numpy as np, soundfile as sf
from plugin import Separator
sep = Separator.load({bundle!r}, threads=2)
x, sr = sf.read({song!r}, dtype="float32", always_2d=True)
x = x.T[:, : int({seconds} * sr)]
sep.separate(x[:, : sr], sr, "drums")  # warm-up
one, split = [], []
for _ in range({rounds}):
    t = time.perf_counter(); sep.separate(x, sr, "bass guitar"); one.append(time.perf_counter() - t)
    t = time.perf_counter(); stems = sep.split(x, sr); split.append(time.perf_counter() - t)
d = x.shape[-1] / sr
RESULT = dict(one_query_rtf=min(one) / d, split_rtf=min(split) / d, stems=len(stems), families=len(sep.families))
"""


def measure(bundle: str, seconds: float, rounds: int) -> dict:
    song = str(ROOT / "plugin" / "demo" / "demo_song.flac")
    return run_json(CODE.format(bundle=bundle, song=song, seconds=seconds, rounds=rounds))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bundle", default=str(ROOT / "plugin" / "bundles" / "default"))
    p.add_argument("--reference", default=None)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args(argv)
    rows = {"bundle": measure(a.bundle, a.seconds, a.rounds)}
    if a.reference:
        rows["reference"] = measure(a.reference, a.seconds, a.rounds)
    print(f"machine: {machine()}")
    for name, r in rows.items():
        print(f"{name}: one query RTF {r['one_query_rtf']:.4f}, split ({r['families'] or 'no family head'} families, "
              f"{r['stems']} stems returned) RTF {r['split_rtf']:.4f}, peak RSS {r['rss_mb']:.0f} MB")
    if a.reference:
        b, r = rows["bundle"], rows["reference"]
        print(f"ratio bundle/reference: one query {b['one_query_rtf'] / r['one_query_rtf']:.2f}x, "
              f"split {b['split_rtf'] / r['split_rtf']:.2f}x")
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
