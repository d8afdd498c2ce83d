"""Batch stem rendering: ``python -m plugin.render INPUT... --query "bass guitar" --query drums --out DIR``.

Files and folders (recursive) in any format pedalboard/libsndfile read; every query (and, with
``--residual``, its residual) becomes ``<out>/<song>/<query-slug>.<wav|flac>``. Each file streams
through the block-wise engine with constant memory (all queries in one pass), its stems are
written to hidden temp files and renamed into place only when the whole file succeeded, so Ctrl-C
or an error never leaves a partial or overwritten output. Existing outputs are skipped unless
``--overwrite``. A failure is reported per file and the others still complete; the exit code is 1
when any file failed (2 for a usage error, 130 when interrupted).

The same as a function for scripts: :func:`render`.
"""
from __future__ import annotations

import argparse
import csv
import logging
import math
import os
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

from .audio import AUDIO_EXTENSIONS, CLIPPED, AtomicAudioWriter, file_info, is_audio_path, wav_truncation
from .errors import AudioError, Cancelled, OutputError, QueryError, SepBoardError
from .naming import stem_path

log = logging.getLogger("sepboard")

READ_SECONDS = 10.0  # decode this much audio at a time


@dataclass
class Result:
    """One row of the results table: one (file, query) pair."""

    file: str
    query: str
    status: str  # done | skipped | failed | cancelled
    output: str = ""
    error: str = ""
    seconds: float = 0.0
    audio_seconds: float = 0.0
    note: str = ""


@dataclass
class Report:
    results: List[Result] = field(default_factory=list)
    errors: List[Tuple[str, str]] = field(default_factory=list)  # inputs that could not even be listed

    @property
    def failed(self) -> List[Result]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.errors

    def counts(self):
        c = {}
        for r in self.results:
            c[r.status] = c.get(r.status, 0) + 1
        return c

    def write_table(self, path) -> Path:
        """Results as CSV (or Parquet when ``path`` ends in .parquet and pyarrow is installed)."""
        path = Path(path)
        rows = [asdict(r) for r in self.results] + [
            asdict(Result(file=f, query="", status="failed", error=e)) for f, e in self.errors]
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        if path.suffix == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pylist(rows), tmp)
        else:
            with open(tmp, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=list(Result.__dataclass_fields__))
                w.writeheader()
                w.writerows(rows)
        os.replace(tmp, path)
        return path


def find_inputs(inputs: Sequence, exclude=None) -> Tuple[List[Path], List[Tuple[str, str]]]:
    """Expand files and folders (recursive) into audio files; report inputs that yield nothing.

    Files under ``exclude`` (the output folder) are not collected from folders, so stems written
    inside an input folder are not separated again on the next run."""
    files: List[Path] = []
    errors: List[Tuple[str, str]] = []
    skip = Path(exclude).expanduser().resolve() if exclude is not None else None

    def wanted(q: Path) -> bool:
        if not q.is_file() or not is_audio_path(q) or q.name.startswith("."):
            return False
        return skip is None or skip not in q.resolve().parents

    for item in inputs:
        p = Path(item).expanduser()
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if wanted(q))
            if not found:
                errors.append((str(p), f"no audio files ({', '.join(AUDIO_EXTENSIONS[:5])}, ...) in folder {p}"))
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            errors.append((str(p), f"input not found: {p}"))
    seen, unique = set(), []
    for f in files:
        k = f.resolve()
        if k not in seen:
            seen.add(k)
            unique.append(f)
    return unique, errors


def _read_chunks(path: Path, frames: int, cancel, on_read: Callable[[int], None]):
    """Decode ``path`` in blocks, checking every sample is finite; raises AudioError if truncated."""
    import numpy as np
    from pedalboard.io import AudioFile

    got = 0
    try:
        with AudioFile(str(path)) as f:
            step = max(1, int(READ_SECONDS * f.samplerate))
            while got < frames:
                if cancel is not None and cancel.is_set():
                    raise Cancelled("cancelled")
                block = f.read(min(step, frames - got))
                if block.shape[-1] == 0:
                    break
                bad = ~np.isfinite(block)
                if bad.any():
                    c, i = np.argwhere(bad)[0]
                    raise AudioError(f"{path} contains NaN/inf samples (first at {(got + i) / f.samplerate:.3f} s, "
                                     f"channel {c}); repair the file before separating it")
                got += block.shape[-1]
                on_read(block.shape[-1])
                yield np.ascontiguousarray(block, dtype=np.float32)
    except (AudioError, Cancelled):
        raise
    except Exception as exc:
        raise AudioError(f"cannot decode {path}: {exc} (corrupt or truncated?)") from None
    if got < frames:
        raise AudioError(f"{path} is truncated: its header promises {frames} frames, only {got} could be read")


