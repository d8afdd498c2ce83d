"""Isolate an instrument inside a pedalboard chain: high-pass -> separation -> EQ -> compressor.

    python examples/chain_eq_compressor.py IN.wav OUT.wav --query vocals [--residual]

The query is in SepBoard's query language: "everything but the vocals" is a karaoke track,
"bass and drums" the rhythm section.

pedalboard's own Pedalboard cannot hold Python plugins, so SepBoard's Chain plays that role: it
runs consecutive pedalboard plugins as one Pedalboard and compensates the separation effect's
latency, so OUT.wav lines up with IN.wav sample for sample. The file is streamed chunk by chunk
(constant memory, any length); the first `latency` output samples are dropped and chain.flush()
returns the tail, so the file equals what one whole-buffer call would give.
"""
import argparse
import sys

import pedalboard
from pedalboard.io import AudioFile

from plugin import Chain, SepBoardError, Separator


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--query", default="vocals")
    p.add_argument("--residual", action="store_true", help="keep everything except the query")
    p.add_argument("--bundle", default=None)
    p.add_argument("--block-seconds", type=float, default=4.0)
    args = p.parse_args(argv)

    sep = Separator.load(args.bundle)
    chain = Chain([
        pedalboard.HighpassFilter(cutoff_frequency_hz=60),
        sep.effect(args.query, residual=args.residual, block_seconds=args.block_seconds, context_seconds=0.5),
        pedalboard.PeakFilter(cutoff_frequency_hz=3000, gain_db=2.5, q=0.8),
        pedalboard.Compressor(threshold_db=-18, ratio=3, attack_ms=5, release_ms=120),
        pedalboard.Gain(gain_db=1.5),
    ])
    with AudioFile(args.input) as src:
        sr, ch, frames = src.samplerate, src.num_channels, src.frames
        latency = chain.latency_at(sr)
        print(f"chain latency {latency} samples ({latency / sr:.2f} s), compensated")
        with AudioFile(args.output, "w", sr, ch, bit_depth=24) as dst:
            to_drop, written = latency, 0
            def emit(y):
                nonlocal to_drop, written
                k = min(to_drop, y.shape[-1])
                to_drop -= k
                y = y[:, k:][:, : frames - written]
                dst.write(y.clip(-1, 1))
                written += y.shape[-1]
            while src.tell() < frames:
                emit(chain(src.read(int(sr)), sr, reset=False))
            emit(chain.flush())  # the last `latency` samples
    print(f"wrote {args.output}")


if __name__ == "__main__":
    try:
        main()
    except SepBoardError as exc:  # a query that cannot be honoured, an unreadable bundle...
        sys.exit(f"error: {exc}")
