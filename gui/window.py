"""The SepBoard main window: ties the session, timeline, query bar, playback and tasks together.

Everything a test needs is injectable: the Separator (or a bundle path), the playback backend
(:class:`gui.playback.FakeBackend` records what it mixed), the Prompter (:class:`gui.dialogs.AutoPrompter`
answers questions without showing dialogs) and the autosave interval.
"""
from __future__ import annotations

import logging
import shutil
import time
import uuid
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
from PyQt6.QtCore import Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QAction, QGuiApplication, QKeySequence, QUndoStack
from PyQt6.QtWidgets import QApplication, QLabel, QMainWindow, QVBoxLayout, QWidget

from plugin import report as render  # near_silent_db, NEAR_SILENT (was the CLI module plugin.render)
from plugin.errors import Cancelled, SepBoardError

from . import project as P
from .dialogs import Prompter, short_path
from .panels import EffectsDialog, ExportDialog, QueryPanel, TaskPanel
from .playback import Backend, Mixer, PlaybackError, SoundDeviceBackend
from .session import AddTracksCommand, DeleteTrackCommand, RenameTrackCommand, Session
from .style import STYLE
from .tasks import Task, TaskManager
from .timeline import TimelineState, TimelineWidget, fmt_time
from .tracks import Track, process_effects, validate_effects

log = logging.getLogger("sepboard")

MIN_REGION_SECONDS = 0.05


