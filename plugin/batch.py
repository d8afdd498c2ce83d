"""Batch rendering as a library: stem files for many inputs and queries, each written atomically.

Every query (and, with ``residual``, its residual) of every input becomes
``<out>/<song>/<query-slug>.<wav|flac>`` (:mod:`plugin.naming`; subfolders of an input folder are
mirrored, :mod:`plugin.inputs`). Each file streams through the block-wise engine in constant memory,
all queries in one pass; its stems go to temp files that are renamed into place only when every one
of them was written and closed, so an error or a cancel never leaves a partial or overwritten output
(stale temp files of a killed run are removed). Existing outputs are skipped unless ``overwrite``.
A per-file problem becomes a row of the :class:`~plugin.report.Report`; the other files still complete.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from . import atomic
from .audiofile import FileInfo, iter_blocks
from .audiowrite import AtomicAudioWriter
from .errors import AudioError, Cancelled, OutputError, QueryError, SepBoardError
from .fifo import FifoBuffer
from .formats import check_output
from .inputs import collect_inputs
from .naming import query_outputs, song_name
from .progress import CancelFn, is_cancelled
from .report import Report, Result, silence_note

log = logging.getLogger("sepboard")

# progress(file, file_done_s, file_total_s, all_done_s, all_total_s), in seconds of audio
RenderProgressFn = Callable[[str, float, float, float, float], None]


def find_inputs(inputs: Sequence, exclude=None) -> Tuple[List[Path], List[Tuple[str, str]]]:
    """Audio files in ``inputs`` (files and folders, searched recursively) and the inputs that yield
    nothing, with why (see :func:`plugin.inputs.collect_inputs`)."""
    found, problems = collect_inputs(inputs, exclude)
    return [i.path for i in found], problems


class Output(NamedTuple):
    """One planned output file: a query's stem, or its residual."""

    query: str
    residual: bool
    path: Path


class _Levels:
    """Energies of a file's input and of each query's stem, for the near-silent note."""

    def __init__(self, queries: int):
        self.input = 0.0
        self.stems = np.zeros(queries)


def _stream_to_writers(separator, info: FileInfo, cond: np.ndarray, writers, residual: bool, block_seconds,
                       context_seconds, cancel: CancelFn, on_read: Callable[[int], None]) -> _Levels:
    """Decode ``info``'s file, separate it block-wise and write every stem (and residual) block."""
    levels = _Levels(cond.shape[0])
    dry = FifoBuffer(info.channels) if residual else None

    def chunks():
        for block in iter_blocks(info, cancel):
            on_read(block.shape[-1])
            levels.input += float(np.dot(block.ravel(), block.ravel()))
            if dry is not None:
                dry.append(block)
            yield block

    for y in separator.iter_separate(chunks(), info.sample_rate, cond, info.channels, info.frames,
                                     block_seconds or None, context_seconds, cancel):
        levels.stems += np.einsum("qcn,qcn->q", y, y, dtype=np.float64)
        x = dry.pop(y.shape[-1]) if dry is not None else None
        for qi, r, w in writers:
            w.write(x - y[qi] if r else y[qi])
    return levels


def _render_outputs(separator, info: FileInfo, todo: List[Output], conds, fmt: str, bit_depth: str, residual: bool,
                    block_seconds, context_seconds, cancel: CancelFn, on_read) -> List[str]:
    """Write the ``todo`` outputs of one file atomically (all or none); one note per output."""
    qs = list(dict.fromkeys(o.query for o in todo))
    cond = separator.conditions(qs, None) if conds is None else np.stack([conds[q] for q in qs])
    writers = []
    try:
        for o in todo:
            writers.append((qs.index(o.query), o.residual, AtomicAudioWriter(
                o.path, info.sample_rate, info.channels, fmt, bit_depth, frames=info.frames)))
        levels = _stream_to_writers(separator, info, cond, writers, residual, block_seconds, context_seconds,
                                    cancel, on_read)
        for _, _, w in writers:
            w.finish()  # all closed before any replaces its target: one failure replaces nothing
    except BaseException:
        for _, _, w in reversed(writers):  # the first writer made the song folder: it removes it last
            w.abort()
        raise
    for _, _, w in writers:
        w.commit()
    notes = []
    for qi, resid, w in writers:
        clip = w.clip_note()
        if clip:
            log.warning("%s", clip)
        quiet = "" if resid else silence_note(qs[qi], w.path.name, levels.stems[qi], levels.input)
        notes.append("\n".join(n for n in (info.truncation, clip, quiet) if n))
    return notes


