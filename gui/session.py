"""The session model (tracks + song info) as a QObject, and the undoable edits on it."""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtGui import QUndoCommand

from .project import SessionState
from .tracks import PALETTE, Track


class Session(QObject):
    """Ordered tracks at one sample rate. Views listen to the signals; edits go through here."""

    tracksChanged = pyqtSignal()  # a track was added, removed or moved
    trackChanged = pyqtSignal(str)  # uid: name, colour, gain, solo, mute, effects or processed audio
    dirtyChanged = pyqtSignal(bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.tracks: List[Track] = []
        self.sample_rate: Optional[float] = None
        self.song = "song"
        self.source: Optional[str] = None
        self.history: List[str] = []
        self.view: dict = {}
        self._dirty = False

    # ----- state --------------------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        return self._dirty

    def set_dirty(self, dirty: bool = True) -> None:
        if dirty != self._dirty:
            self._dirty = dirty
            self.dirtyChanged.emit(dirty)

    @property
    def length(self) -> int:
        return max((t.length for t in self.tracks), default=0)

    @property
    def empty(self) -> bool:
        return not self.tracks

    def find(self, uid: str) -> Optional[Track]:
        for t in self.tracks:
            if t.uid == uid:
                return t
        return None

    def index_of(self, uid: str) -> int:
        for i, t in enumerate(self.tracks):
            if t.uid == uid:
                return i
        return -1

    def mix_track(self) -> Optional[Track]:
        for t in self.tracks:
            if t.kind == "mix":
                return t
        return self.tracks[0] if self.tracks else None

    def next_color(self, also_used: Sequence[str] = ()) -> str:
        used = [t.color for t in self.tracks] + list(also_used)
        for c in PALETTE:
            if c not in used:
                return c
        return PALETTE[len(used) % len(PALETTE)]

    def state(self) -> SessionState:
        return SessionState(self.sample_rate or 44100, list(self.tracks), self.song, self.source,
                            list(self.history), dict(self.view))

    def load_state(self, st: SessionState) -> None:
        self.tracks = list(st.tracks)
        self.sample_rate = st.sample_rate
        self.song = st.song
        self.source = st.source
        self.history = list(st.history)
        self.view = dict(st.view)
        self.tracksChanged.emit()

    def clear(self) -> None:
        self.tracks = []
        self.sample_rate = None
        self.song = "song"
        self.source = None
        self.view = {}
        self.tracksChanged.emit()
        self.set_dirty(False)

    # ----- edits (the undo commands call these) --------------------------------------------------
    def insert(self, index: int, track: Track) -> None:
        index = max(0, min(index, len(self.tracks)))
        self.tracks.insert(index, track)
        self.tracksChanged.emit()
        self.set_dirty()

    def remove(self, uid: str) -> Tuple[int, Optional[Track]]:
        i = self.index_of(uid)
        if i < 0:
            return -1, None
        t = self.tracks.pop(i)
        self.tracksChanged.emit()
        self.set_dirty()
        return i, t

    def update(self, uid: str, **props) -> None:
        """Change track properties (name, color, gain_db, mute, solo, effects) and notify."""
        t = self.find(uid)
        if t is None:
            return
        changed = False
        for k, v in props.items():
            if getattr(t, k) != v:
                setattr(t, k, v)
                changed = True
        if changed:
            self.trackChanged.emit(uid)
            self.set_dirty()

    def notify(self, uid: str) -> None:
        """A track's derived data changed (processed audio): views and mixer refresh, not dirty."""
        self.trackChanged.emit(uid)


# ------------------------------------------------------------------------------------------------
# undoable edits (QUndoStack: Ctrl+Z / Ctrl+Shift+Z)
# ------------------------------------------------------------------------------------------------
class AddTracksCommand(QUndoCommand):
    def __init__(self, session: Session, tracks: Sequence[Track], index: Optional[int] = None, text: str = ""):
        names = ", ".join(t.name for t in tracks)
        super().__init__(text or f"add {names}")
        self.session = session
        self.tracks = list(tracks)
        self.index = len(session.tracks) if index is None else index

    def redo(self):
        for k, t in enumerate(self.tracks):
            self.session.insert(self.index + k, t)

    def undo(self):
        for t in self.tracks:
            self.session.remove(t.uid)


class DeleteTrackCommand(QUndoCommand):
    def __init__(self, session: Session, uid: str):
        t = session.find(uid)
        super().__init__(f"delete {t.name if t else uid}")
        self.session = session
        self.uid = uid
        self.index = session.index_of(uid)
        self.track = t

    def redo(self):
        self.index, self.track = self.session.remove(self.uid)

    def undo(self):
        if self.track is not None:
            self.session.insert(self.index, self.track)


class RenameTrackCommand(QUndoCommand):
    def __init__(self, session: Session, uid: str, new: str):
        t = session.find(uid)
        self.old = t.name if t else ""
        super().__init__(f"rename {self.old} to {new}")
        self.session = session
        self.uid = uid
        self.new = new

    def redo(self):
        self.session.update(self.uid, name=self.new)

    def undo(self):
        self.session.update(self.uid, name=self.old)


class SetTrackCommand(QUndoCommand):
    """Change track properties (``Session.update``'s) as one undoable step, e.g. muting the mix under a desk."""

    def __init__(self, session: Session, uid: str, text: str = "", **props):
        t = session.find(uid)
        super().__init__(text or f"change {t.name if t else uid}")
        self.session = session
        self.uid = uid
        self.new = dict(props)
        self.old = {k: getattr(t, k) for k in props} if t else {}

    def redo(self):
        self.session.update(self.uid, **self.new)

    def undo(self):
        self.session.update(self.uid, **self.old)
