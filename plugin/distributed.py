"""Catalog-scale rendering on Ray Data (optional extra: ``scripts/setup.sh --ray``).

    python -m plugin.render --ray [ADDRESS] INPUT... --query drums --out /shared/stems [--workers N]

The input files become a Ray Dataset; ``map_batches`` runs them through a pool of actors, each of
which loads the Separator once (model and query embeddings stay resident) and renders whole files
with exactly the local renderer (``plugin.batch.render_file``): same names, atomic writes and
skip-existing, so re-running a job after a crash resumes where it stopped. Actors with
``num_gpus > 0`` ask for the CUDA provider. A file that fails becomes a row of the results table
(file, query, status, error, seconds); the job goes on. Without an address a local Ray instance is
started on this machine. Cancelling (Ctrl-C in the CLI) stops taking results, shuts the job's
actors down and removes the temp files they were writing; the files already done are reported,
the others are "cancelled".
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from . import atomic
from .batch import parse_queries, prepare_queries, query_conditions, render_file
from .errors import RuntimeMissingError
from .inputs import collect_inputs
from .progress import CancelFn, is_cancelled
from .report import Report, Result

log = logging.getLogger("sepboard")


def import_ray():
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise RuntimeMissingError("Ray is not installed: run scripts/setup.sh --ray in the SepBoard folder "
                                  "(or pip install -e '.[ray]' there: Ray Data + pyarrow)") from exc
    return ray


class SeparatorWorker:
    """Ray actor: one loaded Separator, reused for every file this worker is given."""

    def __init__(self, queries: Sequence[str], out_dir: str, bundle: Optional[str], gpu: bool, threads: int,
                 options: Dict):
        from .separator import Separator

        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if gpu else ["CPUExecutionProvider"]
        t0 = time.time()
        self.sep = Separator.load(bundle, providers=providers, threads=threads)
        self.queries = parse_queries(queries)
        self.conds = query_conditions(self.sep, self.queries)
        self.out_dir = Path(out_dir)
        self.options = options
        self.pid = os.getpid()
        self.load_seconds = time.time() - t0
        self.files_done = 0

    def __call__(self, batch: Dict) -> Dict:
        rows: List[Result] = []
        for path, song_dir in zip(batch["path"], batch["song_dir"]):
            try:
                rows += render_file(self.sep, Path(str(path)), self.queries, self.out_dir, conds=self.conds,
                                    song_dir=str(song_dir), **self.options)
            except Exception as exc:  # a bug must not stop a catalog job: report it as this file's failure
                rows += [Result(str(path), q.normalised, "failed", error=f"{type(exc).__name__}: {exc}")
                         for q in self.queries]
            self.files_done += 1
        cols = {k: [getattr(r, k) for r in rows] for k in Result.__dataclass_fields__}
        cols["worker_pid"] = [self.pid] * len(rows)
        cols["worker_files"] = [self.files_done] * len(rows)
        return cols


def _start(ray, address: Optional[str], workers: Optional[int], cpus_per_worker: float) -> bool:
    """Connect to ``address`` or start a local Ray; True when this call started it."""
    if ray.is_initialized():
        return False
    kw = dict(ignore_reinit_error=True, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    if address:
        ray.init(address=address, **kw)
    else:
        ray.init(num_cpus=max(1, int(workers or os.cpu_count() or 1) * int(max(1, cpus_per_worker))), **kw)
    return True


def _take(out, cancel: CancelFn) -> List[Dict]:
    """The result rows of the job, until it ends or ``cancel`` is set."""
    rows = []
    for row in out.iter_rows():
        rows.append(row)
        if is_cancelled(cancel):
            break
    return rows


def render_ray(inputs: Sequence, queries: Sequence[str], out_dir, *, address: Optional[str] = None,
               workers: Optional[int] = None, gpus_per_worker: float = 0.0, cpus_per_worker: float = 1.0,
               residual: bool = False, bundle=None, fmt: str = "wav", bit_depth: str = "24", overwrite: bool = False,
               block_seconds: Optional[float] = None, context_seconds: Optional[float] = None,
               progress: bool = True, shutdown: Optional[bool] = None, cancel: CancelFn = None) -> Report:
    """Render every input for every query on Ray; returns the same Report as the local renderer."""
    # one that cannot be honoured, or two outputs with one name: refused before Ray starts
    queries = [q.normalised for q in prepare_queries(queries, residual, fmt, bit_depth)]
    ray = import_ray()
    out_dir = Path(out_dir).expanduser().resolve()
    found, errors = collect_inputs(inputs, exclude=out_dir)
    report = Report(errors=errors)
    if not found:
        return report
    started_here = _start(ray, address, workers, cpus_per_worker)
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = bool(progress)
        n = workers or max(1, int(ray.available_resources().get("GPU" if gpus_per_worker else "CPU", 1)
                                  // (gpus_per_worker or cpus_per_worker)))
        options = dict(residual=residual, fmt=fmt, bit_depth=bit_depth, overwrite=overwrite,
                       block_seconds=block_seconds, context_seconds=context_seconds)
        ds = ray.data.from_items([{"path": str(Path(i.path).resolve()), "song_dir": str(i.song_dir)} for i in found],
                                 override_num_blocks=min(len(found), 200))
        out = ds.map_batches(
            SeparatorWorker,
            fn_constructor_kwargs=dict(queries=queries, out_dir=str(out_dir), bundle=str(bundle) if bundle else None,
                                       gpu=gpus_per_worker > 0, threads=max(1, int(cpus_per_worker)), options=options),
            batch_size=1,
            concurrency=n,
            num_cpus=cpus_per_worker,
            num_gpus=gpus_per_worker or None,
            batch_format="default",
        )
        rows = _take(out, cancel)
    finally:
        if shutdown or (shutdown is None and started_here) or is_cancelled(cancel):
            ray.shutdown()  # also stops the actors still rendering when cancelled
        _clean_after(out_dir, found)
    return _report(report, rows, found, queries, cancel)


def _clean_after(out_dir: Path, found, wait_s: float = 10.0) -> None:
    """Remove the temp files of actors stopped mid-file. ``ray.shutdown`` returns before the actor
    processes are gone, and a live writer's file is never removed, so wait (a little) for them."""
    deadline = time.time() + wait_s
    folders = {out_dir / i.song_dir for i in found}
    while True:
        left = []
        for folder in folders:
            atomic.clean_stale(folder, older_than=0)
            left += atomic.temp_files(folder)
        if not left or time.time() > deadline:
            return
        time.sleep(0.2)


def _report(report: Report, rows: List[Dict], found, queries: Sequence[str], cancel: CancelFn) -> Report:
    for r in rows:
        report.results.append(Result(**{k: (r[k].item() if hasattr(r[k], "item") else r[k])
                                        for k in Result.__dataclass_fields__}))
    report.workers = sorted({int(r["worker_pid"]) for r in rows})
    if is_cancelled(cancel):
        seen = {r.file for r in report.results}
        report.results += [Result(str(Path(i.path).resolve()), q, "cancelled", error="cancelled before it finished")
                           for i in found if str(Path(i.path).resolve()) not in seen for q in queries]
    report.results.sort(key=lambda r: (r.file, r.query))
    return report
