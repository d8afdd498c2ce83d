"""Batch stem rendering CLI: ``python -m plugin.render INPUT... --query "bass guitar" --query drums --out DIR``.

Files and folders (recursive) in any format pedalboard/libsndfile read; every query, in the query
language of :mod:`plugin.query` (and, with ``--residual``, its residual) becomes
``<out>/<song>/<query-slug>.<wav|flac>``, written atomically (the library is :mod:`plugin.batch`);
``--split`` writes the stems of the families the model hears plus "other" instead.
A query that cannot be honoured, or two whose outputs would share a file name, is a usage error
before anything runs; one far from every wording the model knows gets a note with suggestions
(:mod:`plugin.vocabulary`) before separating. Existing outputs are skipped unless ``--overwrite``.
A failure is reported once per file and the others still complete. Exit codes: 0 all done (or
skipped), 1 some file failed or the results table could not be written, 2 a usage error (nothing
rendered), 130 interrupted (Ctrl-C), 143 terminated (SIGTERM). The first Ctrl-C or SIGTERM abandons
the current file (nothing partial is kept) and stops; a second stops at once.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from .batch import RenderProgressFn, find_inputs, parse_queries, prepare_queries, render, render_file
from .blocks import DEFAULT_BLOCK_SECONDS, DEFAULT_CONTEXT_SECONDS, OFFLINE_CONTEXT_SECONDS, OFFLINE_MAX_BLOCK_SECONDS
from .errors import SepBoardError
from .formats import BIT_DEPTHS, OUTPUT_FORMATS
from .report import NEAR_SILENT, NEAR_SILENT_DB, Report, Result, near_silent_db, print_summary, silence_note

__all__ = ["main", "render", "render_file", "find_inputs", "Report", "Result", "RenderProgressFn",
           "NEAR_SILENT", "NEAR_SILENT_DB", "near_silent_db", "silence_note", "query_notes"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m plugin.render",
                                description="Separate stems from audio files by text query (SepBoard).")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files or folders (searched recursively)")
    p.add_argument("-q", "--query", action="append", default=[],
                   help="what to extract; repeat for several. Also 'bass and drums' (together), 'guitar, not the "
                        "drums', 'everything but vocals' (README: queries)")
    p.add_argument("--split", action="store_true",
                   help="split into stems: every family the model hears, plus 'other' (the files sum to the input)")
    p.add_argument("-o", "--out", required=True, help="output folder: <out>/<song>/<query>.wav")
    p.add_argument("--residual", action="store_true", help="also write everything-but-the-query (<query>-residual)")
    p.add_argument("--bundle", help="model bundle folder (default: the embedded default model)")
    p.add_argument("--format", choices=list(OUTPUT_FORMATS), default="wav")
    p.add_argument("--bit-depth", choices=list(BIT_DEPTHS), default="24", help="integer formats clip, never wrap")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs (default: skip them)")
    p.add_argument("--block-seconds", type=float, default=None,
                   help=f"block length (default: for light models such as the embedded default the longest that "
                        f"fits the activation budget, at most {OFFLINE_MAX_BLOCK_SECONDS:g} s, balanced over the file; "
                        f"{DEFAULT_BLOCK_SECONDS:g} s for heavy ones)")
    p.add_argument("--context-seconds", type=float, default=None,
                   help=f"context on each side of a block (default {OFFLINE_CONTEXT_SECONDS:g} with the automatic "
                        f"blocks of light models, else {DEFAULT_CONTEXT_SECONDS:g})")
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
    return p


class _Interrupts:
    """SIGINT or SIGTERM while rendering: the first sets ``cancel`` (the current file is abandoned
    cleanly), the second raises KeyboardInterrupt (writers still remove their temp files). Installed
    only on the main thread; restored by :meth:`restore`. ``exit_code`` says which signal came."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, cancel: threading.Event):
        self.cancel = cancel
        self.exit_code = 130
        on_main = threading.current_thread() is threading.main_thread()
        self.previous = {sig: signal.signal(sig, self._on_signal) for sig in self.SIGNALS} if on_main else {}

    def _on_signal(self, signum, frame):
        if signum == signal.SIGTERM:
            self.exit_code = 128 + signal.SIGTERM
        if self.cancel.is_set():
            raise KeyboardInterrupt
        self.cancel.set()
        again = "Ctrl-C" if signum == signal.SIGINT else "a second signal"
        print(f"\nstopping: the current file is abandoned (nothing partial is kept); {again} to quit now",
              file=sys.stderr)

    def restore(self) -> None:
        for sig, previous in self.previous.items():
            signal.signal(sig, previous)


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    providers = ["CPUExecutionProvider"] if args.cpu else None
    cancel = threading.Event()
    interrupts = _Interrupts(cancel)
    try:
        if args.ray is not None and args.int8:
            raise SepBoardError("--int8 runs on this machine's CPU; it is not available with --ray")
        if args.ray is not None and args.split:
            raise SepBoardError("--split runs on this machine; it is not available with --ray (use --query per stem)")
        if args.split and (args.residual or args.query):
            raise SepBoardError("--split writes every family the model hears plus 'other' (everything the kept "
                                "stems do not hold); --query and --residual do not apply")
        if not args.split:  # a query that cannot be honoured, or two outputs of one name: before loading anything
            prepare_queries(args.query, args.residual, args.format, args.bit_depth)
        if args.ray is not None:
            from .distributed import render_ray

            report = render_ray(args.inputs, args.query, args.out, address=None if args.ray == "local" else args.ray,
                                workers=args.workers, gpus_per_worker=args.gpus_per_worker, residual=args.residual,
                                bundle=args.bundle, fmt=args.format, bit_depth=args.bit_depth, overwrite=args.overwrite,
                                block_seconds=args.block_seconds, context_seconds=args.context_seconds,
                                progress=not args.quiet, cancel=cancel)
        else:
            report = _render_cli(args, providers, cancel)
    except KeyboardInterrupt:
        print("\ninterrupted: finished files are kept, nothing partial was written", file=sys.stderr)
        return interrupts.exit_code
    except SepBoardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        interrupts.restore()
    print_summary(report)
    table_ok = _write_results(report, args.results)
    if cancel.is_set():
        return interrupts.exit_code
    return 0 if report.ok and table_ok else 1


