"""Batch rendering as a library: stem files for many inputs and queries, each written atomically.

Every query (and, with ``residual``, its residual) of every input becomes
``<out>/<song>/<query-slug>.<wav|flac>`` (:mod:`plugin.naming`; subfolders of an input folder are
mirrored, :mod:`plugin.inputs`), named from the query's normalised wording (:mod:`plugin.query`:
"not drums" is ``everything-but-drums``). Each file streams through the block-wise engine in
constant memory, every description of every query in one pass, and each output is combined from
those stems (:class:`plugin.compound.QueryMix`); its outputs go to temp files that are renamed into
place only when every one of them was written and closed, so an error or a cancel never leaves a
partial or overwritten output (stale temp files of a killed run are removed). Existing outputs are
skipped unless ``overwrite``. A per-file problem becomes a row of the :class:`~plugin.report.Report`;
the other files still complete.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from . import atomic
from .audiofile import FileInfo, iter_blocks
from .audiowrite import AtomicAudioWriter, commit_all
from .compound import QueryMix
from .errors import AudioError, Cancelled, OutputError, QueryError, SepBoardError
from .fifo import FifoBuffer
from .formats import check_output
from .inputs import collect_inputs
from .naming import query_outputs, song_name
from .progress import CancelFn, is_cancelled
from .query import Query, parse_all
from .report import Report, Result, clip_note, silence_note, truncation_note

# progress(file, file_done_s, file_total_s, all_done_s, all_total_s), in seconds of audio
RenderProgressFn = Callable[[str, float, float, float, float], None]


def find_inputs(inputs: Sequence, exclude=None) -> Tuple[List[Path], List[Tuple[str, str]]]:
    """Audio files in ``inputs`` (files and folders, searched recursively) and the inputs that yield
    nothing, with why (see :func:`plugin.inputs.collect_inputs`)."""
    found, problems = collect_inputs(inputs, exclude)
    return [i.path for i in found], problems


class Output(NamedTuple):
    """One planned output file: a query's stem, or its residual."""

    query: Query
    residual: bool
    path: Path

    @property
    def label(self) -> str:
        """The query's normalised wording, as the results table shows it."""
        return self.query.normalised + (" (residual)" if self.residual else "")


def parse_queries(queries: Sequence) -> List[Query]:
    """Texts (or parsed queries) -> parsed queries, each once; QueryError for one that cannot be honoured."""
    if not queries:
        raise QueryError("no --query given: say what to extract, e.g. --query 'bass guitar'")
    return parse_all(q.normalised if isinstance(q, Query) else q for q in queries)


def planned_outputs(queries: Sequence[Query], residual: bool, fmt: str) -> List[Tuple[Query, bool, str]]:
    """(query, is_residual, file name) of every output, named from the normalised wording; QueryError
    when two would be written to one file (:func:`plugin.naming.query_outputs`)."""
    by_name = {q.normalised: q for q in queries}
    return [(by_name[t], r, name) for (t, r), name in query_outputs(list(by_name), residual, fmt).items()]


def prepare_queries(queries: Sequence, residual: bool, fmt: str, bit_depth: str) -> List[Query]:
    """The parsed queries, each once; a SepBoardError for no query, one that cannot be honoured, two
    whose outputs would be written to one file, or an output format that cannot be written. Call it
    before anything is loaded."""
    parsed = parse_queries(queries)
    check_output(fmt, bit_depth)
    planned_outputs(parsed, residual, fmt)
    return parsed


def query_conditions(separator, queries: Sequence[Query]) -> Dict[str, np.ndarray]:
    """The condition vector of every description the queries need, each encoded once."""
    texts = list(dict.fromkeys(t for q in queries for t in q.texts))
    return dict(zip(texts, separator.conditions(texts, None)))


