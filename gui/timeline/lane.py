"""One track's waveform lane: the waveform image for the current view, cached, plus the overlays.

Waveforms are drawn from each track's :class:`gui.peaks.PeakPyramid`: a repaint asks for the min/max
of every pixel column (O(width), whatever the file's length), turns them into an RGBA image with
numpy, and caches that image until the view (zoom, scroll, size) or the track changes. Moving the
playhead only redraws the cached image plus a line.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
from PyQt6.QtCore import QPointF, QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QImage, QPainter, QPen
from PyQt6.QtWidgets import QSizePolicy, QWidget

from ..tracks import Track
from .scrub import ScrubMixin, paint_overlays
from .state import TimelineState
from .theme import BG, GRID, LANE_BG, LANE_H


def waveform_image(track: Track, state: TimelineState, w: int, h: int, color: QColor, dpr: float = 1.0) -> QImage:
    """RGBA image of a track's waveform for the current view, built from its peak pyramid."""
    W, H = max(1, int(round(w * dpr))), max(1, int(round(h * dpr)))
    img = np.zeros((H, W, 4), np.uint8)
    peaks = track.peaks
    if peaks is not None and peaks.length:
        lo, hi, first = peaks.columns(state.start, state.spp / dpr, W)
        k = lo.shape[-1]
        chans = peaks.channels
        gap = 2 if chans > 1 else 0
        band = (H - gap * (chans - 1)) / chans
        rows = np.arange(H, dtype=np.float32)[:, None]
        rgba = np.array([color.red(), color.green(), color.blue(), 255], np.uint8)
        centre_rgba = np.array([color.red(), color.green(), color.blue(), 90], np.uint8)
        for c in range(chans):
            y0 = c * (band + gap)
            half = band / 2.0 - 1.0
            mid = y0 + band / 2.0
            top = mid - np.clip(hi[c], -1, 1) * half  # larger values are higher up
            bot = mid - np.clip(lo[c], -1, 1) * half
            top = np.floor(top).astype(np.float32)
            bot = np.ceil(bot).astype(np.float32)
            mask = (rows >= top[None, :]) & (rows <= bot[None, :])
            img[int(mid), first: first + k] = centre_rgba
            sub = img[:, first: first + k]
            sub[mask] = rgba
    qimg = QImage(img.data, W, H, W * 4, QImage.Format.Format_RGBA8888).copy()
    qimg.setDevicePixelRatio(dpr)
    return qimg


class WaveLane(ScrubMixin, QWidget):
    """A track's waveform across the view. ``clicked(uid)`` on a left press, ``painted(uid)`` after each
    paint; ``paint_count`` counts paints and ``render_count`` the waveform images built (the cache)."""

    clicked = pyqtSignal(str)
    painted = pyqtSignal(str)

    def __init__(self, track: Track, state: TimelineState, parent=None):
        super().__init__(parent)
        self.track = track
        self.state = state
        self.init_scrub()
        self.current = False
        self.dim = False
        self._key = None
        self._img: Optional[QImage] = None
        self.paint_count = 0
        self.render_count = 0
        self.setMinimumHeight(LANE_H)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(LANE_H)
        self.setCursor(Qt.CursorShape.IBeamCursor)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        state.viewChanged.connect(self.update)
        state.playheadChanged.connect(self._playhead_moved)
        state.selectionChanged.connect(self.update)
        self._last_ph_x = None

    def _playhead_moved(self, sample):
        x = self.state.x_of(sample)
        old = self._last_ph_x
        self._last_ph_x = x
        # repaint only the strips around the old and new playhead
        h = self.height()
        if old is not None:
            self.update(int(old) - 2, 0, 5, h)
        self.update(int(x) - 2, 0, 5, h)

    def invalidate(self):
        self._key = None
        self.update()

    def on_press(self):
        self.clicked.emit(self.track.uid)

    def paintEvent(self, e):
        p = QPainter(self)
        w, h = self.width(), self.height()
        st = self.state
        col = QColor(self.track.color)
        if self.dim:
            col = QColor("#70757d")
        dpr = self.devicePixelRatioF()
        key = (st.start, st.spp, w, h, col.name(), dpr, id(self.track.peaks), st.length)
        if key != self._key or self._img is None:
            self._img = waveform_image(self.track, st, w, h - 6, col, dpr)
            self._key = key
            self.render_count += 1
        bg = QColor(LANE_BG)
        if self.current:
            bg = bg.lighter(125)
        p.fillRect(self.rect(), bg)
        end_x = st.x_of(st.length)
        if end_x < w:
            p.fillRect(QRectF(max(0.0, end_x), 0, w - max(0.0, end_x), h), BG)
        p.drawImage(QPointF(0, 3), self._img)
        p.setPen(QPen(GRID, 1))
        p.drawLine(0, h - 1, w, h - 1)
        paint_overlays(p, st, h)
        self._last_ph_x = st.x_of(st.playhead)
        p.end()
        self.paint_count += 1
        self.painted.emit(self.track.uid)