def render_file(separator, path: Path, queries: Sequence[str], out_dir: Path, *, conds=None, residual: bool = False,
                fmt: str = "wav", bit_depth: str = "24", overwrite: bool = False, block_seconds=None,
                context_seconds=None, cancel: CancelFn = None, on_progress: Optional[Callable[[int], None]] = None,
                info: Optional[FileInfo] = None, song_dir=None) -> List[Result]:
    """Separate one file into one stem per query (plus residuals). Returns one Result per output.

    ``conds`` maps each query to its condition vector (encoded once for many files); ``info`` is the
    file's header when the caller has read it already; ``on_progress(n)`` is called with the number
    of frames of each decoded block; ``song_dir`` is the song's folder relative to ``out_dir``
    (default: the file's name, :func:`plugin.naming.song_name`). Raises QueryError when two queries
    would write the same file."""
    t0 = time.time()
    path = Path(path)
    folder = Path(out_dir) / (song_dir if song_dir is not None else song_name(path))
    names = query_outputs(queries, residual, fmt)
    outs = [Output(q, r, folder / name) for (q, r), name in names.items()]

    def rows(status, error="", audio_s=0.0, which=None):
        return [Result(str(path), o.query + (" (residual)" if o.residual else ""),
                       status, str(o.path) if status == "done" else "", error, round(time.time() - t0, 3),
                       round(audio_s, 3)) for o in (which or outs)]

    try:
        src = path.resolve()
        for o in outs:
            if o.path.resolve() == src:
                raise OutputError(f"output {o.path} is the input file itself; choose another --out folder")
        todo = outs if overwrite else [o for o in outs if not o.path.exists()]
        done_already = [o for o in outs if o not in todo]
        if not todo:
            return rows("skipped", "outputs exist (use --overwrite to replace them)")
        atomic.clean_stale(folder)  # temp files of a run that was killed outright
        info = info or FileInfo.read(path)
        if info.truncation:
            log.warning("%s", info.truncation)
        notes = _render_outputs(separator, info, todo, conds, fmt, bit_depth, residual, block_seconds,
                                context_seconds, cancel, on_progress or (lambda n: None))
        res = rows("done", audio_s=info.seconds, which=todo)
        for r, note in zip(res, notes):
            r.note = note
        if done_already:
            res += rows("skipped", "output exists (use --overwrite to replace it)", which=done_already)
        return res
    except Cancelled:
        return rows("cancelled", "cancelled; no partial files were left")
    except KeyboardInterrupt:
        raise
    except SepBoardError as exc:
        return rows("failed", str(exc))


class _Progress:
    """Seconds of audio done, per file and over all files, reported to a RenderProgressFn."""

    def __init__(self, progress: Optional[RenderProgressFn], total: float):
        self.progress = progress
        self.total = total
        self.done = 0.0  # seconds of the files finished so far

    def reader(self, f: Path, info: Optional[FileInfo], duration: float) -> "_FileProgress":
        """The ``on_progress`` of one file."""
        return _FileProgress(self, f, info.sample_rate if info is not None else None, duration)

    def finish(self, f: Path, duration: float) -> None:
        self.done += duration
        if self.progress:
            self.progress(str(f), duration, duration, self.done, self.total)


