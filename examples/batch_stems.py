"""Pull the same instruments out of every song in a folder.

    python examples/batch_stems.py SONGS_FOLDER STEMS_FOLDER --query "bass guitar" --query drums

Copy and adapt: it reads each file with pedalboard, separates all queries in one pass with the
embedded default model (or --bundle), and writes <STEMS_FOLDER>/<song>/<query>.wav next to a
"rest of the mix" residual. For the full-featured version (resume, skip-existing, progress bars,
Ctrl-C safety, result tables) use `python -m plugin.render` or plugin.render.render() instead.
"""
import argparse
from pathlib import Path

from pedalboard.io import AudioFile

from plugin import Separator
from plugin.naming import stem_path

AUDIO = {".wav", ".flac", ".mp3", ".ogg", ".aiff", ".aif"}


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("songs")
    p.add_argument("stems")
    p.add_argument("--query", action="append", required=True)
    p.add_argument("--bundle", default=None, help="model bundle (default: the embedded default model)")
    args = p.parse_args(argv)

    sep = Separator.load(args.bundle)
    print(f"model {sep.name} on {sep.bundle.device_label}")
    for song in sorted(Path(args.songs).rglob("*")):
        if song.suffix.lower() not in AUDIO:
            continue
        with AudioFile(str(song)) as f:
            audio, sr = f.read(f.frames), f.samplerate  # (channels, samples), float32
        stems = sep.separate_many(audio, sr, args.query)  # one pass, shared STFT
        rest = audio - sum(stems)  # everything no query claimed
        for query, stem in zip(args.query, stems):
            out = stem_path(args.stems, song, query)
            out.parent.mkdir(parents=True, exist_ok=True)
            with AudioFile(str(out), "w", sr, stem.shape[0], bit_depth=24) as f:
                f.write(stem.clip(-1, 1))
        with AudioFile(str(stem_path(args.stems, song, "rest")), "w", sr, rest.shape[0], bit_depth=24) as f:
            f.write(rest.clip(-1, 1))
        print(f"{song.name}: {', '.join(args.query)} + rest")


if __name__ == "__main__":
    main()
