"""Synthetic, offline, seed-reproducible training data for the embedded default model.

Stems are rendered from random but musical material (progressions, voicings, arpeggios, strums,
melodies from scales, bass lines on the chord roots, drum grooves with fills; varied tempo, velocity,
register and articulation) through FluidSynth with General MIDI soundfonts from Debian, plus voices:
espeak-ng speech, a small source-filter singer (sung vowels with vibrato) and GM choir patches.
Each stem may go through a random pedalboard chain (EQ, compression, distortion, chorus, reverb) so
the model meets produced sound, not only dry General MIDI.

Pools are rendered in parallel into ``<dir>/<split>/<family>.npy`` (int16, [clips, samples]) with a
JSON index. Training mixes 2-5 stems from a pool on the fly (``MixSampler``); a fraction of examples
query a family absent from the mix, whose target is silence.

Splits: ``train`` and ``valid`` use the training soundfonts and espeak voices with different seeds;
``test`` uses a soundfont and voices never seen in training, so evaluation measures generalisation.
"""
from __future__ import annotations

import json
import logging
import math
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

log = logging.getLogger(__name__)

SR = 32000
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


@dataclass(frozen=True)
class Family:
    name: str
    programs: Tuple[int, ...]  # GM programs (0-based); drums: kit presets on bank 128
    style: str  # chords | melody | bass | drums | pad | voice
    register: Tuple[int, int]
    phrases: Tuple[str, ...]  # training phrasings
    heldout_phrases: Tuple[str, ...]  # used only in evaluation


FAMILIES: Dict[str, Family] = {f.name: f for f in [
    Family("piano", (0, 1, 2, 3, 4, 5), "chords", (36, 96),
           ("piano", "grand piano", "the piano", "keys", "electric piano", "piano chords"),
           ("a pianist playing", "upright piano")),
    Family("acoustic guitar", (24, 25), "strum", (40, 84),
           ("acoustic guitar", "guitar", "nylon guitar", "steel string guitar", "strummed acoustic guitar"),
           ("a folk guitar", "fingerpicked guitar")),
    Family("electric guitar", (26, 27, 28, 29, 30), "riff", (40, 84),
           ("electric guitar", "distorted guitar", "clean electric guitar", "overdriven guitar", "rock guitar"),
           ("a crunchy guitar riff", "lead guitar")),
    Family("bass", (32, 33, 34, 35, 36, 37, 38, 39), "bass", (28, 55),
           ("bass", "bass guitar", "electric bass", "the bassline", "slap bass", "synth bass"),
           ("a funky slap bass", "low end bass line")),
    Family("drums", (0, 8, 16, 24, 25, 32, 40), "drums", (35, 81),
           ("drums", "drum kit", "percussion", "the drums", "drum beat", "kick and snare"),
           ("a drummer playing a groove", "beat")),
    Family("strings", (40, 41, 44, 45, 48, 49, 110), "strings", (55, 96),
           ("violin", "strings", "string section", "violins", "fiddle", "viola"),
           ("the violins", "orchestral strings")),
    Family("cello", (42, 43), "melody", (36, 67),
           ("cello", "a cello", "cello melody", "bowed cello", "violoncello"),
           ("deep bowed strings", "the cellist")),
    Family("brass", (56, 57, 58, 59, 60, 61, 62), "melody", (48, 82),
           ("trumpet", "brass", "horns", "trombone", "brass section", "french horn"),
           ("a jazz trumpet", "the horn section")),
    Family("saxophone", (64, 65, 66, 67), "melody", (46, 80),
           ("saxophone", "sax", "alto sax", "tenor saxophone", "jazz saxophone"),
           ("a smooth sax solo", "baritone sax")),
    Family("woodwinds", (73, 72, 74, 75, 68, 71, 70), "melody", (58, 96),
           ("flute", "woodwinds", "clarinet", "oboe", "piccolo", "recorder"),
           ("a breathy flute", "the clarinet")),
    Family("organ", (16, 17, 18, 19, 20), "organ", (36, 84),
           ("organ", "hammond organ", "church organ", "rock organ", "electric organ"),
           ("a pipe organ", "b3 organ")),
    Family("synth pad", (88, 89, 90, 91, 92, 93, 94, 95), "pad", (48, 84),
           ("synth pad", "pad", "ambient pad", "warm synth pad", "synthesizer chords"),
           ("a lush pad", "atmospheric synth")),
    Family("synth lead", (80, 81, 82, 83, 84, 85, 86, 87), "lead", (55, 91),
           ("synth lead", "lead synth", "square lead", "sawtooth lead", "synthesizer melody"),
           ("a chiptune lead", "an analog synth solo")),
    Family("voice", (52, 53, 54), "voice", (48, 76),
           ("voice", "vocals", "singing", "speech", "a person talking", "singer"),
           ("a man speaking", "a woman singing")),
]}
FAMILY_NAMES = list(FAMILIES)

