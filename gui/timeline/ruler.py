"""The time ruler above the lanes: ticks and labels for the visible range, the playhead marker."""
from __future__ import annotations

import math

from PyQt6.QtCore import QPointF, QRectF, Qt
from PyQt6.QtGui import QColor, QFont, QPainter, QPen, QPolygonF
from PyQt6.QtWidgets import QWidget

from .scrub import ScrubMixin, paint_overlays
from .state import TimelineState
from .theme import GRID, PLAYHEAD, RULER_H, TEXT
from .ticks import fmt_time, tick_step


class Ruler(ScrubMixin, QWidget):
    """The time scale above the lanes: labelled ticks, the end of the session, selection and playhead."""

    def __init__(self, state: TimelineState, parent=None):
        super().__init__(parent)
        self.state = state
        self.init_scrub()
        self.setFixedHeight(RULER_H)
        self.setMinimumWidth(50)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # clicking the timeline takes focus off the query field
        self.setCursor(Qt.CursorShape.IBeamCursor)
        state.viewChanged.connect(self.update)
        state.playheadChanged.connect(self.update)
        state.selectionChanged.connect(self.update)

    def ticks(self):
        """(major step s, [(x, seconds, is_major)]) for the visible range."""
        st = self.state
        pps = st.sample_rate / st.spp
        step = tick_step(pps)
        minor = step / (5 if str(step)[0] in "15" else 4 if str(step)[0] == "2" else 3)
        t0 = st.start / st.sample_rate
        t1 = (st.start + st.width * st.spp) / st.sample_rate
        out = []
        k = math.floor(t0 / minor)
        while k * minor <= t1 + minor:
            t = k * minor
            major = abs(t / step - round(t / step)) < 1e-6
            out.append(((t * st.sample_rate - st.start) / st.spp, t, major))
            k += 1
        return step, out

    def paintEvent(self, e):
        p = QPainter(self)
        h = self.height()
        p.fillRect(self.rect(), QColor("#181b20"))
        st = self.state
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        p.setFont(font)
        step, ticks = self.ticks()
        for x, t, major in ticks:
            if t < 0:
                continue
            if major:
                p.setPen(QPen(TEXT, 1))
                p.drawLine(QPointF(x, h - 10), QPointF(x, h))
                p.drawText(QPointF(x + 3, h - 12), fmt_time(t, step))
            else:
                p.setPen(QPen(GRID.lighter(150), 1))
                p.drawLine(QPointF(x, h - 5), QPointF(x, h))
        end_x = st.x_of(st.length)
        if 0 <= end_x < self.width():
            p.fillRect(QRectF(end_x, 0, self.width() - end_x, h), QColor(0, 0, 0, 60))
        paint_overlays(p, st, h, playhead=False)
        x = st.x_of(st.playhead)
        if -6 <= x <= self.width() + 6:
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(PLAYHEAD)
            p.drawPolygon(QPolygonF([QPointF(x - 6, 0), QPointF(x + 6, 0), QPointF(x, 9)]))
            p.setPen(QPen(PLAYHEAD, 1.5))
            p.drawLine(QPointF(x, 0), QPointF(x, h))
        p.end()
