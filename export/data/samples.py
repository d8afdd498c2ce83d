"""Recorded one-shots, loops and drum kits played from note lists (a small sampler).

Sources are Debian packages that may be used for training (``sources.TRAINING``): lmms-common's
instrument, bass, pad and drum samples and hydrogen-data's two kits. A pitched one-shot is played at
another pitch by resampling (varispeed, as hardware samplers do), limited to ``MAX_SHIFT`` semitones so
the timbre stays believable; notes further away are moved by octaves into that range. Loops are cropped
and varispeeded. Every file is checked with ``sources.require_trainable`` before it is read.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .scores import CHH, CLAP, CRASH, KICK, OHH, PHH, RIDE, RIM, SNARE, TOMS, Note
from .sources import require_trainable
from .synth import SR

LMMS = Path("/usr/share/lmms/samples")
HYDROGEN = Path("/usr/share/hydrogen/data/drumkits")
MAX_SHIFT = 7  # semitones a one-shot is moved at most


def load_sample(path: str, trainable: bool = True) -> Optional[np.ndarray]:
    """Mono float32 at SR, peak-normalised to 0.9; None when the file cannot be decoded or is silent.
    With ``trainable`` (training data) a file reserved for evaluation raises ReservedSourceError."""
    if trainable:
        require_trainable(path)
    return _decode(path)


@functools.lru_cache(maxsize=512)
def _decode(path: str) -> Optional[np.ndarray]:
    import soundfile as sf
    import soxr

    try:
        x, sr = sf.read(path, dtype="float32", always_2d=True)
    except Exception:  # some lmms files are mislabelled or broken: skip them
        return None
    x = x.mean(axis=1)
    if sr != SR:
        x = soxr.resample(x, sr, SR).astype(np.float32)
    peak = float(np.abs(x).max()) if len(x) else 0.0
    if peak < 1e-4:
        return None
    return (x / peak * 0.9).astype(np.float32)


@functools.lru_cache(maxsize=4096)
def _shifted(path: str, semitones: float, trainable: bool = True) -> Optional[np.ndarray]:
    import soxr

    x = load_sample(path, trainable)
    if x is None or abs(semitones) < 1e-3:
        return x
    ratio = 2.0 ** (semitones / 12.0)
    return soxr.resample(x, SR * ratio, SR, quality="MQ").astype(np.float32)


def _place(out: np.ndarray, x: np.ndarray, start: int, gain: float, length: Optional[int] = None,
           release: int = 0) -> None:
    """Add ``x`` into ``out`` at ``start``, cut to ``length`` samples with a ``release``-sample fade."""
    if start >= len(out) or x is None:
        return
    n = len(x) if length is None else min(len(x), length + release)
    n = min(n, len(out) - start)
    if n <= 0:
        return
    seg = x[:n] * np.float32(gain)
    if length is not None and release > 0 and n > length:
        fade = n - length
        seg[length:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    out[start:start + n] += seg


@dataclass(frozen=True)
class OneShot:
    """A pitched recording of one note: ``root`` is its MIDI key; ``sustained`` notes stop at note-off."""

    path: str
    root: float
    sustained: bool = False
    trainable: bool = True  # False: an evaluation source (see sources)

    def render(self, notes: Sequence[Note], seconds: float, rng: np.random.Generator) -> np.ndarray:
        out = np.zeros(int(round(seconds * SR)), np.float32)
        for start, dur, key, vel in notes:
            shift = key - self.root
            while shift > MAX_SHIFT:
                shift -= 12
            while shift < -MAX_SHIFT:
                shift += 12
            x = _shifted(self.path, float(round(shift)), self.trainable)
            length = int(max(dur, 0.03) * SR) if self.sustained else None
            gain = (vel / 127.0) ** 1.5
            _place(out, x, int(max(start, 0.0) * SR), gain, length, release=int(0.08 * SR))
        return out


@dataclass(frozen=True)
class Loop:
    """A recorded phrase (a loop): a random crop, varispeeded by up to ±2 semitones, repeated to length."""

    path: str
    trainable: bool = True

    def render(self, notes: Sequence[Note], seconds: float, rng: np.random.Generator) -> np.ndarray:
        n = int(round(seconds * SR))
        x = _shifted(self.path, float(rng.integers(-2, 3)), self.trainable)
        if x is None:
            return np.zeros(n, np.float32)
        off = int(rng.integers(0, max(1, len(x) // 2)))
        x = np.roll(x, -off)
        reps = int(np.ceil(n / len(x)))
        return np.tile(x, reps)[:n].astype(np.float32)


# GM drum keys -> sample-name patterns (regular expressions on the file stem, lower case)
DRUM_PATTERNS: Dict[int, str] = {
    KICK: r"kick|bassdrum|bd_", SNARE: r"snare(?!_?rim)",
    CHH: r"hatclosed|hihat_closed|hat_closed|closedh|chh|^hh$|^hihat$|^hat$", OHH: r"hatopen|hihat_opened|hat_open|hatsemiopen|openh|ohh",
    PHH: r"hatpedal|hihat_foot|hat_pedal", RIDE: r"ride", CRASH: r"crash|splash|cymbal",
    CLAP: r"clap", RIM: r"sidestick|rim", **{t: r"tom" for t in TOMS},
}


@dataclass(frozen=True)
class DrumKit:
    """One-shots per GM drum key (velocity layers sorted soft -> hard when names say so)."""

    name: str
    layers: Tuple[Tuple[int, Tuple[str, ...]], ...]
    trainable: bool = True

    @staticmethod
    def from_hydrogen(folder: Path, trainable: bool = True) -> "DrumKit":
        """A Hydrogen kit: drumkit.xml's instruments, matched to GM keys by their names."""
        import xml.etree.ElementTree as ET

        root = ET.parse(folder / "drumkit.xml").getroot()
        strip = lambda tag: tag.split("}")[-1]
        named: Dict[str, List[str]] = {}
        for inst in root.iter():
            if strip(inst.tag) != "instrument":
                continue
            label = next((c.text or "" for c in inst if strip(c.tag) == "name"), "")
            files = [str(folder / (f.text or "")) for f in inst.iter() if strip(f.tag) == "filename" and f.text]
            if label and files:
                named[label.lower().replace(" ", "")] = files
        layers = []
        for key, pattern in DRUM_PATTERNS.items():
            hits = [files for label, files in named.items() if re.search(pattern, label)]
            if key in TOMS and hits:
                hits = [hits[TOMS.index(key) % len(hits)]]
            if hits:
                layers.append((key, tuple(hits[0])))
        return DrumKit(folder.name, tuple(layers), trainable)

    @staticmethod
    def from_folder(name: str, folder: Path, exclude: str = r"^$") -> "DrumKit":
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".wav", ".flac", ".ogg"))
        order = ["softest", "soft", "med", "hard", "hardest"]

        def rank(p: Path) -> int:
            low = p.stem.lower()
            for i, word in reversed(list(enumerate(order))):
                if low.endswith("-" + word):
                    return i
            return 2

        layers = []
        for key, pattern in DRUM_PATTERNS.items():
            hits = [p for p in files if re.search(pattern, p.stem.lower()) and not re.search(exclude, p.stem.lower())]
            if key in TOMS:  # spread toms over the tom keys
                hits = hits[TOMS.index(key) % max(1, len(hits)):][:1] or hits[:1]
            hits.sort(key=rank)
            if hits:
                layers.append((key, tuple(str(p) for p in hits)))
        return DrumKit(name, tuple(layers))

    def render(self, notes: Sequence[Note], seconds: float, rng: np.random.Generator) -> np.ndarray:
        out = np.zeros(int(round(seconds * SR)), np.float32)
        table = dict(self.layers)
        choice = {k: (v if len(v) <= 5 else (v[int(rng.integers(len(v)))],)) for k, v in table.items()}
        for start, _dur, key, vel in notes:
            files = choice.get(int(key)) or choice.get(SNARE if key in TOMS else KICK)
            if not files:
                continue
            layer = files[min(len(files) - 1, int(vel / 128.0 * len(files)))]
            _place(out, load_sample(layer, self.trainable), int(max(start, 0.0) * SR), (vel / 127.0) ** 1.2)
        return out