def _write_results(report: Report, path) -> bool:
    """Write the results table when asked; False (after saying why) when it cannot be written."""
    if not path:
        return True
    try:
        report.write_table(path)
    except SepBoardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return False
    return True


class _Bars:
    """Two tqdm bars, all files and the current file, in seconds of audio (a RenderProgressFn)."""

    FORMAT = "{l_bar}{bar}| {n:.1f}/{total:.1f} s [{elapsed}<{remaining}]"  # .1f: short files are not 0/0 s

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.total = None
        self.file = None
        self.name = None

    def __call__(self, f, file_done, file_total, done, total) -> None:
        if self.quiet:
            return
        from tqdm import tqdm

        if self.total is None:
            self.total = tqdm(total=max(total, 1e-9), unit="s", desc="all files", position=0, bar_format=self.FORMAT)
        if self.name != f:
            if self.file is not None:
                self.file.close()
            self.file = tqdm(total=max(file_total, 1e-9), unit="s", desc=Path(f).name[:30], position=1,
                             leave=False, bar_format=self.FORMAT)
            self.name = f
        for bar, value in ((self.file, file_done), (self.total, done)):
            bar.n = min(value, bar.total)
            bar.refresh()

    def close(self) -> None:
        for bar in (self.file, self.total):
            if bar is not None:
                bar.close()


def query_notes(separator, queries) -> list:
    """One line per description far from every wording the model knows, with suggestions."""
    from .vocabulary import vocabulary_of

    vocab = vocabulary_of(separator)
    if vocab is None:
        return []
    found = {u.text: u for q in parse_queries(queries) for u in vocab.check_query(q)}
    return [u.message() for u in found.values()]


def _render_cli(args, providers, cancel) -> Report:
    from .separator import Separator

    sep = Separator.load(args.bundle, providers=providers, threads=args.threads,
                         precision="int8" if args.int8 else "fp32")
    if not args.quiet:
        print(f"model: {sep.name} on {sep.bundle.device_label}", file=sys.stderr)
    for line in (query_notes(sep, args.query) if args.query else []):  # before separating: the user may retype
        print(f"note: {line}", file=sys.stderr)
    bars = _Bars(args.quiet)
    try:
        return render(args.inputs, args.query, args.out, residual=args.residual, separator=sep, fmt=args.format,
                      bit_depth=args.bit_depth, overwrite=args.overwrite, block_seconds=args.block_seconds,
                      context_seconds=args.context_seconds, progress=bars, cancel=cancel, split=args.split)
    finally:
        bars.close()


if __name__ == "__main__":
    sys.exit(main())
