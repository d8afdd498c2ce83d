"""The whole timeline widget: ruler, one row per track (header + lane), zoom buttons, scrollbars.

:class:`TimelineWidget` keeps its rows in step with a :class:`gui.session.Session` (rows are added,
removed and reordered on ``tracksChanged``, refreshed on ``trackChanged``) and gives every lane the
same width, so the ruler and all lanes share one time axis. The wheel alone scrolls the track list.
"""
from __future__ import annotations

import math
from typing import Dict, Optional

from PyQt6.QtCore import QEvent, QSize, Qt, pyqtSignal
from PyQt6.QtWidgets import QFrame, QHBoxLayout, QLabel, QScrollArea, QScrollBar, QToolButton, QVBoxLayout, QWidget

from ..session import Session
from ..tracks import Track
from .actions import TrackActions
from .header import TrackHeader
from .lane import WaveLane
from .ruler import Ruler
from .state import TimelineState
from .theme import HEADER_W, LANE_H
from .ticks import fmt_time

PLACEHOLDER_TEXT = ("Drop an audio file here, or open one with Ctrl+O\n\n"
                    "Then type what to extract (“bass guitar”, “drums”, “vocals”…) and press Enter.")


class TrackRow(QWidget):
    """One track: its header and its waveform lane side by side."""

    def __init__(self, track: Track, state: TimelineState, actions: TrackActions, parent=None):
        super().__init__(parent)
        self.track = track
        self.header = TrackHeader(track, actions, state)
        self.lane = WaveLane(track, state)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 1)
        lay.setSpacing(0)
        lay.addWidget(self.header)
        lay.addWidget(self.lane, 1)
        self.setFixedHeight(LANE_H + 1)

    def refresh(self, current: bool, dim: bool):
        """Redraw from the track; ``current`` highlights the row, ``dim`` greys an inaudible lane."""
        self.header.refresh(current)
        self.lane.current = current
        self.lane.dim = dim
        self.lane.update()  # the cached waveform is re-rendered only if its colour or the view changed


