"""Block-wise rendering: speed vs the torch reference, flat memory, cost of extra queries.

    python bench/bench_blockwise.py [--minutes 1 10 60] [--full-minutes 10] [--skip-full]
                                    [--only speed memory queries]

Each measurement runs in a fresh process (peak RSS is its own):
* RTF of `plugin.render` (decode -> resample -> block-wise ONNX -> resample -> encode) on a 60 s
  stereo 44.1 kHz file, for the embedded default architecture and the full-size ResUNet30 (random
  weights; speed does not depend on them), against torch eager on the same weights in the same run
  (whole 10 s clips, mono at 32 kHz, scaled to the same audio: torch RTF x channels).
* Peak RSS of `python -m plugin.render` for stereo files of 1, 10 and 60 minutes (default model)
  and a 10-minute stereo file with the full-size model.
* Extra queries sharing one pass: 1, 2 and 4 queries on 60 s stereo (default model).
"""
import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from _common import CACHE, ROOT, full_size_bundle, machine, run_json

sys.path.insert(0, str(ROOT))


def default_arch_bundle(widths=None) -> Path:
    """The embedded default's architecture (with other level ``widths`` if given) with seeded random
    weights + the tiny bag-of-words text encoder from the tests (the text encoder does not matter for
    separation speed). The shipped widths' torch weights are kept for the torch comparison."""
    name = "default-arch-random" if widths is None else "default-widths-" + "-".join(map(str, widths))
    path = CACHE / (name + "-v2" if widths is None else name)  # v2: with the query-specialised graphs
    if not (path / "manifest.json").exists():
        import torch

        sys.path.insert(0, str(ROOT / "tests"))
        from conftest import write_tiny_text_encoder

        from export.bundle_writer import write_bundle
        from export.resunet import ResUNetConfig
        from export.train import DefaultModel, DEFAULT_ARCH

        cfg = DEFAULT_ARCH if widths is None else ResUNetConfig.from_dict({**DEFAULT_ARCH.to_dict(), "widths": list(widths)})
        torch.manual_seed(0)
        m = DefaultModel(cfg).eval()
        if widths is None:
            torch.save(m.sep.state_dict(), CACHE / "default-arch-random.pt")
        write_bundle(path, m.sep, name=name, source="bench", license="MIT",
                     text_encoder=lambda d: write_tiny_text_encoder(d, dim=cfg.condition_dim))
    return path


def make_file(minutes: float, folder: Path) -> Path:
    """Stereo 44.1 kHz noise-and-tones WAV (16-bit), written in blocks."""
    import soundfile as sf

    p = folder / f"song_{minutes:g}min.wav"
    if p.exists():
        return p
    sr, n = 44100, int(minutes * 60 * 44100)
    rng = np.random.default_rng(0)
    with sf.SoundFile(str(p), "w", sr, 2, subtype="PCM_16") as f:
        for i in range(0, n, sr * 10):
            m = min(sr * 10, n - i)
            t = (i + np.arange(m)) / sr
            x = 0.2 * np.sin(2 * np.pi * 110 * t) + 0.05 * rng.standard_normal(m)
            f.write(np.stack([x, np.roll(x, 7)], axis=1).astype(np.float32))
    return p


RENDER = """
import time, sys, resource
from plugin.render import main
t = time.perf_counter()
rc = main([r'{inp}', {queries}, '-o', r'{out}', '--bundle', r'{bundle}', '--quiet', '--overwrite', '--threads', '2'])
RESULT = dict(seconds=time.perf_counter() - t, rc=rc)
"""

SEPARATE = """
import time, numpy as np, soundfile as sf
from plugin import Separator
sep = Separator.load(r'{bundle}', threads=2)
x, sr = sf.read(r'{inp}', dtype='float32', always_2d=True); x = x.T.copy()
sep.separate(x[:, : sr * 13], sr, 'bass guitar'{kw})  # warm: text encoder, session
ts = []
for _ in range({repeats}):
    t = time.perf_counter(); sep.separate(x, sr, 'bass guitar'{kw}); ts.append(time.perf_counter() - t)
RESULT = dict(seconds=float(np.median(ts)), all=ts, audio=x.shape[-1] / sr)
"""

TORCH = """
import time, numpy as np, torch
torch.set_num_threads(2)
from export.resunet import ResUNet30, ResUNetConfig, separate_waveform
import json
cfg = ResUNetConfig.from_dict(json.load(open(r'{bundle}/manifest.json'))['separator']['architecture'])
m = ResUNet30(cfg).eval(); m.load_state_dict(torch.load(r'{weights}', weights_only=True))
x = torch.from_numpy((0.1*np.random.default_rng(0).standard_normal(320000)).astype(np.float32))[None]
c = torch.nn.functional.normalize(torch.ones(1, cfg.condition_dim), dim=-1)
ts = []
with torch.no_grad():
    for _ in range(3):
        t = time.perf_counter(); separate_waveform(m, x, c); ts.append(time.perf_counter() - t)
RESULT = dict(seconds=float(np.median(ts)))
"""