class _Sink:
    """One output file being written: its query's mix of the stems, its writer and the energy written."""

    def __init__(self, output: Output, texts: List[str], info: FileInfo, fmt: str, bit_depth: str):
        self.output = output
        self.mix = QueryMix(output.query, texts, info.channels, info.sample_rate, residual=output.residual)
        self.writer = AtomicAudioWriter(output.path, info.sample_rate, info.channels, fmt, bit_depth,
                                        frames=info.frames)
        self.energy = 0.0

    def write(self, y: np.ndarray) -> None:
        if y.size:
            self.energy += float(np.vdot(y, y))
            self.writer.write(y)


def _stream_to_sinks(separator, info: FileInfo, cond: np.ndarray, sinks: List[_Sink], needs_dry: bool,
                     block_seconds, context_seconds, cancel: CancelFn, on_written: Callable[[int], None]) -> float:
    """Decode ``info``'s file, separate it block-wise and write every output; the input's energy."""
    energy = [0.0]
    dry = FifoBuffer(info.channels) if needs_dry else None

    def chunks():
        for block in iter_blocks(info, cancel):
            energy[0] += float(np.dot(block.ravel(), block.ravel()))
            if dry is not None:
                dry.append(block)
            yield block

    for y in separator.iter_separate(chunks(), info.sample_rate, cond, info.channels, info.frames,
                                     block_seconds or None, context_seconds, cancel):
        x = dry.pop(y.shape[-1]) if dry is not None else None
        for sink in sinks:
            sink.write(sink.mix.push(y, x))
        on_written(y.shape[-1])  # progress follows the work done, not the decoding that runs ahead of it
    for sink in sinks:
        sink.write(sink.mix.finish())
    return energy[0]


def _render_outputs(separator, info: FileInfo, todo: List[Output], conds, fmt: str, bit_depth: str,
                    block_seconds, context_seconds, cancel: CancelFn, on_written) -> List[str]:
    """Write the ``todo`` outputs of one file atomically (all or none); the notes of each output."""
    texts = list(dict.fromkeys(t for o in todo for t in o.query.texts))
    cond = separator.conditions(texts, None) if conds is None else np.stack([conds[t] for t in texts])
    sinks: List[_Sink] = []
    try:
        for o in todo:
            sinks.append(_Sink(o, texts, info, fmt, bit_depth))
        needs_dry = any(o.residual or o.query.rest for o in todo)
        energy_in = _stream_to_sinks(separator, info, cond, sinks, needs_dry, block_seconds, context_seconds,
                                     cancel, on_written)
        for sink in sinks:
            sink.writer.finish()  # all closed before any replaces its target: one failure replaces nothing
    except BaseException:
        for sink in reversed(sinks):  # the first writer made the song folder: it removes it last
            sink.writer.abort()
        raise
    commit_all([sink.writer for sink in sinks])
    notes = []
    for sink in sinks:
        w = sink.writer
        quiet = "" if sink.output.residual else silence_note(w.path.name, sink.energy, energy_in)
        clip = clip_note(w.path.name, w.clipped, w.peak)
        notes.append("\n".join(n for n in (truncation_note(info.truncation), clip, quiet) if n))
    return notes


def render_file(separator, path: Path, queries: Sequence, out_dir: Path, *, conds=None, residual: bool = False,
                fmt: str = "wav", bit_depth: str = "24", overwrite: bool = False, block_seconds=None,
                context_seconds=None, cancel: CancelFn = None, on_progress: Optional[Callable[[int], None]] = None,
                info: Optional[FileInfo] = None, song_dir=None) -> List[Result]:
    """Separate one file into one stem per query (plus residuals). Returns one Result per output.

    ``queries`` are texts in the query language or parsed queries; ``conds`` maps each description
    they need to its condition vector (:func:`query_conditions`: encoded once for many files);
    ``info`` is the file's header when the caller has read it already; ``on_progress(n)`` is called
    with the number of frames of each block of outputs written; ``song_dir`` is the song's folder
    relative to ``out_dir`` (default: the file's name, :func:`plugin.naming.song_name`). Raises
    QueryError for a query that cannot be honoured or two that would write the same file."""
    t0 = time.time()
    path = Path(path)
    folder = Path(out_dir) / (song_dir if song_dir is not None else song_name(path))
    outs = [Output(q, r, folder / name) for q, r, name in planned_outputs(parse_queries(queries), residual, fmt)]

    def rows(status, error="", audio_s=0.0, which=None):
        return [Result(str(path), o.label, status, str(o.path) if status == "done" else "", error,
                       round(time.time() - t0, 3), round(audio_s, 3)) for o in (which or outs)]

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
        notes = _render_outputs(separator, info, todo, conds, fmt, bit_depth, block_seconds, context_seconds,
                                cancel, on_progress or (lambda n: None))
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
    """Called with the frames of each block of one file's outputs written; reports seconds done."""

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