class TimelineWidget(QWidget):
    """Ruler + scrolling track rows + horizontal scrollbar, kept in sync with a Session."""

    lanePainted = pyqtSignal(str)

    def __init__(self, session: Session, state: TimelineState, actions: TrackActions, parent=None):
        super().__init__(parent)
        self.session = session
        self.state = state
        self.actions = actions
        self.rows: Dict[str, TrackRow] = {}
        self.current_uid: Optional[str] = None
        self._any_solo: Optional[bool] = None  # whether a track was soloed at the last refresh
        corner = self._build_corner()
        self.ruler = Ruler(state)
        self._build_scroll_area()
        self.hbar = QScrollBar(Qt.Orientation.Horizontal)
        self.hbar.valueChanged.connect(self._hbar_moved)
        self._lay_out(corner)
        state.viewChanged.connect(self._sync_hbar)
        state.playheadChanged.connect(self._update_time_label)
        session.tracksChanged.connect(self.rebuild)
        session.trackChanged.connect(self.refresh_track)
        self.rebuild()

    # ----- construction ---------------------------------------------------------------------------
    def _build_corner(self) -> QWidget:
        """The box left of the ruler: playhead time and the zoom buttons."""
        state = self.state
        self.zoom_in_btn = QToolButton(text="+")
        self.zoom_out_btn = QToolButton(text="−")
        self.fit_btn = QToolButton(text="Fit")
        self.zoom_in_btn.setToolTip("Zoom in (Ctrl+=, Ctrl+wheel)")
        self.zoom_out_btn.setToolTip("Zoom out (Ctrl+-)")
        self.fit_btn.setToolTip("Show the whole session (Ctrl+0)")
        self.zoom_in_btn.clicked.connect(lambda: state.zoom(2.0))
        self.zoom_out_btn.clicked.connect(lambda: state.zoom(0.5))
        self.fit_btn.clicked.connect(state.fit)
        self.time_label = QLabel("0:00.000")
        self.time_label.setObjectName("timeLabel")
        corner = QWidget()
        corner.setFixedWidth(HEADER_W)
        cl = QHBoxLayout(corner)
        cl.setContentsMargins(8, 0, 4, 0)
        cl.addWidget(self.time_label, 1)
        for button in (self.zoom_out_btn, self.zoom_in_btn, self.fit_btn):
            cl.addWidget(button)
        return corner

    def _build_scroll_area(self) -> None:
        """The vertically scrolling list of rows, with a placeholder while the session is empty."""
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.content = QWidget()
        self.content.setObjectName("timelineContent")
        self.rows_layout = QVBoxLayout(self.content)
        self.rows_layout.setContentsMargins(0, 0, 0, 0)
        self.rows_layout.setSpacing(0)
        self.placeholder = QLabel(PLACEHOLDER_TEXT)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setObjectName("placeholder")
        self.rows_layout.addWidget(self.placeholder, 1)
        self.rows_layout.addStretch(0)
        self.scroll.setWidget(self.content)
        self.scroll.viewport().installEventFilter(self)

    def _lay_out(self, corner: QWidget) -> None:
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.setSpacing(0)
        top.addWidget(corner)
        top.addWidget(self.ruler, 1)
        self._vbar_pad = QWidget()
        top.addWidget(self._vbar_pad)
        bottom = QHBoxLayout()
        bottom.setContentsMargins(0, 0, 0, 0)
        bottom.setSpacing(0)
        pad = QWidget()
        pad.setFixedWidth(HEADER_W)
        bottom.addWidget(pad)
        bottom.addWidget(self.hbar, 1)
        self._vbar_pad2 = QWidget()
        bottom.addWidget(self._vbar_pad2)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addLayout(top)
        lay.addWidget(self.scroll, 1)
        lay.addLayout(bottom)

    # ----- layout ---------------------------------------------------------------------------------
    def resizeEvent(self, e):
        super().resizeEvent(e)
        self._sync_width()

    def showEvent(self, e):
        super().showEvent(e)
        self._sync_width()

    def eventFilter(self, obj, ev):
        if obj is self.scroll.viewport() and ev.type() == QEvent.Type.Resize:
            self._sync_width()
        return False

    def _sync_width(self):
        """Lanes are as wide as the scroll viewport minus the headers; the ruler and the scrollbar get
        the same width by padding them on the right by the vertical scrollbar's width."""
        vw = max(0, self.scroll.width() - self.scroll.viewport().width())
        self._vbar_pad.setFixedWidth(vw)
        self._vbar_pad2.setFixedWidth(vw)
        self.state.set_width(max(1, self.scroll.viewport().width() - HEADER_W))

    def _sync_hbar(self):
        st = self.state
        total = st.length / st.spp if st.spp else 0
        page = st.width
        self.hbar.blockSignals(True)
        self.hbar.setRange(0, int(max(0, math.ceil(total - page))))
        self.hbar.setPageStep(int(page))
        self.hbar.setSingleStep(max(1, int(page / 20)))
        self.hbar.setValue(int(round(st.start / st.spp)))
        self.hbar.blockSignals(False)

    def _hbar_moved(self, value):
        self.state.scroll_to(value * self.state.spp)

    def _update_time_label(self, sample):
        sr = self.state.sample_rate or 44100
        self.time_label.setText(fmt_time(sample / sr, 0.001))

    # ----- rows -----------------------------------------------------------------------------------
    def rebuild(self):
        """Rows for exactly the session's tracks, in its order; then the time axis and every row."""
        uids = [t.uid for t in self.session.tracks]
        for uid in list(self.rows):
            if uid not in uids:
                row = self.rows.pop(uid)
                self.rows_layout.removeWidget(row)
                row.setParent(None)
                row.deleteLater()
        for i, t in enumerate(self.session.tracks):
            row = self.rows.get(t.uid)
            if row is None:
                row = TrackRow(t, self.state, self.actions)
                row.lane.clicked.connect(self.actions.set_current)
                row.lane.painted.connect(self.lanePainted)
                self.rows[t.uid] = row
            self.rows_layout.removeWidget(row)
            self.rows_layout.insertWidget(i, row)
        self.placeholder.setVisible(not uids)
        # the stretch at the end keeps rows at the top
        self.rows_layout.setStretch(self.rows_layout.count() - 1, 0 if not uids else 1)
        self.state.set_content(self.session.length, self.session.sample_rate or 44100)
        self.refresh_all()

    def refresh_track(self, uid: str):
        """Redraw one row (every row when the track's solo changed whether anything is soloed)."""
        row = self.rows.get(uid)
        if row is not None:
            any_solo = any(t.solo for t in self.session.tracks)
            t = row.track
            row.refresh(uid == self.current_uid, t.mute or (any_solo and not t.solo))
            if any_solo != self._any_solo:
                self._any_solo = any_solo
                self.refresh_all()

    def refresh_all(self):
        any_solo = any(t.solo for t in self.session.tracks)
        self._any_solo = any_solo
        for uid, row in self.rows.items():
            t = row.track
            row.refresh(uid == self.current_uid, t.mute or (any_solo and not t.solo))

    def set_current(self, uid: Optional[str]):
        """Highlight the row of ``uid`` (None: no row)."""
        self.current_uid = uid
        self.refresh_all()

    def lanes_painted(self) -> bool:
        """Every row's waveform has been painted at least once with its peaks ready."""
        return bool(self.rows) and all(r.lane.paint_count > 0 and r.track.peaks is not None for r in self.rows.values())

    def sizeHint(self):
        return QSize(900, 400)
