"""Mouse on the time axis, shared by the ruler and the lanes, and the overlay both draw.

Click = move the playhead (``seekRequested``); drag = select a time range; Shift+click extends the
selection; Ctrl+wheel zooms around the pointer; Shift+wheel (or a horizontal wheel) scrolls; the
wheel alone is left to the track list. The selection and playhead overlay is drawn by
:func:`paint_overlays`.
"""
from __future__ import annotations

from typing import Optional

from PyQt6.QtCore import QPointF, QRectF, Qt
from PyQt6.QtGui import QPainter, QPen

from .state import TimelineState
from .theme import PLAYHEAD, SELECTION, SELECTION_EDGE

DRAG_THRESHOLD_PX = 4  # a press that moves less than this is a click


class ScrubMixin:
    """Mouse handling for a QWidget that shows ``self.state`` across its width.

    The widget calls :meth:`init_scrub` in its constructor and may override :meth:`on_press`.
    """

    state: TimelineState

    def init_scrub(self) -> None:
        self._press_x: Optional[float] = None
        self._anchor = 0
        self._dragging = False

    def on_press(self) -> None:
        """Called after a left-button press was handled (a lane makes its track current)."""

    def mousePressEvent(self, e):
        if e.button() != Qt.MouseButton.LeftButton:
            return super().mousePressEvent(e)
        x = e.position().x()
        self._press_x = x
        self._dragging = False
        st = self.state
        if e.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            base = st.selection[0] if st.selection else st.playhead
            self._anchor = base
            self._dragging = True
            st.set_selection(base, st.sample_at(x))
        else:
            self._anchor = st.sample_at(x)
        self.on_press()
        e.accept()

    def mouseMoveEvent(self, e):
        if self._press_x is None:
            return super().mouseMoveEvent(e)
        x = e.position().x()
        if not self._dragging and abs(x - self._press_x) < DRAG_THRESHOLD_PX:
            return
        self._dragging = True
        st = self.state
        if x < 0:
            st.scroll_by_pixels(x)
        elif x > self.width():
            st.scroll_by_pixels(x - self.width())
        st.set_selection(self._anchor, st.sample_at(min(max(x, 0), self.width())))
        e.accept()

    def mouseReleaseEvent(self, e):
        if self._press_x is None or e.button() != Qt.MouseButton.LeftButton:
            return super().mouseReleaseEvent(e)
        if not self._dragging:
            self.state.set_selection(None)
            self.state.seekRequested.emit(self.state.sample_at(e.position().x()))
        self._press_x = None
        self._dragging = False
        e.accept()

    def wheelEvent(self, e):
        st = self.state
        delta = e.angleDelta()
        mods = e.modifiers()
        if mods & Qt.KeyboardModifier.ControlModifier:
            steps = delta.y() / 120.0
            if steps:
                st.zoom(1.25 ** steps, e.position().x())
            e.accept()
        elif delta.x() or mods & Qt.KeyboardModifier.ShiftModifier:
            amount = delta.x() if delta.x() else delta.y()
            st.scroll_by_pixels(-amount / 120.0 * st.width * 0.1)
            e.accept()
        else:
            e.ignore()


def paint_overlays(p: QPainter, state: TimelineState, h: int, playhead: bool = True) -> None:
    """Draw the time selection (shaded, with edges) and, unless ``playhead`` is False, the playhead line."""
    if state.selection:
        a, b = state.selection
        xa, xb = state.x_of(a), state.x_of(b)
        p.fillRect(QRectF(xa, 0, max(1.0, xb - xa), h), SELECTION)
        p.setPen(QPen(SELECTION_EDGE, 1))
        p.drawLine(QPointF(xa, 0), QPointF(xa, h))
        p.drawLine(QPointF(xb, 0), QPointF(xb, h))
    if playhead:
        x = state.x_of(state.playhead)
        if -1 <= x <= state.width + 1:
            p.setPen(QPen(PLAYHEAD, 1.5))
            p.drawLine(QPointF(x, 0), QPointF(x, h))
