"""Split into stems: every instrument family the model hears as its own track — a rebalance desk.

``Separator.split`` returns the families heard in the track plus "other", which together add up to
the track exactly (a multi-source model gives every family in one pass; a model without a family
head runs a list of queries). They become stem tracks and the split track is muted in
the same undoable step, so at unity faders the desk sounds exactly like the track; each fader and
mute then rebalances it, and the transport's A/B switch (:meth:`TransportController.set_original`)
compares with the original mix. The whole track is split (a time selection does not apply).
``finished`` carries the uids of the tracks added.
"""
from __future__ import annotations

import time
from typing import Dict, List, Optional

import numpy as np
from PyQt6.QtCore import QObject, pyqtSignal

from ..session import AddTracksCommand, SetTrackCommand
from ..tasks import Task
from ..tracks import Track
from .context import HostContext
from .location import SessionLocation
from .model import ModelController
from .separation import SeparationController


def split_tracks(sep, audio: np.ndarray, sr, progress, cancel) -> List[Track]:
    """The split's stems of ``audio`` as stem tracks with peaks, in the split's order (worker thread)."""
    stems: Dict[str, np.ndarray] = sep.split(audio, sr, progress=lambda f: progress(0.95 * f), cancel=cancel)
    made = []
    for family, stem in stems.items():
        a = np.asarray(stem, np.float32).reshape(audio.shape)
        made.append(Track(name=str(family), audio=a, kind="stem", query=str(family)))
        made[-1].ensure_peaks()
    progress(1.0)
    return made


class SplitController(QObject):
    """Splits the source track (the current one, else the mix) of the open session."""

    finished = pyqtSignal(list)  # uids of the tracks added

    def __init__(self, ctx: HostContext, model: ModelController, separation: SeparationController,
                 location: SessionLocation, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        self.model = model
        self.separation = separation
        self.location = location

    def available(self) -> bool:
        return self.model.can_split()

    def busy(self) -> bool:
        return bool(self.ctx.tasks.running("split")) or self.separation.busy()

    def split(self) -> Optional[Task]:
        """Split the source track in the background; the task, or None after saying why not."""
        say = self.ctx.shell.say
        src = self.separation.source_track()
        if not self.available():
            say("This model cannot split into stems (no Separator.split); load the default model "
                "(File ▸ Choose model…), or type what to extract.", error=True)
            return None
        if src is None:
            say("Open an audio file first (Ctrl+O, or drop one on the window).")
            return None
        if self.busy():
            say("A separation is already running; wait for it or cancel it.")
            return None
        sep, audio, sr = self.model.separator, src.audio, self.ctx.session.sample_rate
        session_id, started = self.location.session_id, time.perf_counter()
        return self.ctx.tasks.start(
            f"Splitting {src.name} into stems", lambda progress, cancel: split_tracks(sep, audio, sr, progress, cancel),
            lambda tracks: self._done(src, tracks, session_id, started),
            lambda m: self.ctx.prompter.error("Split failed", m),
            lambda m: self.ctx.shell.show_status("Split cancelled; no track was added", 6000), kind="split")

    def _done(self, src: Track, tracks: List[Track], session_id: str, started: float) -> None:
        session = self.ctx.session
        if session_id != self.location.session_id or session.find(src.uid) is None:
            return
        used: List[str] = []
        for t in tracks:
            t.color = session.next_color(used)
            used.append(t.color)
        undo = self.ctx.undo
        undo.beginMacro(f"split {src.name} into stems")
        undo.push(AddTracksCommand(session, tracks, index=session.index_of(src.uid) + 1))
        undo.push(SetTrackCommand(session, src.uid, f"mute {src.name}", mute=True))
        undo.endMacro()
        names = ", ".join(t.name for t in tracks)
        self.ctx.shell.show_status(
            f"Split “{src.name}” into {len(tracks)} stems ({names}) in {time.perf_counter() - started:.1f} s. "
            f"“{src.name}” is muted: the stems add up to it, so their faders and mutes rebalance it; "
            "Ctrl+B compares with the original (A/B).", 20000)
        self.finished.emit([t.uid for t in tracks])