# Families a listener (and the model) confuses: same register and envelope, or the same section.
# A "hard" absent query names a neighbour of an instrument that IS in the mix, e.g. "saxophone" over
# brass; uniform absent queries are mostly easy ("drums" over strings) and left the model answering
# a neighbour's query with the neighbour at -8..-12 dB. A "partner" mix (MixSampler pair_p) puts a
# neighbour of the queried family in the mix. Bass and drums share the low end: the step-44913 model's
# "bass guitar" keeps the drums below 150 Hz (the kick) at 0.43-1.0 of their level on six songs.
NEIGHBOURS: Dict[str, Tuple[str, ...]] = {
    "piano": ("organ", "synth pad", "acoustic guitar", "electric guitar"),
    "acoustic guitar": ("electric guitar", "piano"),
    "electric guitar": ("acoustic guitar", "synth lead", "organ"),
    "bass": ("cello", "drums"),
    "drums": ("bass",),
    "strings": ("cello", "synth pad", "organ"),
    "cello": ("strings", "bass"),
    "brass": ("saxophone", "woodwinds", "synth lead"),
    "saxophone": ("brass", "woodwinds", "voice"),
    "woodwinds": ("saxophone", "brass", "synth lead"),
    "organ": ("piano", "synth pad", "strings"),
    "synth pad": ("strings", "organ", "piano"),
    "synth lead": ("woodwinds", "brass", "electric guitar", "voice"),
    "voice": ("saxophone", "synth lead"),
}

# Playable ranges of GM programs whose family register would leave them silent or out of character.
PROGRAM_REGISTER = {
    70: (34, 72), 71: (50, 91), 68: (58, 91), 72: (74, 102), 73: (60, 96), 74: (60, 96), 75: (55, 93),
    56: (54, 84), 57: (40, 72), 58: (28, 58), 59: (54, 82), 60: (41, 77), 61: (45, 81), 62: (40, 84),
    64: (56, 87), 65: (49, 81), 66: (44, 76), 67: (36, 69), 40: (55, 96), 41: (48, 84), 42: (36, 72),
    43: (28, 60), 44: (48, 90), 45: (43, 90), 48: (40, 90), 49: (40, 90), 110: (55, 90),
}

MAJOR = [0, 2, 4, 5, 7, 9, 11]
MINOR = [0, 2, 3, 5, 7, 8, 10]
DORIAN = [0, 2, 3, 5, 7, 9, 10]
MIXO = [0, 2, 4, 5, 7, 9, 10]
PENTA = [0, 3, 5, 7, 10]

Note = Tuple[float, float, int, int]  # start s, duration s, key, velocity


# ----------------------------------------------------------------------------------------------
# musical material
# ----------------------------------------------------------------------------------------------
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


# ----------------------------------------------------------------------------------------------
# rendering
# ----------------------------------------------------------------------------------------------
class SoundfontRenderer:
    """One FluidSynth instance with one soundfont loaded; renders note lists to mono float32."""

    def __init__(self, soundfont: Path, sr: int = SR):
        import fluidsynth

        self.sr = sr
        self.soundfont = Path(soundfont)
        # dry stems: effects are ours (random_effects); set at creation, when FluidSynth reads them
        self.synth = fluidsynth.Synth(gain=0.5, samplerate=float(sr),
                                      **{"synth.reverb.active": 0, "synth.chorus.active": 0})
        self.sfid = self.synth.sfload(str(soundfont))
        if self.sfid < 0:
            raise RuntimeError(f"FluidSynth could not load soundfont {soundfont}")

    def render(self, notes: Sequence[Note], program: int, drums: bool, seconds: float) -> np.ndarray:
        s = self.synth
        ch = 9 if drums else 0
        for c in (0, 9):  # silence what the previous stem left ringing, so each stem depends only on its notes
            s.all_sounds_off(c)
        s.system_reset()
        s.get_samples(512)
        # FluidSynth still keeps some state across stems (about -50 dB differences vs a fresh synth), so
        # pools are bit-reproducible for a seed and chunking: every pool chunk starts a fresh synth.
        total = int(round(seconds * self.sr))
        s.program_select(ch, self.sfid, 128 if drums else 0, program)
        events = []
        for st, d, k, v in notes:
            if st >= seconds:
                continue
            events.append((max(st, 0.0), 1, k, v))
            events.append((max(st, 0.0) + max(d, 0.02), 0, k, 0))
        events.sort(key=lambda e: (e[0], e[1]))
        out = []
        pos = 0
        for t, on, k, v in events:
            target = min(int(round(t * self.sr)), total)
            if target > pos:
                out.append(s.get_samples(target - pos))
                pos = target
            if on:
                s.noteon(ch, int(k), int(v))
            else:
                s.noteoff(ch, int(k))
        if pos < total:
            out.append(s.get_samples(total - pos))
        if not out:
            return np.zeros(total, np.float32)
        st = np.concatenate(out).astype(np.float32).reshape(-1, 2)
        return (st.mean(axis=1) / 32768.0)[:total].astype(np.float32)


