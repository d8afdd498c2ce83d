"""The query bar above the timeline: the query field with suggestions and history, the residual
option, the Separate button, the source line and the banner for model problems."""
from __future__ import annotations

from typing import List, Optional, Sequence

from PyQt6.QtCore import QEvent, QStringListModel, Qt, pyqtSignal
from PyQt6.QtWidgets import QCheckBox, QCompleter, QFrame, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout


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
    """Query field, residual option and Separate button; ``separateRequested`` on a click or Enter.

    ``source`` is the line under the field (what a separation works on, or the last message) and
    ``banner`` a box for problems that stay (no model, no text encoder).
    """

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
