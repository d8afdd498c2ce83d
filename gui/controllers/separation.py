"""Separation: a text query -> a background task -> a new stem track (and its residual), undoable.

:meth:`SeparationController.separate` is the one entry point. The query is in the query language of
:mod:`plugin.query` ("bass and drums", "guitar, not the drums", "everything but the vocals"); one
that cannot be honoured is said before anything runs, and wordings far from what the model knows
are shown under the field with suggestions (:meth:`wording_hints`). It works on the current track
(the mix when there is none) and on the time selection when there is one: the stem then has the
source's full length with silence outside the selection, so it lines up with the mix sample for
sample. Every refusal is a message, never an exception; ``finished`` carries the uids of the tracks added.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np
from PyQt6.QtCore import QObject, pyqtSignal

from plugin import report as render  # near_silent_db, NEAR_SILENT
from plugin.compound import evaluate_query
from plugin.errors import QueryError
from plugin.query import Query, parse

from ..session import AddTracksCommand
from ..tasks import Task
from ..timeline import fmt_time
from ..tracks import Track
from .context import HostContext
from .location import SessionLocation
from .model import ModelController
from .ports import QueryInput
from .track_edits import TrackEditController

MIN_REGION_SECONDS = 0.05  # a shorter time selection is refused

Region = Tuple[int, int]  # [start, end) in samples


@dataclass
class SeparationResult:
    """New tracks (stem, then residual if asked) and the stem's level in dB re the source when near silent."""

    tracks: List[Track]
    quiet_db: Optional[float]


def _in_place(part: np.ndarray, audio: np.ndarray, region: Optional[Region]) -> np.ndarray:
    """``part`` (the audio of ``region``) at its place in silence as long as ``audio``."""
    if region is None:
        return part
    full = np.zeros_like(audio)
    full[:, region[0]:region[1]] = part
    return full


def separate_tracks(sep, audio: np.ndarray, sr, query: Query, region: Optional[Region], residual: bool,
                    progress, cancel) -> SeparationResult:
    """Separate ``query`` from ``audio`` (or its ``region``) into new tracks with peaks (worker thread).
    The tracks are named by the query's normalised wording, as the batch renderer names its files."""
    x = audio if region is None else audio[:, region[0]:region[1]]
    stem = evaluate_query(sep, x, sr, query, progress=lambda f: progress(0.95 * f), cancel=cancel)
    stem = np.asarray(stem, np.float32).reshape(x.shape)
    quiet_db = render.near_silent_db(float(np.vdot(stem, stem)), float(np.vdot(x, x)))
    name = query.normalised
    made = [Track(name=name, audio=_in_place(stem, audio, region), kind="stem", query=name, region=region)]
    if residual:
        made.append(Track(name=f"{name} (residual)", audio=_in_place(x - stem, audio, region), kind="residual",
                          query=name, region=region))
    for t in made:
        t.ensure_peaks()
    progress(1.0)
    return SeparationResult(made, quiet_db)


@dataclass
class _Job:
    """One running separation, as its result handler needs it."""

    query: str
    residual: bool
    session_id: str
    started_at: float
    task: Optional[Task] = None


