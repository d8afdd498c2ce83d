"""What a batch render tells its user: one :class:`Result` row per output, the :class:`Report`, its
table file, and the notes about a stem (near silent, clipped) that the CLI and the host print.
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


def silence_note(query: str, name: str, energy_stem: float, energy_in: float) -> str:
    """A line for the user when a stem came out near silent (empty otherwise): usually the instrument is
    not in the file, or the model does not recognise it there; either way they should not have to
    open the file to find out."""
    level = near_silent_db(energy_stem, energy_in)
    if level is None:
        return ""
    return (f"{name}: {NEAR_SILENT} ({level:.0f} dB re the input): the model did not find {query!r} in this file; "
            "try another wording")


def print_summary(report: Report, out=None) -> None:
    """The end-of-run summary: counts, unusable inputs, each note once, and each failed file."""
    out = out or sys.stderr
    c = report.counts()
    parts = [f"{c.get(k, 0)} {k}" for k in STATUSES if c.get(k)]
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
