"""Saving: save / save as (in the background, or at once before the session is replaced), autosave, and
the question "save your changes?" before unsaved work would be lost.

A save writes ``session.json`` and never replaces one this version cannot read. Autosave writes only
``.autosave.json`` (into the session folder, or the recovery folder of a never-saved session) while
there are unsaved changes; it never touches ``session.json``. A save clears the unsaved mark only if
no edit happened while it ran (``note_edit`` counts edits). ``saved`` carries the session folder.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

from PyQt6.QtCore import QObject, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QGuiApplication
from PyQt6.QtWidgets import QApplication

from plugin.errors import SepBoardError

from .. import project as P
from ..dialogs import short_path
from ..tasks import Task
from .context import HostContext
from .location import SessionLocation
from .track_edits import TrackEditController
from .view_state import capture_view


class SaveController(QObject):
    """Saves the open session to its :class:`SessionLocation`; autosaves every ``autosave_seconds`` (0: off)."""

    saved = pyqtSignal(str)  # session folder

    def __init__(self, ctx: HostContext, location: SessionLocation, track_edits: TrackEditController,
                 autosave_seconds: float = 30.0, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        self.location = location
        self.track_edits = track_edits
        self.generation = 0  # bumps on every edit, so a save knows whether it caught the latest state
        self._autosave_task: Optional[Task] = None
        self._save_task: Optional[Task] = None
        self.autosave_seconds = autosave_seconds
        self.timer = QTimer(self)
        if autosave_seconds and autosave_seconds > 0:
            self.timer.setInterval(int(autosave_seconds * 1000))
            self.timer.timeout.connect(lambda: self.autosave_now())
            self.timer.start()

    def note_edit(self) -> None:
        """The session changed (a save started before this will not clear the unsaved mark)."""
        self.generation += 1

    def _capture(self):
        """The session's state to write, with the current view recorded in it."""
        self.ctx.session.view = {**self.ctx.session.view, **capture_view(self.ctx.state, self.track_edits.current_uid)}
        return self.ctx.session.state()

    # ----- asking ---------------------------------------------------------------------------------
    def maybe_save(self, why: str = "Continue") -> bool:
        """Before replacing the session: True to go on (saved or discarded), False to stay."""
        session = self.ctx.session
        if not session.dirty or session.empty:
            return True
        answer = self.ctx.prompter.ask_save(why, "The session has unsaved changes. Save them first?")
        if answer == "save":
            return self.save(background=False)
        if answer == "discard":
            self.forget_autosave()
            return True
        return False

    def suggested_folder(self) -> str:
        """``<song>-session`` beside the song (or in the working folder)."""
        session = self.ctx.session
        base = Path(session.source).parent if session.source else Path.cwd()
        return str(base / f"{session.song}-session")

    # ----- saving ---------------------------------------------------------------------------------
    def save(self, background: bool = True) -> bool:
        """Save into the session folder (asks for one the first time); False when nothing was started."""
        if self.ctx.session.empty:
            self.ctx.shell.show_status("Nothing to save yet: open an audio file first", 5000)
            return False
        if self.location.session_dir is None:
            return self.save_as(background=background)
        return self._save_to(self.location.session_dir, background)

    def save_as(self, folder=None, background: bool = True) -> bool:
        """Save into ``folder`` (None: ask); False when nothing was started or a foreground save failed."""
        if self.ctx.session.empty:
            self.ctx.shell.show_status("Nothing to save yet: open an audio file first", 5000)
            return False
        folder = folder or self.ctx.prompter.save_folder(self.suggested_folder())
        if not folder:
            return False
        return self._save_to(Path(folder), background)

    def _save_to(self, folder: Path, background: bool = True) -> bool:
        if self._save_task is not None and self._save_task.active:
            self.ctx.shell.show_status("A save is already running", 5000)
            return False
        self.wait_autosave()
        try:
            P.check_writable(folder)
        except SepBoardError as exc:
            self.ctx.prompter.error("Cannot save", str(exc))
            return False
        state = self._capture()
        generation = self.generation
        if not background:
            try:
                QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
                P.save_session(folder, state)
            except SepBoardError as exc:
                self.ctx.prompter.error("Cannot save", str(exc))
                return False
            finally:
                QGuiApplication.restoreOverrideCursor()
            self._finish_save(folder, generation)
            return True
        self._save_task = self.ctx.tasks.start(
            f"Saving {folder.name}", lambda progress, cancel: P.save_session(folder, state, progress, cancel),
            lambda _path: self._finish_save(folder, generation), lambda m: self.ctx.prompter.error("Cannot save", m),
            lambda m: self.ctx.shell.show_status("Save cancelled; the previous session file is unchanged", 5000),
            kind="save")
        return True

    def _finish_save(self, folder: Path, generation: int) -> None:
        self.location.saved_to(folder)
        if self.generation == generation:
            self.ctx.session.set_dirty(False)
            self.ctx.undo.setClean()
        self.ctx.shell.update_title()
        self.ctx.shell.show_status(f"Saved {short_path(folder)}", 5000)
        self.saved.emit(str(folder))

    # ----- autosave -------------------------------------------------------------------------------
    def autosave_now(self, wait: bool = False) -> Optional[Path]:
        """Write .autosave.json (+ new audio) when there are unsaved changes. Never touches session.json.

        Returns the autosave file being written (``wait``: written), or None when there was nothing to do.
        """
        session = self.ctx.session
        if not session.dirty or session.empty:
            return None
        if self._save_task is not None and self._save_task.active:
            return None
        if self._autosave_task is not None and self._autosave_task.active:
            return None
        folder = self.location.autosave_folder()
        state = self._capture()
        if wait:
            try:
                return P.save_session(folder, state, autosave=True)
            except SepBoardError as exc:
                self.ctx.shell.show_status(f"Autosave failed: {exc}", 10000)
                return None
        self._autosave_task = self.ctx.tasks.start(
            "Autosave", lambda progress, cancel: P.save_session(folder, state, progress, cancel, autosave=True),
            lambda _path: self.ctx.shell.show_status(f"Autosaved {time.strftime('%H:%M:%S')}", 3000),
            lambda m: self.ctx.shell.show_status(f"Autosave failed: {m}", 10000), kind="autosave", visible=False)
        return folder / P.AUTOSAVE_FILE

    def wait_autosave(self) -> None:
        """Block until a running autosave has finished (and its result was delivered)."""
        task = self._autosave_task
        if task is not None and task.active:
            task.join()
            QApplication.processEvents()

    def forget_autosave(self) -> None:
        """The unsaved changes are discarded: remove their autosave and any audio only it referred to."""
        self.wait_autosave()
        folder = self.location.session_dir
        if folder is not None:
            P.remove_autosave(folder)
            P.collect_garbage(folder)
        self.location.drop_untitled()

    def stop_autosave(self) -> None:
        self.timer.stop()
