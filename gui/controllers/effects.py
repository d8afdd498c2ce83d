"""Rendering each track's effect chain in the background, so playback and export use the processed audio.

One task per track: a new render of a track cancels the one still running for it. The result is
stored on the track (``processed``, keyed by the chain's settings) only if the chain did not change
meanwhile; a track deleted during its render keeps the result, since undo may bring it back.
"""
from __future__ import annotations

from typing import Dict, Optional

from ..tasks import Task
from ..tracks import Track, process_effects
from .context import HostContext


class EffectRenderer:
    """Starts, replaces and cancels the per-track effect renders of the open session."""

    def __init__(self, ctx: HostContext):
        self.ctx = ctx
        self.running: Dict[str, Task] = {}  # track uid -> its render in progress

    def render(self, uid: str) -> Optional[Task]:
        """Bring the track's processed audio up to date; the task, or None when nothing had to run."""
        session = self.ctx.session
        track = session.find(uid)
        if track is None:
            return None
        old = self.running.pop(uid, None)
        if old is not None:
            old.cancel()
        if not track.has_active_effects:
            track.processed, track.processed_key = None, None
            session.notify(uid)
            return None
        if track.processed is not None and track.processed_key == track.effects_key:
            return None
        key, audio, effects, sr = track.effects_key, track.audio, [dict(e) for e in track.effects], session.sample_rate

        def work(progress, cancel):
            return process_effects(audio, sr, effects, progress, cancel)

        task = self.ctx.tasks.start(f"Effects on {track.name}", work, lambda y: self._rendered(uid, track, key, y),
                                    lambda m: self.ctx.prompter.error("Effects", m), kind="effects")
        self.running[uid] = task
        task.finished.connect(lambda: self._forget(uid, task))
        return task

    def _rendered(self, uid: str, track: Track, key: str, processed) -> None:
        found = self.ctx.session.find(uid)
        if found is None:  # deleted meanwhile: keep the result on the object (undo may bring it back)
            found = track
        if found.effects_key == key:
            found.processed, found.processed_key = processed, key
            self.ctx.session.notify(uid)

    def _forget(self, uid: str, task: Task) -> None:
        if self.running.get(uid) is task:
            self.running.pop(uid)

    def cancel_all(self) -> None:
        """Cancel every render (the session is being replaced)."""
        for task in list(self.running.values()):
            task.cancel()
        self.running.clear()
