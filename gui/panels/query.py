"""The query bar above the timeline: the query field with suggestions and history, the scope of the
next separation (a time selection, hard to miss, cleared with Esc), the residual option, the
Separate and Split buttons, the hint under the field (wordings the model does not know), the source
line and the banner for model problems."""
from __future__ import annotations

import html
import re
from typing import List, Optional, Sequence, Tuple

from PyQt6.QtCore import QEvent, QStringListModel, Qt, pyqtSignal
from PyQt6.QtGui import QKeySequence
from PyQt6.QtWidgets import (QCheckBox, QCompleter, QFrame, QHBoxLayout, QLabel, QLineEdit, QPushButton, QToolButton,
                             QVBoxLayout)


INSTRUMENTS = ("bass", "bass guitar", "drums", "kick drum", "snare drum", "hi-hat", "percussion", "piano",
               "acoustic guitar", "electric guitar", "guitar", "vocals", "voice", "backing vocals", "strings",
               "violin", "cello", "brass", "trumpet", "trombone", "saxophone", "flute", "clarinet", "woodwinds",
               "organ", "synth pad", "synth lead", "synth bass", "keyboard", "harp", "bass and drums",
               "everything but the vocals", "everything but the drums")
_MODIFIERS = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier | Qt.KeyboardModifier.MetaModifier


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
        self.setPlaceholderText("What to extract — e.g. bass guitar, drums and bass, everything but the vocals…")
        self.setClearButtonEnabled(True)
        self.wants_escape = True  # False while a time selection scopes the next separation: Esc clears it

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

    def app_key(self, e) -> bool:
        """``e`` is a key with Ctrl, Alt or Meta that an action of the window claims (Ctrl+Z, Ctrl+E…):
        such keys are the application's wherever the focus is; the field keeps the others."""
        if not e.modifiers() & _MODIFIERS or e.key() in (Qt.Key.Key_Control, Qt.Key.Key_Alt, Qt.Key.Key_Meta,
                                                         Qt.Key.Key_Shift):
            return False
        seq = QKeySequence(e.keyCombination())
        return any(s.matches(seq) == QKeySequence.SequenceMatch.ExactMatch
                   for a in self.window().actions() for s in a.shortcuts())

    def event(self, e):
        if e.type() == QEvent.Type.ShortcutOverride:
            if e.key() == Qt.Key.Key_Escape and self.wants_escape:
                e.accept()  # Escape leaves the field...
                return True
            if e.key() == Qt.Key.Key_Escape or self.app_key(e):
                e.ignore()  # ...unless a selection scopes the next separation: then Esc clears it
                return True
        return super().event(e)

    def keyPressEvent(self, e):
        if self.app_key(e):  # its action is disabled now: still not a text edit
            e.ignore()
            return
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
    """Query field, scope chip, residual option, Separate and Split buttons.

    Signals: ``separateRequested`` (a click or Enter), ``splitRequested``, ``clearScopeRequested``
    (the chip's ✕). ``source`` is the line under the field (what a separation works on, or the last
    message), ``hint`` the wordings the model does not know with clickable suggestions, ``banner`` a
    box for problems that stay (no model, no text encoder).
    """

    separateRequested = pyqtSignal()
    splitRequested = pyqtSignal()
    clearScopeRequested = pyqtSignal()

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
        self.split = QPushButton("Split into stems")
        self.split.setObjectName("splitButton")
        self.split.setToolTip("Every instrument family the model knows as its own track, plus “other”: "
                              "together they add up to the whole track (a rebalance desk)")
        self.split.clicked.connect(self.splitRequested)
        self.split.hide()
        self.busy = False
        self._build_scope()
        self.source = QLabel()
        self.source.setObjectName("sourceLabel")
        self.hint = QLabel()
        self.hint.setObjectName("queryHint")
        self.hint.setWordWrap(True)
        self.hint.linkActivated.connect(self._use_suggestion)
        self.hint.hide()
        self._hints: List[Tuple[str, Tuple[str, ...]]] = []
        self.banner = QLabel()
        self.banner.setObjectName("banner")
        self.banner.setWordWrap(True)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.banner.hide()
        self._lay_out()

    def _build_scope(self) -> None:
        self.scope = QFrame()
        self.scope.setObjectName("scopeChip")
        self.scope_text = QLabel()
        self.scope_text.setObjectName("scopeText")
        self.scope_clear = QToolButton(text="✕ Esc")
        self.scope_clear.setObjectName("scopeClear")
        self.scope_clear.setToolTip("Clear the time selection: separate the whole track again (Esc)")
        self.scope_clear.clicked.connect(self.clearScopeRequested)
        lay = QHBoxLayout(self.scope)
        lay.setContentsMargins(8, 2, 4, 2)
        lay.addWidget(self.scope_text)
        lay.addWidget(self.scope_clear)
        self.scope.hide()

    def _lay_out(self) -> None:
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        lab = QLabel("Extract")
        lab.setObjectName("extractLabel")
        row.addWidget(lab)
        row.addWidget(self.query, 1)
        row.addWidget(self.scope)
        row.addWidget(self.residual)
        row.addWidget(self.button)
        row.addWidget(self.split)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 8, 10, 6)
        lay.setSpacing(4)
        lay.addLayout(row)
        lay.addWidget(self.hint)
        lay.addWidget(self.source)
        lay.addWidget(self.banner)

    def _enter(self):
        popup = self.query.completer().popup()
        if popup is not None and popup.isVisible():
            popup.hide()
        self.separateRequested.emit()

    def show_scope(self, text: Optional[str]) -> None:
        """Show what the next separation is limited to (a time selection), or hide the chip (None)."""
        self.query.wants_escape = not text
        self.scope.setVisible(bool(text))
        self.scope_text.setText(text or "")
        self._label_button()

    def show_busy(self, busy: bool) -> None:
        """The Separate button reads "Separating…" while a separation runs."""
        self.busy = busy
        self._label_button()

    def _label_button(self) -> None:
        scoped = bool(self.scope_text.text())
        self.button.setText("Separating…" if self.busy else "Separate selection" if scoped else "Separate")

    def show_hint(self, unknown: Sequence[Tuple[str, Sequence[str]]]) -> None:
        """(description, suggestions) pairs the model does not know; a suggestion replaces it when clicked."""
        self._hints = [(t, tuple(s)) for t, s in unknown]
        if not self._hints:
            self.hint.hide()
            return
        lines = []
        for i, (text, suggestions) in enumerate(self._hints):
            links = " · ".join(f'<a href="{i}:{j}">{html.escape(s)}</a>' for j, s in enumerate(suggestions))
            lines.append(f"“{html.escape(text)}” is far from every wording this model knows"
                         + (f" — try {links}" if links else ""))
        self.hint.setText("<br>".join(lines))
        self.hint.show()

    def _use_suggestion(self, href: str) -> None:
        i, j = (int(v) for v in href.split(":"))
        text, suggestions = self._hints[i]
        new = re.sub(re.escape(text), lambda m: suggestions[j], self.query.text(), count=1, flags=re.IGNORECASE)
        self.query.setText(new)
        self.show_hint([h for k, h in enumerate(self._hints) if k != i])
        self.query.setFocus()

    def show_banner(self, text: Optional[str], error: bool = True):
        if not text:
            self.banner.hide()
            return
        self.banner.setProperty("error", error)
        self.banner.style().unpolish(self.banner)
        self.banner.style().polish(self.banner)
        self.banner.setText(text)
        self.banner.show()
