"""The view a session file remembers: playhead, selection, zoom and current track (``session.view``)."""
from __future__ import annotations

from typing import Callable, Optional

from ..session import Session
from ..timeline import TimelineState


def capture_view(state: TimelineState, current_uid: Optional[str]) -> dict:
    """The view as stored in session.json."""
    return {"playhead": int(state.playhead), "selection": list(state.selection) if state.selection else None,
            "start": float(state.start), "samples_per_pixel": float(state.spp), "fitted": bool(state.fitted),
            "current": current_uid}


def restore_view(view: dict, state: TimelineState, session: Session,
                 set_current: Callable[[Optional[str]], None]) -> None:
    """Playhead, selection, zoom and current track as they were saved (bad values are ignored)."""
    if not isinstance(view, dict):
        return
    try:
        sel = view.get("selection")
        if isinstance(sel, list) and len(sel) == 2:
            state.set_selection(int(sel[0]), int(sel[1]))
        if view.get("playhead") is not None:
            state.set_playhead(int(view["playhead"]))
        if view.get("current") and session.find(str(view["current"])):
            set_current(str(view["current"]))
        if view.get("fitted") is False and view.get("samples_per_pixel"):
            state.restore_zoom(view["samples_per_pixel"], view.get("start", 0.0))
    except (TypeError, ValueError, OverflowError):
        pass