NEAR_SILENT_DB = -30.0  # a stem this far below its input is reported: the model did not hear the query there
NEAR_SILENT = "near silent"


def near_silent_db(energy_stem: float, energy_in: float) -> Optional[float]:
    """The stem's level in dB re its input when it is below NEAR_SILENT_DB, else None (also for a silent input)."""
    if energy_in <= 0:
        return None
    level = 10 * math.log10(max(energy_stem, 1e-30) / energy_in)
    return level if level < NEAR_SILENT_DB else None


def silence_note(query: str, name: str, energy_stem: float, energy_in: float) -> str:
    """A line for the user when a stem came out near silent (empty otherwise): usually the instrument is
    not in the file, or the model does not recognise it there; either way they should not have to
    open the file to find out."""
    level = near_silent_db(energy_stem, energy_in)
    if level is None:
        return ""
    return (f"{name}: {NEAR_SILENT} ({level:.0f} dB re the input): the model did not find {query!r} in this file; "
            "try another wording")


def render_file(separator, path: Path, queries: Sequence[str], out_dir: Path, *, conds=None, residual: bool = False,
                fmt: str = "wav", bit_depth: str = "24", overwrite: bool = False, block_seconds=None,
                context_seconds=None, cancel: Optional[threading.Event] = None,
                on_progress: Optional[Callable[[int], None]] = None) -> List[Result]:
    """Separate one file into one stem per query (plus residuals). Returns one Result per output."""
    import numpy as np

    t0 = time.time()
    path = Path(path)
    outs = []  # (query, residual, path)
    for q in queries:
        outs.append((q, False, stem_path(out_dir, path, q, fmt)))
        if residual:
            outs.append((q, True, stem_path(out_dir, path, q, fmt, residual=True)))

    def rows(status, error="", audio_s=0.0, which=None):
        return [Result(str(path), q + (" (residual)" if r else ""), status, str(o) if status == "done" else "",
                       error, round(time.time() - t0, 3), round(audio_s, 3))
                for q, r, o in (which or outs)]

    try:
        src = path.resolve()
        for _, _, o in outs:
            if o.resolve() == src:
                raise OutputError(f"output {o} is the input file itself; choose another --out folder")
        todo = outs if overwrite else [t for t in outs if not t[2].exists()]
        done_already = [t for t in outs if t not in todo]
        if not todo:
            return rows("skipped", "outputs exist (use --overwrite to replace them)")
        sr, channels, frames = file_info(path)
        note = wav_truncation(path) or ""
        if note:
            log.warning("%s", note)
        qs = list(dict.fromkeys(q for q, _, _ in todo))
        if conds is None:
            cond = separator._conditions(qs, None)
        else:
            cond = np.stack([conds[q] for q in qs])
        writers = []
        try:
            for q, r, o in todo:
                writers.append((qs.index(q), r, AtomicAudioWriter(o, sr, channels, fmt, bit_depth)))
            dry = None
            if residual:
                from .separator import _Buffer

                dry = _Buffer(channels)

            energy_in = [0.0]
            energy_out = np.zeros(len(qs))

            def chunks():
                for block in _read_chunks(path, frames, cancel, on_progress or (lambda n: None)):
                    energy_in[0] += float(np.dot(block.ravel(), block.ravel()))
                    if dry is not None:
                        dry.append(block)
                    yield block

            cancel_fn = (lambda: cancel.is_set()) if cancel is not None else None
            for y in separator.iter_separate(chunks(), sr, cond, channels, frames, block_seconds or None,
                                             context_seconds, cancel_fn):
                m = y.shape[-1]
                energy_out += np.einsum("qcn,qcn->q", y, y, dtype=np.float64)
                x = None
                if dry is not None:
                    x = dry.view(0, m).copy()
                    dry.drop(m)
                for qi, r, w in writers:
                    w.write(x - y[qi] if r else y[qi])
            for _, _, w in writers:
                w.commit()
        except BaseException:
            for _, _, w in writers:
                w.abort()
            raise
        res = rows("done", audio_s=frames / sr, which=todo)
        for r, (qi, resid, w) in zip(res, writers):
            clip = w.clip_note()
            if clip:
                log.warning("%s", clip)
            quiet = "" if resid else silence_note(qs[qi], w.path.name, energy_out[qi], energy_in[0])
            r.note = "\n".join(n for n in (note, clip, quiet) if n)
        if done_already:
            res += rows("skipped", "output exists (use --overwrite to replace it)", which=done_already)
        return res
    except Cancelled:
        return rows("cancelled", "cancelled; no partial files were left")
    except KeyboardInterrupt:
        raise
    except SepBoardError as exc:
        return rows("failed", str(exc))


