"""The effects editor: a track's chain of pedalboard effects, their order, bypass and parameters."""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (QAbstractItemView, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout, QHBoxLayout,
                             QLabel, QListWidget, QListWidgetItem, QMenu, QToolButton, QVBoxLayout, QWidget)

from ..tracks import EFFECTS, effect_label, new_effect, validate_effects


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
        self.heading = QLabel(f"Effects on “{track_name}”")
        self.heading.setObjectName("fxTrack")
        lay = QVBoxLayout(self)
        lay.addWidget(self.heading)
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
            last = len(self._effects) - 1
            self.list.setCurrentRow(last if select is None else max(0, min(select, last)))
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
