"""What the timeline asks of the host when the user works on a track: the :class:`TrackActions` protocol.

Track headers and lanes call these methods and nothing else of the host; a controller implements
them (the desktop host's is :class:`gui.controllers.track_edits.TrackEditController`).
"""
from __future__ import annotations

from typing import Optional, Protocol


class TrackActions(Protocol):
    """Edits a track header offers. ``uid`` is a :attr:`gui.tracks.Track.uid` of the session."""

    def set_current(self, uid: Optional[str]) -> None:
        """Make the track the current one (what "Separate" works on); None for none."""

    def set_solo(self, uid: str, on: bool) -> None:
        """Solo the track on or off."""

    def set_mute(self, uid: str, on: bool) -> None:
        """Mute the track on or off."""

    def set_gain(self, uid: str, db: float) -> None:
        """Set the track's fader in dB."""

    def choose_color(self, uid: str) -> None:
        """Ask the user for the track's colour and apply it."""

    def rename_track_dialog(self, uid: str) -> None:
        """Ask the user for a new name and rename the track (undoable)."""

    def edit_effects(self, uid: str) -> None:
        """Open the track's effect chain for editing."""

    def delete_track(self, uid: str) -> bool:
        """Delete the track (undoable); False when there is no such track."""
