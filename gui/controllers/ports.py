"""The small interfaces through which controllers reach the window; :class:`gui.window.MainWindow`
implements all of them, and a test may implement any one alone.

Controllers never touch the window's widgets: they report through these methods, and the window
decides how a message, a label or a button looks.
"""
from __future__ import annotations

from typing import List, Optional, Protocol, Sequence, Tuple


class StatusLine(Protocol):
    """Messages to the user outside dialogs."""

    def show_status(self, message: str, timeout_ms: int) -> None:
        """Show ``message`` in the status bar for ``timeout_ms`` milliseconds."""

    def say(self, message: str, error: bool = False) -> None:
        """Answer the user's last request: status bar, and for a few seconds the query bar's source line."""


class Shell(StatusLine, Protocol):
    """What every controller may ask of the window after it changed the host's state."""

    def update_title(self) -> None:
        """Redraw the window title (song, folder, unsaved mark)."""

    def update_source_label(self) -> None:
        """Redraw the line saying what a separation would work on."""

    def update_enabled(self) -> None:
        """Enable or disable the actions and the Separate button for the current state."""

    def focus_query(self) -> None:
        """Put the keyboard focus in the query field, its text selected."""

    def focus_timeline(self) -> None:
        """Put the keyboard focus on the timeline (Space plays)."""


class ModelView(Protocol):
    """Where the model's state is shown."""

    def show_model(self, text: str, tooltip: Optional[str] = None, error: Optional[bool] = None) -> None:
        """Set the model label's text; the tooltip and error look only when given."""

    def show_banner(self, text: Optional[str]) -> None:
        """Show a lasting notice above the timeline (model problems); None hides it."""


class PlaybackView(Protocol):
    """Where the transport's state is shown."""

    def show_playback(self, text: str, tooltip: Optional[str] = None) -> None:
        """Set the playback label's text (and its tooltip when given)."""

    def show_play_button(self, playing: bool) -> None:
        """Show the Play/Stop action as Stop while ``playing``, else as Play."""

    def show_ab(self, original: bool, changed: bool = True) -> None:
        """Show whether playback is the original mix (A) or the tracks as mixed now (B); announce it when ``changed``."""


class QueryInput(Protocol):
    """The query field and its options, as the separation controller reads them."""

    def query_text(self) -> str:
        """The text typed in the query field."""

    def residual_wanted(self) -> bool:
        """Whether the residual ("everything else") is asked for too."""

    def remember_query(self, query: str) -> List[str]:
        """Put ``query`` first in the field's history; the history, newest first."""

    def set_query_history(self, queries: Sequence[str]) -> None:
        """Replace the field's history (a session was opened)."""

    def show_query_hint(self, unknown: Sequence[Tuple[str, Sequence[str]]]) -> None:
        """Show under the field the descriptions the model does not know, with suggestions (empty: hide)."""
