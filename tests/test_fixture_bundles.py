"""The tiny bundles checked in under tests/bundles/: small, what export/ builds from their recipes,
and enough for the runtime without any build-time package."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
BUNDLES = HERE / "bundles"
MAX_TOTAL_BYTES = 720 * 1024  # text, identity and multi-source bundles


def test_checked_in_bundles_are_small():
    files = [f for f in BUNDLES.rglob("*") if f.is_file()]
    assert files, "tests/bundles is empty: run python tests/make_bundles.py"
    assert sum(f.stat().st_size for f in files) <= MAX_TOTAL_BYTES


def test_checked_in_bundles_are_what_the_recipes_build(tmp_path):
    """Fails when export/ (or a recipe) changes what a bundle contains: then run
    ``python tests/make_bundles.py`` and commit tests/bundles/."""
    pytest.importorskip("torch")
    from make_bundles import build

    for name, folder in build(tmp_path).items():
        built = json.loads((folder / "manifest.json").read_text())
        kept = json.loads((BUNDLES / name / "manifest.json").read_text())
        assert kept == built, f"tests/bundles/{name} is stale: run python tests/make_bundles.py"


RUNTIME_ONLY = r"""
import sys, tempfile
from pathlib import Path

HIDDEN = ("torch", "onnx", "onnxscript", "transformers", "fluidsynth", "export", "gui", "PyQt6")

class Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HIDDEN:
            raise ModuleNotFoundError(name, name=name)

sys.meta_path.insert(0, Hide())
import numpy as np
import soundfile as sf
import pedalboard
from plugin import Chain, Separator
from plugin.render import render

bundle, out = sys.argv[1], Path(sys.argv[2])
sep = Separator.load(bundle)
sr = 44100
x = (0.1 * np.sin(2 * np.pi * 110 * np.arange(2 * sr) / sr)).astype(np.float32)[None].repeat(2, 0)
stem = sep.separate(x, sr, "bass guitar")
residual = sep.separate(x, sr, "bass guitar", residual=True)
assert stem.shape == x.shape and np.max(np.abs(stem + residual - x)) < 1e-6
y = Chain([pedalboard.Gain(-1.0), sep.effect("drums", block_seconds=1.0, context_seconds=0.5)])(x, sr)
assert y.shape == x.shape and np.all(np.isfinite(y))
sf.write(str(out / "song.wav"), x.T, sr)
report = render([out / "song.wav"], ["bass guitar"], out / "stems", separator=sep)
assert report.ok and (out / "stems" / "song" / "bass-guitar.wav").is_file(), report
assert not [m for m in sys.modules if m.split(".")[0] in HIDDEN], sorted(sys.modules)
print("runtime ok")
"""


def test_the_runtime_works_on_a_checked_in_bundle_without_build_time_packages(tmp_path):
    """Text query, separation, residual, effect in a Chain and the batch renderer, in a process where
    torch, onnx, transformers, export/ and gui/ cannot be imported."""
    r = subprocess.run([sys.executable, "-c", RUNTIME_ONLY, str(BUNDLES / "text"), str(tmp_path)],
                       cwd=HERE.parent, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "runtime ok" in r.stdout, r.stdout + r.stderr
