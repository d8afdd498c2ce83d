"""Random but musical note material: songs (key, tempo, progression) and one part per family style."""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

from .taxonomy import PROGRAM_REGISTER, Family

MAJOR = [0, 2, 4, 5, 7, 9, 11]
MINOR = [0, 2, 3, 5, 7, 8, 10]
DORIAN = [0, 2, 3, 5, 7, 9, 10]
MIXO = [0, 2, 4, 5, 7, 9, 10]
PENTA = [0, 3, 5, 7, 10]

Note = Tuple[float, float, int, int]  # start s, duration s, key, velocity


@dataclass
class Song:
    """Shared harmonic context for one stem: key, scale, tempo, progression."""

    tonic: int
    scale: List[int]
    bpm: float
    progression: List[int]  # scale degrees of chord roots, one per bar
    beats_per_bar: int = 4

    @property
    def beat(self) -> float:
        return 60.0 / self.bpm

    @property
    def bar(self) -> float:
        return self.beat * self.beats_per_bar


def random_song(rng: np.random.Generator) -> Song:
    scale = [MAJOR, MINOR, DORIAN, MIXO][rng.integers(4)]
    prog_bank = [[0, 4, 5, 3], [0, 5, 3, 4], [0, 3, 4, 0], [5, 3, 0, 4], [0, 6, 5, 4], [1, 4, 0, 0], [0, 0, 3, 4]]
    prog = list(prog_bank[rng.integers(len(prog_bank))])
    return Song(tonic=int(rng.integers(0, 12)), scale=scale, bpm=float(rng.uniform(70, 165)), progression=prog,
                beats_per_bar=int(rng.choice([4, 4, 4, 3])))


