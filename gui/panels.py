"""Query bar, running-task list, effects editor and export dialog."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence

from PyQt6.QtCore import QEvent, QStringListModel, Qt, pyqtSignal
from PyQt6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QCompleter, QDialog, QDialogButtonBox,
                             QDoubleSpinBox, QFormLayout, QFrame, QHBoxLayout, QLabel, QLineEdit, QListWidget,
                             QListWidgetItem, QMenu, QProgressBar, QPushButton, QToolButton, QVBoxLayout, QWidget)

from .project import export_plan
from .tracks import EFFECTS, Track, effect_label, new_effect, validate_effects

INSTRUMENTS = ("bass", "bass guitar", "drums", "kick drum", "snare drum", "hi-hat", "percussion", "piano",
               "acoustic guitar", "electric guitar", "guitar", "vocals", "voice", "backing vocals", "strings",
               "violin", "cello", "brass", "trumpet", "trombone", "saxophone", "flute", "clarinet", "woodwinds",
               "organ", "synth pad", "synth lead", "synth bass", "keyboard", "harp")


class QueryLine(QLineEdit):
    """Query text field: suggestions of instrument names and earlier queries, Up/Down walk the history."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.history: List[str] = []
        self._hpos = -1
        self.model = QStringListModel(list(INSTRUMENTS))
        comp = QCompleter(self.model, self)
        comp.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        comp.setFilterMode(Qt.MatchFlag.MatchContains)
        comp.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        comp.setMaxVisibleItems(12)
        self.setCompleter(comp)
        self.setPlaceholderText("What to extract — e.g. bass guitar, drums, vocals, piano…")
        self.setClearButtonEnabled(True)

    def set_history(self, items: Sequence[str]) -> None:
        self.history = [h for h in items if h][:100]
        self._hpos = -1
        self._update_model()

    def remember(self, query: str) -> None:
        q = query.strip()
        if not q:
            return
        if q in self.history:
            self.history.remove(q)
        self.history.insert(0, q)
        del self.history[100:]
        self._hpos = -1
        self._update_model()

    def _update_model(self):
        seen = set()
        items = []
        for s in list(self.history) + list(INSTRUMENTS):
            if s.lower() not in seen:
                seen.add(s.lower())
                items.append(s)
        self.model.setStringList(items)

    def suggestions(self) -> List[str]:
        return self.model.stringList()

    def event(self, e):
        # Escape belongs to the field (leave it) rather than to the window's "clear selection" shortcut
        if e.type() == QEvent.Type.ShortcutOverride and e.key() == Qt.Key.Key_Escape:
            e.accept()
            return True
        return super().event(e)

    def keyPressEvent(self, e):
        popup = self.completer().popup()
        if popup is not None and popup.isVisible():
            return super().keyPressEvent(e)
        if e.key() == Qt.Key.Key_Up and self.history:
            self._hpos = min(self._hpos + 1, len(self.history) - 1)
            self.setText(self.history[self._hpos])
            return
        if e.key() == Qt.Key.Key_Escape:
            self.clearFocus()  # leave the field: Space is Play/Stop again
            return
        if e.key() == Qt.Key.Key_Down and self.history:
            self._hpos = max(self._hpos - 1, -1)
            self.setText(self.history[self._hpos] if self._hpos >= 0 else "")
            return
        super().keyPressEvent(e)


class QueryPanel(QFrame):
    separateRequested = pyqtSignal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("queryPanel")
        self.query = QueryLine()
        self.query.setObjectName("queryEdit")
        self.query.returnPressed.connect(self._enter)
        self.residual = QCheckBox("Also the residual (everything else)")
        self.residual.setToolTip("Add a second track with the input minus the stem")
        self.button = QPushButton("Separate")
        self.button.setObjectName("separateButton")
        self.button.setDefault(True)
        self.button.clicked.connect(self.separateRequested)
        self.source = QLabel()
        self.source.setObjectName("sourceLabel")
        self.banner = QLabel()
        self.banner.setObjectName("banner")
        self.banner.setWordWrap(True)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.banner.hide()
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        lab = QLabel("Extract")
        lab.setObjectName("extractLabel")
        row.addWidget(lab)
        row.addWidget(self.query, 1)
        row.addWidget(self.residual)
        row.addWidget(self.button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 8, 10, 6)
        lay.setSpacing(4)
        lay.addLayout(row)
        lay.addWidget(self.source)
        lay.addWidget(self.banner)

    def _enter(self):
        popup = self.query.completer().popup()
        if popup is not None and popup.isVisible():
            popup.hide()
        self.separateRequested.emit()

    def show_banner(self, text: Optional[str], error: bool = True):
        if not text:
            self.banner.hide()
            return
        self.banner.setProperty("error", error)
        self.banner.style().unpolish(self.banner)
        self.banner.style().polish(self.banner)
        self.banner.setText(text)
        self.banner.show()


class TaskRow(QWidget):
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
        if not getattr(task, "visible", True):
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