class _FileProgress:
    """Called with the frames of each decoded block of one file; reports seconds done."""

    def __init__(self, tracker: _Progress, f: Path, sample_rate: Optional[float], duration: float):
        self.tracker = tracker
        self.name = str(f)
        self.sample_rate = sample_rate
        self.duration = duration
        self.all_done = tracker.done
        self.file_done = 0.0

    def __call__(self, n: int) -> None:
        if self.sample_rate:
            self.all_done += n / self.sample_rate
            self.file_done += n / self.sample_rate
            if self.tracker.progress:
                self.tracker.progress(self.name, self.file_done, self.duration, self.all_done, self.tracker.total)


def _probe(f: Path) -> Optional[FileInfo]:
    """The file's header, or None when it cannot be read (render_file then reports why)."""
    try:
        return FileInfo.read(f)
    except AudioError:
        return None


def prepare_queries(queries: Sequence[str], residual: bool, fmt: str, bit_depth: str) -> List[str]:
    """The cleaned queries, each once; a SepBoardError for no query, two queries that would write the
    same file, or an output format that cannot be written."""
    from .text import clean_query

    if not queries:
        raise QueryError("no --query given: say what to extract, e.g. --query 'bass guitar'")
    check_output(fmt, bit_depth)
    cleaned = list(dict.fromkeys(clean_query(q) for q in queries))
    query_outputs(cleaned, residual, fmt)
    return cleaned


def render(inputs: Sequence, queries: Sequence[str], out_dir, *, residual: bool = False, bundle=None, separator=None,
           fmt: str = "wav", bit_depth: str = "24", overwrite: bool = False, block_seconds: Optional[float] = None,
           context_seconds: Optional[float] = None, providers=None, threads=None,
           progress: Optional[RenderProgressFn] = None, cancel: CancelFn = None) -> Report:
    """Render stems of every input for every query.

    ``progress(file, file_done_s, file_total_s, all_done_s, all_total_s)`` in seconds of audio;
    ``cancel`` (a threading.Event) stops after aborting the current file (nothing partial is kept).

    Raises SepBoardError only for problems that concern every file (no queries, bad bundle,
    unusable --out, an output format that cannot be written); per-file problems are rows of the
    returned Report.
    """
    queries = prepare_queries(queries, residual, fmt, bit_depth)
    out_dir = Path(out_dir).expanduser()
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"--out {out_dir} exists and is not a folder")
    if separator is None:
        from .separator import Separator

        separator = Separator.load(bundle, providers=providers, threads=threads)
    separator.plan_for(1, separator.sample_rate, block_seconds, context_seconds)  # bad values: refused here
    conds = dict(zip(queries, separator.conditions(queries, None)))  # encode each query once
    found, errors = collect_inputs(inputs, exclude=out_dir)
    files = [i.path for i in found]
    song_dirs = {i.path: i.song_dir for i in found}
    report = Report(errors=errors)
    for f, e in errors:
        log.error("%s", e)
    infos: Dict[Path, Optional[FileInfo]] = {f: _probe(f) for f in files}  # each header read once
    durations = {f: info.seconds if info is not None else 0.0 for f, info in infos.items()}
    tracker = _Progress(progress, sum(durations.values(), 0.0))
    for f in files:
        if is_cancelled(cancel):
            report.results += [Result(str(f), q, "cancelled", error="cancelled before start") for q in queries]
            continue
        rows = render_file(separator, f, queries, out_dir, conds=conds, residual=residual, fmt=fmt,
                           bit_depth=bit_depth, overwrite=overwrite, block_seconds=block_seconds,
                           context_seconds=context_seconds, cancel=cancel, info=infos[f], song_dir=song_dirs[f],
                           on_progress=tracker.reader(f, infos[f], durations[f]))
        for r in rows:
            if r.status == "failed":
                log.error("%s: %s", f, r.error)
        report.results += rows
        tracker.finish(f, durations[f])
    return report
