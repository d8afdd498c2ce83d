"""The export dialog: which tracks, output folder, format and bit depth, with a preview of the file names."""
from __future__ import annotations

from pathlib import Path
from typing import List, Sequence

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                             QListWidget, QListWidgetItem, QToolButton, QVBoxLayout)

from ..project import export_plan
from ..tracks import Track


class ExportDialog(QDialog):
    """Choose what to export; after ``exec()``, :meth:`options` gives (tracks, folder, format, bit depth).

    Stems and residuals start ticked; the preview lists the files :func:`gui.project.export_plan` names.
    """

    def __init__(self, tracks: Sequence[Track], song: str, out_dir: str, prompter=None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Export stems")
        self.setMinimumWidth(560)
        self.tracks = list(tracks)
        self.song = song
        self.prompter = prompter
        self.list = QListWidget()
        for t in self.tracks:
            it = QListWidgetItem(t.name)
            it.setFlags(it.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            it.setCheckState(Qt.CheckState.Checked if t.kind in ("stem", "residual") else Qt.CheckState.Unchecked)
            it.setData(Qt.ItemDataRole.UserRole, t.uid)
            self.list.addItem(it)
        self.list.itemChanged.connect(lambda _: self._preview())
        self.out = QLineEdit(out_dir)
        self.out.textChanged.connect(lambda _: self._preview())
        browse = QToolButton(text="…")
        browse.clicked.connect(self._browse)
        self.fmt = QComboBox()
        self.fmt.addItems(["wav", "flac"])
        self.depth = QComboBox()
        self.depth.addItems(["24", "16", "32f"])
        self.fmt.currentTextChanged.connect(self._fmt_changed)
        self.preview = QLabel()
        self.preview.setObjectName("exportPreview")
        self.preview.setWordWrap(True)
        self.preview.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        outrow = QHBoxLayout()
        outrow.addWidget(self.out, 1)
        outrow.addWidget(browse)
        form = QFormLayout()
        form.addRow("Output folder", outrow)
        form.addRow("Format", self.fmt)
        form.addRow("Bit depth", self.depth)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("Tracks to export (effects and track gain are applied):"))
        lay.addWidget(self.list, 1)
        lay.addLayout(form)
        lay.addWidget(self.preview)
        lay.addWidget(buttons)
        self._preview()

    def _fmt_changed(self, fmt):
        item = self.depth.model().item(2)
        item.setEnabled(fmt != "flac")
        if fmt == "flac" and self.depth.currentText() == "32f":
            self.depth.setCurrentIndex(0)
        self._preview()

    def _browse(self):
        if self.prompter is not None:
            d = self.prompter.choose_folder("Export stems to", self.out.text())
            if d:
                self.out.setText(d)

    def selected(self) -> List[Track]:
        chosen = []
        for i in range(self.list.count()):
            it = self.list.item(i)
            if it.checkState() == Qt.CheckState.Checked:
                chosen.append(self.tracks[i])
        return chosen

    def options(self):
        return self.selected(), self.out.text().strip(), self.fmt.currentText(), self.depth.currentText()

    def _preview(self):
        chosen = self.selected()
        out = self.out.text().strip() or "."
        plan = export_plan(chosen, out, self.song, self.fmt.currentText())
        if not plan:
            self.preview.setText("Nothing selected.")
            return
        lines = [str(Path(p)) for _, p in plan[:6]]
        if len(plan) > 6:
            lines.append(f"… and {len(plan) - 6} more")
        self.preview.setText("Files:\n" + "\n".join(lines))
