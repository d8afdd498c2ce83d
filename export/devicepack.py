"""Carry a stem pool to a lent GPU machine and back into pool form: MP3 per family, decoded there.

The device tool carries at most 64 MiB with the working tree, so ``pack`` writes the first ``clips``
clips of every family of a pool split as one MP3 (32 kHz mono, ~35 kbit/s) plus an index; ``unpack``
decodes them into the ``export.data.load_pool`` layout (int16 .npy per family, index.json).
"""
from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Dict, Optional

import numpy as np

SR = 32000
LEVEL = 0.9  # libsndfile's MP3 compression level (0 best .. 1 smallest)


def pack(pool_dir: Path, out: Path, split: str, clips: int, families: Optional[list] = None) -> Dict:
    """Write ``out/split/<slug>.mp3`` and ``out/split/index.json`` for the first ``clips`` clips per family."""
    import soundfile as sf

    src = Path(pool_dir) / split
    index = json.loads((src / "index.json").read_text())
    dst = Path(out) / split
    dst.mkdir(parents=True, exist_ok=True)
    meta = {}
    for fam, info in index.items():
        if fam.startswith("_") or (families and fam not in families):
            continue
        arr = np.load(src / info["file"], mmap_mode="r")[:clips]
        name = info["file"].replace(".npy", ".mp3")
        sf.write(dst / name, arr.reshape(-1).astype(np.float32) / 32767.0, SR, format="MP3",
                 subtype="MPEG_LAYER_III", compression_level=LEVEL)
        meta[fam] = {"file": name, "clips": int(arr.shape[0]), "samples": int(arr.shape[1])}
    (dst / "index.json").write_text(json.dumps(meta, indent=1))
    return meta


def _decode(args):
    import soundfile as sf

    path, clips, samples, target = args
    x, sr = sf.read(path, dtype="float32")
    if x.ndim > 1:
        x = x.mean(axis=1)
    if sr != SR:
        raise ValueError(f"{path}: {sr} Hz, expected {SR}")
    x = np.pad(x, (0, max(0, clips * samples - len(x))))[: clips * samples]
    np.save(target, np.round(np.clip(x, -1, 1) * 32767).astype(np.int16).reshape(clips, samples))
    return path


def unpack(pack_dir: Path, pool_dir: Path, split: str, workers: int = 8) -> None:
    src = Path(pack_dir) / split
    meta = json.loads((src / "index.json").read_text())
    dst = Path(pool_dir) / split
    dst.mkdir(parents=True, exist_ok=True)
    jobs, index = [], {}
    for fam, info in meta.items():
        npy = info["file"].replace(".mp3", ".npy")
        jobs.append((str(src / info["file"]), info["clips"], info["samples"], str(dst / npy)))
        index[fam] = {"file": npy, "clips": info["clips"], "seconds": info["samples"] / SR}
    with ProcessPoolExecutor(max_workers=workers) as ex:
        list(ex.map(_decode, jobs))
    (dst / "index.json").write_text(json.dumps(index, indent=1))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("action", choices=["pack", "unpack"])
    p.add_argument("--pool", required=True)
    p.add_argument("--pack", required=True)
    p.add_argument("--split", action="append", required=True, help="SPLIT or SPLIT:CLIPS (pack)")
    p.add_argument("--workers", type=int, default=8)
    args = p.parse_args(argv)
    for item in args.split:
        split, _, clips = item.partition(":")
        if args.action == "pack":
            pack(Path(args.pool), Path(args.pack), split, int(clips or 10 ** 9))
        else:
            unpack(Path(args.pack), Path(args.pool), split, args.workers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