def _one(name: str, root: float, sustained: bool = False) -> OneShot:
    return OneShot(str(LMMS / name), root, sustained)


def _loops(*names: str) -> List[Loop]:
    return [Loop(str(LMMS / n)) for n in names]


@functools.lru_cache(maxsize=1)
def sample_instruments() -> Dict[str, list]:
    """family -> playable recorded sources (OneShot, Loop or DrumKit) that exist on this machine.

    Roots were measured with WORLD's dio on each file's first 1.5 s (rounded to the nearest key)."""
    table: Dict[str, list] = {
        "piano": [_one("instruments/piano01.ogg", 60), _one("instruments/piano02.ogg", 48)],
        "acoustic guitar": [_one("instruments/steel_guitar01.ogg", 55)]
        + _loops("latin/latin_guitar01.ogg", "latin/latin_guitar02.ogg", "latin/latin_guitar03.ogg"),
        "electric guitar": [_one(f"instruments/steel_guitar_{k}_distorted01.ogg", 55)
                            for k in ("slight", "medium", "heavy")],
        "bass": [_one("instruments/bassslap01.ogg", 38), _one("basses/bass_acid01.ogg", 40),
                 _one("basses/rave_bass02.ogg", 42), _one("basses/rave_bass03.ogg", 45),
                 _one("basses/bass_hard01.ogg", 41)]
        + _loops("bassloops/tb303_01.ogg", "bassloops/techno_bass01.ogg", "bassloops/techno_bass02.ogg",
                 "bassloops/briff01.ogg"),
        "strings": [_one("instruments/violin_fingered01.ogg", 67, True), _one("instruments/violin_double_stop01.ogg", 62, True),
                    _one("instruments/violin_pizzicato01.ogg", 67), _one("stringsnpads/strings01.ogg", 60, True),
                    _one("stringsnpads/orion_string01.ogg", 60, True), _one("stringsnpads/heaven_strings01.ogg", 60, True)],
        "cello": [_one("instruments/cello01.ogg", 38, True)],
        "brass": [_one("instruments/trumpet01.ogg", 69, True)] + _loops("latin/latin_brass01.ogg"),
        "organ": [_one("instruments/church_organ01.ogg", 57, True), _one("instruments/church_organ02.ogg", 45, True),
                  _one("instruments/church_organ03.ogg", 57, True), _one("instruments/church_organ04.ogg", 45, True),
                  _one("instruments/e_organ01.ogg", 60, True)],
        "synth pad": [_one("stringsnpads/juno_pad01.ogg", 72, True), _one("stringsnpads/korg_poly6_drone01.ogg", 41, True),
                      _one("stringsnpads/nord_ambient01.ogg", 66, True), _one("stringsnpads/space_strings03.ogg", 67, True)],
        "voice": [_one("stringsnpads/chorus01.ogg", 72, True), _one("stringsnpads/chorus02.ogg", 57, True)],
        "drums": _loops("beats/909beat01.ogg", "beats/electro_beat01.ogg", "beats/electro_beat02.ogg",
                        "beats/house_loop01.ogg"),
        "other": [_one("stringsnpads/bell_choir01.ogg", 62, True), _one("stringsnpads/bell_choir02.ogg", 62, True),
                  _one("misc/dong01.ogg", 62), _one("misc/dong02.ogg", 50), _one("misc/dong03.ogg", 74),
                  _one("effects/chroma_sound_effect01.ogg", 73), _one("effects/filter_sweep01.ogg", 62, True)]
        + _loops("misc/applause01.ogg", "misc/raving_crowd01.ogg", "effects/start01.ogg", "effects/warp02.ogg",
                 "misc/breath01.ogg"),
    }
    kits = []
    if (LMMS / "drums").is_dir():
        kits.append(DrumKit.from_folder("lmms", LMMS / "drums", exclude=r"nasty|zap|clav|wood|shaker"))
    for kit in ("GMRockKit", "TR808EmulationKit"):  # hydrogen-data (not hydrogen-drumkits: reserved)
        if (HYDROGEN / kit).is_dir():
            kits.append(DrumKit.from_folder(kit, HYDROGEN / kit))
    table["drums"] = kits + table["drums"]
    found: Dict[str, list] = {}
    for fam, items in table.items():
        ok = [it for it in items if isinstance(it, DrumKit) or load_sample(it.path) is not None]
        if ok:
            found[fam] = ok
    return found
