"""Instrument families, their phrasings, neighbours and General MIDI programs (the model's vocabulary)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

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

# Sounds outside the families: a separator that must say "not drums" also has to learn what else a song
# can hold. The "other" stem collects them (chromatic percussion, harp, timpani, ethnic and percussive
# programs, sound effects); it is trained as one more output and is never a query.
OTHER = Family("other", tuple(range(8, 16)) + (46, 47) + tuple(p for p in range(104, 128) if p != 110), "melody",
               (48, 84), (), ())
