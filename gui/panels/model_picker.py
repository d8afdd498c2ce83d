"""The model picker: which model is loaded (name, device, families) and which to load instead — the
embedded default, a recent bundle, the official AudioSep bundle's folder or another bundle folder."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QListWidget, QListWidgetItem, QVBoxLayout

CHOICE_KINDS = ("default", "recent", "official", "browse")


@dataclass(frozen=True)
class ModelChoice:
    """One entry of the picker: ``kind`` is one of CHOICE_KINDS; ``path`` a bundle folder for "recent"."""

    kind: str
    label: str
    path: Optional[str] = None
    loaded: bool = False


class ModelPicker(QDialog):
    """Shows ``current`` (a few lines about the loaded model) and the ``choices``; after ``exec()``,
    :meth:`choice` is the entry picked (a double click picks and closes)."""

    def __init__(self, current: str, choices: Sequence[ModelChoice], parent=None):
        super().__init__(parent)
        self.setWindowTitle("Choose a model")
        self.setMinimumWidth(560)
        self.choices = list(choices)
        self.current = QLabel(current)
        self.current.setObjectName("modelInfo")
        self.current.setWordWrap(True)
        self.current.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.list = QListWidget()
        for c in self.choices:
            item = QListWidgetItem(c.label + ("   (loaded)" if c.loaded else ""))
            item.setToolTip(c.path or c.label)
            self.list.addItem(item)
        first_other = next((i for i, c in enumerate(self.choices) if not c.loaded), 0)
        self.list.setCurrentRow(first_other)
        self.list.itemDoubleClicked.connect(lambda _: self.accept())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Load")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("Loaded now:"))
        lay.addWidget(self.current)
        lay.addWidget(QLabel("Load instead:"))
        lay.addWidget(self.list, 1)
        lay.addWidget(buttons)

    def choice(self) -> Optional[ModelChoice]:
        row = self.list.currentRow()
        return self.choices[row] if 0 <= row < len(self.choices) else None
