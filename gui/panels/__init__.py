"""The host's panels and dialogs: query bar, running-task list, effects editor, export dialog, model picker.

A new panel of the host goes here, as its own module, and is re-exported below.
"""
from .effects_dialog import EffectsDialog
from .export_dialog import ExportDialog
from .model_picker import ModelChoice, ModelPicker
from .query import INSTRUMENTS, QueryLine, QueryPanel
from .task_list import TaskPanel, TaskRow

__all__ = ["INSTRUMENTS", "EffectsDialog", "ExportDialog", "ModelChoice", "ModelPicker", "QueryLine", "QueryPanel",
           "TaskPanel", "TaskRow"]
