"""The host's panels and dialogs: query bar, running-task list, effects editor and export dialog.

A new panel of the host goes here, as its own module, and is re-exported below.
"""
from .effects_dialog import EffectsDialog
from .export_dialog import ExportDialog
from .query import INSTRUMENTS, QueryLine, QueryPanel
from .task_list import TaskPanel, TaskRow

__all__ = ["INSTRUMENTS", "EffectsDialog", "ExportDialog", "QueryLine", "QueryPanel", "TaskPanel", "TaskRow"]
