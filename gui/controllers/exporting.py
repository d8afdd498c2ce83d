"""Stem export: the export dialog, checking the request, and writing the files in the background.

Files are named as the batch renderer names them (:func:`gui.project.export_plan`); existing files
are replaced only when the user agrees; a file an integer format had to clip is reported once the
export is done. ``exported`` carries the paths written. The folder offered is never beside the song
(which may be read-only, like the demo inside the installed package): see :meth:`default_export_dir`;
the folder chosen is remembered, in the session and for the next session.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence

from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtWidgets import QWidget

from .. import project as P
from ..dialogs import short_path
from ..panels import ExportDialog
from ..prefs import Preferences, music_dir
from ..tasks import Task
from ..tracks import Track
from .context import HostContext
from .location import SessionLocation

FORMATS = ("wav", "flac")
EXPORT_DIR_KEY = "export_dir"  # in session.view: the folder this session last exported to


def export_refusal(tracks: Sequence[Track], out_dir, fmt: str, bit_depth: str) -> Optional[str]:
    """Why this export cannot run (a message for the user), or None when it can."""
    if not tracks:
        return "Choose at least one track to export."
    if not out_dir:
        return "Choose an output folder."
    if fmt not in FORMATS:
        return f"Unsupported format {fmt!r}; use wav or flac."
    if fmt == "flac" and bit_depth == "32f":
        return "FLAC cannot store 32-bit float; choose 16 or 24 bit, or WAV."
    return None


class ExportController(QObject):
    """Exports tracks of the open session."""

    exported = pyqtSignal(list)  # paths written

    def __init__(self, ctx: HostContext, location: SessionLocation, dialog_parent: QWidget, parent=None, *,
                 prefs: Optional[Preferences] = None):
        super().__init__(parent)
        self.ctx = ctx
        self.location = location
        self.dialog_parent = dialog_parent
        self.prefs = prefs or Preferences()

    def default_export_dir(self) -> str:
        """The folder this session exported to last; else ``stems/`` beside the saved session; else the
        last folder exported to (any session); else ``SepBoard`` in the user's music folder."""
        remembered = self.ctx.session.view.get(EXPORT_DIR_KEY)
        if isinstance(remembered, str) and remembered and Path(remembered).parent.is_dir():
            return remembered
        if self.location.session_dir is not None:
            return str(self.location.session_dir / "stems")
        last = self.prefs.last_export_dir()
        if last and Path(last).parent.is_dir():
            return last
        return str(music_dir() / "SepBoard")

    def remember(self, out_dir) -> None:
        """Offer ``out_dir`` next time, in this session (saved with it) and in the next ones."""
        folder = str(Path(out_dir).expanduser().resolve())
        self.ctx.session.view[EXPORT_DIR_KEY] = folder
        self.prefs.set_last_export_dir(folder)

    def export_dialog(self) -> None:
        session = self.ctx.session
        if session.empty:
            self.ctx.shell.say("Nothing to export yet.")
            return
        dialog = ExportDialog(session.tracks, session.song, self.default_export_dir(), self.ctx.prompter,
                              self.dialog_parent)
        if dialog.exec():
            tracks, out, fmt, depth = dialog.options()
            self.export(tracks, out, fmt, depth)

    def export(self, tracks: Sequence[Track], out_dir, fmt: str = "wav", bit_depth: str = "24",
               overwrite: Optional[bool] = None) -> Optional[Task]:
        """Write ``tracks`` into ``out_dir``; ``overwrite`` None asks before replacing files. The task, or None."""
        tracks = list(tracks)
        problem = export_refusal(tracks, out_dir, fmt, bit_depth)
        if problem:
            self.ctx.prompter.error("Export", problem)
            return None
        plan = P.export_plan(tracks, out_dir, self.ctx.session.song, fmt)
        if not self._may_replace([p for _, p in plan if p.exists()], overwrite):
            self.ctx.shell.show_status("Export cancelled: existing files were kept", 6000)
            return None
        sr = self.ctx.session.sample_rate
        self.remember(out_dir)

        def work(progress, cancel):
            clipped: List[str] = []
            paths = P.export_tracks(plan, sr, fmt, bit_depth, progress, cancel, notes=clipped)
            return paths, clipped

        return self.ctx.tasks.start(f"Exporting {len(plan)} stem(s)", work,
                                    lambda result: self._written(result[0], result[1], out_dir),
                                    lambda m: self.ctx.prompter.error("Export failed", m),
                                    lambda m: self.ctx.shell.show_status(m, 8000), kind="export")

    def _may_replace(self, existing: List[Path], overwrite: Optional[bool]) -> bool:
        if not existing:
            return True
        if overwrite is None:
            overwrite = self.ctx.prompter.ask("Replace existing files?",
                                              f"{len(existing)} file(s) already exist, e.g. {existing[0]}.\n"
                                              "Replace them?")
        return bool(overwrite)

    def _written(self, paths: List[Path], clipped: List[str], out_dir) -> None:
        folder = Path(paths[0]).parent if paths else Path(out_dir)
        self.ctx.shell.show_status(f"Exported {len(paths)} file(s) to {short_path(folder)}", 8000)
        if clipped:
            self.ctx.prompter.info("Export clipped", "\n".join(clipped) + "\n\nExport again as 32-bit float WAV, "
                                   "or lower the track faders, to keep the peaks.")
        self.exported.emit([str(p) for p in paths])
