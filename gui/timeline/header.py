"""A track's header at the left of its lane: colour, name, kind/query/region/effects line, S/M/FX, fader.

The header shows its :class:`gui.tracks.Track` and sends every user action to a
:class:`TrackActions`; it never changes the track itself. :meth:`TrackHeader.refresh` redraws it from
the track (the timeline calls it after each change) without emitting actions back.
"""
from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QFrame, QHBoxLayout, QLabel, QMenu, QSlider, QToolButton, QVBoxLayout

from ..tracks import Track, effect_label
from .actions import TrackActions
from .state import TimelineState
from .theme import HEADER_W, LANE_H
from .ticks import fmt_time

KIND_TEXT = {"mix": "mix", "stem": "stem", "residual": "residual", "audio": "audio"}


def _repolish(widget) -> None:
    """Re-apply the style sheet after a dynamic property the sheet selects on changed."""
    widget.style().unpolish(widget)
    widget.style().polish(widget)


def _gain_text(db: float) -> str:
    return f"{db:+.1f} dB" if db else "0.0 dB"


class ColorSwatch(QToolButton):
    """A small square in the track's colour; clicking it asks for another colour."""

    def __init__(self, color: str, parent=None):
        super().__init__(parent)
        self.setFixedSize(14, 14)
        self.set_color(color)
        self.setToolTip("Track colour (click to change)")
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def set_color(self, color: str):
        self.setStyleSheet(f"QToolButton {{ background: {color}; border: 1px solid #111; border-radius: 3px; }}")


class GainSlider(QSlider):
    """Fader in 0.5 dB steps, -60..+12 dB; double-click resets to 0 dB."""

    def __init__(self, parent=None):
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.setRange(-120, 24)
        self.setSingleStep(1)
        self.setPageStep(6)
        self.setFixedHeight(18)

    def db(self) -> float:
        return self.value() / 2.0

    def set_db(self, db: float):
        self.setValue(int(round(db * 2)))

    def mouseDoubleClickEvent(self, e):
        self.setValue(0)


def _tool_button(text: str, tip: str, name: str = "", checkable: bool = False) -> QToolButton:
    button = QToolButton()
    button.setText(text)
    button.setToolTip(tip)
    if name:
        button.setObjectName(name)
    button.setCheckable(checkable)
    return button