def scale_key(song: Song, degree: int, octave_base: int) -> int:
    n = len(song.scale)
    return octave_base + song.tonic + song.scale[degree % n] + 12 * (degree // n)


def chord_keys(song: Song, root_degree: int, lo: int, size: int, rng) -> List[int]:
    base = lo + ((song.tonic - lo) % 12)
    degs = [root_degree, root_degree + 2, root_degree + 4] + ([root_degree + 6] if size > 3 else [])
    keys = [scale_key(song, d, base - song.tonic) for d in degs]
    inv = int(rng.integers(0, 3))
    for i in range(inv):
        keys[i] += 12
    return sorted(keys)


def _clip_reg(k: int, reg: Tuple[int, int]) -> int:
    while k < reg[0]:
        k += 12
    while k > reg[1]:
        k -= 12
    return k


def gen_chords(song: Song, fam: Family, rng, seconds: float, style: str) -> List[Note]:
    notes: List[Note] = []
    lo = int(rng.integers(fam.register[0], max(fam.register[0] + 1, fam.register[1] - 24)))
    t, bar_i = 0.0, 0
    mode = style
    if style == "chords":
        mode = rng.choice(["block", "arp", "comp", "block_melody"])
    elif style == "strum":
        mode = rng.choice(["strum", "arp", "strum"])
    elif style == "organ":
        mode = rng.choice(["sustain", "comp", "block"])
    elif style in ("pad", "strings_pad"):
        mode = "sustain"
    size = int(rng.choice([3, 4]))
    sub = rng.choice([1, 2, 4])  # chord hits per beat for comp/strum
    legato = rng.uniform(0.5, 1.0)
    vel0 = int(rng.integers(55, 115))
    while t < seconds:
        deg = song.progression[bar_i % len(song.progression)]
        keys = chord_keys(song, deg, lo, size, rng)
        if mode in ("block", "sustain", "block_melody"):
            spacing = int(rng.choice([1, 2, 4])) if mode == "block" else 2
            hits = [0.0] if mode == "sustain" else list(np.arange(0, song.beats_per_bar, spacing))
            dur = song.bar if mode == "sustain" else song.beat * spacing * legato
            for h in hits:
                for k in keys:
                    notes.append((t + h * song.beat, dur * (0.98 if mode == "sustain" else 1.0), k, _vel(rng, vel0)))
            if mode == "block_melody":
                for b in range(song.beats_per_bar * 2):
                    if rng.random() < 0.7:
                        k = _clip_reg(scale_key(song, int(rng.integers(0, 10)), lo + 12 - song.tonic), (lo + 10, fam.register[1]))
                        notes.append((t + b * song.beat / 2, song.beat / 2 * legato, k, _vel(rng, vel0)))
        elif mode == "arp":
            step = song.beat / float(rng.choice([2, 3, 4]))
            pattern = keys + [k + 12 for k in keys[:1]]
            if rng.random() < 0.5:
                pattern = pattern + pattern[-2:0:-1]
            i = 0
            tt = 0.0
            while tt < song.bar - 1e-6:
                notes.append((t + tt, step * rng.uniform(1.0, 2.5), pattern[i % len(pattern)], _vel(rng, vel0)))
                tt += step
                i += 1
        elif mode in ("comp", "strum"):
            step = song.beat / sub
            tt = 0.0
            while tt < song.bar - 1e-6:
                if rng.random() < (0.85 if mode == "strum" else 0.55):
                    down = rng.random() < 0.6
                    order = keys if down else keys[::-1]
                    spread = rng.uniform(0.008, 0.03) if mode == "strum" else 0.0
                    for j, k in enumerate(order):
                        notes.append((t + tt + j * spread, step * rng.uniform(0.5, 1.8), k, _vel(rng, vel0 - (0 if down else 12))))
                tt += step
        t += song.bar
        bar_i += 1
    return notes


def _vel(rng, v0: int) -> int:
    return int(np.clip(v0 + rng.normal(0, 9), 25, 127))


def gen_melody(song: Song, fam: Family, rng, seconds: float, style: str) -> List[Note]:
    notes: List[Note] = []
    lo, hi = fam.register
    center = int(rng.integers(lo + 5, max(lo + 6, hi - 5)))
    base = center - 12
    deg = int(rng.integers(7, 14))
    t = 0.0
    vel0 = int(rng.integers(60, 118))
    if style == "lead":
        durs, probs = [0.25, 0.5, 1.0, 0.75], [0.45, 0.3, 0.15, 0.1]
    elif style in ("strings", "melody") and fam.name in ("cello",):
        durs, probs = [0.5, 1.0, 2.0, 1.5], [0.3, 0.35, 0.25, 0.1]
    else:
        durs, probs = [0.25, 0.5, 1.0, 1.5, 2.0], [0.2, 0.35, 0.25, 0.1, 0.1]
    legato = rng.uniform(0.55, 1.0)
    rest_p = rng.uniform(0.05, 0.25)
    while t < seconds:
        d = float(rng.choice(durs, p=probs)) * song.beat
        if rng.random() < rest_p:
            t += d
            continue
        deg += int(rng.choice([-3, -2, -1, -1, 0, 1, 1, 2, 3, 4, -4]))
        key = _clip_reg(scale_key(song, deg, base - song.tonic), (lo, hi))
        notes.append((t, d * legato, key, _vel(rng, vel0)))
        if fam.name == "strings" and rng.random() < 0.3:  # double stops
            notes.append((t, d * legato, _clip_reg(key - int(rng.choice([3, 4, 7])), (lo, hi)), _vel(rng, vel0 - 10)))
        t += d
    return notes


def gen_bass(song: Song, fam: Family, rng, seconds: float) -> List[Note]:
    notes: List[Note] = []
    base = 24 + ((song.tonic - 24) % 12) + int(rng.choice([0, 12]))
    t, bar_i = 0.0, 0
    pattern = rng.choice(["quarters", "eighths", "syncop", "octaves", "walking", "long"])
    legato = rng.uniform(0.4, 0.95)
    vel0 = int(rng.integers(70, 120))
    while t < seconds:
        deg = song.progression[bar_i % len(song.progression)]
        root = _clip_reg(scale_key(song, deg, base - song.tonic), fam.register)
        b = song.beat
        if pattern == "quarters":
            hits = [(i * b, b, root) for i in range(song.beats_per_bar)]
        elif pattern == "eighths":
            hits = [(i * b / 2, b / 2, root) for i in range(song.beats_per_bar * 2)]
        elif pattern == "octaves":
            hits = [(i * b / 2, b / 2, root + (12 if i % 2 else 0)) for i in range(song.beats_per_bar * 2)]
        elif pattern == "syncop":
            hits = [(0, 0.75 * b, root), (0.75 * b, 0.75 * b, root), (1.5 * b, 0.5 * b, root + 7), (2.5 * b, b, root)]
        elif pattern == "walking":
            hits = [(i * b, b, _clip_reg(scale_key(song, deg + i, base - song.tonic), fam.register)) for i in range(song.beats_per_bar)]
        else:
            hits = [(0, song.bar, root)]
        for st, d, k in hits:
            if st < song.bar and rng.random() > 0.08:
                notes.append((t + st, d * legato, int(k), _vel(rng, vel0)))
        t += song.bar
        bar_i += 1
    return notes


KICK, SNARE, CHH, OHH, PHH, RIDE, CRASH, CLAP, RIM = 36, 38, 42, 46, 44, 51, 49, 39, 37
TOMS = [41, 43, 45, 47, 48, 50]


def gen_drums(song: Song, fam: Family, rng, seconds: float) -> List[Note]:
    notes: List[Note] = []
    steps = song.beats_per_bar * 4
    step = song.beat / 4
    kick_patterns = [[0, 8], [0, 6, 8], [0, 7, 10], [0, 3, 8, 11], [0, 4, 8, 12], [0, 10]]
    kp = kick_patterns[rng.integers(len(kick_patterns))]
    snare = [4, 12] if steps == 16 else [4, 8]
    if rng.random() < 0.2:
        snare = [8]
    hat_div = int(rng.choice([2, 2, 1, 4]))  # every 2 steps = 8ths
    hat = RIDE if rng.random() < 0.2 else CHH
    snare_key = CLAP if rng.random() < 0.15 else (RIM if rng.random() < 0.1 else SNARE)
    vel0 = int(rng.integers(70, 120))
    t, bar_i = 0.0, 0
    while t < seconds:
        fill = bar_i % 4 == 3 and rng.random() < 0.5
        for s in range(steps):
            st = t + s * step + rng.normal(0, 0.004)
            if fill and s >= steps // 2:
                if rng.random() < 0.6:
                    notes.append((st, step, int(rng.choice(TOMS + [SNARE])), _vel(rng, vel0)))
                continue
            if s in kp or (rng.random() < 0.06 and s % 2 == 0):
                notes.append((st, step, KICK, _vel(rng, vel0 + 5)))
            if s in snare:
                notes.append((st, step, snare_key, _vel(rng, vel0)))
            elif rng.random() < 0.04:
                notes.append((st, step, SNARE, _vel(rng, vel0 - 40)))  # ghost notes
            if s % hat_div == 0:
                k = OHH if (rng.random() < 0.08) else hat
                notes.append((st, step, k, _vel(rng, vel0 - (0 if s % 4 == 0 else 20))))
        if bar_i % 4 == 0 and rng.random() < 0.4:
            notes.append((t, song.bar, CRASH, _vel(rng, vel0)))
        t += song.bar
        bar_i += 1
    return [n for n in notes if n[0] >= 0]


def gen_notes(fam: Family, rng, seconds: float, program: Optional[int] = None, song: Optional[Song] = None) -> List[Note]:
    """Notes for one stem; pass ``song`` to share key, tempo and progression with other stems."""
    if program is not None and program in PROGRAM_REGISTER and fam.style != "drums":
        fam = Family(fam.name, fam.programs, fam.style, PROGRAM_REGISTER[program], fam.phrases, fam.heldout_phrases)
    song = song or random_song(rng)
    st = fam.style
    if st in ("chords", "strum", "organ", "pad"):
        return gen_chords(song, fam, rng, seconds, st)
    if st == "riff":
        return gen_chords(song, fam, rng, seconds, "strum") if rng.random() < 0.5 else gen_melody(song, fam, rng, seconds, "lead")
    if st == "strings":
        return gen_chords(song, fam, rng, seconds, "strings_pad") if rng.random() < 0.35 else gen_melody(song, fam, rng, seconds, st)
    if st == "bass":
        return gen_bass(song, fam, rng, seconds)
    if st == "drums":
        return gen_drums(song, fam, rng, seconds)
    if st in ("melody", "lead", "voice"):
        return gen_melody(song, fam, rng, seconds, st)
    raise ValueError(st)

