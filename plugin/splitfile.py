"""Split one audio file into stem files (``python -m plugin.render --split``), in constant memory.

Pass 1 streams the file through the block-wise engine and writes every candidate stem (the model's
families, or :data:`plugin.split.DEFAULT_QUERIES`) to float32 scratch files while adding up their
energies. Pass 2 keeps the stems within ``threshold_db`` of the input (:func:`plugin.split.keep`'s
rule) and writes them, plus "other" = input - kept stems, as ``<out>/<song>/<name>.<ext>`` (the song
folder as the batch renderer names it, subfolders of an input folder mirrored). Every output is
written and closed before any is renamed into place, so they are published together or not at all;
scratch files, and temp files of a killed run, are removed.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import atomic
from .audiofile import FileInfo, iter_blocks
from .audiowrite import WAV_MAX_BYTES, AtomicAudioWriter, commit_all
from .errors import Cancelled, OutputError, SepBoardError
from .families import OTHER
from .naming import query_outputs, song_name
from .progress import CancelFn, raise_if_cancelled
from .report import Result, clip_note, truncation_note
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
    """Every candidate stem to its float32 scratch file; (energy of the input, energy of each stem).
    A scratch file that cannot be written (disk full) is an OutputError."""
    import soundfile as sf

    energy_in, energies = 0.0, np.zeros(len(scratch))
    container = "RF64" if info.frames * info.channels * 4 > WAV_MAX_BYTES else "WAV"
    files = []

    def chunks():
        nonlocal energy_in
        for block in iter_blocks(info, cancel):
            on_read(block.shape[-1] / 2)  # the first of two passes over the file
            energy_in += float(np.dot(block.ravel(), block.ravel()))
            yield block

    try:
        for p in scratch:
            files.append(sf.SoundFile(p, "w", samplerate=int(round(info.sample_rate)), channels=info.channels,
                                      subtype="FLOAT", format=container))
        for y in separator.iter_separate(chunks(), info.sample_rate, conds, info.channels, info.frames,
                                         block_seconds or None, context_seconds, cancel):
            energies += np.einsum("qcn,qcn->q", y, y, dtype=np.float64)
            for f, stem in zip(files, y):
                f.write(stem.T)
        for f in files:
            f.close()
    except (OSError, sf.SoundFileError) as exc:
        raise OutputError(f"cannot write the split's scratch files in {scratch[0].parent.parent}: {exc} "
                          "(disk full?); nothing was left behind") from None
    finally:
        for f in files:
            try:
                f.close()  # already closed unless something failed: then the scratch folder goes anyway
            except Exception:
                pass
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


def _outputs(names: List[str], folder: Path, fmt: str) -> Dict[str, Path]:
    """{name: output path} of every stem a split may write, plus "other" (QueryError when two would
    share a file name, :func:`plugin.naming.query_outputs`)."""
    files = query_outputs(list(dict.fromkeys(names + [OTHER])), False, fmt)
    return {n: folder / files[(n, False)] for n in names + [OTHER]}


def _write_stems(separator, info: FileInfo, names: List[str], conds, targets: Dict[str, Path], fmt: str,
                 bit_depth: str, threshold_db: float, block_seconds, context_seconds, cancel: CancelFn,
                 on_read) -> List[Tuple[str, AtomicAudioWriter]]:
    """Both passes; (name, finished writer) of every output, "other" first, none committed yet. On any
    error every writer is aborted in reverse order ("other", which made the song folder, last) and
    the scratch folder is removed first, so nothing (not even an empty song folder) is left behind."""
    writers: List[Tuple[str, AtomicAudioWriter]] = []
    scratch_dir = None
    try:
        writers.append((OTHER, AtomicAudioWriter(targets[OTHER], info.sample_rate, info.channels, fmt, bit_depth,
                                                 frames=info.frames)))
        scratch_dir = atomic.temp_dir(targets[OTHER])
        scratch = [scratch_dir / f"{i}.wav" for i in range(len(names))]
        energy_in, energies = _first_pass(separator, info, conds, scratch, block_seconds, context_seconds, cancel,
                                          on_read)
        raise_if_cancelled(cancel, "cancelled")
        keep_idx = [i for i, e in enumerate(energies)
                    if e > 0 and 10 * np.log10(e / max(energy_in, 1e-30)) >= threshold_db]
        for i in keep_idx:
            writers.append((names[i], AtomicAudioWriter(targets[names[i]], info.sample_rate, info.channels, fmt,
                                                        bit_depth, frames=info.frames)))
        _second_pass(info, [scratch[i] for i in keep_idx], [w for _, w in writers[1:]], writers[0][1], cancel,
                     on_read)
        for _, w in writers:
            w.finish()  # all closed before any replaces its target: one failure replaces nothing
        return writers
    except BaseException:
        if scratch_dir is not None:
            shutil.rmtree(scratch_dir, ignore_errors=True)
            scratch_dir = None
        for _, w in reversed(writers):
            w.abort()
        raise
    finally:
        if scratch_dir is not None:
            shutil.rmtree(scratch_dir, ignore_errors=True)


def split_file(separator, path: Path, out_dir: Path, *, queries: Optional[Sequence[str]] = None,
               threshold_db: float = THRESHOLD_DB, fmt: str = "wav", bit_depth: str = "24", overwrite: bool = False,
               block_seconds=None, context_seconds=None, cancel: CancelFn = None,
               on_progress: Optional[Callable[[float], None]] = None, info: Optional[FileInfo] = None,
               song_dir=None) -> List[Result]:
    """Write the stems present in ``path`` plus "other"; one Result per written (or failed) output.

    ``song_dir`` is the song's folder relative to ``out_dir`` (default: the file's name,
    :func:`plugin.naming.song_name`; :mod:`plugin.inputs` mirrors an input folder's subfolders)."""
    t0 = time.time()
    path = Path(path)
    names, conds = split_plan(separator, queries)
    folder = Path(out_dir) / (song_dir if song_dir is not None else song_name(path))
    targets = _outputs(names, folder, fmt)

    def row(name, status, error="", audio_s=0.0):
        out = str(targets[name]) if status == "done" else ""
        return Result(str(path), f"split: {name}", status, out, error, round(time.time() - t0, 3), round(audio_s, 3))

    if not overwrite and any(p.exists() for p in targets.values()):
        return [row(OTHER, "skipped", "stems of this file exist (use --overwrite to replace them)")]
    try:
        if any(p.resolve() == path.resolve() for p in targets.values()):
            raise OutputError(f"an output would replace the input file {path}; choose another --out folder")
        info = info or FileInfo.read(path)
        atomic.clean_stale(folder)  # temp files of a run that was killed outright
        writers = _write_stems(separator, info, names, conds, targets, fmt, bit_depth, threshold_db, block_seconds,
                               context_seconds, cancel, on_progress or (lambda n: None))
        commit_all([w for _, w in writers])
    except Cancelled:
        return [row(OTHER, "cancelled", "cancelled; no partial files were left")]
    except SepBoardError as exc:
        return [row(OTHER, "failed", str(exc))]
    written = {n for n, _ in writers}
    if overwrite:  # a family this run leaves out must not linger from an earlier run: the files sum to the mix
        for n in names:
            if n not in written and targets[n].exists():
                targets[n].unlink()
    rows = []
    for n, w in writers[1:] + writers[:1]:  # the families, then "other"
        r = row(n, "done", audio_s=info.seconds)
        clip = clip_note(w.path.name, w.clipped, w.peak)
        r.note = "\n".join(x for x in (truncation_note(info.truncation), clip) if x)
        rows.append(r)
    return rows