class TrackHeader(QFrame):
    """Header of one track row; region times are shown at ``state.sample_rate``."""

    def __init__(self, track: Track, actions: TrackActions, state: TimelineState, parent=None):
        super().__init__(parent)
        self.track = track
        self.actions = actions
        self.state = state
        self.setFixedWidth(HEADER_W)
        self.setFixedHeight(LANE_H)
        self.setObjectName("trackHeader")
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)
        self._build_widgets()
        self._connect_actions()
        self._lay_out()
        self.refresh()

    def _build_widgets(self) -> None:
        self.swatch = ColorSwatch(self.track.color)
        self.name = QLabel()
        self.name.setObjectName("trackName")
        self.name.setToolTip("Double-click to rename")
        self.info = QLabel()
        self.info.setObjectName("trackInfo")
        self.delete_btn = _tool_button("✕", "Delete track (Ctrl+Z brings it back)")
        self.delete_btn.setAutoRaise(True)
        self.solo = _tool_button("S", "Solo: hear only soloed tracks", "soloButton", checkable=True)
        self.mute = _tool_button("M", "Mute", "muteButton", checkable=True)
        self.fx = _tool_button("FX", "Effects: gain, EQ, filters, compressor", "fxButton")
        self.gain = GainSlider()
        self.gain.setToolTip("Track gain")
        self.gain_label = QLabel()
        self.gain_label.setObjectName("gainLabel")
        self.gain_label.setFixedWidth(52)
        self.gain_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def _connect_actions(self) -> None:
        act = self.actions
        self.swatch.clicked.connect(lambda: act.choose_color(self.track.uid))
        self.delete_btn.clicked.connect(lambda: act.delete_track(self.track.uid))
        self.solo.toggled.connect(lambda on: act.set_solo(self.track.uid, on))
        self.mute.toggled.connect(lambda on: act.set_mute(self.track.uid, on))
        self.fx.clicked.connect(lambda: act.edit_effects(self.track.uid))
        self.gain.valueChanged.connect(self._gain_moved)

    def _lay_out(self) -> None:
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.setSpacing(6)
        top.addWidget(self.swatch)
        top.addWidget(self.name, 1)
        top.addWidget(self.delete_btn)
        mid = QHBoxLayout()
        mid.setContentsMargins(0, 0, 0, 0)
        mid.setSpacing(4)
        for button in (self.solo, self.mute, self.fx):
            button.setFixedSize(28, 22)
            mid.addWidget(button)
        mid.addSpacing(4)
        mid.addWidget(self.gain, 1)
        mid.addWidget(self.gain_label)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 6, 6)
        lay.setSpacing(4)
        lay.addLayout(top)
        lay.addWidget(self.info)
        lay.addLayout(mid)

    def _gain_moved(self, value):
        db = value / 2.0
        self.gain_label.setText(_gain_text(db))
        self.actions.set_gain(self.track.uid, db)

    def _menu(self, pos):
        menu = QMenu(self)
        uid = self.track.uid
        act = self.actions
        menu.addAction("Rename…", lambda: act.rename_track_dialog(uid))
        menu.addAction("Colour…", lambda: act.choose_color(uid))
        menu.addAction("Effects…", lambda: act.edit_effects(uid))
        menu.addAction("Separate from this track", lambda: act.set_current(uid))
        menu.addSeparator()
        menu.addAction("Delete", lambda: act.delete_track(uid))
        menu.exec(self.mapToGlobal(pos))

    def mousePressEvent(self, e):
        self.actions.set_current(self.track.uid)
        super().mousePressEvent(e)

    def mouseDoubleClickEvent(self, e):
        self.actions.rename_track_dialog(self.track.uid)

    def info_text(self) -> str:
        """The line under the name: kind, query (when renamed), region times, active effects."""
        t = self.track
        bits = [KIND_TEXT.get(t.kind, t.kind)]
        if t.kind in ("stem", "residual") and t.query and t.name != t.query:
            bits.append(f"“{t.query}”")
        if t.region:
            sr = self.state.sample_rate or 44100
            bits.append(f"{fmt_time(t.region[0] / sr, 0.1)}–{fmt_time(t.region[1] / sr, 0.1)}")
        if t.has_active_effects:
            bits.append("fx: " + ", ".join(effect_label(e["type"]) for e in t.effects if not e.get("bypass")))
        return " · ".join(bits)

    def refresh(self, current: bool = False):
        """Show the track's current settings; ``current`` highlights the header."""
        t = self.track
        fm = self.name.fontMetrics()
        self.name.setText(fm.elidedText(t.name, Qt.TextElideMode.ElideRight, HEADER_W - 70))
        self.name.setToolTip(f"{t.name}\nDouble-click to rename")
        self.swatch.set_color(t.color)
        info = self.info_text()
        self.info.setText(self.info.fontMetrics().elidedText(info, Qt.TextElideMode.ElideRight, HEADER_W - 20))
        self.info.setToolTip(info)
        for button, on in ((self.solo, t.solo), (self.mute, t.mute)):
            button.blockSignals(True)
            button.setChecked(on)
            button.blockSignals(False)
        if self.fx.property("active") != t.has_active_effects:
            self.fx.setProperty("active", t.has_active_effects)
            _repolish(self.fx)
        self.gain.blockSignals(True)
        self.gain.set_db(t.gain_db)
        self.gain.blockSignals(False)
        self.gain_label.setText(_gain_text(t.gain_db))
        if self.property("current") != current:
            self.setProperty("current", current)
            _repolish(self)
