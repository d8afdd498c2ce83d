"""One prepared call on a lent GPU machine: unpack the carried pool, train runs side by side, keep results.

    python3 -m export.device_train --pack .devpack --out $OUT --minutes 7 --runs runs.json

``runs.json`` is a list of ``TrainConfig`` field dicts, each with a "name". Every run trains in its own
process for ``--minutes`` of wall time on the GPU (they share it), writes ``<out>/<name>/last.pt``
(weights only) and ``curve.jsonl`` at every evaluation, so an interrupted call still returns its last
checkpoint. A crashed run does not stop the others.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pack", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--pool", default="/tmp/sepboard_pool")
    p.add_argument("--minutes", type=float, required=True)
    p.add_argument("--runs", required=True)
    p.add_argument("--workers", type=int, default=12)
    p.add_argument("--device", default="cuda", help="cpu for a dry run")
    p.add_argument("--deadline", type=float, default=560.0, help="seconds after start when every run must be done")
    args = p.parse_args(argv)
    t0 = time.time()
    from .devicepack import unpack

    for split in ("train", "valid"):
        unpack(Path(args.pack), Path(args.pool), split, args.workers)
    print(f"[{time.time() - t0:6.1f}s] pool unpacked", flush=True)
    runs = json.loads(Path(args.runs).read_text())
    deadline = t0 + args.deadline
    procs = {}
    for run in runs:
        name = run.pop("name")
        procs[name] = [start(name, run, args, deadline), run, False]
        print(f"[{time.time() - t0:6.1f}s] started {name}", flush=True)
    while any(p[0].poll() is None for p in procs.values()):
        time.sleep(15)
        for name, entry in procs.items():
            proc, run, retried = entry
            out = Path(args.out) / name
            if proc.poll() not in (None, 0) and not retried and time.time() < deadline - 120:
                print(f"[{time.time() - t0:6.1f}s] {name} failed (rc {proc.returncode}); once more in fp32:\n"
                      + (out / "train.log").read_text()[-2000:], flush=True)
                (out / "train.log").rename(out / "failed.log")
                entry[0], entry[2] = start(name, {**run, "bf16": False}, args, deadline), True
            curve = out / "curve.jsonl"
            last = curve.read_text().strip().splitlines()[-1] if curve.exists() and curve.stat().st_size else ""
            row = json.loads(last) if last else {}
            print(f"[{time.time() - t0:6.1f}s] {name}: rc={entry[0].poll()} step={row.get('step')} "
                  f"si_sdri={row.get('si_sdri')} absent={row.get('absent_db')}", flush=True)
    for name, (proc, _, _) in procs.items():
        tail = (Path(args.out) / name / "train.log").read_text()[-2500:]
        print(f"==== {name} rc={proc.returncode}\n{tail}", flush=True)
    return 0


def start(name: str, run: dict, args, deadline: float) -> subprocess.Popen:
    out = Path(args.out) / name
    out.mkdir(parents=True, exist_ok=True)
    fields = {"pool": args.pool, "out": str(out), "budget_minutes": args.minutes, "device": args.device,
              "save_optimizer": False, "stop_at": deadline - 45, **run}
    if fields.get("phrase_embeddings") and not os.path.isabs(fields["phrase_embeddings"]):
        fields["phrase_embeddings"] = str(Path(args.pack) / fields["phrase_embeddings"])
    cmd = [sys.executable, "-m", "export.trainer", "--set"] + [f"{k}={json.dumps(v)}" for k, v in fields.items()]
    log = open(out / "train.log", "w")
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)


if __name__ == "__main__":
    raise SystemExit(main())
