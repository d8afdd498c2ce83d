"""The running-task list under the query bar: one row (label, progress, Cancel) per long operation."""
from __future__ import annotations

from typing import Dict, Optional

from PyQt6.QtWidgets import QFrame, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget


class TaskRow(QWidget):
    """One running task: its label, its progress, and a Cancel button that cancels it."""

    def __init__(self, task, parent=None):
        super().__init__(parent)
        self.task = task
        self.label = QLabel(task.label)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(True)
        self.bar.setFormat("%p%")
        self.bar.setFixedWidth(220)
        self.cancel = QPushButton("Cancel")
        self.cancel.setObjectName("cancelButton")
        self.cancel.clicked.connect(self._cancel)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.label, 1)
        lay.addWidget(self.bar)
        lay.addWidget(self.cancel)
        task.progressed.connect(lambda f: self.bar.setValue(int(f * 1000)))

    def _cancel(self):
        self.task.cancel()
        self.cancel.setEnabled(False)
        self.label.setText(self.task.label + " — cancelling…")


class TaskPanel(QFrame):
    """One row (label, progress, Cancel) per running long operation; hidden when idle."""

    def __init__(self, manager, parent=None):
        super().__init__(parent)
        self.setObjectName("taskPanel")
        self.rows: Dict[int, TaskRow] = {}
        self.lay = QVBoxLayout(self)
        self.lay.setContentsMargins(10, 4, 10, 4)
        self.lay.setSpacing(2)
        manager.started.connect(self._add)
        manager.ended.connect(self._remove)
        self.hide()

    def _add(self, task):
        if not task.visible:
            return
        row = TaskRow(task)
        self.rows[id(task)] = row
        self.lay.addWidget(row)
        self.show()

    def _remove(self, task):
        row = self.rows.pop(id(task), None)
        if row is not None:
            self.lay.removeWidget(row)
            row.deleteLater()
        self.setVisible(bool(self.rows))

    def row_for(self, task) -> Optional[TaskRow]:
        return self.rows.get(id(task))
