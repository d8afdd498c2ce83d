"""Render the demo song shipped with SepBoard (and its true stems, for checking the model on it).

    python -m export.demo --out plugin/demo/demo_song.flac [--stems DIR] [--seconds 24]

A short arrangement in one key and tempo (drums, bass, piano, strings, saxophone lead and a sung
voice) rendered with the MuseScore General soundfont (which shares several instruments' samples
with FluidR3, a training soundfont: a demo, not a held-out test), panned to stereo at 44.1 kHz with a little reverb. Deterministic for a given seed.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from . import data as D

PARTS = [  # (family, program, pan -1..1, level dB)
    ("drums", 0, 0.0, -16),
    ("bass", 33, 0.0, -17),
    ("piano", 0, -0.35, -21),
    ("strings", 48, 0.4, -25),
    ("saxophone", 65, 0.25, -20),
    ("voice", None, -0.1, -19),
]


def render_demo(seconds: float = 24.0, seed: int = 7, sr_out: int = 44100):
    import pedalboard as pb
    import soxr

    rng = np.random.default_rng(seed)
    song = D.Song(tonic=2, scale=D.MINOR, bpm=96.0, progression=[0, 5, 3, 4], beats_per_bar=4)
    sf = D.available_soundfonts(D.TEST_SOUNDFONTS)[0]
    synth = D.SoundfontRenderer(sf)
    stems = {}
    for fam_name, program, pan, level in PARTS:
        mono = D.render_part(synth, fam_name, program, rng, seconds, song, level)
        left, right = np.cos((pan + 1) * np.pi / 4), np.sin((pan + 1) * np.pi / 4)
        st = np.stack([mono * left, mono * right]).astype(np.float32)
        st = pb.Pedalboard([pb.Reverb(room_size=0.35, wet_level=0.12, dry_level=1.0)])(st, D.SR)
        stems[fam_name] = soxr.resample(st.T, D.SR, sr_out, quality="VHQ").T.astype(np.float32)
    mix = np.sum(list(stems.values()), axis=0)
    peak = float(np.abs(mix).max())
    if peak > 0.89:
        g = np.float32(0.89 / peak)
        mix = mix * g
        stems = {k: v * g for k, v in stems.items()}
    return mix, stems, sr_out


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m export.demo")
    p.add_argument("--out", default="plugin/demo/demo_song.flac")
    p.add_argument("--stems", help="also write the true stems here")
    p.add_argument("--seconds", type=float, default=24.0)
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args(argv)
    import soundfile as sf

    mix, stems, sr = render_demo(a.seconds, a.seed)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(out), mix.T, sr, subtype="PCM_16")
    if a.stems:
        Path(a.stems).mkdir(parents=True, exist_ok=True)
        for k, v in stems.items():
            sf.write(str(Path(a.stems) / f"{k.replace(' ', '_')}.flac"), v.T, sr, subtype="PCM_24")
    print(f"wrote {out} ({mix.shape[1] / sr:.1f} s, {out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
