"""What a batch render tells its user: one :class:`Result` row per output, the :class:`Report`, its
table file, the notes about an output (truncated input, near silent, clipped) and the summary.

A note is one line ``<kind>: <finding>`` in a row's ``note`` (several are separated by newlines), so
the summary can say each problem once per song: ``note: a song.wav: near silent: sax.wav at -41 dB
re the input; flute.wav at -38 dB re the input (...)``.
"""
from __future__ import annotations

import csv
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from . import atomic
from .audiowrite import CLIPPED
from .errors import OutputError

NEAR_SILENT_DB = -30.0  # a stem this far below its input is reported: the model did not hear the query there
NEAR_SILENT = "near silent"
TRUNCATED = "truncated"
NOTE_KINDS = (TRUNCATED, NEAR_SILENT, CLIPPED)
ADVICE = {NEAR_SILENT: "the model did not find what was asked for in this song; try another wording",
          CLIPPED: "render again with --bit-depth 32f, or lower the input's level"}
STATUSES = ("done", "skipped", "failed", "cancelled")


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

    def counts(self) -> Dict[str, int]:
        c: Dict[str, int] = {}
        for r in self.results:
            c[r.status] = c.get(r.status, 0) + 1
        return c

    def write_table(self, path) -> Path:
        """Results as CSV (or Parquet when ``path`` ends in .parquet and pyarrow is installed), atomically.
        Raises OutputError when it cannot be written (folder not writable, no pyarrow for .parquet)."""
        path = Path(path)
        rows = [asdict(r) for r in self.results] + [
            asdict(Result(file=f, query="", status="failed", error=e)) for f, e in self.errors]
        try:
            pq = None
            if path.suffix == ".parquet":
                import pyarrow as pa
                import pyarrow.parquet as pq
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic.atomic_path(path) as tmp:
                if pq is not None:
                    pq.write_table(pa.Table.from_pylist(rows), tmp)
                else:
                    with open(tmp, "w", newline="") as f:
                        w = csv.DictWriter(f, fieldnames=list(Result.__dataclass_fields__))
                        w.writeheader()
                        w.writerows(rows)
        except ImportError:
            raise OutputError(f"cannot write {path}: a .parquet table needs pyarrow (pip install pyarrow); "
                              "use a .csv name instead") from None
        except OSError as exc:
            raise OutputError(f"cannot write the results table {path}: {exc.strerror or exc}") from None
        return path


def near_silent_db(energy_stem: float, energy_in: float) -> Optional[float]:
    """The stem's level in dB re its input when it is below NEAR_SILENT_DB, else None (also for a silent input)."""
    if energy_in <= 0:
        return None
    level = 10 * math.log10(max(energy_stem, 1e-30) / energy_in)
    return level if level < NEAR_SILENT_DB else None


def silence_note(name: str, energy_stem: float, energy_in: float) -> str:
    """The note for output ``name`` when it came out near silent (empty otherwise): usually the
    instrument is not in the file, or the model does not recognise it there; either way the user
    should not have to open the file to find out."""
    level = near_silent_db(energy_stem, energy_in)
    if level is None:
        return ""
    return f"{NEAR_SILENT}: {name} at {level:.0f} dB re the input"


def clip_note(name: str, clipped: int, peak: float) -> str:
    """The note for output ``name`` when an integer format clipped ``clipped`` samples (empty otherwise)."""
    if not clipped:
        return ""
    return f"{CLIPPED}: {name}, {clipped} sample(s), peak {20 * math.log10(peak):+.1f} dBFS"


def truncation_note(text: str) -> str:
    """The note for a truncated input, from :attr:`plugin.audiofile.FileInfo.truncation` (empty when intact)."""
    return f"{TRUNCATED}: {text}" if text else ""


def _kind(line: str) -> Tuple[str, str]:
    """(kind, finding) of a note line; a line of no known kind is its own finding."""
    for kind in NOTE_KINDS:
        if line.startswith(kind + ": "):
            return kind, line[len(kind) + 2:]
    return "", line


def song_notes(report: Report) -> List[str]:
    """One line per song per kind of problem: ``<song>: <kind>: <finding>; <finding> (<advice>)``."""
    grouped: Dict[Tuple[str, str], List[str]] = {}
    for r in report.results:
        for line in filter(None, r.note.split("\n")):
            kind, finding = _kind(line)
            found = grouped.setdefault((r.file, kind), [])
            if finding not in found:
                found.append(finding)
    lines = []
    for (file, kind), findings in grouped.items():
        song = Path(file).name
        text = "; ".join(findings)
        if not text.startswith(song):  # a finding about the input names it already
            text = f"{song}: {kind + ': ' if kind else ''}{text}"
        lines.append(text + (f" ({ADVICE[kind]})" if kind in ADVICE else ""))
    return lines


def failures(report: Report) -> List[str]:
    """One line per failed song per distinct error: ``<song>: <error>``."""
    seen: Dict[str, List[str]] = {}
    for r in report.failed:
        errors = seen.setdefault(r.file, [])
        if r.error not in errors:
            errors.append(r.error)
    return [f"{Path(f).name}: {e}" for f, errors in seen.items() for e in errors]


def print_summary(report: Report, out=None) -> None:
    """The end-of-run summary: counts, unusable inputs, failed songs and notes, each problem once per song."""
    out = out or sys.stderr
    c = report.counts()
    parts = [f"{c.get(k, 0)} {k}" for k in STATUSES if c.get(k)]
    print("summary: " + (", ".join(parts) or "nothing to do") + (f"; {len(report.errors)} input(s) unusable"
                                                                   if report.errors else ""), file=out)
    for f, e in report.errors:
        print(f"  unusable: {e}", file=out)
    for line in failures(report):
        print(f"  failed: {line}", file=out)
    for line in song_notes(report):
        print(f"  note: {line}", file=out)
