"""Ray throughput vs the local batch renderer on the same folder, and where the time goes.

    python bench/bench_ray.py [--files 8] [--seconds 30]

Audio-hours rendered per wall-clock hour for: local `plugin.render` (one process), Ray with 1 and
2 local workers (actors with 1 CPU each, ORT intra-op threads = 1); plus a stage breakdown of one
file in the local renderer (decode, resample, STFT+ONNX+ISTFT, encode) that the scaling plan in
BENCHMARKS.md is built on. Uses the embedded default architecture (random weights).
"""
import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from _common import ROOT, machine, run_json
from bench_blockwise import default_arch_bundle

sys.path.insert(0, str(ROOT))

LOCAL = """
import time
from plugin.render import render
t = time.perf_counter()
rep = render([r'{folder}'], ['bass'], r'{out}', bundle=r'{bundle}', overwrite=True, threads={threads})
RESULT = dict(seconds=time.perf_counter() - t, done=rep.counts().get('done', 0))
"""

RAY = """
import time
from plugin.distributed import render_ray
t0 = time.perf_counter()
import ray
ray.init(num_cpus={workers}, include_dashboard=False, log_to_driver=False)
t = time.perf_counter()
rep = render_ray([r'{folder}'], ['bass'], r'{out}', workers={workers}, bundle=r'{bundle}', overwrite=True, progress=False)
RESULT = dict(seconds=time.perf_counter() - t, startup=t - t0, done=rep.counts().get('done', 0), counts=rep.counts(),
              errors=[(r.file, r.error[:200]) for r in rep.results if r.status != 'done'] + rep.errors)
ray.shutdown()
"""

STAGES = """
import time, numpy as np, soxr
from pedalboard.io import AudioFile
from plugin import Separator
from plugin.audio import AtomicAudioWriter
sep = Separator.load(r'{bundle}', threads=1)
c = sep.embed(['bass'])
t = {{}}
s = time.perf_counter(); f = AudioFile(r'{file}'); x = f.read(f.frames); sr = f.samplerate; t['decode'] = time.perf_counter() - s
s = time.perf_counter(); xm = soxr.resample(x.T, sr, 32000, quality='HQ').T; t['resample (both ways)'] = 2 * (time.perf_counter() - s)
import plugin.core as P
if sep.bundle.specialised:
    sep.bundle.session_for(c[0])  # the query's session exists before timing (as in a render of many files)
orig = P.ModelCore.run_batched  # every ONNX run, generic or query-specialised, goes through it
acc = {{'onnx': 0.0}}
def timed(self, sess, mag, feed):
    s = time.perf_counter(); r = orig(self, sess, mag, feed); acc['onnx'] += time.perf_counter() - s; return r
P.ModelCore.run_batched = timed
s = time.perf_counter(); y = sep.separate(xm, 32000, embedding=c[0]); total = time.perf_counter() - s
t['ONNX separator'] = acc['onnx']; t['STFT, masks, ISTFT, overlap-add'] = total - acc['onnx']
import tempfile, os
s = time.perf_counter(); w = AtomicAudioWriter(os.path.join(tempfile.mkdtemp(), 'o.wav'), sr, x.shape[0]); w.write(x); w.commit(); t['encode + write'] = time.perf_counter() - s
RESULT = dict(stages=t, audio_seconds=x.shape[1] / sr)
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=30.0)
    a = ap.parse_args()
    import soundfile as sf

    bundle = default_arch_bundle()
    work = Path(tempfile.mkdtemp(prefix="sepray-"))
    folder = work / "songs"  # outputs go beside it, never inside (a later run would take them as songs)
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(a.files):
        n = int(a.seconds * 44100)
        sf.write(str(folder / f"s{i}.wav"), (0.1 * rng.standard_normal((n, 2))).astype(np.float32), 44100, subtype="PCM_16")
    hours = a.files * a.seconds / 3600
    rows = []
    loc = run_json(LOCAL.format(folder=folder, out=work / "out-local", bundle=bundle, threads=2))
    rows.append(("local plugin.render (1 process, 2 ORT threads)", loc["seconds"], 0.0))
    loc1 = run_json(LOCAL.format(folder=folder, out=work / "out-local1", bundle=bundle, threads=1))
    rows.append(("local plugin.render (1 process, 1 ORT thread)", loc1["seconds"], 0.0))
    for w in (1, 2):
        r = run_json(RAY.format(folder=folder, out=work / f"out-ray{w}", workers=w, bundle=bundle))
        if r["done"] != a.files:
            raise SystemExit(f"Ray run with {w} workers did not finish every file: {r['counts']} {r['errors']}")
        rows.append((f"Ray, {w} local worker{'s' if w > 1 else ''} (1 CPU, 1 ORT thread each)", r["seconds"], r["startup"]))
    print(f"Machine: {machine()}; {a.files} files x {a.seconds:g} s stereo 44.1 kHz, one query, embedded default architecture.\n")
    print("| mode | wall (s) | audio-hours per hour | vs local (2 threads) | Ray start-up, not included (s) |")
    print("|---|---|---|---|---|")
    for name, sec, st in rows:
        print(f"| {name} | {sec:.1f} | {hours / (sec / 3600):.0f} | {rows[0][1] / sec:.2f}x | {st:.1f} |" if st else
              f"| {name} | {sec:.1f} | {hours / (sec / 3600):.0f} | {rows[0][1] / sec:.2f}x | - |")
    st = run_json(STAGES.format(bundle=bundle, file=folder / "s0.wav"))
    tot = sum(st["stages"].values())
    print(f"\nWhere the time goes for one {st['audio_seconds']:.0f} s stereo file (1 ORT thread):\n")
    print("| stage | seconds | share |\n|---|---|---|")
    for k, v in st["stages"].items():
        print(f"| {k} | {v:.2f} | {100 * v / tot:.0f} % |")


if __name__ == "__main__":
    main()
