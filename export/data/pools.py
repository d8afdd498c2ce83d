"""Stem pools: render clips of every family into ``<dir>/<split>/<family>.npy`` (int16) with a JSON index."""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .effects import apply_effects, random_effects, rms_db
from .scores import Song, gen_notes
from .synth import SR, SoundfontRenderer, espeak_speech, sung_vowels
from .taxonomy import FAMILIES, FAMILY_NAMES, Family

log = logging.getLogger(__name__)

SF2 = Path("/usr/share/sounds/sf2")
SF3 = Path("/usr/share/sounds/sf3")
TRAIN_SOUNDFONTS = [SF2 / "FluidR3_GM.sf2", SF2 / "TimGM6mb.sf2", SF2 / "sf_GMbank.sf2", SF3 / "FluidR3Mono_GM.sf3"]
TEST_SOUNDFONTS = [SF3 / "MuseScore_General_Lite.sf3", SF3 / "MuseScore_General.sf3"]
# espeak-ng voice variants (file names under espeak-ng-data/voices/!v); the test split uses others.
TRAIN_VOICES = ["m1", "m2", "m3", "m5", "m7", "m8", "f1", "f2", "f4", "Andy", "Annie", "Michael", "steph", "klatt",
                "klatt3", "Alex", "linda", "paul", "robert", "Gene", "belinda", "iven", "max", "john", "Lee"]
TEST_VOICES = ["m4", "m6", "f3", "f5", "klatt2", "Andrea", "edward", "Denis", "Mike", "zac", "quincy", "shelby"]
TRAIN_LANGS = ["en-us", "en-gb", "de", "fr", "es", "it"]
TEST_LANGS = ["en-us", "en-gb-scotland", "nl", "pt"]


def render_part(synth: "SoundfontRenderer", fam_name: str, program: Optional[int], rng, seconds: float,
                song: Song, level_db: float) -> np.ndarray:
    """One dry part of ``song`` (mono float32 at SR) scaled to ``level_db`` dBFS RMS; voice is sung
    vowels, everything else ``synth`` with GM ``program``. (Demo song and the shipped-model test.)"""
    fam = FAMILIES[fam_name]
    notes = gen_notes(fam, rng, seconds, program=program, song=song)
    if fam_name == "voice":
        mono = sung_vowels(notes, rng, seconds)
    else:
        mono = synth.render(notes, program, fam.style == "drums", seconds)
    return mono * np.float32(10 ** ((level_db - rms_db(mono)) / 20))


# ----------------------------------------------------------------------------------------------
# pools
# ----------------------------------------------------------------------------------------------
@dataclass
class PoolSpec:
    split: str
    clips_per_family: int
    seconds: float
    seed: int
    soundfonts: List[Path]
    voices: List[str]
    langs: List[str]
    effects_p: float = 0.75
    families: List[str] = field(default_factory=lambda: list(FAMILY_NAMES))


SPLITS = {
    "train": dict(seed=1000, soundfonts=TRAIN_SOUNDFONTS, voices=TRAIN_VOICES, langs=TRAIN_LANGS),
    "valid": dict(seed=2000, soundfonts=TRAIN_SOUNDFONTS, voices=TRAIN_VOICES, langs=TRAIN_LANGS),
    "test": dict(seed=3000, soundfonts=TEST_SOUNDFONTS[:1], voices=TEST_VOICES, langs=TEST_LANGS),
}


def available_soundfonts(paths: Sequence[Path]) -> List[Path]:
    found = [Path(p) for p in paths if Path(p).exists()]
    if not found:
        raise FileNotFoundError(
            "no General MIDI soundfont found (looked for "
            + ", ".join(str(p) for p in paths)
            + "). Install them with scripts/setup.sh --train (apt-get install fluid-soundfont-gm timgm6mb-soundfont "
            "csound-soundfont fluidr3mono-gm-soundfont musescore-general-soundfont-small)"
        )
    return found