def espeak_speech(rng, voices: Sequence[str], langs: Sequence[str], seconds: float, sr: int = SR) -> np.ndarray:
    words = ("the music plays on and on we sing a song tonight under city lights hold me close never let go "
             "dance with me into the morning sun rain falls down softly on the window my heart beats like a drum "
             "hello world this is a test of the voice channel one two three four listen to the sound of the band").split()
    text = " ".join(rng.choice(words, size=int(seconds * 3.5)))
    lang = str(rng.choice(langs))
    voice = f"{lang}+{rng.choice(voices)}"
    cmd = ["espeak-ng", "-v", voice, "-s", str(int(rng.integers(110, 210))), "-p", str(int(rng.integers(20, 80))),
           "-a", "150", "--stdout", text]
    try:
        wav = subprocess.run(cmd, capture_output=True, check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise RuntimeError(f"espeak-ng failed ({exc}); install it with apt-get install espeak-ng") from exc
    import io

    import soundfile as sf
    import soxr

    x, r = sf.read(io.BytesIO(wav), dtype="float32")
    if x.ndim > 1:
        x = x.mean(axis=1)
    x = soxr.resample(x, r, sr).astype(np.float32)
    n = int(seconds * sr)
    if len(x) < n:
        start = int(rng.integers(0, n - len(x) + 1))
        x = np.pad(x, (start, n - len(x) - start))
    else:
        off = int(rng.integers(0, len(x) - n + 1))
        x = x[off : off + n]
    return x


VOWELS = {  # F1, F2, F3, F4 (Hz) for an adult male; scaled for other voice types
    "a": (730, 1090, 2440, 3400), "e": (530, 1840, 2480, 3500), "i": (270, 2290, 3010, 3700),
    "o": (570, 840, 2410, 3400), "u": (300, 870, 2240, 3300), "ae": (660, 1720, 2410, 3400),
}


def sung_vowels(notes: Sequence[Note], rng, seconds: float, sr: int = SR) -> np.ndarray:
    """Source-filter singing: band-limited glottal source with vibrato through vowel formants."""
    from scipy.signal import lfilter

    n = int(seconds * sr)
    f0 = np.zeros(n, np.float64)
    amp = np.zeros(n, np.float64)
    vowel_at = np.zeros(n, np.int64)
    scale = float(rng.choice([1.0, 1.15, 1.25]))  # male / alto / soprano formant scaling
    shift = 0 if scale == 1.0 else 12
    vowels = list(VOWELS)
    for st, d, k, v in notes:
        a, b = int(st * sr), min(n, int((st + d) * sr))
        if b <= a:
            continue
        f0[a:b] = 440.0 * 2 ** ((k + shift - 69) / 12)
        env = np.ones(b - a)
        att, rel = min(len(env), int(0.04 * sr)), min(len(env), int(0.08 * sr))
        env[:att] = np.linspace(0, 1, att)
        env[len(env) - rel:] *= np.linspace(1, 0, rel)
        amp[a:b] = np.maximum(amp[a:b], env * (v / 127.0))
        vowel_at[a:b] = int(rng.integers(len(vowels)))
    voiced = f0 > 0
    if not voiced.any():
        return np.zeros(n, np.float32)
    # glide between notes and vibrato
    f0 = np.where(voiced, f0, np.nan)
    idx = np.arange(n)
    f0 = np.interp(idx, idx[voiced], f0[voiced])
    from scipy.ndimage import uniform_filter1d

    f0 = uniform_filter1d(f0, int(0.03 * sr))
    vib_rate, vib_depth = rng.uniform(4.5, 6.5), rng.uniform(0.004, 0.02)
    f0 = f0 * (1 + vib_depth * np.sin(2 * np.pi * vib_rate * idx / sr)) * (1 + 0.002 * rng.standard_normal(n).cumsum() / math.sqrt(n))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    kmax = int(0.45 * sr / f0.max())
    src = np.zeros(n)
    tilt = rng.uniform(1.0, 1.6)
    for h in range(1, kmax + 1):
        src += np.sin(h * phase) / h ** tilt
    src += 0.02 * rng.standard_normal(n)  # breath
    out = np.zeros(n)
    seg_edges = np.flatnonzero(np.diff(vowel_at)) + 1
    bounds = [0, *seg_edges.tolist(), n]
    for a, b in zip(bounds[:-1], bounds[1:]):
        formants = [f * scale for f in VOWELS[vowels[vowel_at[a]]]]
        y = src[a:b]
        acc = np.zeros_like(y)
        for i, fc in enumerate(formants):
            bw = 60 + 40 * i
            r = math.exp(-math.pi * bw / sr)
            th = 2 * math.pi * fc / sr
            acc += lfilter([1 - r], [1, -2 * r * math.cos(th), r * r], y) * (1.0 / (1 + i))
        out[a:b] = acc
    y = out * amp
    return (y / (np.abs(y).max() + 1e-9) * 0.5).astype(np.float32)


def random_effects(fam: Family, rng, sr: int = SR):
    """A random pedalboard chain for one stem (may be empty)."""
    import pedalboard as pb

    fx = []
    if rng.random() < 0.5:
        fx.append(pb.PeakFilter(cutoff_frequency_hz=float(np.exp(rng.uniform(np.log(150), np.log(6000)))),
                                gain_db=float(rng.uniform(-6, 6)), q=float(rng.uniform(0.5, 2.0))))
    if rng.random() < 0.3:
        fx.append(pb.HighShelfFilter(cutoff_frequency_hz=float(rng.uniform(3000, 9000)), gain_db=float(rng.uniform(-6, 4))))
    if rng.random() < 0.25:
        fx.append(pb.LowShelfFilter(cutoff_frequency_hz=float(rng.uniform(80, 300)), gain_db=float(rng.uniform(-6, 4))))
    dist_p = {"electric guitar": 0.35, "bass": 0.1, "synth lead": 0.2, "organ": 0.15}.get(fam.name, 0.0)
    if rng.random() < dist_p:
        fx.append(pb.Distortion(drive_db=float(rng.uniform(8, 28))))
    chorus_p = {"electric guitar": 0.2, "synth pad": 0.3, "piano": 0.1, "acoustic guitar": 0.1, "synth lead": 0.15}.get(fam.name, 0.03)
    if rng.random() < chorus_p:
        fx.append(pb.Chorus(rate_hz=float(rng.uniform(0.3, 2.0)), depth=float(rng.uniform(0.1, 0.4)), mix=float(rng.uniform(0.2, 0.5))))
    if rng.random() < 0.3:
        fx.append(pb.Compressor(threshold_db=float(rng.uniform(-30, -10)), ratio=float(rng.uniform(2, 8)),
                                attack_ms=float(rng.uniform(1, 30)), release_ms=float(rng.uniform(50, 300))))
    if rng.random() < 0.5:
        fx.append(pb.Reverb(room_size=float(rng.uniform(0.1, 0.9)), damping=float(rng.uniform(0.2, 0.8)),
                            wet_level=float(rng.uniform(0.05, 0.35)), dry_level=1.0, width=1.0))
    return fx


def apply_effects(x: np.ndarray, fx, sr: int = SR) -> np.ndarray:
    if not fx:
        return x
    import pedalboard as pb

    y = pb.Pedalboard(fx)(x[None, :].astype(np.float32), sr)[0]
    if not np.all(np.isfinite(y)):
        return x
    return y.astype(np.float32)


def rms_db(x: np.ndarray) -> float:
    return 10 * math.log10(float(np.mean(np.square(x, dtype=np.float64))) + 1e-12)


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
                np.save(out_dir / f"{_slug(fam_name)}.npy", arrays.pop(fam_name))
                index[fam_name] = {"file": f"{_slug(fam_name)}.npy", "clips": spec.clips_per_family,
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


def _slug(name: str) -> str:
    return name.replace(" ", "_")


def load_pool(root: Path, split: str) -> Dict[str, np.ndarray]:
    out_dir = Path(root) / split
    index = json.loads((out_dir / "index.json").read_text())
    return {f: np.load(out_dir / meta["file"], mmap_mode="r") for f, meta in index.items() if not f.startswith("_")}


# ----------------------------------------------------------------------------------------------
# mixing
# ----------------------------------------------------------------------------------------------
@dataclass
class Example:
    mixture: np.ndarray  # [N] float32
    target: np.ndarray  # [N] float32 (zeros for an absent query)
    family: str  # queried family
    present: List[str]  # families in the mix


class MixSampler:
    """Random mixtures of 2-5 stems with AudioSep-style loudness augmentation.

    Each stem gets a random loudness in ``loudness_db``; with probability ``absent_p`` the query is
    a family not in the mix and the target is silence. A share ``hard_p`` of those absent queries
    names a neighbour (``NEIGHBOURS``) of an instrument in the mix when one is free. A share ``pair_p``
    of the examples is a "partner" mix instead: the queried family plus one of its neighbours (and
    random others), e.g. "bass" with drums, so the model must tell the two apart where uniform mixes
    rarely ask it to.
    """

    def __init__(self, pool: Dict[str, np.ndarray], seconds: float, seed: int, min_stems: int = 2,
                 max_stems: int = 5, absent_p: float = 0.12, loudness_db=(-28.0, -12.0),
                 hard_p: float = 0.0, pair_p: float = 0.0):
        self.pool = pool
        self.families = [f for f in FAMILY_NAMES if f in pool]
        self.n = int(seconds * SR)
        self.rng = np.random.default_rng(seed)
        self.min_stems, self.max_stems = min_stems, max_stems
        self.absent_p = absent_p
        self.hard_p = hard_p
        self.pair_p = pair_p
        self.loudness_db = loudness_db
        self._paired = [f for f in self.families if any(n in self.families for n in NEIGHBOURS.get(f, ()))]

    def _crop(self, fam: str) -> np.ndarray:
        arr = self.pool[fam]
        for _ in range(4):
            clip = arr[int(self.rng.integers(len(arr)))]
            off = int(self.rng.integers(0, clip.shape[0] - self.n + 1))
            x = clip[off : off + self.n].astype(np.float32) / 32767.0
            if rms_db(x) > -55:
                break
        gain_db = self.rng.uniform(*self.loudness_db) - rms_db(x)
        return x * np.float32(10 ** (gain_db / 20))

    def _partner_mix(self, k: int) -> Example:
        fam = str(self.rng.choice(self._paired))
        partner = str(self.rng.choice([n for n in NEIGHBOURS[fam] if n in self.families]))
        rest = [f for f in self.families if f not in (fam, partner)]
        present = [fam, partner] + [str(f) for f in self.rng.choice(rest, size=min(max(k - 2, 0), len(rest)), replace=False)]
        stems, mix = self._mixdown(present)
        return Example(mix, stems[0], fam, present)

    def _mixdown(self, present) -> Tuple[List[np.ndarray], np.ndarray]:
        """Each family's stem at a random loudness, and their sum, all scaled so the mix peaks <= 0.95."""
        stems = [self._crop(f) for f in present]
        mix = np.sum(stems, axis=0)
        peak = float(np.abs(mix).max())
        scale = np.float32(0.95 / peak if peak > 0.95 else 1.0)
        return [(x * scale).astype(np.float32) for x in stems], (mix * scale).astype(np.float32)

    def sample(self) -> Example:
        k = int(self.rng.integers(self.min_stems, self.max_stems + 1))
        # no extra draw when partner mixes are off: older runs and validation keep their mixes
        if self.pair_p > 0 and self._paired and self.rng.random() < self.pair_p:
            return self._partner_mix(k)
        present = list(self.rng.choice(self.families, size=min(k, len(self.families)), replace=False))
        stems, mix = self._mixdown(present)
        if self.rng.random() < self.absent_p and len(present) < len(self.families):
            free = [f for f in self.families if f not in present]
            near = sorted({n for p in present for n in NEIGHBOURS.get(p, ()) if n in free})
            # no extra draw when hard negatives are off: older runs and validation keep their mixes
            if self.hard_p > 0 and near and self.rng.random() < self.hard_p:
                free = near
            fam = str(self.rng.choice(free))
            target = np.zeros(self.n, np.float32)
        else:
            i = int(self.rng.integers(len(present)))
            fam, target = str(present[i]), stems[i]
        return Example(mix, target, fam, [str(p) for p in present])

    def phrase(self, fam: str) -> str:
        p = FAMILIES[fam].phrases
        return p[int(self.rng.integers(len(p)))]