class SeparationController(QObject):
    """Separates from the current track of the open session; one separation at a time."""

    finished = pyqtSignal(list)  # uids of the tracks added

    def __init__(self, ctx: HostContext, query: QueryInput, model: ModelController, track_edits: TrackEditController,
                 location: SessionLocation, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        self.query = query
        self.model = model
        self.track_edits = track_edits
        self.location = location

    # ----- what a separation works on --------------------------------------------------------------
    def source_track(self) -> Optional[Track]:
        """The current track, else the mix (None in an empty session)."""
        uid = self.track_edits.current_uid
        track = self.ctx.session.find(uid) if uid else None
        return track or self.ctx.session.mix_track()

    def selected_region(self, track: Optional[Track] = None) -> Optional[Region]:
        """The time selection clipped to ``track`` (default: the source track); None when there is none."""
        sel = self.ctx.state.selection
        if not sel:
            return None
        track = track or self.source_track()
        n = track.length if track else self.ctx.state.length
        a, b = max(0, sel[0]), min(n, sel[1])
        return (a, b) if b > a else None

    def busy(self) -> bool:
        return bool(self.ctx.tasks.running("separate"))

    def restore_history(self, queries: Sequence[str]) -> None:
        """The query history of an opened session."""
        self.query.set_query_history(queries)

    def wording_hints(self, text: str) -> List[Tuple[str, Tuple[str, ...]]]:
        """(description, suggestions) for each description of ``text`` far from what the model knows;
        empty when it is all known, or when ``text`` is not (yet) a query that can be honoured."""
        vocab = self.model.vocabulary
        if vocab is None or not text.strip():
            return []
        try:
            q = parse(text)
        except QueryError:
            return []
        return [(u.text, u.suggestions) for u in vocab.check_query(q)]

    # ----- running ---------------------------------------------------------------------------------
    def separate(self, query: Optional[str] = None, residual: Optional[bool] = None) -> Optional[Task]:
        """Separate ``query`` (default: the query field) from the source track; the task, or None after a message."""
        q = (self.query.query_text() if query is None else query).strip()
        request = self._check(q)
        if request is None:
            return None
        src, region, parsed = request
        if residual is None:
            residual = self.query.residual_wanted()
        self.ctx.session.history = self.query.remember_query(q)
        hints = self.wording_hints(q)
        self.query.show_query_hint(hints)  # a warning, not a refusal: the model may still find it
        return self._start(parsed, src, region, bool(residual))

    def _check(self, q: str) -> Optional[Tuple[Track, Optional[Region], Query]]:
        """(source track, region, parsed query) when a separation of ``q`` can start now; else None,
        having said why."""
        say = self.ctx.shell.say
        sep = self.model.separator
        if not q:
            say("Type what to extract first, e.g. “bass guitar”, “drums and bass” or “everything but the vocals”.")
            self.ctx.shell.focus_query()
            return None
        try:
            parsed = parse(q)
        except QueryError as exc:
            say(str(exc), error=True)
            self.ctx.shell.focus_query()
            return None
        if sep is None:
            say(self.model.error or "The model is still loading; try again in a moment.", error=True)
            return None
        if not sep.has_text_encoder:
            say(f"The model {sep.name!r} has no text encoder; load a bundle with one.", error=True)
            return None
        src = self.source_track()
        if src is None:
            say("Open an audio file first (Ctrl+O, or drop one on the window).")
            return None
        if self.busy():
            say("A separation is already running; wait for it or cancel it.")
            return None
        sr = self.ctx.session.sample_rate
        region = self.selected_region(src)
        if self.ctx.state.selection and region is None:
            say(f"The time selection lies outside “{src.name}”.", error=True)
            return None
        if region is not None and region[1] - region[0] < MIN_REGION_SECONDS * sr:
            say(f"The selection is too short to separate (under {MIN_REGION_SECONDS * 1000:.0f} ms).", error=True)
            return None
        return src, region, parsed

    def _start(self, parsed: Query, src: Track, region: Optional[Region], residual: bool) -> Task:
        sep, audio, sr = self.model.separator, src.audio, self.ctx.session.sample_rate
        q = parsed.normalised
        label = f"Separating “{q}” from {src.name}" + (
            f" ({fmt_time(region[0] / sr, 0.1)}–{fmt_time(region[1] / sr, 0.1)})" if region else "")
        job = _Job(q, residual, self.location.session_id, time.perf_counter())
        job.task = self.ctx.tasks.start(
            label, lambda progress, cancel: separate_tracks(sep, audio, sr, parsed, region, residual, progress, cancel),
            lambda result: self._done(job, result), lambda m: self.ctx.prompter.error("Separation failed", m),
            lambda m: self.ctx.shell.show_status("Separation cancelled; no track was added", 6000), kind="separate")
        return job.task

    def _done(self, job: _Job, result: SeparationResult) -> None:
        if job.task.is_cancelled or job.session_id != self.location.session_id:  # another session was opened
            return
        used: List[str] = []
        for t in result.tracks:
            t.color = self.ctx.session.next_color(used)
            used.append(t.color)
        self.ctx.undo.push(AddTracksCommand(self.ctx.session, result.tracks, text=f"separate {job.query}"))
        msg = (f"Added “{job.query}”{' and its residual' if job.residual else ''} in "
               f"{time.perf_counter() - job.started_at:.1f} s")
        if result.quiet_db is not None:  # say so: a silent track looks like a failed one
            msg += (f"; it is {render.NEAR_SILENT} ({result.quiet_db:.0f} dB re the source): the model did not find "
                    f"“{job.query}” here, try another wording")
        self.ctx.shell.show_status(msg, 15000 if result.quiet_db is not None else 8000)
        self.finished.emit([t.uid for t in result.tracks])

    def cancel(self) -> None:
        """Cancel the running separation, if any."""
        for task in self.ctx.tasks.running("separate"):
            task.cancel()