def render(inputs: Sequence, queries: Sequence[str], out_dir, *, residual: bool = False, bundle=None, separator=None,
           fmt: str = "wav", bit_depth: str = "24", overwrite: bool = False, block_seconds: Optional[float] = None,
           context_seconds: Optional[float] = None, providers=None, threads=None,
           progress: Optional[RenderProgressFn] = None, cancel: CancelFn = None, split: bool = False) -> Report:
    """Render stems of every input for every query (with ``split``: the stems of the families
    present plus "other", see :mod:`plugin.splitfile`; then ``queries`` must be empty).

    ``queries`` are in the query language (:mod:`plugin.query`); one that cannot be honoured raises
    QueryError before anything is loaded or separated.
    ``progress(file, file_done_s, file_total_s, all_done_s, all_total_s)`` in seconds of audio written;
    ``cancel`` (a threading.Event) stops after aborting the current file (nothing partial is kept).

    Raises SepBoardError only for problems that concern every file (no queries, bad bundle,
    unusable --out, an output format that cannot be written); per-file problems are rows of the
    returned Report.
    """
    if split and queries:
        raise QueryError("--split writes the model's families; give it no --query")
    parsed = [] if split else prepare_queries(queries, residual, fmt, bit_depth)
    check_output(fmt, bit_depth)
    out_dir = Path(out_dir).expanduser()
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"--out {out_dir} exists and is not a folder")
    if separator is None:
        from .separator import Separator

        separator = Separator.load(bundle, providers=providers, threads=threads)
    separator.plan_for(1, separator.sample_rate, block_seconds, context_seconds)  # bad values: refused here
    conds = {} if split else query_conditions(separator, parsed)  # each description encoded once
    found, errors = collect_inputs(inputs, exclude=out_dir)
    files = [i.path for i in found]
    song_dirs = {i.path: i.song_dir for i in found}
    report = Report(errors=errors)
    infos: Dict[Path, Optional[FileInfo]] = {f: _probe(f) for f in files}  # each header read once
    durations = {f: info.seconds if info is not None else 0.0 for f, info in infos.items()}
    tracker = _Progress(progress, sum(durations.values(), 0.0))
    for f in files:
        if is_cancelled(cancel):
            report.results += [Result(str(f), q.normalised, "cancelled", error="cancelled before start") for q in parsed]
            continue
        if split:
            from .splitfile import split_file

            report.results += split_file(separator, f, out_dir, fmt=fmt, bit_depth=bit_depth, overwrite=overwrite,
                                         block_seconds=block_seconds, context_seconds=context_seconds, cancel=cancel,
                                         info=infos[f], song_dir=song_dirs[f],
                                         on_progress=tracker.reader(f, infos[f], durations[f]))
        else:
            report.results += render_file(separator, f, parsed, out_dir, conds=conds, residual=residual, fmt=fmt,
                                          bit_depth=bit_depth, overwrite=overwrite, block_seconds=block_seconds,
                                          context_seconds=context_seconds, cancel=cancel, info=infos[f],
                                          song_dir=song_dirs[f], on_progress=tracker.reader(f, infos[f], durations[f]))
        tracker.finish(f, durations[f])
    return report
