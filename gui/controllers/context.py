"""The services every controller shares, created once by the window: :class:`HostContext`."""
from __future__ import annotations

from dataclasses import dataclass

from PyQt6.QtGui import QUndoStack

from ..dialogs import Prompter
from ..session import Session
from ..tasks import TaskManager
from ..timeline import TimelineState
from .ports import Shell


@dataclass(frozen=True)
class HostContext:
    """The open session, its undo stack, the timeline's view state, background tasks, dialogs, the shell."""

    session: Session
    undo: QUndoStack
    state: TimelineState
    tasks: TaskManager
    prompter: Prompter
    shell: Shell