def render(inp, bundle, out, queries=("bass",)):
    qs = ", ".join(f"'-q', '{q}'" for q in queries)
    return run_json(RENDER.format(inp=inp, bundle=bundle, out=out, queries=qs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, nargs="+", default=[1, 10, 60])
    ap.add_argument("--full-minutes", type=float, default=10)
    ap.add_argument("--skip-full", action="store_true")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the inference RTF variants")
    ap.add_argument("--only", nargs="+", choices=("speed", "memory", "queries"), default=("speed", "memory", "queries"),
                    help="run only these sections (peak RSS does not depend on CPU contention, wall time does)")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sepbench-"))
    small = default_arch_bundle()
    full = full_size_bundle()
    print(f"Machine: {machine()}; ONNX Runtime CPU, 2 threads; default block 6 s + 1 s context each side.\n")

    f60 = make_file(1, work)
    if "speed" in a.only:
        speed(a, small, full, f60, work)
    if "memory" in a.only:
        memory(a, small, full, work)
    if "queries" in a.only:
        queries(small, f60, work)


def speed(a, small, full, f60, work):
    rows = []
    for name, bundle, weights in (("embedded default (2.4 M)", small, CACHE / "default-arch-random.pt"),
                                  ("full-size ResUNet30 (26.4 M)", full, CACHE / "resunet30-random.pt")):
        if a.skip_full and bundle == full:
            continue
        r = render(f60, bundle, work / "out")
        ref = run_json(TORCH.format(bundle=bundle, weights=weights))
        rtf = r["seconds"] / 60.0
        torch_rtf = ref["seconds"] / 10.0 * 2  # per second of stereo audio
        rows.append((name, rtf, torch_rtf, r["rss_mb"]))
    print("| model | plugin.render RTF (60 s stereo, all I/O) | torch eager RTF (whole 10 s clips, x2 channels) | speed-up | peak RSS (MB) |")
    print("|---|---|---|---|---|")
    for name, rtf, trtf, rss in rows:
        print(f"| {name} | {rtf:.3f} | {trtf:.3f} | {trtf / rtf:.2f}x | {rss:.0f} |")
    # the RTF target is for inference: the shipped model, Separator.separate on the decoded
    # 60 s stereo array (resampling, STFT, ONNX, ISTFT; no decode/encode), median of 3
    # Variants alternate, one process each per round, so that the machine's drift hits them alike.
    print(f"\n| shipped default model, Separator.separate, 60 s stereo 44.1 kHz | RTF (median of {a.rounds} rounds x 3) |"
          "\n|---|---|")
    from plugin.bundle import DEFAULT_BUNDLE
    variants = (("block-wise, offline default (Separator.offline_plan)", ""),
                ("block-wise, fixed 12 s + 1 s (the previous offline default)", ", block_seconds=12.0, context_seconds=1.0"),
                ("block-wise, streaming default (6 s + 1 s)", ", block_seconds=6.0"))
    times = {label: [] for label, _ in variants}
    for _ in range(a.rounds):
        for label, kw in variants:
            r = run_json(SEPARATE.format(bundle=DEFAULT_BUNDLE, inp=f60, kw=kw, repeats=3))
            times[label] += [t / r["audio"] for t in r["all"]]
    for label, _ in variants:
        each = ", ".join(f"{t:.3f}" for t in times[label])
        print(f"| {label} | {np.median(times[label]):.4f} ({each}) |")


def memory(a, small, full, work):
    print("\n| audio (stereo 44.1 kHz) | model | wall (s) | RTF | peak RSS (MB) |\n|---|---|---|---|---|")
    for m in a.minutes:
        r = render(make_file(m, work), small, work / "out")
        print(f"| {m:g} min | default | {r['seconds']:.0f} | {r['seconds'] / (60 * m):.3f} | {r['rss_mb']:.0f} |", flush=True)
    if not a.skip_full:
        r = render(make_file(a.full_minutes, work), full, work / "out")
        print(f"| {a.full_minutes:g} min | full-size ResUNet30 | {r['seconds']:.0f} | {r['seconds'] / (60 * a.full_minutes):.3f} "
              f"| {r['rss_mb']:.0f} |", flush=True)


def queries(small, f60, work):
    print("\n| queries in one pass (60 s stereo, default) | wall (s) | extra time per added query |\n|---|---|---|")
    base = None
    for qs in (("bass",), ("bass", "drums"), ("bass", "drums", "piano", "voice")):
        r = render(f60, small, work / "outq", qs)
        base = base or r["seconds"]
        extra = (r["seconds"] - base) / max(1, len(qs) - 1)
        print(f"| {len(qs)} | {r['seconds']:.1f} | {'-' if len(qs) == 1 else f'{extra:.1f} s ({100 * extra / base:.0f} % of one query)'} |")


if __name__ == "__main__":
    main()
