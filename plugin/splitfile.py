"""Split one audio file into stem files (``python -m plugin.render --split``), in constant memory.

Pass 1 streams the file through the block-wise engine and writes every candidate stem (the model's
families, or :data:`plugin.split.DEFAULT_QUERIES`) to float32 scratch files while adding up their
energies. Pass 2 keeps the stems within ``threshold_db`` of the input (:func:`plugin.split.keep`'s
rule) and writes them, plus "other" = input - kept stems, as ``<out>/<song>/<name>.<ext>``. All
outputs are published together (atomic) or not at all; scratch files are always removed.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from . import atomic
from .audiofile import FileInfo, iter_blocks
from .audiowrite import AtomicAudioWriter
from .errors import Cancelled, OutputError, SepBoardError
from .families import OTHER
from .naming import stem_path
from .progress import CancelFn, raise_if_cancelled
from .report import Result
from .split import DEFAULT_QUERIES, THRESHOLD_DB


def split_plan(separator, queries: Optional[Sequence[str]] = None) -> Tuple[List[str], np.ndarray]:
    """(names, condition rows) of the stems a split computes."""
    head = separator.core.head
    if head is not None and not queries:
        return list(head.families), head.selectors(head.families)
    names = list(queries or DEFAULT_QUERIES)
    return names, separator.conditions(names)


def _first_pass(separator, info: FileInfo, conds, scratch: List[Path], block_seconds, context_seconds,
                cancel: CancelFn, on_read: Callable[[int], None]) -> Tuple[float, np.ndarray]:
    import soundfile as sf

    energy_in, energies = 0.0, np.zeros(len(scratch))
    files = [sf.SoundFile(p, "w", samplerate=int(round(info.sample_rate)), channels=info.channels, subtype="FLOAT",
                          format="WAV") for p in scratch]
    try:
        def chunks():
            nonlocal energy_in
            for block in iter_blocks(info, cancel):
                on_read(block.shape[-1] / 2)  # the first of two passes over the file
                energy_in += float(np.dot(block.ravel(), block.ravel()))
                yield block

        for y in separator.iter_separate(chunks(), info.sample_rate, conds, info.channels, info.frames,
                                         block_seconds or None, context_seconds, cancel):
            energies += np.einsum("qcn,qcn->q", y, y, dtype=np.float64)
            for f, stem in zip(files, y):
                f.write(stem.T)
    finally:
        for f in files:
            f.close()
    return energy_in, energies


def _second_pass(info: FileInfo, kept: List[Path], writers: List[AtomicAudioWriter], other: AtomicAudioWriter,
                 cancel: CancelFn, on_read: Callable[[int], None]) -> None:
    import soundfile as sf

    stems = [sf.SoundFile(p) for p in kept]
    try:
        for block in iter_blocks(info, cancel):
            on_read(block.shape[-1] / 2)
            rest = block.astype(np.float32, copy=True)
            for f, w in zip(stems, writers):
                y = f.read(block.shape[-1], dtype="float32", always_2d=True).T
                y = np.pad(y, ((0, 0), (0, block.shape[-1] - y.shape[-1])))
                w.write(y)
                rest -= y
            other.write(rest)
    finally:
        for f in stems:
            f.close()


def split_file(separator, path: Path, out_dir: Path, *, queries: Optional[Sequence[str]] = None,
               threshold_db: float = THRESHOLD_DB, fmt: str = "wav", bit_depth: str = "24", overwrite: bool = False,
               block_seconds=None, context_seconds=None, cancel: CancelFn = None,
               on_progress: Optional[Callable[[float], None]] = None, info: Optional[FileInfo] = None) -> List[Result]:
    """Write the stems present in ``path`` plus "other"; one Result per written (or failed) output."""
    t0 = time.time()
    path = Path(path)
    names, conds = split_plan(separator, queries)
    targets = {n: stem_path(out_dir, path, n, fmt) for n in names + [OTHER]}
    on_read = on_progress or (lambda n: None)

    def row(name, status, error="", audio_s=0.0):
        out = str(targets[name]) if status == "done" else ""
        return Result(str(path), f"split: {name}", status, out, error, round(time.time() - t0, 3), round(audio_s, 3))

    if not overwrite and any(p.exists() for p in targets.values()):
        return [row(OTHER, "skipped", "stems of this file exist (use --overwrite to replace them)")]
    scratch_dir = None
    writers: List[AtomicAudioWriter] = []
    try:
        if any(p.resolve() == path.resolve() for p in targets.values()):
            raise OutputError(f"an output would replace the input file {path}; choose another --out folder")
        info = info or FileInfo.read(path)
        targets[OTHER].parent.mkdir(parents=True, exist_ok=True)
        scratch_dir = atomic.temp_dir(targets[OTHER])
        scratch = [scratch_dir / f"{i}.wav" for i in range(len(names))]
        energy_in, energies = _first_pass(separator, info, conds, scratch, block_seconds, context_seconds, cancel,
                                          on_read)
        raise_if_cancelled(cancel, "cancelled")
        keep_idx = [i for i, e in enumerate(energies) if e > 0 and 10 * np.log10(e / max(energy_in, 1e-30)) >= threshold_db]
        writers = [AtomicAudioWriter(targets[names[i]], info.sample_rate, info.channels, fmt, bit_depth) for i in keep_idx]
        other = AtomicAudioWriter(targets[OTHER], info.sample_rate, info.channels, fmt, bit_depth)
        writers.append(other)
        _second_pass(info, [scratch[i] for i in keep_idx], writers[:-1], other, cancel, on_read)
        for w in writers:
            w.commit()
        if overwrite:  # a family this run leaves out must not linger from an earlier run: the files sum to the mix
            for i, n in enumerate(names):
                if i not in keep_idx and targets[n].exists():
                    targets[n].unlink()
        rows = [row(names[i], "done", audio_s=info.seconds) for i in keep_idx] + [row(OTHER, "done", audio_s=info.seconds)]
        notes = [w.clip_note() for w in writers]
        for r, note in zip(rows, notes):
            r.note = "\n".join(n for n in (info.truncation, note) if n)
        return rows
    except Cancelled:
        for w in writers:
            w.abort()
        return [row(OTHER, "cancelled", "cancelled; no partial files were left")]
    except SepBoardError as exc:
        for w in writers:
            w.abort()
        return [row(OTHER, "failed", str(exc))]
    except BaseException:
        for w in writers:
            w.abort()
        raise
    finally:
        if scratch_dir is not None:
            shutil.rmtree(scratch_dir, ignore_errors=True)
