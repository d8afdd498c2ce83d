"""Training stems with many timbres: each family is drawn from soundfonts, recorded samples and voices.

``render_mixed_stem`` picks, per stem, one kind of source for the family (``RECIPE``): a General MIDI
program in one of the training soundfonts (``SOUNDFONTS``; avldrums' two recorded kits for drums), a
recorded one-shot, loop or kit (``samples``), or, for voice, festival or espeak-ng speech, the same
speech sung on a melody (``voices.sing``), sung vowels or choir patches. ``build_mixed_pool`` renders
clips of every family plus "other" into the same pool format as ``pools.build_pool``.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

from .effects import apply_effects, random_effects, rms_db
from .pools import SF2, SF3, TRAIN_LANGS, TRAIN_VOICES, slug
from .samples import sample_instruments
from .scores import gen_notes, random_song
from .sources import require_trainable
from .synth import SR, SoundfontRenderer, espeak_speech, sung_vowels
from .taxonomy import FAMILIES, FAMILY_NAMES, OTHER, Family
from .voices import festival_speech, fit_length, sing

log = logging.getLogger(__name__)

SOUNDFONTS = [SF2 / "FluidR3_GM.sf2", SF2 / "TimGM6mb.sf2", SF2 / "sf_GMbank.sf2", SF3 / "FluidR3Mono_GM.sf3",
              SF3 / "MuseScore_General.sf3", SF3 / "MuseScore_General_Lite.sf3"]
DRUM_KITS = [SF2 / "Black_Pearl_4_LV2.sf2", SF2 / "Red_Zeppelin_4_LV2.sf2"]  # avldrums: bank 0, preset 0
ALL_FAMILIES = FAMILY_NAMES + ["other"]
# share of stems per source kind (the rest: soundfonts)
SAMPLE_SHARE = {"drums": 0.45, "other": 0.3}
DEFAULT_SAMPLE_SHARE = 0.3
VOICE_KINDS = (("festival_sung", 0.3), ("festival", 0.15), ("espeak_sung", 0.15), ("espeak", 0.1),
               ("vowels", 0.1), ("choir", 0.1), ("sampled_choir", 0.1))


def family(name: str) -> Family:
    return OTHER if name == "other" else FAMILIES[name]


class Renderers:
    """FluidSynth instances per soundfont, made on first use (one process holds its own)."""

    def __init__(self):
        self._synths: Dict[Path, SoundfontRenderer] = {}

    def get(self, path: Path) -> SoundfontRenderer:
        if path not in self._synths:
            require_trainable(path)
            self._synths[path] = SoundfontRenderer(path)
        return self._synths[path]


def _soundfont_stem(fam: Family, rng, synths: Renderers, seconds: float, song) -> Tuple[np.ndarray, str]:
    program = int(rng.choice(fam.programs))
    drums = fam.style == "drums"
    kits = [k for k in DRUM_KITS if k.exists()]
    if drums and kits and rng.random() < 0.4:
        kit = kits[int(rng.integers(len(kits)))]
        notes = gen_notes(fam, rng, seconds, song=song)
        synth = synths.get(kit)
        return synth.render(notes, 0, False, seconds), kit.name
    fonts = [f for f in SOUNDFONTS if f.exists()]
    font = fonts[int(rng.integers(len(fonts)))]
    notes = gen_notes(fam, rng, seconds, program=program, song=song)
    return synths.get(font).render(notes, program, drums, seconds), f"{font.name}:{program}"


def _voice_stem(fam: Family, rng, synths: Renderers, seconds: float, song) -> Tuple[np.ndarray, str]:
    kinds, weights = zip(*VOICE_KINDS)
    kind = str(rng.choice(kinds, p=np.array(weights) / sum(weights)))
    n = int(seconds * SR)
    if kind in ("festival", "festival_sung"):
        speech = festival_speech(rng, seconds * (0.6 if kind.endswith("sung") else 1.0))
    elif kind in ("espeak", "espeak_sung"):
        speech = espeak_speech(rng, TRAIN_VOICES, TRAIN_LANGS, seconds * (0.6 if kind.endswith("sung") else 1.0))
        speech = speech[np.flatnonzero(np.abs(speech) > 1e-4).min():] if np.any(np.abs(speech) > 1e-4) else speech
    if kind in ("festival", "espeak"):
        return fit_length(speech, n, rng), kind
    if kind.endswith("_sung"):
        notes = gen_notes(fam, rng, seconds, song=song)
        return fit_length(sing(speech, notes, rng), n, rng), kind
    if kind == "vowels":
        return sung_vowels(gen_notes(fam, rng, seconds, song=song), rng, seconds), kind
    if kind == "sampled_choir" and "voice" in sample_instruments():
        src = sample_instruments()["voice"]
        inst = src[int(rng.integers(len(src)))]
        return inst.render(gen_notes(fam, rng, seconds, song=song), seconds, rng), kind
    return _soundfont_stem(fam, rng, synths, seconds, song)[0], "choir"


def render_mixed_stem(name: str, rng: np.random.Generator, synths: Renderers, seconds: float,
                      effects_p: float = 0.6) -> Tuple[np.ndarray, str]:
    """One stem of family ``name`` (or "other"), mono float32 at SR, and a label of its source."""
    fam = family(name)
    song = random_song(rng)
    samples = sample_instruments().get(name, [])
    if fam.style == "voice":
        x, label = _voice_stem(fam, rng, synths, seconds, song)
    elif samples and rng.random() < SAMPLE_SHARE.get(name, DEFAULT_SAMPLE_SHARE):
        inst = samples[int(rng.integers(len(samples)))]
        style_fam = FAMILIES.get(name, fam)
        x = inst.render(gen_notes(style_fam, rng, seconds, song=song), seconds, rng)
        label = getattr(inst, "name", None) or Path(inst.path).name
    else:
        x, label = _soundfont_stem(fam, rng, synths, seconds, song)
    if rng.random() < effects_p:
        x = apply_effects(x, random_effects(fam, rng))
    peak = float(np.abs(x).max()) if len(x) else 0.0
    if peak > 0.99:
        x = x * (0.99 / peak)
    return x.astype(np.float32), label


_SYNTHS = None  # one set of FluidSynth instances per worker process: loading MuseScore General takes seconds


def _render_chunk(args) -> Tuple[str, int, np.ndarray, List[str]]:
    global _SYNTHS
    name, seed, start, count, seconds = args
    if _SYNTHS is None:
        _SYNTHS = Renderers()
    synths = _SYNTHS
    n = int(seconds * SR)
    out = np.zeros((count, n), np.int16)
    labels = []
    for i in range(count):
        rng = np.random.default_rng([seed, ALL_FAMILIES.index(name), start + i])
        for _attempt in range(6):
            x, label = render_mixed_stem(name, rng, synths, seconds)
            if rms_db(x) > -55:
                break
        peak = max(float(np.abs(x).max()), 1e-9)
        out[i] = np.round(x / peak * 0.9 * 32767).astype(np.int16)
        labels.append(label)
    return name, start, out, labels


def build_mixed_pool(root: Path, split: str, clips: int, seconds: float, seed: int, workers: int = 2,
                     families=None, progress=None) -> Dict:
    """Render ``clips`` clips per family into ``root/split`` (families already complete are kept)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    families = list(families or ALL_FAMILIES)
    out_dir = Path(root) / split
    out_dir.mkdir(parents=True, exist_ok=True)
    index_path = out_dir / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    todo = [f for f in families if index.get(f, {}).get("clips") != clips or index.get(f, {}).get("seconds") != seconds]
    chunk = max(1, min(16, clips // max(1, workers * 2)))
    jobs = [(f, seed, s, min(chunk, clips - s), seconds) for f in todo for s in range(0, clips, chunk)]
    arrays = {f: np.zeros((clips, int(seconds * SR)), np.int16) for f in todo}
    labels: Dict[str, List[str]] = {f: [""] * clips for f in todo}
    done = {f: 0 for f in todo}
    t0 = time.time()
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as ex:
        for name, start, arr, labs in ex.map(_render_chunk, jobs):
            arrays[name][start:start + len(arr)] = arr
            labels[name][start:start + len(arr)] = labs
            done[name] += len(arr)
            if progress:
                progress(name, done[name], clips)
            if done[name] == clips:
                np.save(out_dir / f"{slug(name)}.npy", arrays.pop(name))
                kinds: Dict[str, int] = {}
                for lab in labels[name]:
                    key = lab.split(":")[0]
                    kinds[key] = kinds.get(key, 0) + 1
                index[name] = {"file": f"{slug(name)}.npy", "clips": clips, "seconds": seconds, "seed": seed,
                               "recipe": "mixed", "sources": kinds}
                index_path.write_text(json.dumps(index, indent=1))
    log.info("pool %s: %d families in %.0f s", split, len(todo), time.time() - t0)
    return index


def main(argv=None) -> int:
    """``python -m export.data.stems --out runs/pool2``: the training and validation pools."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m export.data.stems", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="runs/pool2")
    p.add_argument("--clips", type=int, default=400, help="training clips per family")
    p.add_argument("--valid-clips", type=int, default=48)
    p.add_argument("--seconds", type=float, default=6.0)
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    build_mixed_pool(Path(a.out), "valid", a.valid_clips, a.seconds, seed=2000, workers=a.workers)
    build_mixed_pool(Path(a.out), "train", a.clips, a.seconds, seed=1000, workers=a.workers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