def render(inputs: Sequence, queries: Sequence[str], out_dir, *, residual: bool = False, bundle=None, separator=None,
           fmt: str = "wav", bit_depth: str = "24", overwrite: bool = False, block_seconds: Optional[float] = None,
           context_seconds: Optional[float] = None, providers=None, threads=None,
           progress: Optional[Callable[[str, float, float, float, float], None]] = None,
           cancel: Optional[threading.Event] = None) -> Report:
    """Render stems of every input for every query.

    ``progress(file, file_done_s, file_total_s, all_done_s, all_total_s)`` in seconds of audio;
    ``cancel`` (a threading.Event) stops after aborting the current file (nothing partial is kept).

    Raises SepBoardError only for problems that concern every file (no queries, bad bundle,
    unusable --out); per-file problems are rows of the returned Report.
    """
    from .text import clean_query

    if not queries:
        raise QueryError("no --query given: say what to extract, e.g. --query 'bass guitar'")
    queries = [clean_query(q) for q in queries]
    if fmt not in ("wav", "flac"):
        raise OutputError(f"unsupported --format {fmt!r}; use wav or flac")
    if fmt == "flac" and bit_depth == "32f":
        raise OutputError("FLAC cannot store 32-bit float; use --bit-depth 16 or 24, or --format wav")
    out_dir = Path(out_dir).expanduser()
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"--out {out_dir} exists and is not a folder")
    if separator is None:
        from .separator import Separator

        separator = Separator.load(bundle, providers=providers, threads=threads)
    conds = dict(zip(queries, separator._conditions(queries, None)))  # encode each query once
    files, errors = find_inputs(inputs, exclude=out_dir)
    report = Report(errors=errors)
    for f, e in errors:
        log.error("%s", e)
    total = 0.0
    durations = {}
    for f in files:
        try:
            sr, _, n = file_info(f)
            durations[f] = n / sr
        except AudioError:
            durations[f] = 0.0
        total += durations[f]
    done = 0.0
    for f in files:
        if cancel is not None and cancel.is_set():
            report.results += [Result(str(f), q, "cancelled", error="cancelled before start") for q in queries]
            continue
        sr_f = None
        try:
            sr_f = file_info(f)[0]
        except AudioError:
            pass
        state = {"done": done, "file": 0.0}

        def on_progress(n, f=f, sr_f=sr_f):
            if sr_f:
                state["done"] += n / sr_f
                state["file"] += n / sr_f
                if progress:
                    progress(str(f), state["file"], durations[f], state["done"], total)

        rows = render_file(separator, f, queries, out_dir, conds=conds, residual=residual, fmt=fmt,
                           bit_depth=bit_depth, overwrite=overwrite, block_seconds=block_seconds,
                           context_seconds=context_seconds, cancel=cancel, on_progress=on_progress)
        for r in rows:
            if r.status == "failed":
                log.error("%s: %s", f, r.error)
        report.results += rows
        done += durations[f]
        if progress:
            progress(str(f), durations[f], durations[f], done, total)
    return report


