"""Helpers for the benchmarks: cached random-weight bundles, subprocess runs with peak RSS."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench" / ".cache"
PY = sys.executable


def full_size_bundle() -> Path:
    """The official ResUNet30 architecture with seeded random weights, exported once."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / "resunet30-random-v5"
    if not (path / "manifest.json").exists():
        import torch

        sys.path.insert(0, str(ROOT))
        from export.bundle_writer import write_bundle
        from export.quantize import calibration_set
        from export.resunet import ResUNet30

        torch.manual_seed(0)
        model = ResUNet30().eval()
        torch.save(model.state_dict(), CACHE / "resunet30-random.pt")
        sys.path.insert(0, str(ROOT / "tests"))
        from conftest import write_tiny_text_encoder  # a stand-in text encoder so the renderer can be timed

        # the int8 core, calibrated as export.audiosep --int8 does without a text encoder (demo song,
        # random conditions); speed only: a random network says nothing about int8 quality, so the
        # export's quality gate is relaxed here
        int8 = {**calibration_set(model), "max_mean_diff": 0.1}
        write_bundle(path, model, name="resunet30-random", source="bench", license="MIT",
                     text_encoder=lambda d: write_tiny_text_encoder(d, dim=512), int8=int8)
    return path


def run_json(code: str, env=None, timeout=3600) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON line; peak RSS is added as rss_mb."""
    # Peak RSS from /proc/self/status VmHWM: it belongs to this address space. (ru_maxrss survives
    # execve on Linux, so a child would report its parent's peak if that was higher.)
    wrapper = code + ("\nimport json as _j\n_hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]"
                      "\nprint('@@' + _j.dumps(dict(RESULT, rss_mb=int(_hwm.split()[1]) / 1024)))\n")
    e = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="2", MKL_NUM_THREADS="2")
    e.update(env or {})
    out = subprocess.run([PY, "-c", wrapper], capture_output=True, text=True, env=e, timeout=timeout, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    line = [l for l in out.stdout.splitlines() if l.startswith("@@")][-1]
    return json.loads(line[2:])


def machine() -> str:
    import platform

    cpu = ""
    try:
        for l in open("/proc/cpuinfo"):
            if l.startswith("model name"):
                cpu = l.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu or platform.processor()}, {os.cpu_count()} cores, Python {platform.python_version()}"
