"""The SepBoard main window: the layout shell that holds the widgets and the controllers together.

The window builds the shared services (session, undo stack, timeline state, task manager, prompter),
lays out the query bar, task list, timeline and status bar, creates one controller per concern
(:mod:`gui.controllers`) and wires actions (:mod:`gui.actions`) and signals to them. It decides how
things look; the controllers decide what happens, and reach the window only through the interfaces
in :mod:`gui.controllers.ports`, which it implements.

Everything a test needs is injectable: the Separator (or a bundle path), the playback backend
(:class:`gui.playback.FakeBackend` records what it mixed), the Prompter (:class:`gui.dialogs.AutoPrompter`
answers questions without showing dialogs) and the autosave interval.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import List, Optional, Sequence

from PyQt6.QtCore import Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QUndoStack
from PyQt6.QtWidgets import QLabel, QMainWindow, QVBoxLayout, QWidget

from .actions import HostActions
from .controllers.context import HostContext
from .controllers.documents import DocumentController
from .controllers.effects import EffectRenderer
from .controllers.exporting import ExportController
from .controllers.location import SessionLocation
from .controllers.model import ModelController
from .controllers.saving import SaveController
from .controllers.separation import SeparationController
from .controllers.split import SplitController
from .controllers.track_edits import TrackEditController
from .controllers.transport import TransportController
from .dialogs import Prompter, short_path
from .panels import QueryPanel, TaskPanel
from .playback import Backend, SoundDeviceBackend
from .prefs import Preferences
from .session import Session
from .style import STYLE
from .tasks import TaskManager
from .timeline import TimelineState, TimelineWidget, fmt_time

SAY_SECONDS = 6.0  # how long an answer stays on the source line before it shows the source again
HINT_DELAY_MS = 600  # typing pause after which the query's unknown wordings are shown under the field
NO_SOURCE_TEXT = "Open an audio file (Ctrl+O) or drop one here, then type what to extract."


def _repolish(widget) -> None:
    """Re-apply the style sheet after a dynamic property the sheet selects on changed."""
    widget.style().unpolish(widget)
    widget.style().polish(widget)


class MainWindow(QMainWindow):
    """The host window. Its signals are the host's public events; its controllers are public attributes."""

    modelReady = pyqtSignal(object)  # Separator or None (failed / missing)
    separationFinished = pyqtSignal(list)  # uids of the tracks added
    splitFinished = pyqtSignal(list)  # uids of the stems added by "Split into stems"
    saved = pyqtSignal(str)  # session folder
    exported = pyqtSignal(list)  # paths
    firstWaveformPainted = pyqtSignal(float)  # perf_counter() of the first lane painted with audio
    sessionLoaded = pyqtSignal()

    def __init__(self, separator=None, bundle=None, backend: Optional[Backend] = None,
                 prompter: Optional[Prompter] = None, autosave_seconds: float = 30.0, load_model: bool = True,
                 parent=None):
        super().__init__(parent)
        self.setWindowTitle("SepBoard")
        self.setAcceptDrops(True)
        self.setStyleSheet(STYLE)
        self.prompter = prompter or Prompter(self)
        self.session = Session(self)
        self.undo = QUndoStack(self)
        self.state = TimelineState(self)
        self.tasks = TaskManager(self)
        self.prefs = Preferences()
        self.first_paint_at: Optional[float] = None
        self._build_panels()
        self._build_controllers(backend if backend is not None else SoundDeviceBackend(), bundle, autosave_seconds)
        self.timeline = TimelineWidget(self.session, self.state, self.track_edits)
        self._lay_out()
        self.host_actions = HostActions(self, self.undo, self.state, documents=self.documents, saving=self.saving,
                                        exporting=self.exporting, model=self.model, track_edits=self.track_edits,
                                        transport=self.transport, split=self.split, focus_query=self.focus_query)
        self._wire()
        self.model.start(separator, load_model)
        self.update_title()
        self.update_source_label()
        self.update_enabled()

    # ================================================================================================
    # construction
    # ================================================================================================
    def _build_panels(self) -> None:
        self.panel = QueryPanel()
        self.task_panel = TaskPanel(self.tasks)
        self.model_label = QLabel("Model: loading…")
        self.model_label.setObjectName("modelLabel")
        self.play_label = QLabel()
        self.play_label.setObjectName("playLabel")

    def _build_controllers(self, backend: Backend, bundle, autosave_seconds: float) -> None:
        ctx = HostContext(self.session, self.undo, self.state, self.tasks, self.prompter, self)
        self.location = SessionLocation()
        self.effects = EffectRenderer(ctx)
        self.track_edits = TrackEditController(ctx, self.effects, self, self)
        self.model = ModelController(ctx, self, bundle, self, prefs=self.prefs, dialog_parent=self)
        self.transport = TransportController(ctx, backend, self, self)
        self.separation = SeparationController(ctx, self, self.model, self.track_edits, self.location, self)
        self.split = SplitController(ctx, self.model, self.separation, self.location, self)
        self.saving = SaveController(ctx, self.location, self.track_edits, autosave_seconds, self)
        self.exporting = ExportController(ctx, self.location, self, self, prefs=self.prefs)
        self.documents = DocumentController(ctx, self.location, self.saving, self.track_edits, self.effects,
                                            self.transport, self.separation, self)

    def _lay_out(self) -> None:
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.panel)
        lay.addWidget(self.task_panel)
        lay.addWidget(self.timeline, 1)
        self.setCentralWidget(central)
        self.statusBar().addPermanentWidget(self.play_label)
        self.statusBar().addPermanentWidget(self.model_label)

    def _wire(self) -> None:
        self.panel.separateRequested.connect(lambda: self.separation.separate())
        self.panel.splitRequested.connect(lambda: self.split.split())
        self.panel.clearScopeRequested.connect(lambda: self.state.set_selection(None))
        self.hint_timer = QTimer(self, singleShot=True, interval=HINT_DELAY_MS)
        self.hint_timer.timeout.connect(lambda: self.panel.show_hint(self.separation.wording_hints(self.query_text())))
        self.panel.query.textEdited.connect(lambda _: (self.panel.show_hint([]), self.hint_timer.start()))
        self.split.finished.connect(self.splitFinished)
        self.session.tracksChanged.connect(self._tracks_changed)
        self.session.trackChanged.connect(self._track_changed)
        self.session.dirtyChanged.connect(lambda _: self.update_title())
        self.state.seekRequested.connect(self.transport.seek)
        self.state.selectionChanged.connect(self.update_source_label)
        self.tasks.ended.connect(lambda _: self.update_enabled())
        self.tasks.started.connect(lambda _: self.update_enabled())
        self.timeline.lanePainted.connect(self.note_paint)
        self.track_edits.currentChanged.connect(self._current_changed)
        self.model.ready.connect(self.modelReady)
        self.separation.finished.connect(self.separationFinished)
        self.saving.saved.connect(self.saved)
        self.exporting.exported.connect(self.exported)
        self.documents.loaded.connect(self.sessionLoaded)

    # ================================================================================================
    # reactions to the session
    # ================================================================================================
    def _tracks_changed(self) -> None:
        self.saving.note_edit()
        self.track_edits.forget_deleted_current()
        self.transport.sync_tracks()
        self.update_source_label()
        self.update_enabled()
        self.update_title()

    def _track_changed(self, uid: str) -> None:
        self.saving.note_edit()
        self.transport.sync_tracks()
        if uid == self.track_edits.current_uid:
            self.update_source_label()

    def _current_changed(self, uid: Optional[str]) -> None:
        self.timeline.set_current(uid)
        self.update_source_label()
        self.update_enabled()

    # ================================================================================================
    # Shell and StatusLine (gui.controllers.ports)
    # ================================================================================================
    def show_status(self, message: str, timeout_ms: int) -> None:
        self.statusBar().showMessage(message, timeout_ms)

    def say(self, message: str, error: bool = False) -> None:
        self.statusBar().showMessage(message, 8000)
        self.panel.source.setText(message)
        self.panel.source.setProperty("error", error)
        _repolish(self.panel.source)
        QTimer.singleShot(int(SAY_SECONDS * 1000), self.update_source_label)

    def update_title(self) -> None:
        session = self.session
        name = session.song if not session.empty else "untitled"
        folder = self.location.session_dir
        where = f" — {short_path(folder)}" if folder else ""
        self.setWindowTitle(f"{'*' if session.dirty else ''}{name}{where} — SepBoard")

    def update_source_label(self) -> None:
        src = self.separation.source_track()
        self.panel.source.setProperty("error", False)
        _repolish(self.panel.source)
        if src is None:
            self.panel.source.setText(NO_SOURCE_TEXT)
            self.panel.show_scope(None)
            return
        sr = self.session.sample_rate or 44100
        region = self.separation.selected_region(src)
        if region:
            a, b = region
            span = f"{fmt_time(a / sr, 0.001)}–{fmt_time(b / sr, 0.001)} ({(b - a) / sr:.1f} s)"
            where = f"only the selection {span}; the rest of the stem stays silent (Esc: the whole track)"
            self.panel.show_scope(f"Selection only: {span}")
        else:
            where = "whole track (drag on the timeline to separate only a part)"
            self.panel.show_scope(None)
        self.panel.source.setText(f"From “{src.name}”: {where}")

    def update_enabled(self) -> None:
        busy = self.separation.busy()
        has_audio = not self.session.empty
        self.panel.button.setEnabled(self.model.can_separate() and has_audio and not busy)
        self.panel.show_busy(busy)
        can_split = self.split.available()
        self.panel.split.setVisible(can_split)
        self.panel.split.setEnabled(can_split and has_audio and not self.split.busy())
        self.host_actions.split.setEnabled(can_split and has_audio)
        for action in (self.host_actions.save, self.host_actions.save_as, self.host_actions.export,
                       self.host_actions.ab):
            action.setEnabled(has_audio)
        backend = self.transport.backend
        self.host_actions.play.setEnabled(backend.available and has_audio)
        if not backend.available:
            self.host_actions.play.setToolTip(backend.message)

    def focus_query(self) -> None:
        self.panel.query.setFocus()
        self.panel.query.selectAll()

    def focus_timeline(self) -> None:
        self.timeline.setFocus()

    # ----- ModelView, PlaybackView, QueryInput ------------------------------------------------------
    def show_model(self, text: str, tooltip: Optional[str] = None, error: Optional[bool] = None) -> None:
        self.model_label.setText(text)
        if tooltip is not None:
            self.model_label.setToolTip(tooltip)
        if error is not None:
            self.model_label.setProperty("error", error)
            _repolish(self.model_label)

    def show_banner(self, text: Optional[str]) -> None:
        self.panel.show_banner(text)

    def show_playback(self, text: str, tooltip: Optional[str] = None) -> None:
        self.play_label.setText(text)
        if tooltip is not None:
            self.play_label.setToolTip(tooltip)

    def show_play_button(self, playing: bool) -> None:
        self.host_actions.show_playing(playing)

    def show_ab(self, original: bool, changed: bool = True) -> None:
        self.host_actions.show_ab(original)
        if changed:
            self.show_status("A: the original mix (Ctrl+B: back to B, the tracks as mixed now)" if original
                             else "B: the tracks as mixed now", 6000)

    def query_text(self) -> str:
        return self.panel.query.text()

    def residual_wanted(self) -> bool:
        return self.panel.residual.isChecked()

    def remember_query(self, query: str) -> List[str]:
        self.panel.query.remember(query)
        return list(self.panel.query.history)

    def set_query_history(self, queries: Sequence[str]) -> None:
        self.panel.query.set_history(queries)

    def show_query_hint(self, unknown) -> None:
        self.hint_timer.stop()
        self.panel.show_hint(unknown)

    # ================================================================================================
    # Qt events: keys, drag and drop, closing
    # ================================================================================================
    def keyPressEvent(self, e):
        """Typing a letter anywhere outside a text field starts a query (Space stays Play/Stop)."""
        text = e.text()
        if (text and text.isprintable() and not text.isspace()
                and not e.modifiers() & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier)):
            self.panel.query.setFocus()
            self.panel.query.setText(text)
            return
        super().keyPressEvent(e)

    def dragEnterEvent(self, e):
        md = e.mimeData()
        if md.hasUrls() and any(u.isLocalFile() for u in md.urls()):
            e.acceptProposedAction()
        else:
            e.ignore()

    def dragMoveEvent(self, e):
        self.dragEnterEvent(e)

    def dropEvent(self, e):
        paths = [Path(u.toLocalFile()) for u in e.mimeData().urls() if u.isLocalFile()]
        e.acceptProposedAction()
        self.documents.drop_paths(paths)

    def closeEvent(self, e):
        if not self.saving.maybe_save("Quit"):
            e.ignore()
            return
        self.shutdown()
        e.accept()

    def shutdown(self) -> None:
        """Stop playback and autosave, cancel and join all work; a clean session drops its recovery folder."""
        self.transport.stop()
        self.saving.stop_autosave()
        self.tasks.shutdown()
        if not self.session.dirty:
            self.location.drop_untitled()

    # ================================================================================================
    # readiness (start-up benchmarks, screenshots)
    # ================================================================================================
    def note_paint(self) -> None:
        if self.first_paint_at is None and self.timeline.lanes_painted():
            self.first_paint_at = time.perf_counter()
            self.firstWaveformPainted.emit(self.first_paint_at)

    def busy(self) -> bool:
        """Work other than autosave is running."""
        return bool([t for t in self.tasks.tasks if t.kind != "autosave"])