class MainWindow(QMainWindow):
    modelReady = pyqtSignal(object)  # Separator or None (failed / missing)
    separationFinished = pyqtSignal(list)  # uids of the tracks added
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
        self.backend = backend if backend is not None else SoundDeviceBackend()
        self.mixer = Mixer(out_channels=self.backend.output_channels() if self.backend.available else 2)
        self.separator = None
        self.bundle_path = Path(bundle) if bundle else None
        self.model_error: Optional[str] = None
        self.session_dir: Optional[Path] = None
        self.untitled_dir: Optional[Path] = None
        self.session_id = uuid.uuid4().hex[:12]
        self.current_uid: Optional[str] = None
        self.playing = False
        self.playback_message = "" if self.backend.available else self.backend.message
        self.generation = 0  # bumps on every edit, so a save knows whether it caught the latest state
        self.first_paint_at: Optional[float] = None
        self._fx_tasks = {}
        self._autosave_task: Optional[Task] = None
        self._save_task: Optional[Task] = None

        # ----- widgets ----------------------------------------------------------------------------
        self.panel = QueryPanel()
        self.panel.separateRequested.connect(lambda: self.separate())
        self.task_panel = TaskPanel(self.tasks)
        self.timeline = TimelineWidget(self.session, self.state, self)
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.panel)
        lay.addWidget(self.task_panel)
        lay.addWidget(self.timeline, 1)
        self.setCentralWidget(central)
        self.model_label = QLabel("Model: loading…")
        self.model_label.setObjectName("modelLabel")
        self.play_label = QLabel()
        self.play_label.setObjectName("playLabel")
        self.statusBar().addPermanentWidget(self.play_label)
        self.statusBar().addPermanentWidget(self.model_label)
        self._build_actions()

        # ----- wiring -----------------------------------------------------------------------------
        self.session.tracksChanged.connect(self._tracks_changed)
        self.session.trackChanged.connect(self._track_changed)
        self.session.dirtyChanged.connect(lambda _: self._update_title())
        self.state.seekRequested.connect(self.seek)
        self.state.selectionChanged.connect(self._update_source_label)
        self.tasks.ended.connect(lambda _: self._update_enabled())
        self.tasks.started.connect(lambda _: self._update_enabled())
        self.timeline.lanePainted.connect(self.note_paint)
        self.play_timer = QTimer(self)
        self.play_timer.setInterval(30)
        self.play_timer.timeout.connect(self._tick)
        self.autosave_timer = QTimer(self)
        self.autosave_seconds = autosave_seconds
        if autosave_seconds and autosave_seconds > 0:
            self.autosave_timer.setInterval(int(autosave_seconds * 1000))
            self.autosave_timer.timeout.connect(lambda: self.autosave_now())
            self.autosave_timer.start()

        if not self.backend.available:
            self.play_label.setText("Playback off: no audio device")
            self.play_label.setToolTip(self.backend.message)
        if separator is not None:
            self.set_separator(separator)
        elif load_model:
            self.load_model(self.bundle_path)
        else:
            self.model_label.setText("Model: none")
        self._update_title()
        self._update_source_label()
        self._update_enabled()

    # ================================================================================================
    # actions
    # ================================================================================================
    def _act(self, text, slot, shortcut=None, tip=None, menu=None, context=Qt.ShortcutContext.WindowShortcut):
        a = QAction(text, self)
        if shortcut is not None:
            if isinstance(shortcut, (list, tuple)):
                a.setShortcuts([QKeySequence(s) for s in shortcut])
            else:
                a.setShortcut(QKeySequence(shortcut))
            a.setShortcutContext(context)
        if tip:
            a.setStatusTip(tip)
            a.setToolTip(tip)
        a.triggered.connect(lambda checked=False: slot())
        self.addAction(a)
        if menu is not None:
            menu.addAction(a)
        return a

    def _build_actions(self):
        mb = self.menuBar()
        fm = mb.addMenu("&File")
        self.act_new = self._act("&New session", self.new_session, QKeySequence.StandardKey.New, menu=fm)
        self.act_open = self._act("&Open audio or session…", self.open_dialog, QKeySequence.StandardKey.Open,
                                  "Open an audio file (as the mix of a new session) or a session folder", fm)
        self.act_add = self._act("&Add audio as a track…", self.add_audio_dialog, "Ctrl+Shift+O", menu=fm)
        fm.addSeparator()
        self.act_save = self._act("&Save session", self.save, QKeySequence.StandardKey.Save, menu=fm)
        self.act_save_as = self._act("Save session &as…", self.save_as, "Ctrl+Shift+S", menu=fm)
        self.act_export = self._act("&Export stems…", self.export_dialog, "Ctrl+E",
                                    "Write stems as WAV/FLAC, named like the batch renderer", fm)
        fm.addSeparator()
        self.act_bundle = self._act("Load model &bundle…", self.choose_bundle, menu=fm)
        fm.addSeparator()
        self.act_quit = self._act("&Quit", self.close, QKeySequence.StandardKey.Quit, menu=fm)

        em = mb.addMenu("&Edit")
        self.act_undo = self.undo.createUndoAction(self, "&Undo")
        self.act_undo.setShortcut(QKeySequence.StandardKey.Undo)
        self.act_redo = self.undo.createRedoAction(self, "&Redo")
        self.act_redo.setShortcuts([QKeySequence(QKeySequence.StandardKey.Redo), QKeySequence("Ctrl+Shift+Z")])
        for a in (self.act_undo, self.act_redo):
            self.addAction(a)
            em.addAction(a)
        em.addSeparator()
        self.act_rename = self._act("Re&name track…", lambda: self.current_uid and self.rename_track_dialog(self.current_uid),
                                    "F2", menu=em)
        self.act_delete = self._act("&Delete track", lambda: self.current_uid and self.delete_track(self.current_uid),
                                    QKeySequence.StandardKey.Delete, menu=em)
        self.act_fx = self._act("&Effects…", lambda: self.current_uid and self.edit_effects(self.current_uid),
                                menu=em)
        em.addSeparator()
        self.act_clear_sel = self._act("Clear time selection", lambda: self.state.set_selection(None), "Esc",
                                       menu=em)
        self.act_select_all = self._act("Select whole session", lambda: self.state.set_selection(0, self.state.length),
                                        "Ctrl+A", menu=em)
        self.act_query = self._act("Type a query", self.focus_query, "Ctrl+L", menu=em)

        tm = mb.addMenu("&Transport")
        self.act_play = self._act("&Play / Stop", self.toggle_play, "Space", "Play from the playhead (Space)", tm)
        self.act_home = self._act("Go to &start", lambda: self.seek(0), "Home", menu=tm)
        self.act_end = self._act("Go to &end", lambda: self.seek(self.state.length), "End", menu=tm)

        vm = mb.addMenu("&View")
        self.act_zoom_in = self._act("Zoom &in", lambda: self.state.zoom(2.0), ["Ctrl+=", "Ctrl++"], menu=vm)
        self.act_zoom_out = self._act("Zoom &out", lambda: self.state.zoom(0.5), "Ctrl+-", menu=vm)
        self.act_fit = self._act("&Fit session", self.state.fit, "Ctrl+0", menu=vm)

        tb = self.addToolBar("Main")
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        for a in (self.act_open, self.act_save, None, self.act_play, self.act_home, None, self.act_export):
            if a is None:
                tb.addSeparator()
            else:
                tb.addAction(a)
        self.act_open.setIconText("Open")
        self.act_save.setIconText("Save")
        self.act_play.setIconText("▶ Play")
        self.act_home.setIconText("|◀ Start")
        self.act_export.setIconText("Export stems")

    # ================================================================================================
    # model
    # ================================================================================================
    def load_model(self, path=None) -> Optional[Task]:
        from plugin.bundle import DEFAULT_BUNDLE

        if path is None and not DEFAULT_BUNDLE.exists():
            self._model_failed(
                f"No model: the embedded default model is not installed ({DEFAULT_BUNDLE} is missing). "
                "Start with --bundle PATH, or choose File ▸ Load model bundle…. "
                "Everything except separation works meanwhile.", dialog=False)
            return None
        self.model_label.setText("Model: loading…")

        def fn(progress, cancel):
            from plugin import Separator

            sep = Separator.load(path)
            sep.provider  # opens the ONNX session (and shows which provider is used)
            if sep.has_text_encoder:
                sep.embed("bass")  # warm the text encoder so the first query answers quickly
            progress(1.0)
            return sep

        return self.tasks.start("Loading model", fn, self.set_separator,
                                lambda msg: self._model_failed(f"Cannot load the model bundle: {msg}"), kind="model",
                                visible=False)

    def set_separator(self, sep) -> None:
        self.separator = sep
        self.model_error = None
        label = f"Model: {sep.name} · {sep.bundle.device_label}"
        self.model_label.setText(label)
        self.model_label.setToolTip(f"{sep.bundle.path}\nONNX Runtime provider: {sep.provider}\n"
                                    f"{sep.sample_rate} Hz model")
        self.model_label.setProperty("error", False)
        self._repolish(self.model_label)
        if not sep.has_text_encoder:
            self.panel.show_banner(f"The model {sep.name!r} has no text encoder, so it cannot separate by text "
                                   "query. Load a bundle with a text encoder (File ▸ Load model bundle…).")
        else:
            self.panel.show_banner(None)
        self._update_enabled()
        self.modelReady.emit(sep)

    def _model_failed(self, message: str, dialog: bool = True) -> None:
        self.separator = None
        self.model_error = message
        self.model_label.setText("Model: none")
        self.model_label.setToolTip(message)
        self.model_label.setProperty("error", True)
        self._repolish(self.model_label)
        self.panel.show_banner(message)
        self.statusBar().showMessage(message, 15000)
        if dialog:
            self.prompter.error("Model bundle", message)
        self._update_enabled()
        self.modelReady.emit(None)

    def choose_bundle(self):
        path = self.prompter.choose_bundle(str(self.bundle_path or ""))
        if path:
            self.bundle_path = Path(path)
            self.load_model(self.bundle_path)

    @staticmethod
    def _repolish(w):
        w.style().unpolish(w)
        w.style().polish(w)

    # ================================================================================================
    # opening files and sessions
    # ================================================================================================
    def open_dialog(self):
        start = str(self.session_dir or (Path(self.session.source).parent if self.session.source else Path.cwd()))
        path = self.prompter.open_path(start)
        if path:
            self.open_path(path)

    def add_audio_dialog(self):
        path = self.prompter.add_audio_path(str(Path.cwd()))
        if path:
            self.add_audio(path)

    def open_path(self, path) -> Optional[Task]:
        """An audio file becomes the mix of a new session; a session folder (or its session.json) opens."""
        p = Path(path)
        if p.is_dir() or p.name in (P.SESSION_FILE, P.AUTOSAVE_FILE):
            return self.open_session(p)
        if not self.maybe_save("Open another file"):
            return None
        return self._load_audio(p, new_session=True)

    def add_audio(self, path) -> Optional[Task]:
        """Dropped / added audio: the mix of an empty session, otherwise one more track (resampled)."""
        return self._load_audio(Path(path), new_session=self.session.empty)

    def _load_audio(self, path: Path, new_session: bool) -> Task:
        target = None if new_session else self.session.sample_rate
        kind = "mix" if new_session else "audio"
        sid = self.session_id

        def fn(progress, cancel):
            la = P.load_audio_file(path, lambda f: progress(0.85 * f), cancel, target_rate=target)
            t = Track(name=path.stem or "audio", audio=la.audio, kind=kind, source=str(path.resolve()))
            if cancel.is_set():
                raise Cancelled(f"opening {path.name} cancelled")
            t.ensure_peaks()
            progress(1.0)
            return la, t

        def done(result):
            la, t = result
            if new_session:
                self._reset_session()
                t.color = self.session.next_color()
                self.session.sample_rate = la.sample_rate
                self.session.song = P.song_of(path)
                self.session.source = str(path.resolve())
                self.session.insert(0, t)
                self.undo.clear()
                self.session.set_dirty(False)
                self.set_current(t.uid)
                self.state.fit()
                self.timeline.setFocus()
                self.sessionLoaded.emit()
            elif sid != self.session_id:  # another session was opened meanwhile
                return
            else:
                t.color = self.session.next_color()
                self.undo.push(AddTracksCommand(self.session, [t], text=f"add {t.name}"))
            msg = f"Opened {path.name}: {la.audio.shape[0]} ch, {la.sample_rate:g} Hz, " \
                  f"{fmt_time(la.audio.shape[-1] / la.sample_rate, 0.1)}"
            if la.notes:
                msg += " — " + "; ".join(la.notes)
                self.prompter.info("Audio opened with a note", "\n".join(la.notes))
            self.statusBar().showMessage(msg, 10000)

        return self.tasks.start(f"Opening {path.name}", fn, done,
                                lambda m: self.prompter.error(f"Cannot open {path.name}", m),
                                lambda m: self.statusBar().showMessage(f"Opening {path.name} cancelled", 5000),
                                kind="load")

    def open_session(self, path) -> Optional[Task]:
        p = Path(path)
        folder = p if p.is_dir() else p.parent
        if p.is_dir() and not (folder / P.SESSION_FILE).exists() and not (folder / P.AUTOSAVE_FILE).exists():
            self.prompter.error("Cannot open session", f"{folder} is not a SepBoard session folder "
                                                       f"(it has no {P.SESSION_FILE}).")
            return None
        if not self.maybe_save("Open a session"):
            return None
        use_autosave = p.name == P.AUTOSAVE_FILE or (p.is_dir() and not (folder / P.SESSION_FILE).exists())
        if not use_autosave:
            cand = P.recovery_candidate(folder)
            if cand is not None:
                when = time.strftime("%Y-%m-%d %H:%M", time.localtime(cand.stat().st_mtime))
                if self.prompter.ask("Recover unsaved changes?",
                                     f"{folder.name} has changes autosaved at {when} that were never saved "
                                     "(SepBoard may have closed unexpectedly).\n\nRecover them? "
                                     "(No keeps them aside as .autosave-discarded.json and opens the saved session.)",
                                     True):
                    use_autosave = True
                else:
                    P.discard_autosave(folder)

        def fn(progress, cancel):
            return P.load_session(folder, progress, cancel, autosave=use_autosave)

        def done(result):
            st, fold = result
            self._install_session(st, fold, recovered=use_autosave)

        return self.tasks.start(f"Opening session {folder.name}", fn, done,
                                lambda m: self.prompter.error("Cannot open session", m),
                                lambda m: self.statusBar().showMessage("Opening the session was cancelled", 5000),
                                kind="load")

    def _reset_session(self):
        self.stop()
        for t in list(self._fx_tasks.values()) + self.tasks.running("separate"):
            t.cancel()
        self._fx_tasks.clear()
        self._drop_untitled()
        self.session_dir = None
        self.session_id = uuid.uuid4().hex[:12]
        self.session.clear()
        self.undo.clear()
        self.current_uid = None
        self.state.set_selection(None)
        self.state.set_playhead(0)
        self.state.fitted = True

    def _install_session(self, st: P.SessionState, folder: Optional[Path], recovered: bool,
                         untitled: Optional[Path] = None):
        self._reset_session()
        self.session.load_state(st)
        self.session_dir = Path(folder) if folder is not None else None
        self.untitled_dir = untitled
        self.panel.query.set_history(st.history)
        self.undo.clear()
        self.session.set_dirty(recovered)
        mix = self.session.mix_track()
        self.set_current(mix.uid if mix else None)
        self.state.fit()
        self._restore_view(st.view)
        for t in self.session.tracks:
            if t.has_active_effects:
                self._render_effects(t.uid)
        self._update_title()
        where = short_path(folder) if folder else "recovered untitled session"
        self.statusBar().showMessage(("Recovered autosaved changes of " if recovered else "Opened ") + where, 10000)
        self.sessionLoaded.emit()

    def _capture_view(self):
        st = self.state
        self.session.view = {"playhead": int(st.playhead), "selection": list(st.selection) if st.selection else None,
                             "start": float(st.start), "samples_per_pixel": float(st.spp), "fitted": bool(st.fitted),
                             "current": self.current_uid}

    def _restore_view(self, view: dict):
        """Playhead, selection, zoom and current track as they were saved (bad values are ignored)."""
        if not isinstance(view, dict):
            return
        try:
            sel = view.get("selection")
            if isinstance(sel, list) and len(sel) == 2:
                self.state.set_selection(int(sel[0]), int(sel[1]))
            if view.get("playhead") is not None:
                self.state.set_playhead(int(view["playhead"]))
            if view.get("current") and self.session.find(str(view["current"])):
                self.set_current(str(view["current"]))
            if view.get("fitted") is False and view.get("samples_per_pixel"):
                self.state.fitted = False
                self.state.spp = float(view["samples_per_pixel"])
                self.state.scroll_to(float(view.get("start", 0.0)))
                self.state.zoom(1.0)
        except (TypeError, ValueError):
            pass

    def new_session(self):
        if not self.maybe_save("New session"):
            return
        self._reset_session()
        self._update_title()

    def offer_untitled_recovery(self) -> bool:
        """At start-up without a file: offer the autosave of a never-saved session that did not close cleanly."""
        found = P.untitled_recoveries()
        if not found:
            return False
        d = found[0]
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime((d / P.AUTOSAVE_FILE).stat().st_mtime))
        if not self.prompter.ask("Recover unsaved session?",
                                 f"An unsaved session was autosaved at {when} but SepBoard did not close normally.\n\n"
                                 "Recover it? (No keeps it aside in "
                                 f"{short_path(d)}.)", True):
            for x in found:
                P.discard_autosave(x)
            return False
        def failed(msg):
            self.prompter.error("Cannot recover the session", msg)
            P.discard_autosave(d)

        self.tasks.start("Recovering the unsaved session", lambda pr, c: P.load_session(d, pr, c, autosave=True),
                         lambda r: self._install_session(r[0], None, recovered=True, untitled=d), failed,
                         kind="load")
        return True

    # ================================================================================================
    # saving, autosave, closing
    # ================================================================================================
    def maybe_save(self, why: str = "Continue") -> bool:
        """Before replacing the session: True to go on (saved or discarded), False to stay."""
        if not self.session.dirty or self.session.empty:
            return True
        ans = self.prompter.ask_save(why, "The session has unsaved changes. Save them first?")
        if ans == "save":
            return self.save(background=False)
        if ans == "discard":
            self._forget_autosave()
            return True
        return False

    def _suggested_folder(self) -> str:
        base = Path(self.session.source).parent if self.session.source else Path.cwd()
        return str(base / f"{self.session.song}-session")

    def save(self, background: bool = True) -> bool:
        if self.session.empty:
            self.statusBar().showMessage("Nothing to save yet: open an audio file first", 5000)
            return False
        if self.session_dir is None:
            return self.save_as(background=background)
        return self._save_to(self.session_dir, background)

    def save_as(self, folder=None, background: bool = True) -> bool:
        if self.session.empty:
            self.statusBar().showMessage("Nothing to save yet: open an audio file first", 5000)
            return False
        folder = folder or self.prompter.save_folder(self._suggested_folder())
        if not folder:
            return False
        return self._save_to(Path(folder), background)

    def _wait_autosave(self):
        t = self._autosave_task
        if t is not None and t.active:
            t.join()
            QApplication.processEvents()

    def _save_to(self, folder: Path, background: bool = True) -> bool:
        if self._save_task is not None and self._save_task.active:
            self.statusBar().showMessage("A save is already running", 5000)
            return False
        self._wait_autosave()
        try:
            P.check_writable(folder)
        except SepBoardError as exc:
            self.prompter.error("Cannot save", str(exc))
            return False
        self._capture_view()
        state = self.session.state()
        gen = self.generation

        def finish(path):
            old_untitled = self.untitled_dir
            if self.session_dir is not None and Path(self.session_dir).resolve() != folder.resolve():
                P.remove_autosave(self.session_dir)
            self.session_dir = folder
            self.untitled_dir = None
            if old_untitled is not None:
                self._remove_untitled(old_untitled)
            if self.generation == gen:
                self.session.set_dirty(False)
                self.undo.setClean()
            self._update_title()
            self.statusBar().showMessage(f"Saved {short_path(folder)}", 5000)
            self.saved.emit(str(folder))

        if not background:
            try:
                QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
                P.save_session(folder, state)
            except SepBoardError as exc:
                self.prompter.error("Cannot save", str(exc))
                return False
            finally:
                QGuiApplication.restoreOverrideCursor()
            finish(folder)
            return True

        self._save_task = self.tasks.start(f"Saving {folder.name}", lambda pr, c: P.save_session(folder, state, pr, c),
                                           finish, lambda m: self.prompter.error("Cannot save", m),
                                           lambda m: self.statusBar().showMessage(
                                               "Save cancelled; the previous session file is unchanged", 5000),
                                           kind="save")
        return True

    def _untitled_folder(self) -> Path:
        if self.untitled_dir is None:
            self.untitled_dir = P.recovery_root() / self.session_id
        return self.untitled_dir

    def autosave_folder(self) -> Path:
        return self.session_dir if self.session_dir is not None else self._untitled_folder()

    def autosave_now(self, wait: bool = False) -> Optional[Path]:
        """Write .autosave.json (+ new audio) when there are unsaved changes. Never touches session.json."""
        if not self.session.dirty or self.session.empty:
            return None
        if self._save_task is not None and self._save_task.active:
            return None
        if self._autosave_task is not None and self._autosave_task.active:
            return None
        folder = self.autosave_folder()
        self._capture_view()
        state = self.session.state()
        if wait:
            try:
                return P.save_session(folder, state, autosave=True)
            except SepBoardError as exc:
                self.statusBar().showMessage(f"Autosave failed: {exc}", 10000)
                return None

        self._autosave_task = self.tasks.start(
            "Autosave", lambda pr, c: P.save_session(folder, state, pr, c, autosave=True),
            lambda p: self.statusBar().showMessage(f"Autosaved {time.strftime('%H:%M:%S')}", 3000),
            lambda m: self.statusBar().showMessage(f"Autosave failed: {m}", 10000), kind="autosave", visible=False)
        return folder / P.AUTOSAVE_FILE

    def _forget_autosave(self):
        self._wait_autosave()
        if self.session_dir is not None:
            P.remove_autosave(self.session_dir)
            P.collect_garbage(self.session_dir)
        self._drop_untitled()

    def _drop_untitled(self):
        d, self.untitled_dir = self.untitled_dir, None
        if d is not None:
            self._remove_untitled(d)

    def _remove_untitled(self, d: Path):
        try:
            root = P.recovery_root().resolve()
            if Path(d).resolve().parent == root:  # only our own recovery folders
                shutil.rmtree(d, ignore_errors=True)
        except OSError:
            pass

    def closeEvent(self, e):
        if not self.maybe_save("Quit"):
            e.ignore()
            return
        self.shutdown()
        e.accept()

    def shutdown(self):
        self.stop()
        self.autosave_timer.stop()
        self.tasks.shutdown()
        if not self.session.dirty:
            self._drop_untitled()

    # ================================================================================================
    # separation
    # ================================================================================================
    def source_track(self) -> Optional[Track]:
        t = self.session.find(self.current_uid) if self.current_uid else None
        return t or self.session.mix_track()

    def selected_region(self, track: Optional[Track] = None) -> Optional[tuple]:
        sel = self.state.selection
        if not sel:
            return None
        n = (track or self.source_track()).length if (track or self.source_track()) else self.state.length
        a, b = max(0, sel[0]), min(n, sel[1])
        return (a, b) if b > a else None

    def separate(self, query: Optional[str] = None, residual: Optional[bool] = None) -> Optional[Task]:
        q = (self.panel.query.text() if query is None else query).strip()
        if not q:
            self._say("Type what to extract first, e.g. “bass guitar”, “drums” or “vocals”.")
            self.focus_query()
            return None
        if self.separator is None:
            self._say(self.model_error or "The model is still loading; try again in a moment.", error=True)
            return None
        if not self.separator.has_text_encoder:
            self._say(f"The model {self.separator.name!r} has no text encoder; load a bundle with one.", error=True)
            return None
        src = self.source_track()
        if src is None:
            self._say("Open an audio file first (Ctrl+O, or drop one on the window).")
            return None
        if self.tasks.running("separate"):
            self._say("A separation is already running; wait for it or cancel it.")
            return None
        sr = self.session.sample_rate
        region = self.selected_region(src)
        if self.state.selection and region is None:
            self._say(f"The time selection lies outside “{src.name}”.", error=True)
            return None
        if region is not None and region[1] - region[0] < MIN_REGION_SECONDS * sr:
            self._say(f"The selection is too short to separate (under {MIN_REGION_SECONDS * 1000:.0f} ms).", error=True)
            return None
        if residual is None:
            residual = self.panel.residual.isChecked()
        self.panel.query.remember(q)
        self.session.history = list(self.panel.query.history)
        sep = self.separator
        audio = src.audio
        src_name = src.name
        quiet = {"db": None}  # the stem's level when it came out near silent

        def fn(progress, cancel):
            if region is None:
                x = audio
            else:
                x = audio[:, region[0]:region[1]]
            stem = sep.separate(x, sr, q, progress=lambda f: progress(0.95 * f), cancel=cancel)
            stem = np.asarray(stem, np.float32).reshape(x.shape)
            quiet["db"] = render.near_silent_db(float(np.vdot(stem, stem)), float(np.vdot(x, x)))
            made = []
            if region is None:
                full = stem
            else:
                full = np.zeros_like(audio)
                full[:, region[0]:region[1]] = stem
            made.append(Track(name=q, audio=full, kind="stem", query=q, region=region))
            if residual:
                rest = x - stem
                if region is None:
                    full_r = rest
                else:
                    full_r = np.zeros_like(audio)
                    full_r[:, region[0]:region[1]] = rest
                made.append(Track(name=f"{q} (residual)", audio=full_r, kind="residual", query=q, region=region))
            for t in made:
                t.ensure_peaks()
            progress(1.0)
            return made

        t0 = time.perf_counter()
        sid = self.session_id
        label = f"Separating “{q}” from {src_name}" + (
            f" ({fmt_time(region[0] / sr, 0.1)}–{fmt_time(region[1] / sr, 0.1)})" if region else "")

        def done(tracks: List[Track]):
            if task.is_cancelled or sid != self.session_id:  # cancelled, or another session was opened
                return
            used = []
            for t in tracks:
                t.color = self.session.next_color(used)
                used.append(t.color)
            self.undo.push(AddTracksCommand(self.session, tracks, text=f"separate {q}"))
            msg = f"Added “{q}”{' and its residual' if residual else ''} in {time.perf_counter() - t0:.1f} s"
            if quiet["db"] is not None:  # say so: a silent track looks like a failed one
                msg += (f"; it is {render.NEAR_SILENT} ({quiet['db']:.0f} dB re the source): the model did not find "
                        f"“{q}” here, try another wording")
            self.statusBar().showMessage(msg, 15000 if quiet["db"] is not None else 8000)
            self.separationFinished.emit([t.uid for t in tracks])

        task = self.tasks.start(label, fn, done, lambda m: self.prompter.error("Separation failed", m),
                                lambda m: self.statusBar().showMessage("Separation cancelled; no track was added", 6000),
                                kind="separate")
        return task

    def cancel_separation(self):
        for t in self.tasks.running("separate"):
            t.cancel()

    def keyPressEvent(self, e):
        """Typing a letter anywhere outside a text field starts a query (Space stays Play/Stop)."""
        text = e.text()
        if (text and text.isprintable() and not text.isspace()
                and not e.modifiers() & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier)):
            self.panel.query.setFocus()
            self.panel.query.setText(text)
            return
        super().keyPressEvent(e)

    def focus_query(self):
        self.panel.query.setFocus()
        self.panel.query.selectAll()

    def _say(self, msg: str, error: bool = False):
        self.statusBar().showMessage(msg, 8000)
        self.panel.source.setText(msg)
        self.panel.source.setProperty("error", error)
        self._repolish(self.panel.source)
        QTimer.singleShot(6000, self._update_source_label)

    # ================================================================================================
    # tracks
    # ================================================================================================
    def set_current(self, uid: Optional[str]):
        if uid is not None and self.session.find(uid) is None:
            uid = None
        self.current_uid = uid
        self.timeline.set_current(uid)
        self._update_source_label()
        self._update_enabled()

    def set_solo(self, uid, on: bool):
        self.session.update(uid, solo=bool(on))

    def set_mute(self, uid, on: bool):
        self.session.update(uid, mute=bool(on))

    def set_gain(self, uid, db: float):
        self.session.update(uid, gain_db=float(max(-60.0, min(24.0, db))))

    def set_color(self, uid, color: str):
        self.session.update(uid, color=color)

    def choose_color(self, uid):
        t = self.session.find(uid)
        if t is None:
            return
        c = self.prompter.get_color(t.color)
        if c:
            self.set_color(uid, c)

    def rename_track(self, uid, name: str) -> bool:
        t = self.session.find(uid)
        name = (name or "").strip()
        if t is None or not name or name == t.name:
            return False
        self.undo.push(RenameTrackCommand(self.session, uid, name))
        return True

    def rename_track_dialog(self, uid):
        t = self.session.find(uid)
        if t is None:
            return
        name = self.prompter.get_text("Rename track", "Track name:", t.name)
        if name is not None:
            self.rename_track(uid, name)

    def delete_track(self, uid) -> bool:
        if self.session.find(uid) is None:
            return False
        self.undo.push(DeleteTrackCommand(self.session, uid))
        return True

    def edit_effects(self, uid):
        t = self.session.find(uid)
        if t is None:
            return
        dlg = EffectsDialog(t.name, t.effects, self)
        if dlg.exec():
            self.set_track_effects(uid, dlg.effects())

    def set_track_effects(self, uid, effects) -> Optional[Task]:
        try:
            effects = validate_effects(list(effects))
        except SepBoardError as exc:
            self.prompter.error("Effects", str(exc))
            return None
        self.session.update(uid, effects=effects)
        return self._render_effects(uid)

    def _render_effects(self, uid) -> Optional[Task]:
        t = self.session.find(uid)
        if t is None:
            return None
        old = self._fx_tasks.pop(uid, None)
        if old is not None:
            old.cancel()
        if not t.has_active_effects:
            t.processed, t.processed_key = None, None
            self.session.notify(uid)
            return None
        if t.processed is not None and t.processed_key == t.effects_key:
            return None
        key, audio, effects, sr = t.effects_key, t.audio, [dict(e) for e in t.effects], self.session.sample_rate

        def fn(progress, cancel):
            return process_effects(audio, sr, effects, progress, cancel)

        def done(y):
            tr = self.session.find(uid)
            if tr is None:  # deleted meanwhile: keep the result on the object (undo may bring it back)
                tr = t
            if tr.effects_key == key:
                tr.processed, tr.processed_key = y, key
                self.session.notify(uid)

        task = self.tasks.start(f"Effects on {t.name}", fn, done, lambda m: self.prompter.error("Effects", m),
                                kind="effects")
        self._fx_tasks[uid] = task
        task.finished.connect(lambda uid=uid, task=task: self._fx_tasks.get(uid) is task and self._fx_tasks.pop(uid))
        return task

    def _tracks_changed(self):
        self.generation += 1
        if self.current_uid and self.session.find(self.current_uid) is None:
            self.current_uid = None
            self.timeline.set_current(None)
        self.mixer.set_tracks(self.session.tracks)
        self._update_source_label()
        self._update_enabled()
        self._update_title()

    def _track_changed(self, uid):
        self.generation += 1
        self.mixer.set_tracks(self.session.tracks)
        if uid == self.current_uid:
            self._update_source_label()

    # ================================================================================================
    # playback
    # ================================================================================================
    def toggle_play(self):
        if self.playing:
            self.stop()
        else:
            self.play()

    def play(self) -> bool:
        if self.playing:
            return True
        if not self.backend.available:
            msg = self.backend.message or "No audio output; playback is disabled."
            self.statusBar().showMessage(msg, 10000)
            if not getattr(self, "_told_no_device", False):
                self._told_no_device = True
                self.prompter.info("Playback unavailable", msg)
            return False
        if self.session.empty:
            self._say("Nothing to play: open an audio file first.")
            return False
        self.mixer.set_tracks(self.session.tracks)
        sel = self.state.selection
        start = self.state.playhead
        self.mixer.end = None
        if sel and (start < sel[0] or start >= sel[1]):
            start = sel[0]
        if sel:
            self.mixer.end = sel[1]
        if start >= self.mixer.length:
            start = 0
        self.mixer.seek(start)
        self.state.set_playhead(start)
        try:
            self.backend.start(int(round(self.session.sample_rate)), self.mixer.out_channels, self.mixer.render)
        except PlaybackError as exc:
            self.playback_message = str(exc)
            self.play_label.setText("Playback off")
            self.play_label.setToolTip(str(exc))
            self.prompter.error("Playback", str(exc))
            return False
        self.playing = True
        self.play_timer.start()
        self.act_play.setIconText("■ Stop")
        self.play_label.setText("Playing")
        return True

    def stop(self):
        if not self.playing:
            return
        self.backend.stop()
        self.playing = False
        self.play_timer.stop()
        self.state.set_playhead(self.mixer.position)
        self.act_play.setIconText("▶ Play")
        self.play_label.setText("")

    def seek(self, sample: int):
        self.state.set_playhead(int(sample))
        if self.playing:
            self.mixer.end = None
            if self.state.selection and self.state.selection[0] <= sample < self.state.selection[1]:
                self.mixer.end = self.state.selection[1]
            self.mixer.seek(self.state.playhead)

    def _tick(self):
        pos = self.mixer.position
        self.state.set_playhead(pos)
        self.state.ensure_visible(pos)
        if self.mixer.finished:
            self.stop()

    # ================================================================================================
    # export
    # ================================================================================================
    def default_export_dir(self) -> str:
        if self.session_dir is not None:
            return str(self.session_dir / "stems")
        if self.session.source:
            return str(Path(self.session.source).parent / "stems")
        return str(Path.cwd() / "stems")

    def export_dialog(self):
        if self.session.empty:
            self._say("Nothing to export yet.")
            return
        dlg = ExportDialog(self.session.tracks, self.session.song, self.default_export_dir(), self.prompter, self)
        if dlg.exec():
            tracks, out, fmt, depth = dlg.options()
            self.export(tracks, out, fmt, depth)

    def export(self, tracks: Sequence[Track], out_dir, fmt: str = "wav", bit_depth: str = "24",
               overwrite: Optional[bool] = None) -> Optional[Task]:
        tracks = list(tracks)
        if not tracks:
            self.prompter.error("Export", "Choose at least one track to export.")
            return None
        if not out_dir:
            self.prompter.error("Export", "Choose an output folder.")
            return None
        if fmt not in ("wav", "flac"):
            self.prompter.error("Export", f"Unsupported format {fmt!r}; use wav or flac.")
            return None
        if fmt == "flac" and bit_depth == "32f":
            self.prompter.error("Export", "FLAC cannot store 32-bit float; choose 16 or 24 bit, or WAV.")
            return None
        plan = P.export_plan(tracks, out_dir, self.session.song, fmt)
        existing = [p for _, p in plan if p.exists()]
        if existing:
            if overwrite is None:
                overwrite = self.prompter.ask("Replace existing files?",
                                              f"{len(existing)} file(s) already exist, e.g. {existing[0]}.\nReplace them?")
            if not overwrite:
                self.statusBar().showMessage("Export cancelled: existing files were kept", 6000)
                return None
        sr = self.session.sample_rate
        clipped: List[str] = []

        def done(paths):
            folder = Path(paths[0]).parent if paths else Path(out_dir)
            self.statusBar().showMessage(f"Exported {len(paths)} file(s) to {short_path(folder)}", 8000)
            if clipped:
                self.prompter.info("Export clipped", "\n".join(clipped) + "\n\nExport again as 32-bit float WAV, "
                                   "or lower the track faders, to keep the peaks.")
            self.exported.emit([str(p) for p in paths])

        return self.tasks.start(f"Exporting {len(plan)} stem(s)",
                                lambda pr, c: P.export_tracks(plan, sr, fmt, bit_depth, pr, c, notes=clipped), done,
                                lambda m: self.prompter.error("Export failed", m),
                                lambda m: self.statusBar().showMessage(m, 8000), kind="export")

    # ================================================================================================
    # drag and drop
    # ================================================================================================
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
        self.drop_paths(paths)

    def drop_paths(self, paths: Sequence[Path]):
        """Sessions open (the first one); audio files are added (the first becomes the mix of an empty session)."""
        paths = [Path(p) for p in paths]
        sessions = [p for p in paths if P.is_session_path(p)]
        if sessions:
            self.open_session(sessions[0])
            return
        audio = [p for p in paths if p.is_file()]
        if not audio:
            self.prompter.error("Cannot open", "Drop audio files (" + ", ".join(sorted({'.wav', '.flac', '.mp3'}))
                                + "…) or a session folder.")
            return
        first, rest = audio[0], audio[1:]
        if self.session.empty:
            task = self._load_audio(first, new_session=True)
            if rest and task is not None:
                task.succeeded.connect(lambda _: [self.add_audio(p) for p in rest])
        else:
            for p in audio:
                self.add_audio(p)

    # ================================================================================================
    # state shown around the timeline
    # ================================================================================================
    def _update_title(self):
        name = self.session.song if not self.session.empty else "untitled"
        where = f" — {short_path(self.session_dir)}" if self.session_dir else ""
        self.setWindowTitle(f"{'*' if self.session.dirty else ''}{name}{where} — SepBoard")

    def _update_source_label(self):
        src = self.source_track()
        self.panel.source.setProperty("error", False)
        self._repolish(self.panel.source)
        if src is None:
            self.panel.source.setText("Open an audio file (Ctrl+O) or drop one here, then type what to extract.")
            return
        sr = self.session.sample_rate or 44100
        region = self.selected_region(src)
        if region:
            a, b = region
            where = f"selection {fmt_time(a / sr, 0.001)}–{fmt_time(b / sr, 0.001)} ({(b - a) / sr:.1f} s)"
        else:
            where = "whole track (drag on the timeline to separate only a part)"
        self.panel.source.setText(f"From “{src.name}”: {where}")

    def _update_enabled(self):
        busy = bool(self.tasks.running("separate"))
        ok = self.separator is not None and self.separator.has_text_encoder and not self.session.empty
        self.panel.button.setEnabled(ok and not busy)
        self.panel.button.setText("Separating…" if busy else "Separate")
        self.act_save.setEnabled(not self.session.empty)
        self.act_save_as.setEnabled(not self.session.empty)
        self.act_export.setEnabled(not self.session.empty)
        self.act_play.setEnabled(self.backend.available and not self.session.empty)
        if not self.backend.available:
            self.act_play.setToolTip(self.backend.message)

    @property
    def sample_rate(self):
        return self.session.sample_rate

    # ================================================================================================
    # first paint (benchmarks, screenshots)
    # ================================================================================================
    def note_paint(self):
        if self.first_paint_at is None and self.timeline.lanes_painted():
            self.first_paint_at = time.perf_counter()
            self.firstWaveformPainted.emit(self.first_paint_at)

    def busy(self) -> bool:
        return bool([t for t in self.tasks.tasks if t.kind != "autosave"])