def render_stem(fam: Family, rng: np.random.Generator, renderers: Dict[Path, "SoundfontRenderer"], spec: PoolSpec) -> np.ndarray:
    """One stem (mono float32 at SR, ``spec.seconds`` long), peak-safe, not yet loudness-normalised."""
    seconds = spec.seconds
    if fam.style == "voice":
        kind = rng.choice(["speech", "sung", "choir"], p=[0.45, 0.35, 0.2])
        if kind == "speech":
            x = espeak_speech(rng, spec.voices, spec.langs, seconds)
        elif kind == "sung":
            x = sung_vowels(gen_notes(fam, rng, seconds), rng, seconds)
        else:
            sf = spec.soundfonts[int(rng.integers(len(spec.soundfonts)))]
            program = int(rng.choice(fam.programs))
            x = renderers[sf].render(gen_notes(fam, rng, seconds, program), program, False, seconds)
    else:
        sf = spec.soundfonts[int(rng.integers(len(spec.soundfonts)))]
        program = int(rng.choice(fam.programs))
        x = renderers[sf].render(gen_notes(fam, rng, seconds, program), program, fam.style == "drums", seconds)
    if rng.random() < spec.effects_p:
        x = apply_effects(x, random_effects(fam, rng))
    peak = float(np.abs(x).max())
    if peak > 0.99:
        x = x * (0.99 / peak)
    return x.astype(np.float32)


def _render_family_chunk(args) -> Tuple[str, int, np.ndarray, float]:
    fam_name, spec, start, count = args
    fam = FAMILIES[fam_name]
    renderers = {sf: SoundfontRenderer(sf) for sf in spec.soundfonts}
    n = int(spec.seconds * SR)
    out = np.zeros((count, n), np.int16)
    t0 = time.time()
    for i in range(count):
        rng = np.random.default_rng([spec.seed, FAMILY_NAMES.index(fam_name), start + i])
        for attempt in range(5):
            x = render_stem(fam, rng, renderers, spec)
            if rms_db(x) > -60:
                break
        peak = max(float(np.abs(x).max()), 1e-9)
        x = x / peak * 0.9  # store at a fixed peak; loudness is randomised at mix time
        out[i] = np.round(x * 32767).astype(np.int16)
    return fam_name, start, out, time.time() - t0


def build_pool(root: Path, spec: PoolSpec, workers: int = 2, progress=None) -> Dict:
    """Render ``spec`` into ``root/spec.split`` (skips families already complete). Returns the index."""
    from concurrent.futures import ProcessPoolExecutor

    spec.soundfonts = available_soundfonts(spec.soundfonts)
    out_dir = Path(root) / spec.split
    out_dir.mkdir(parents=True, exist_ok=True)
    index_path = out_dir / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    todo = [f for f in spec.families if index.get(f, {}).get("clips") != spec.clips_per_family
            or index.get(f, {}).get("seconds") != spec.seconds]
    chunk = max(1, spec.clips_per_family // max(1, workers * 2))
    jobs = [(f, spec, s, min(chunk, spec.clips_per_family - s)) for f in todo for s in range(0, spec.clips_per_family, chunk)]
    arrays = {f: np.zeros((spec.clips_per_family, int(spec.seconds * SR)), np.int16) for f in todo}
    done = {f: 0 for f in todo}
    t0 = time.time()
    rendered_s = 0.0
    import multiprocessing as mp

    # spawn, not fork: a parent that already holds a FluidSynth synth (or torch's thread pool) can
    # deadlock forked children
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as ex:
        for fam_name, start, arr, secs in ex.map(_render_family_chunk, jobs):
            arrays[fam_name][start : start + len(arr)] = arr
            done[fam_name] += len(arr)
            rendered_s += len(arr) * spec.seconds
            if progress:
                progress(fam_name, done[fam_name], spec.clips_per_family)
            if done[fam_name] == spec.clips_per_family:
                np.save(out_dir / f"{slug(fam_name)}.npy", arrays.pop(fam_name))
                index[fam_name] = {"file": f"{slug(fam_name)}.npy", "clips": spec.clips_per_family,
                                   "seconds": spec.seconds, "seed": spec.seed,
                                   "soundfonts": [p.name for p in spec.soundfonts]}
                index_path.write_text(json.dumps(index, indent=1))
    wall = time.time() - t0
    if rendered_s:
        log.info("pool %s: %.0f s of stems in %.1f s wall (%.0fx real time, %d workers)", spec.split, rendered_s, wall,
                 rendered_s / max(wall, 1e-9), workers)
    index["_throughput"] = {"audio_seconds": rendered_s, "wall_seconds": wall, "workers": workers}
    index_path.write_text(json.dumps(index, indent=1))
    return index


def slug(name: str) -> str:
    return name.replace(" ", "_")


def load_pool(root: Path, split: str) -> Dict[str, np.ndarray]:
    out_dir = Path(root) / split
    index = json.loads((out_dir / "index.json").read_text())
    return {f: np.load(out_dir / meta["file"], mmap_mode="r") for f, meta in index.items() if not f.startswith("_")}

