"""Every action of the host window — menu entry, keyboard shortcut, toolbar button — defined in one place.

:class:`HostActions` builds the menus (File, Edit, Transport, View) and the toolbar, and connects each
action to one controller method. A new command of the host is added here, next to its siblings.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence, Union

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QAction, QKeySequence, QUndoStack
from PyQt6.QtWidgets import QMainWindow, QMenu

from .controllers.documents import DocumentController
from .controllers.exporting import ExportController
from .controllers.model import ModelController
from .controllers.saving import SaveController
from .controllers.split import SplitController
from .controllers.track_edits import TrackEditController
from .controllers.transport import TransportController
from .timeline import TimelineState

Shortcut = Union[str, QKeySequence.StandardKey, Sequence[str], None]

PLAY_TEXT = "▶ Play"
STOP_TEXT = "■ Stop"
AB_TEXT = "A/B: original"


class HostActions:
    """The QActions of a main window, one attribute per command (``play``, ``save``, ``zoom_in``…)."""

    def __init__(self, window: QMainWindow, undo: QUndoStack, state: TimelineState, *,
                 documents: DocumentController, saving: SaveController, exporting: ExportController,
                 model: ModelController, track_edits: TrackEditController, transport: TransportController,
                 split: SplitController, focus_query: Callable[[], None]):
        self.window = window
        menus = window.menuBar()
        self._file_menu(menus.addMenu("&File"), documents, saving, exporting, model)
        self._edit_menu(menus.addMenu("&Edit"), undo, state, track_edits, focus_query)
        self.split = self._make("S&plit into stems", split.split, None,
                                "Every instrument family as its own track: a rebalance desk", self.edit_menu)
        self._transport_menu(menus.addMenu("&Transport"), state, transport)
        self._view_menu(menus.addMenu("&View"), state)
        self._toolbar()

    def _make(self, text: str, slot: Callable[[], object], shortcut: Shortcut = None, tip: Optional[str] = None,
              menu: Optional[QMenu] = None) -> QAction:
        """An action of the window (its shortcut works anywhere in it), added to ``menu`` when given."""
        action = QAction(text, self.window)
        if shortcut is not None:
            if isinstance(shortcut, (list, tuple)):
                action.setShortcuts([QKeySequence(s) for s in shortcut])
            else:
                action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.triggered.connect(lambda checked=False: slot())
        self.window.addAction(action)
        if menu is not None:
            menu.addAction(action)
        return action

    def _file_menu(self, menu: QMenu, documents: DocumentController, saving: SaveController,
                   exporting: ExportController, model: ModelController) -> None:
        key = QKeySequence.StandardKey
        self.new = self._make("&New session", documents.new_session, key.New, menu=menu)
        self.open = self._make("&Open audio or session…", documents.open_dialog, key.Open,
                               "Open an audio file (as the mix of a new session) or a session folder", menu)
        self.add = self._make("&Add audio as a track…", documents.add_audio_dialog, "Ctrl+Shift+O", menu=menu)
        menu.addSeparator()
        self.save = self._make("&Save session", saving.save, key.Save, menu=menu)
        self.save_as = self._make("Save session &as…", saving.save_as, "Ctrl+Shift+S", menu=menu)
        self.export = self._make("&Export stems…", exporting.export_dialog, "Ctrl+E",
                                 "Write stems as WAV/FLAC, named like the batch renderer", menu)
        menu.addSeparator()
        self.bundle = self._make("Choose &model…", model.choose_bundle, "Ctrl+M",
                                 "The embedded default, a recent bundle or the official AudioSep bundle", menu)
        menu.addSeparator()
        self.quit = self._make("&Quit", self.window.close, key.Quit, menu=menu)

    def _edit_menu(self, menu: QMenu, undo: QUndoStack, state: TimelineState, track_edits: TrackEditController,
                   focus_query: Callable[[], None]) -> None:
        self.edit_menu = menu
        self.undo = undo.createUndoAction(self.window, "&Undo")
        self.undo.setShortcut(QKeySequence.StandardKey.Undo)
        self.redo = undo.createRedoAction(self.window, "&Redo")
        self.redo.setShortcuts([QKeySequence(QKeySequence.StandardKey.Redo), QKeySequence("Ctrl+Shift+Z")])
        for action in (self.undo, self.redo):
            self.window.addAction(action)
            menu.addAction(action)
        menu.addSeparator()
        self.rename = self._make("Re&name track…", track_edits.rename_current, "F2", menu=menu)
        self.delete = self._make("&Delete track", track_edits.delete_current, QKeySequence.StandardKey.Delete,
                                 menu=menu)
        self.effects = self._make("&Effects…", track_edits.edit_current_effects, menu=menu)
        menu.addSeparator()
        self.clear_selection = self._make("Clear time selection", lambda: state.set_selection(None), "Esc",
                                          menu=menu)
        self.select_all = self._make("Select whole session", lambda: state.set_selection(0, state.length), "Ctrl+A",
                                     menu=menu)
        self.query = self._make("Type a query", focus_query, "Ctrl+L", menu=menu)

    def _transport_menu(self, menu: QMenu, state: TimelineState, transport: TransportController) -> None:
        self.play = self._make("&Play / Stop", transport.toggle_play, "Space", "Play from the playhead (Space)", menu)
        self.home = self._make("Go to &start", lambda: transport.seek(0), "Home", menu=menu)
        self.end = self._make("Go to &end", lambda: transport.seek(state.length), "End", menu=menu)
        menu.addSeparator()
        self.ab = self._make("&A/B: hear the original mix", transport.toggle_original, "Ctrl+B",
                             "Switch between the original mix (A) and the tracks as mixed now (B)", menu)
        self.ab.setCheckable(True)

    def _view_menu(self, menu: QMenu, state: TimelineState) -> None:
        self.zoom_in = self._make("Zoom &in", lambda: state.zoom(2.0), ["Ctrl+=", "Ctrl++"], menu=menu)
        self.zoom_out = self._make("Zoom &out", lambda: state.zoom(0.5), "Ctrl+-", menu=menu)
        self.fit = self._make("&Fit session", state.fit, "Ctrl+0", menu=menu)

    def _toolbar(self) -> None:
        bar = self.window.addToolBar("Main")
        bar.setObjectName("mainToolbar")
        bar.setMovable(False)
        for action in (self.open, self.save, None, self.play, self.home, self.ab, None, self.export):
            if action is None:
                bar.addSeparator()
            else:
                bar.addAction(action)
        self.open.setIconText("Open")
        self.save.setIconText("Save")
        self.play.setIconText(PLAY_TEXT)
        self.home.setIconText("|◀ Start")
        self.ab.setIconText(AB_TEXT)
        self.export.setIconText("Export stems")

    def show_playing(self, playing: bool) -> None:
        """The Play/Stop action reads Stop while playing, Play otherwise."""
        self.play.setIconText(STOP_TEXT if playing else PLAY_TEXT)

    def show_ab(self, original: bool) -> None:
        """The A/B action is checked while the original mix plays."""
        self.ab.setChecked(original)
