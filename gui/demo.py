"""A demo session: ``python -m gui.demo FOLDER [--song AUDIO]``.

Without --song, the song is synthesised here (bass line, drum kit, chord pad), so the "stems" are
the exact parts it was mixed from, not model output. With --song (e.g. plugin/demo/demo_song.flac)
the stems are separated from that file by the embedded default model, as the host would. It shows
what a session looks like (screenshots, tests, trying the
host without music at hand); open it with ``python -m plugin.host FOLDER``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

SR = 44100
BPM = 112.0


def _env(n, attack, decay, sr=SR):
    t = np.arange(n) / sr
    return np.minimum(1.0, t / max(attack, 1e-4)) * np.exp(-t / decay)


def song(seconds: float = 16.0, sr: int = SR, seed: int = 3):
    """(mix, {part: audio}) as float32 (2, n) arrays; the mix is the sum of the parts."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    beat = 60.0 / BPM
    parts = {k: np.zeros((2, n), np.float32) for k in ("bass guitar", "drums", "pad")}

    def put(part, start_s, sig, pan=0.0):
        i = int(start_s * sr)
        if i >= n:
            return
        sig = sig[: n - i]
        parts[part][0, i:i + len(sig)] += sig * (1 - max(0.0, pan))
        parts[part][1, i:i + len(sig)] += sig * (1 + min(0.0, pan))

    # bass: root notes in eighths, a few harmonics, plucked envelope
    roots = [41.2, 41.2, 49.0, 36.7]  # E1 E1 G1 D1
    for bar in range(int(seconds / (4 * beat)) + 1):
        f0 = roots[bar % len(roots)]
        for k in range(8):
            f = f0 * (2 if k in (3, 7) else 1)
            m = int(beat / 2 * sr)
            t = np.arange(m) / sr
            tone = sum(np.sin(2 * np.pi * f * h * t) / h ** 1.3 for h in range(1, 7))
            put("bass guitar", (bar * 4 + k / 2) * beat, 0.32 * tone * _env(m, 0.004, 0.22))
    # drums: kick on 1 and 3, snare on 2 and 4, hats on eighths
    nb = int(seconds / beat) + 1
    for b in range(nb):
        tb = b * beat
        if b % 2 == 0:
            m = int(0.35 * sr)
            t = np.arange(m) / sr
            phase = 2 * np.pi * np.cumsum(45 + 90 * np.exp(-t / 0.03)) / sr
            put("drums", tb, 0.9 * np.sin(phase) * _env(m, 0.001, 0.12))
        else:
            m = int(0.25 * sr)
            noise = np.diff(rng.standard_normal(m + 1))
            t = np.arange(m) / sr
            put("drums", tb, 0.28 * (noise + 2 * np.sin(2 * np.pi * 185 * t)) * _env(m, 0.001, 0.06), pan=0.1)
        for h in (0.0, 0.5):
            m = int(0.06 * sr)
            hat = np.diff(np.diff(rng.standard_normal(m + 2)))
            put("drums", tb + h * beat, 0.07 * hat * _env(m, 0.0005, 0.015), pan=-0.4)
    # pad: slow chords
    chords = [(164.8, 196.0, 246.9), (164.8, 196.0, 246.9), (196.0, 246.9, 293.7), (146.8, 185.0, 220.0)]
    for bar in range(int(seconds / (4 * beat)) + 1):
        m = int(4 * beat * sr)
        t = np.arange(m) / sr
        sig = sum(np.sin(2 * np.pi * f * t + i) + 0.3 * np.sin(4 * np.pi * f * t) for i, f in
                  enumerate(chords[bar % 4]))
        env = np.minimum(1.0, t / 0.8) * np.minimum(1.0, (t[-1] - t) / 0.3 + 0.05)
        put("pad", bar * 4 * beat, 0.06 * sig * env, pan=0.2 * (-1) ** bar)
    mix = sum(parts.values())
    scale = 0.85 / max(1e-6, float(np.abs(mix).max()))
    mix = (mix * scale).astype(np.float32)
    parts = {k: (v * scale).astype(np.float32) for k, v in parts.items()}
    return mix, parts


def build(folder, seconds: float = 16.0, source=None) -> Path:
    """Write a session folder: the mix, a 'bass guitar' stem (with a compressor) and a 'drums' stem."""
    from plugin.audio import write_audio

    from . import project as P
    from .tracks import PALETTE, Track, new_effect

    folder = Path(folder)
    sr = SR
    if source is None:
        mix, parts = song(seconds)
    else:
        import soundfile as sf

        from plugin import Separator

        frames = int(seconds * sf.info(str(source)).samplerate)
        data, sr = sf.read(str(source), dtype="float32", always_2d=True, frames=frames)
        mix = data.T.copy()
        parts = dict(zip(("bass guitar", "drums"), Separator.load().separate_many(mix, sr, ["bass guitar", "drums"])))
    folder.mkdir(parents=True, exist_ok=True)
    src = folder / "demo song.wav"
    write_audio(src, mix, sr, fmt="wav", bit_depth="24")
    comp = new_effect("Compressor")
    tracks = [
        Track(name="demo song", audio=mix, kind="mix", color=PALETTE[0], source=str(src)),
        Track(name="bass guitar", audio=parts["bass guitar"], kind="stem", query="bass guitar", color=PALETTE[1],
              effects=[comp]),
        Track(name="drums", audio=parts["drums"], kind="stem", query="drums", color=PALETTE[2], gain_db=-2.0),
    ]
    a, b = int(4 * 60 / BPM * sr), int(8 * 60 / BPM * sr)
    view = {"selection": [a, b], "playhead": a + int(0.9 * sr), "current": tracks[1].uid}
    st = P.SessionState(sr, tracks, song="demo song", source=str(src), history=["bass guitar", "drums"], view=view)
    P.save_session(folder, st)
    return folder


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m gui.demo", description=__doc__.splitlines()[0])
    p.add_argument("folder", help="session folder to create")
    p.add_argument("--seconds", type=float, default=16.0)
    p.add_argument("--song", help="separate this audio file with the embedded default model instead")
    a = p.parse_args(argv)
    print(build(a.folder, a.seconds, a.song))
    return 0


if __name__ == "__main__":
    sys.exit(main())