# ------------------------------------------------------------------------------------------------
# effects editor
# ------------------------------------------------------------------------------------------------
class EffectsDialog(QDialog):
    """Edit a track's chain: add/remove/reorder/bypass effects and set their parameters."""

    def __init__(self, track_name: str, effects: Sequence[dict], parent=None):
        super().__init__(parent)
        self.setWindowTitle(f"Effects — {track_name}")
        self.setMinimumWidth(520)
        self._effects: List[dict] = [dict(e, params=dict(e["params"])) for e in validate_effects(list(effects))]
        self.list = QListWidget()
        self.list.setDragDropMode(QAbstractItemView.DragDropMode.NoDragDrop)
        self.list.currentRowChanged.connect(self._show_params)
        self.list.itemChanged.connect(self._item_toggled)
        add = QToolButton()
        add.setText("Add ▾")
        add.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(add)
        for kind, (label, _) in EFFECTS.items():
            menu.addAction(label, lambda k=kind: self.add(k))
        add.setMenu(menu)
        rm = QToolButton(text="Remove")
        rm.clicked.connect(lambda: self.remove(self.list.currentRow()))
        up = QToolButton(text="▲")
        up.clicked.connect(lambda: self.move(self.list.currentRow(), -1))
        down = QToolButton(text="▼")
        down.clicked.connect(lambda: self.move(self.list.currentRow(), +1))
        tools = QHBoxLayout()
        for w in (add, rm, up, down):
            tools.addWidget(w)
        tools.addStretch(1)
        left = QVBoxLayout()
        left.addWidget(QLabel("Chain (top to bottom; untick to bypass)"))
        left.addWidget(self.list, 1)
        left.addLayout(tools)
        self.form_box = QWidget()
        self.form = QFormLayout(self.form_box)
        right = QVBoxLayout()
        self.title = QLabel("")
        self.title.setObjectName("fxTitle")
        right.addWidget(self.title)
        right.addWidget(self.form_box)
        right.addStretch(1)
        body = QHBoxLayout()
        body.addLayout(left, 1)
        body.addLayout(right, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(body, 1)
        note = QLabel("Effects apply on playback and export; the processed audio is cached per track.")
        note.setWordWrap(True)
        lay.addWidget(note)
        lay.addWidget(buttons)
        self._spins: Dict[str, QDoubleSpinBox] = {}
        self._refill()

    def effects(self) -> List[dict]:
        return [dict(e, params=dict(e["params"])) for e in self._effects]

    def _refill(self, select: Optional[int] = None):
        self.list.blockSignals(True)
        self.list.clear()
        for e in self._effects:
            it = QListWidgetItem(effect_label(e["type"]))
            it.setFlags(it.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            it.setCheckState(Qt.CheckState.Unchecked if e.get("bypass") else Qt.CheckState.Checked)
            self.list.addItem(it)
        self.list.blockSignals(False)
        if self._effects:
            self.list.setCurrentRow(len(self._effects) - 1 if select is None else max(0, min(select, len(self._effects) - 1)))
        self._show_params(self.list.currentRow())

    def _item_toggled(self, item):
        i = self.list.row(item)
        if 0 <= i < len(self._effects):
            if item.checkState() == Qt.CheckState.Checked:
                self._effects[i].pop("bypass", None)
            else:
                self._effects[i]["bypass"] = True

    def add(self, kind: str) -> int:
        self._effects.append(new_effect(kind))
        self._refill(len(self._effects) - 1)
        return len(self._effects) - 1

    def remove(self, i: int):
        if 0 <= i < len(self._effects):
            del self._effects[i]
            self._refill(i)

    def move(self, i: int, d: int):
        j = i + d
        if 0 <= i < len(self._effects) and 0 <= j < len(self._effects):
            self._effects[i], self._effects[j] = self._effects[j], self._effects[i]
            self._refill(j)

    def set_param(self, i: int, key: str, value: float):
        spec = {p.key: p for p in EFFECTS[self._effects[i]["type"]][1]}[key]
        self._effects[i]["params"][key] = float(min(max(value, spec.lo), spec.hi))
        if self.list.currentRow() == i and key in self._spins:
            self._spins[key].setValue(self._effects[i]["params"][key])

    def _show_params(self, i: int):
        while self.form.rowCount():
            self.form.removeRow(0)
        self._spins = {}
        if not (0 <= i < len(self._effects)):
            self.title.setText("Add an effect to this track's chain")
            return
        e = self._effects[i]
        self.title.setText(effect_label(e["type"]))
        for p in EFFECTS[e["type"]][1]:
            sb = QDoubleSpinBox()
            sb.setRange(p.lo, p.hi)
            sb.setDecimals(0 if p.unit == "Hz" else 2 if p.key == "q" else 1)
            sb.setSingleStep(10.0 if p.unit == "Hz" else 0.1 if p.key == "q" else 0.5)
            if p.unit:
                sb.setSuffix(f" {p.unit}" if p.unit != ":1" else ":1")
            sb.setValue(e["params"][p.key])
            sb.valueChanged.connect(lambda v, i=i, k=p.key: self._effects[i]["params"].__setitem__(k, float(v)))
            self._spins[p.key] = sb
            self.form.addRow(p.label, sb)


# ------------------------------------------------------------------------------------------------
# export dialog
# ------------------------------------------------------------------------------------------------
class ExportDialog(QDialog):
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
