"""Playback: play/stop from the playhead (or through the time selection), seek, the playhead following,
and the A/B switch between the tracks as mixed now (B) and the original mix (A).

The :class:`gui.playback.Mixer` is fed a snapshot of the audible tracks (:meth:`sync_tracks`), or of
the mix track alone at unity gain while ``original`` is on, and the backend pulls blocks from it. Without an output device, or when the backend fails, playback is off
with a message (a dialog once, then the status bar) and everything else keeps working.
"""
from __future__ import annotations

from PyQt6.QtCore import QObject, QTimer

from ..playback import Backend, Mixer, PlaybackError
from .context import HostContext
from .ports import PlaybackView

TICK_MS = 30  # how often the playhead follows the mixer while playing


class TransportController(QObject):
    """Owns the backend, the mixer and the playing state (``playing``)."""

    def __init__(self, ctx: HostContext, backend: Backend, view: PlaybackView, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        self.backend = backend
        self.view = view
        self.mixer = Mixer(out_channels=backend.output_channels() if backend.available else 2)
        self.playing = False
        self.original = False  # A/B: True plays the original mix alone
        self._told_no_device = False  # the "no device" dialog is shown once, then only the status bar
        self.timer = QTimer(self)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self.tick)
        if not backend.available:
            view.show_playback("Playback off: no audio device", backend.message)

    def sync_tracks(self) -> None:
        """Give the mixer the session's current tracks (after any change that affects what sounds)."""
        session = self.ctx.session
        self.mixer.set_tracks(session.tracks, only=session.mix_track() if self.original else None)

    def set_original(self, on: bool) -> None:
        """A/B: hear the original mix alone (A, ``on``) or the tracks as they are mixed now (B); switches
        at once while playing, at the same place."""
        on = bool(on) and not self.ctx.session.empty
        changed, self.original = on != self.original, on
        if changed:
            self.sync_tracks()
        self.view.show_ab(on, changed)

    def toggle_original(self) -> None:
        self.set_original(not self.original)

    def toggle_play(self) -> None:
        if self.playing:
            self.stop()
        else:
            self.play()

    def play(self) -> bool:
        """Start from the playhead (within the selection, which also ends playback); False when it cannot."""
        if self.playing:
            return True
        session, state = self.ctx.session, self.ctx.state
        if not self.backend.available:
            self._tell_no_device()
            return False
        if session.empty:
            self.ctx.shell.say("Nothing to play: open an audio file first.")
            return False
        self.sync_tracks()
        sel = state.selection
        start = state.playhead
        self.mixer.end = None
        if sel and (start < sel[0] or start >= sel[1]):
            start = sel[0]
        if sel:
            self.mixer.end = sel[1]
        if start >= self.mixer.length:
            start = 0
        self.mixer.seek(start)
        state.set_playhead(start)
        try:
            self.backend.start(int(round(session.sample_rate)), self.mixer.out_channels, self.mixer.render)
        except PlaybackError as exc:
            self.view.show_playback("Playback off", str(exc))
            self.ctx.prompter.error("Playback", str(exc))
            return False
        self.playing = True
        self.timer.start()
        self.view.show_play_button(True)
        self.view.show_playback("Playing")
        return True

    def _tell_no_device(self) -> None:
        msg = self.backend.message or "No audio output; playback is disabled."
        self.ctx.shell.show_status(msg, 10000)
        if not self._told_no_device:
            self._told_no_device = True
            self.ctx.prompter.info("Playback unavailable", msg)

    def stop(self) -> None:
        """Stop and leave the playhead where playback got to."""
        if not self.playing:
            return
        self.backend.stop()
        self.playing = False
        self.timer.stop()
        self.ctx.state.set_playhead(self.mixer.position)
        self.view.show_play_button(False)
        self.view.show_playback("")

    def seek(self, sample: int) -> None:
        """Move the playhead; while playing, playback continues from there (to the selection's end if inside it)."""
        state = self.ctx.state
        state.set_playhead(int(sample))
        if self.playing:
            self.mixer.end = None
            if state.selection and state.selection[0] <= sample < state.selection[1]:
                self.mixer.end = state.selection[1]
            self.mixer.seek(state.playhead)

    def tick(self) -> None:
        """Move the playhead to the mixer's position (keeping it in view); stop when the mixer finished."""
        pos = self.mixer.position
        self.ctx.state.set_playhead(pos)
        self.ctx.state.ensure_visible(pos)
        if self.mixer.finished:
            self.stop()
