"""Edits of single tracks and the current track: the host's :class:`gui.timeline.TrackActions`.

Solo, mute, gain and colour change the session directly; rename and delete go through the undo
stack; effect changes are validated, stored and rendered in the background. The current track is
what "Separate" works on (the mix when there is none); ``currentChanged`` announces a new one.
"""
from __future__ import annotations

from typing import Optional

from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtWidgets import QWidget

from plugin.errors import SepBoardError

from ..panels import EffectsDialog
from ..session import DeleteTrackCommand, RenameTrackCommand
from ..tasks import Task
from ..tracks import validate_effects
from .context import HostContext
from .effects import EffectRenderer

MIN_GAIN_DB = -60.0
MAX_GAIN_DB = 24.0


class TrackEditController(QObject):
    """Implements :class:`gui.timeline.TrackActions` for the open session."""

    currentChanged = pyqtSignal(object)  # uid of the new current track, or None

    def __init__(self, ctx: HostContext, effects: EffectRenderer, dialog_parent: QWidget, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        self.effects = effects
        self.dialog_parent = dialog_parent
        self.current_uid: Optional[str] = None

    # ----- the current track -------------------------------------------------------------------
    def set_current(self, uid: Optional[str]) -> None:
        if uid is not None and self.ctx.session.find(uid) is None:
            uid = None
        self.current_uid = uid
        self.currentChanged.emit(uid)

    def forget_deleted_current(self) -> None:
        """After the track list changed: no current track if it was removed."""
        if self.current_uid and self.ctx.session.find(self.current_uid) is None:
            self.current_uid = None
            self.currentChanged.emit(None)

    def rename_current(self) -> None:
        if self.current_uid:
            self.rename_track_dialog(self.current_uid)

    def delete_current(self) -> None:
        if self.current_uid:
            self.delete_track(self.current_uid)

    def edit_current_effects(self) -> None:
        if self.current_uid:
            self.edit_effects(self.current_uid)

    # ----- mixer settings ------------------------------------------------------------------------
    def set_solo(self, uid: str, on: bool) -> None:
        self.ctx.session.update(uid, solo=bool(on))

    def set_mute(self, uid: str, on: bool) -> None:
        self.ctx.session.update(uid, mute=bool(on))

    def set_gain(self, uid: str, db: float) -> None:
        """Set the fader, clamped to MIN_GAIN_DB..MAX_GAIN_DB."""
        self.ctx.session.update(uid, gain_db=float(max(MIN_GAIN_DB, min(MAX_GAIN_DB, db))))

    def set_color(self, uid: str, color: str) -> None:
        self.ctx.session.update(uid, color=color)

    def choose_color(self, uid: str) -> None:
        track = self.ctx.session.find(uid)
        if track is None:
            return
        color = self.ctx.prompter.get_color(track.color)
        if color:
            self.set_color(uid, color)

    # ----- undoable edits ------------------------------------------------------------------------
    def rename_track(self, uid: str, name: str) -> bool:
        """Rename (undoable); False for an unknown track, an empty name or the same name."""
        track = self.ctx.session.find(uid)
        name = (name or "").strip()
        if track is None or not name or name == track.name:
            return False
        self.ctx.undo.push(RenameTrackCommand(self.ctx.session, uid, name))
        return True

    def rename_track_dialog(self, uid: str) -> None:
        track = self.ctx.session.find(uid)
        if track is None:
            return
        name = self.ctx.prompter.get_text("Rename track", "Track name:", track.name)
        if name is not None:
            self.rename_track(uid, name)

    def delete_track(self, uid: str) -> bool:
        """Delete (undoable); False for an unknown track."""
        if self.ctx.session.find(uid) is None:
            return False
        self.ctx.undo.push(DeleteTrackCommand(self.ctx.session, uid))
        return True

    # ----- effects -------------------------------------------------------------------------------
    def edit_effects(self, uid: str) -> None:
        track = self.ctx.session.find(uid)
        if track is None:
            return
        dialog = EffectsDialog(track.name, track.effects, self.dialog_parent)
        if dialog.exec():
            self.set_track_effects(uid, dialog.effects())

    def set_track_effects(self, uid: str, effects) -> Optional[Task]:
        """Store a new chain (an error message if it is invalid) and render it; the render task, if any."""
        try:
            effects = validate_effects(list(effects))
        except SepBoardError as exc:
            self.ctx.prompter.error("Effects", str(exc))
            return None
        self.ctx.session.update(uid, effects=effects)
        return self.effects.render(uid)
