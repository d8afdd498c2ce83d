"""Synthetic, offline, seed-reproducible training and evaluation data for the embedded default model.

Stems are rendered from random but musical material (``scores``) through General MIDI soundfonts,
recorded one-shot samples and voices (``synth``, ``samples``, ``voices``), optionally through a random
effect chain (``effects``), into pools of clips per family (``pools``); ``mixing`` draws mixtures
from a pool. ``sources`` says which recordings may be used for training and which are reserved for
independent evaluation.
"""
from __future__ import annotations

from .effects import apply_effects, random_effects, rms_db
from .mixing import Example, MixSampler
from .pools import (SPLITS, TEST_LANGS, TEST_SOUNDFONTS, TEST_VOICES, TRAIN_LANGS, TRAIN_SOUNDFONTS, TRAIN_VOICES,
                    PoolSpec, available_soundfonts, build_pool, load_pool, render_part, render_stem, slug)
from .scores import MAJOR, MINOR, Note, Song, gen_notes, random_song
from .synth import SR, SoundfontRenderer, espeak_speech, sung_vowels
from .taxonomy import FAMILIES, FAMILY_NAMES, NEIGHBOURS, PROGRAM_REGISTER, Family

__all__ = [
    "SR", "FAMILIES", "FAMILY_NAMES", "NEIGHBOURS", "PROGRAM_REGISTER", "Family", "MAJOR", "MINOR", "Note", "Song",
    "gen_notes", "random_song", "SoundfontRenderer", "espeak_speech", "sung_vowels", "apply_effects",
    "random_effects", "rms_db", "PoolSpec", "SPLITS", "TRAIN_SOUNDFONTS", "TEST_SOUNDFONTS", "TRAIN_VOICES",
    "TEST_VOICES", "TRAIN_LANGS", "TEST_LANGS", "available_soundfonts", "build_pool", "load_pool", "render_part",
    "render_stem", "slug", "Example", "MixSampler",
]
