"""Runtime vs torch eager on the full-size ResUNet30 (random weights), 10 s at 32 kHz, 2 threads.

    python bench/bench_runtime.py

Each variant runs in its own fresh process (so peak RSS is its own): torch eager with the same
weights (the reference), and the ONNX Runtime path of plugin.Separator (numpy STFT/ISTFT included)
whole-clip and block-wise, with and without ORT's CPU memory arena. Also the import time of
`plugin` and whether it pulls torch. Prints a markdown table of medians over --repeats runs.
"""
import argparse
import json
import sys

from _common import full_size_bundle, machine, run_json, CACHE

TORCH = """
import time, numpy as np, torch
torch.set_num_threads(2)
from export.resunet import ResUNet30, separate_waveform
m = ResUNet30().eval(); m.load_state_dict(torch.load(r'{cache}/resunet30-random.pt', weights_only=True))
x = torch.from_numpy((0.1*np.random.default_rng(0).standard_normal(320000)).astype(np.float32))[None]
c = np.random.default_rng(1).standard_normal(512).astype(np.float32); c = torch.from_numpy(c / np.linalg.norm(c))[None]
ts = []
with torch.no_grad():
    for _ in range({repeats}):
        t = time.perf_counter(); y = separate_waveform(m, x, c); ts.append(time.perf_counter() - t)
RESULT = dict(seconds=float(np.median(ts)), all=ts)
"""

ORT = """
import time, numpy as np
from plugin import Separator
from plugin.bundle import Bundle
b = Bundle(r'{bundle}', threads=2, mem_arena={arena})
sep = Separator(b)
x = (0.1*np.random.default_rng(0).standard_normal(320000)).astype(np.float32)
c = np.random.default_rng(1).standard_normal(512).astype(np.float32); c = c / np.linalg.norm(c)
import sys; assert 'torch' not in sys.modules
ts = []
for _ in range({repeats}):
    t = time.perf_counter(); y = sep.separate(x, 32000, embedding=c, block_seconds={block}); ts.append(time.perf_counter() - t)
RESULT = dict(seconds=float(np.median(ts)), all=ts)
"""

IMPORT = """
import time, sys
t = time.perf_counter(); import plugin; from plugin import Separator; t = time.perf_counter() - t
RESULT = dict(seconds=t, torch='torch' in sys.modules, qt=any(m.startswith('PyQt6') for m in sys.modules))
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", help="also write raw results here")
    a = ap.parse_args()
    bundle = full_size_bundle()
    rows = []
    ref = run_json(TORCH.format(cache=CACHE, repeats=a.repeats))
    rows.append(("torch eager (reference)", ref))
    for label, arena, block in [("ORT whole clip, arena on", True, None), ("ORT whole clip, arena off", False, None),
                                ("ORT block-wise 6 s (default), arena off", False, 6.0),
                                ("ORT block-wise 3 s, arena off", False, 3.0)]:
        rows.append((label, run_json(ORT.format(bundle=bundle, arena=arena, block=block, repeats=a.repeats))))
    imp = run_json(IMPORT)
    print(f"Machine: {machine()}; full-size ResUNet30 (26.4 M params, random weights), 10 s mono at 32 kHz, "
          f"2 threads, median of {a.repeats}.\n")
    print("| variant | time (s) | speed-up vs torch | peak RSS (MB) | RSS vs torch |")
    print("|---|---|---|---|---|")
    for label, r in rows:
        print(f"| {label} | {r['seconds']:.2f} | {ref['seconds'] / r['seconds']:.2f}x | {r['rss_mb']:.0f} | "
              f"{r['rss_mb'] / ref['rss_mb']:.2f}x |")
    print(f"\n`import plugin` + Separator: {imp['seconds'] * 1000:.0f} ms, pulls torch: {imp['torch']}, "
          f"pulls Qt: {imp['qt']}")
    if a.json:
        json.dump({"rows": rows, "import": imp}, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    sys.exit(main())