def _summary(report: Report, out=None) -> None:
    out = out or sys.stderr
    c = report.counts()
    parts = [f"{c.get(k, 0)} {k}" for k in ("done", "skipped", "failed", "cancelled") if c.get(k)]
    print("summary: " + (", ".join(parts) or "nothing to do") + (f"; {len(report.errors)} input(s) unusable"
                                                                   if report.errors else ""), file=out)
    for f, e in report.errors:
        print(f"  unusable: {e}", file=out)
    noted = set()
    for r in report.results:
        for n in filter(None, r.note.split("\n")):
            if (r.file, n) not in noted:
                noted.add((r.file, n))
                print(f"  note: {n}", file=out)
    if any(CLIPPED in r.note for r in report.results):
        print("  (clipped stems: render again with --bit-depth 32f, or lower the input's level)", file=out)
    seen = set()
    for r in report.failed:
        if r.file not in seen:
            seen.add(r.file)
            print(f"  failed: {r.file}: {r.error}", file=out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m plugin.render",
                                description="Separate stems from audio files by text query (SepBoard).")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files or folders (searched recursively)")
    p.add_argument("-q", "--query", action="append", required=True, help="what to extract; repeat for several")
    p.add_argument("-o", "--out", required=True, help="output folder: <out>/<song>/<query>.wav")
    p.add_argument("--residual", action="store_true", help="also write everything-but-the-query (<query>-residual)")
    p.add_argument("--bundle", help="model bundle folder (default: the embedded default model)")
    p.add_argument("--format", choices=["wav", "flac"], default="wav")
    p.add_argument("--bit-depth", choices=["16", "24", "32f"], default="24", help="integer formats clip, never wrap")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs (default: skip them)")
    p.add_argument("--block-seconds", type=float, default=None,
                   help="block length (default: the longest that fits memory, up to 24 s for light models such "
                        "as the embedded default, balanced over the file; 6 s for heavy ones)")
    p.add_argument("--context-seconds", type=float, default=None,
                   help="context on each side of a block (default 0.5 with the automatic blocks of light models, else 1)")
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads")
    p.add_argument("--cpu", action="store_true", help="use the CPU even when CUDA is available")
    p.add_argument("--int8", action="store_true",
                   help="run the bundle's int8 core (bundles exported with --int8; CPU; faster, approximate)")
    p.add_argument("--results", help="write the per-file results table here (.csv, or .parquet with pyarrow)")
    p.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="render on a Ray cluster (no address: start a local one); needs sepboard[ray]")
    p.add_argument("--workers", type=int, default=None, help="Ray: number of separator actors")
    p.add_argument("--gpus-per-worker", type=float, default=0.0, help="Ray: GPUs per actor (CUDA provider)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    providers = ["CPUExecutionProvider"] if args.cpu else None
    cancel = threading.Event()
    import signal

    def on_sigint(signum, frame):  # first Ctrl-C: finish cleanly; second: stop at once
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        print("\nstopping: the current file is abandoned (nothing partial is kept); Ctrl-C again to quit now",
              file=sys.stderr)

    old = signal.signal(signal.SIGINT, on_sigint) if threading.current_thread() is threading.main_thread() else None
    try:
        if args.ray is not None and args.int8:
            raise SepBoardError("--int8 runs on this machine's CPU; it is not available with --ray")
        if args.ray is not None:
            from .distributed import render_ray

            report = render_ray(args.inputs, args.query, args.out, address=None if args.ray == "local" else args.ray,
                                workers=args.workers, gpus_per_worker=args.gpus_per_worker, residual=args.residual,
                                bundle=args.bundle, fmt=args.format, bit_depth=args.bit_depth, overwrite=args.overwrite,
                                block_seconds=args.block_seconds, context_seconds=args.context_seconds,
                                progress=not args.quiet)
        else:
            report = _render_cli(args, providers, cancel)
    except KeyboardInterrupt:
        print("\ninterrupted: finished files are kept, nothing partial was written", file=sys.stderr)
        return 130
    except SepBoardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if old is not None:
            signal.signal(signal.SIGINT, old)
    if args.results:
        report.write_table(args.results)
    _summary(report)
    if cancel.is_set():
        return 130
    return 0 if report.ok else 1


def _render_cli(args, providers, cancel) -> Report:
    from tqdm import tqdm

    from .separator import Separator

    sep = Separator.load(args.bundle, providers=providers, threads=args.threads,
                         precision="int8" if args.int8 else "fp32")
    if not args.quiet:
        print(f"model: {sep.name} on {sep.bundle.device_label}", file=sys.stderr)
    bars = {}
    fmt = "{l_bar}{bar}| {n:.1f}/{total:.1f} s [{elapsed}<{remaining}]"  # .1f: short files are not 0/0 s

    def progress(f, file_done, file_total, done, total):
        if args.quiet:
            return
        if "total" not in bars:
            bars["total"] = tqdm(total=max(total, 1e-9), unit="s", desc="all files", position=0, bar_format=fmt)
        if bars.get("name") != f:
            if "file" in bars:
                bars["file"].close()
            bars["file"] = tqdm(total=max(file_total, 1e-9), unit="s", desc=Path(f).name[:30], position=1,
                                leave=False, bar_format=fmt)
            bars["name"] = f
        for key, value in (("file", file_done), ("total", done)):
            bars[key].n = min(value, bars[key].total)
            bars[key].refresh()

    try:
        return render(args.inputs, args.query, args.out, residual=args.residual, separator=sep, fmt=args.format,
                      bit_depth=args.bit_depth, overwrite=args.overwrite, block_seconds=args.block_seconds,
                      context_seconds=args.context_seconds, progress=progress, cancel=cancel)
    finally:
        for k in ("file", "total"):
            if k in bars:
                bars[k].close()


if __name__ == "__main__":
    sys.exit(main())
