"""Opening documents: audio files (the mix of a new session, or one more track), session folders,
recovery of autosaved changes, a new empty session, and files dropped on the window.

Replacing the session first asks to save unsaved changes, then stops playback, cancels work started
for the old session and resets the view; results of work that arrive for a replaced session are
dropped. ``loaded`` is emitted when a session (or a song as a new session) is in place.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional, Sequence

from PyQt6.QtCore import QObject, pyqtSignal

from plugin.errors import Cancelled

from .. import project as P
from ..dialogs import short_path
from ..session import AddTracksCommand
from ..tasks import Task
from ..timeline import fmt_time
from ..tracks import Track
from .context import HostContext
from .effects import EffectRenderer
from .location import SessionLocation
from .saving import SaveController
from .separation import SeparationController
from .track_edits import TrackEditController
from .transport import TransportController
from .view_state import restore_view

DROP_HINT_EXTENSIONS = (".flac", ".mp3", ".wav")  # named in the message for a drop without audio


class DocumentController(QObject):
    """Opens audio and sessions into the host's one open session."""

    loaded = pyqtSignal()

    def __init__(self, ctx: HostContext, location: SessionLocation, saving: SaveController,
                 track_edits: TrackEditController, effects: EffectRenderer, transport: TransportController,
                 separation: SeparationController, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        self.location = location
        self.saving = saving
        self.track_edits = track_edits
        self.effects = effects
        self.transport = transport
        self.separation = separation

    # ----- dialogs --------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        session = self.ctx.session
        start = str(self.location.session_dir or (Path(session.source).parent if session.source else Path.cwd()))
        path = self.ctx.prompter.open_path(start)
        if path:
            self.open_path(path)

    def add_audio_dialog(self) -> None:
        path = self.ctx.prompter.add_audio_path(str(Path.cwd()))
        if path:
            self.add_audio(path)

    # ----- audio files ----------------------------------------------------------------------------
    def open_path(self, path) -> Optional[Task]:
        """An audio file becomes the mix of a new session; a session folder (or its session.json) opens."""
        p = Path(path)
        if p.is_dir() or p.name in (P.SESSION_FILE, P.AUTOSAVE_FILE):
            return self.open_session(p)
        if not self.saving.maybe_save("Open another file"):
            return None
        return self.load_audio(p, new_session=True)

    def add_audio(self, path) -> Optional[Task]:
        """Dropped / added audio: the mix of an empty session, otherwise one more track (resampled)."""
        return self.load_audio(Path(path), new_session=self.ctx.session.empty)

    def load_audio(self, path: Path, new_session: bool) -> Task:
        """Decode ``path`` in the background: the mix of a new session, or a track added (undoable)."""
        target = None if new_session else self.ctx.session.sample_rate
        kind = "mix" if new_session else "audio"
        session_id = self.location.session_id

        def work(progress, cancel):
            loaded = P.load_audio_file(path, lambda f: progress(0.85 * f), cancel, target_rate=target)
            track = Track(name=path.stem or "audio", audio=loaded.audio, kind=kind, source=str(path.resolve()))
            if cancel.is_set():
                raise Cancelled(f"opening {path.name} cancelled")
            track.ensure_peaks()
            progress(1.0)
            return loaded, track

        return self.ctx.tasks.start(f"Opening {path.name}", work,
                                    lambda result: self._audio_loaded(path, new_session, session_id, *result),
                                    lambda m: self.ctx.prompter.error(f"Cannot open {path.name}", m),
                                    lambda m: self.ctx.shell.show_status(f"Opening {path.name} cancelled", 5000),
                                    kind="load")

    def _audio_loaded(self, path: Path, new_session: bool, session_id: str, loaded: P.LoadedAudio,
                      track: Track) -> None:
        session = self.ctx.session
        if new_session:
            self.reset()
            track.color = session.next_color()
            session.sample_rate = loaded.sample_rate
            session.song = P.song_of(path)
            session.source = str(path.resolve())
            session.insert(0, track)
            self.ctx.undo.clear()
            session.set_dirty(False)
            self.track_edits.set_current(track.uid)
            self.ctx.state.fit()
            self.ctx.shell.focus_timeline()
            self.loaded.emit()
        elif session_id != self.location.session_id:  # another session was opened meanwhile
            return
        else:
            track.color = session.next_color()
            self.ctx.undo.push(AddTracksCommand(session, [track], text=f"add {track.name}"))
        msg = f"Opened {path.name}: {loaded.audio.shape[0]} ch, {loaded.sample_rate:g} Hz, " \
              f"{fmt_time(loaded.audio.shape[-1] / loaded.sample_rate, 0.1)}"
        if loaded.notes:
            msg += " — " + "; ".join(loaded.notes)
            self.ctx.prompter.info("Audio opened with a note", "\n".join(loaded.notes))
        self.ctx.shell.show_status(msg, 10000)

    # ----- sessions -------------------------------------------------------------------------------
    def open_session(self, path) -> Optional[Task]:
        """Open a session folder (or its session/autosave file), offering to recover newer autosaved changes."""
        p = Path(path)
        folder = p if p.is_dir() else p.parent
        if p.is_dir() and not (folder / P.SESSION_FILE).exists() and not (folder / P.AUTOSAVE_FILE).exists():
            self.ctx.prompter.error("Cannot open session", f"{folder} is not a SepBoard session folder "
                                                           f"(it has no {P.SESSION_FILE}).")
            return None
        if not self.saving.maybe_save("Open a session"):
            return None
        use_autosave = p.name == P.AUTOSAVE_FILE or (p.is_dir() and not (folder / P.SESSION_FILE).exists())
        if not use_autosave:
            use_autosave = self._recover_or_discard(folder)
        return self.ctx.tasks.start(
            f"Opening session {folder.name}",
            lambda progress, cancel: P.load_session(folder, progress, cancel, autosave=use_autosave),
            lambda result: self.install(result[0], result[1], recovered=use_autosave),
            lambda m: self.ctx.prompter.error("Cannot open session", m),
            lambda m: self.ctx.shell.show_status("Opening the session was cancelled", 5000), kind="load")

    def _recover_or_discard(self, folder: Path) -> bool:
        """When the folder's autosave is newer than its session: True to open it, else it is kept aside."""
        candidate = P.recovery_candidate(folder)
        if candidate is None:
            return False
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(candidate.stat().st_mtime))
        if self.ctx.prompter.ask("Recover unsaved changes?",
                                 f"{folder.name} has changes autosaved at {when} that were never saved "
                                 "(SepBoard may have closed unexpectedly).\n\nRecover them? "
                                 "(No keeps them aside as .autosave-discarded.json and opens the saved session.)",
                                 True):
            return True
        P.discard_autosave(folder)
        return False

    def offer_untitled_recovery(self) -> bool:
        """At start-up without a file: offer the autosave of a never-saved session that did not close cleanly."""
        found = P.untitled_recoveries()
        if not found:
            return False
        folder = found[0]
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime((folder / P.AUTOSAVE_FILE).stat().st_mtime))
        if not self.ctx.prompter.ask("Recover unsaved session?",
                                     f"An unsaved session was autosaved at {when} but SepBoard did not close "
                                     "normally.\n\nRecover it? (No keeps it aside in "
                                     f"{short_path(folder)}.)", True):
            for other in found:
                P.discard_autosave(other)
            return False

        def failed(msg):
            self.ctx.prompter.error("Cannot recover the session", msg)
            P.discard_autosave(folder)

        self.ctx.tasks.start("Recovering the unsaved session",
                             lambda progress, cancel: P.load_session(folder, progress, cancel, autosave=True),
                             lambda result: self.install(result[0], None, recovered=True, untitled=folder), failed,
                             kind="load")
        return True

    def new_session(self) -> None:
        if not self.saving.maybe_save("New session"):
            return
        self.reset()
        self.ctx.shell.update_title()

    def reset(self) -> None:
        """An empty session in place of the open one: playback stopped, its work cancelled, view reset."""
        self.transport.stop()
        self.effects.cancel_all()
        self.separation.cancel()
        self.location.renew()
        self.transport.set_original(False)  # a new session starts on B
        self.ctx.session.clear()
        self.ctx.undo.clear()
        self.ctx.state.reset()

    def install(self, state: P.SessionState, folder: Optional[Path], recovered: bool,
                untitled: Optional[Path] = None) -> None:
        """Make a loaded session the open one (``recovered``: its changes are unsaved)."""
        session = self.ctx.session
        self.reset()
        session.load_state(state)
        self.location.opened(folder, untitled)
        self.separation.restore_history(state.history)
        self.ctx.undo.clear()
        session.set_dirty(recovered)
        mix = session.mix_track()
        self.track_edits.set_current(mix.uid if mix else None)
        self.ctx.state.fit()
        restore_view(state.view, self.ctx.state, session, self.track_edits.set_current)
        for track in session.tracks:
            if track.has_active_effects:
                self.effects.render(track.uid)
        self.ctx.shell.update_title()
        where = short_path(folder) if folder else "recovered untitled session"
        scope = ""
        if self.ctx.state.selection:  # restored: the next separation works on it alone; say so
            scope = ("; it remembers a time selection, so the next separation works on that part only "
                     "(Esc clears it)")
        self.ctx.shell.show_status(("Recovered autosaved changes of " if recovered else "Opened ") + where + scope,
                                   15000 if scope else 10000)
        self.loaded.emit()

    # ----- drag and drop --------------------------------------------------------------------------
    def drop_paths(self, paths: Sequence[Path]) -> None:
        """Sessions open (the first one); audio files are added (the first becomes the mix of an empty session)."""
        paths = [Path(p) for p in paths]
        sessions = [p for p in paths if P.is_session_path(p)]
        if sessions:
            self.open_session(sessions[0])
            return
        audio = [p for p in paths if p.is_file()]
        if not audio:
            self.ctx.prompter.error("Cannot open", "Drop audio files (" + ", ".join(DROP_HINT_EXTENSIONS)
                                    + "…) or a session folder.")
            return
        first, rest = audio[0], audio[1:]
        if self.ctx.session.empty:
            task = self.load_audio(first, new_session=True)
            if rest and task is not None:
                task.succeeded.connect(lambda _: [self.add_audio(p) for p in rest])
        else:
            for p in audio:
                self.add_audio(p)
