"""Pull the same instruments out of every song in a folder.

    python examples/batch_stems.py SONGS_FOLDER STEMS_FOLDER --query "bass guitar" --query drums

Copy and adapt: it reads each file with pedalboard, separates all queries in one pass with the
embedded default model (or --bundle), and writes <STEMS_FOLDER>/<song>/<query>.wav next to a
"rest of the mix" residual. A file that cannot be read or separated is reported in one line and
skipped; the exit status is then 1. For the full-featured version (the query language, resume,
skip-existing, progress bars, Ctrl-C safety, result tables) use `python -m plugin.render` or
plugin.render.render() instead.
"""
import argparse
import sys
from pathlib import Path

from pedalboard.io import AudioFile

from plugin import SepBoardError, Separator
from plugin.naming import stem_path

AUDIO = {".wav", ".flac", ".mp3", ".ogg", ".aiff", ".aif"}


def write(path: Path, audio, sr) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with AudioFile(str(path), "w", sr, audio.shape[0], bit_depth=24) as f:
        f.write(audio.clip(-1, 1))


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("songs")
    p.add_argument("stems")
    p.add_argument("--query", action="append", required=True)
    p.add_argument("--bundle", default=None, help="model bundle (default: the embedded default model)")
    args = p.parse_args(argv)

    sep = Separator.load(args.bundle)
    print(f"model {sep.name} on {sep.bundle.device_label}")
    failed = 0
    for song in sorted(Path(args.songs).rglob("*")):
        if song.suffix.lower() not in AUDIO:
            continue
        try:
            with AudioFile(str(song)) as f:
                audio, sr = f.read(f.frames), f.samplerate  # (channels, samples), float32
            stems = sep.separate_many(audio, sr, args.query)  # one pass, shared STFT
        except (OSError, ValueError, RuntimeError, SepBoardError) as exc:  # unreadable, corrupt, NaN samples...
            print(f"{song.name}: skipped: {exc}", file=sys.stderr)
            failed += 1
            continue
        for query, stem in zip(args.query, stems):
            write(stem_path(args.stems, song, query), stem, sr)
        write(stem_path(args.stems, song, "rest"), audio - sum(stems), sr)  # everything no query claimed
        print(f"{song.name}: {', '.join(args.query)} + rest")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
