"""Runtime vs torch eager on the full-size ResUNet30 (random weights), 10 s at 32 kHz, 2 threads.

    python bench/bench_runtime.py

Each variant runs in its own fresh process (so peak RSS is its own): torch eager with the same
weights (the reference), and the ONNX Runtime path of plugin.Separator (numpy STFT/ISTFT included)
whole-clip and block-wise, with the generic graph and the query-specialised one (plugin.bundle),
with and without ORT's CPU memory arena. Also the import time of `plugin` and whether it pulls
torch. Prints a markdown table; ratios are medians of per-round ratios (see --rounds).
"""
import argparse
import json
import sys

import numpy as np

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
b = Bundle(r'{bundle}', threads=2, mem_arena={arena}, specialise={special}, precision='{precision}')
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


VARIANTS = [
    # label, arena, block seconds, query-specialised, precision
    ("ORT whole clip, generic graph, arena on", True, None, False, "fp32"),
    ("ORT whole clip, generic graph, arena off", False, None, False, "fp32"),
    ("ORT whole clip, query-specialised, arena on", True, None, True, "fp32"),
    ("ORT whole clip, query-specialised, arena off (what Separator picks for this model)", False, None, True, "fp32"),
    ("ORT whole clip, query-specialised **int8** (opt-in), arena on", True, None, True, "int8"),
    ("ORT whole clip, query-specialised **int8** (opt-in), arena off", False, None, True, "int8"),
    ("ORT block-wise 6 s (streaming default; this model's offline window), query-specialised, arena off", False, 6.0, True,
     "fp32"),
    ("ORT block-wise 3 s, query-specialised, arena off", False, 3.0, True, "fp32"),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3, help="timed separations per process (median)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="interleaved rounds: torch, then every variant, again and again; ratios are taken "
                         "within a round (the machine's speed drifts by 20 %% between minutes)")
    ap.add_argument("--json", help="also write raw results here")
    ap.add_argument("--quick", action="store_true", help="whole-clip rows only")
    ap.add_argument("--only", default=None, help="only the variants whose label contains this text (and torch)")
    a = ap.parse_args()
    bundle = full_size_bundle()
    variants = [v for v in VARIANTS if not (a.quick and v[2] is not None) and (a.only is None or a.only in v[0])]
    torch_runs, runs = [], {v[0]: [] for v in variants}
    for _ in range(a.rounds):
        torch_runs.append(run_json(TORCH.format(cache=CACHE, repeats=a.repeats)))
        for label, arena, block, special, precision in variants:
            runs[label].append(run_json(ORT.format(bundle=bundle, arena=arena, block=block, repeats=a.repeats,
                                                   special=special, precision=precision)))
    imp = run_json(IMPORT)
    med = lambda xs: float(np.median(xs))  # noqa: E731
    t_ref = med([r["seconds"] for r in torch_runs])
    m_ref = med([r["rss_mb"] for r in torch_runs])
    print(f"Machine: {machine()}; full-size ResUNet30 (26.4 M params, random weights), 10 s mono at 32 kHz, "
          f"2 threads; each process: median of {a.repeats} separations; {a.rounds} interleaved rounds.\n")
    print("| variant | time (s) | speed-up vs torch (per round) | peak RSS (MB) | RSS vs torch |")
    print("|---|---|---|---|---|")
    each = ", ".join(f"{r['seconds']:.2f} s" for r in torch_runs)
    print(f"| torch eager (reference) | {t_ref:.2f} | 1.00x ({each}) | {m_ref:.0f} | 1.00x |")
    for label, *_ in variants:
        rs = runs[label]
        ratios = [t["seconds"] / r["seconds"] for t, r in zip(torch_runs, rs)]
        mem = [r["rss_mb"] / t["rss_mb"] for t, r in zip(torch_runs, rs)]
        print(f"| {label} | {med([r['seconds'] for r in rs]):.2f} | **{med(ratios):.2f}x** "
              f"({', '.join(f'{x:.2f}' for x in ratios)}) | {med([r['rss_mb'] for r in rs]):.0f} | {med(mem):.2f}x |")
    print(f"\n`import plugin` + Separator: {imp['seconds'] * 1000:.0f} ms, pulls torch: {imp['torch']}, "
          f"pulls Qt: {imp['qt']}")
    if a.json:
        json.dump({"torch": torch_runs, "runs": runs, "import": imp}, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    sys.exit(main())
