"""The timeline: a time ruler, one row per track (header + waveform lane), zoom, scroll, playhead and
time selection.

Waveforms are drawn from each track's :class:`gui.peaks.PeakPyramid`: a repaint asks for the min/max
of every pixel column (O(width), whatever the file's length), turns them into an RGBA image with
numpy, and caches that image until the view (zoom, scroll, size) or the track changes. Moving the
playhead only redraws the cached image plus a line.

Mouse: click = move the playhead (seek); drag = select a time range (what "Separate" works on);
Shift+click extends the selection; Ctrl+wheel zooms around the pointer; Shift+wheel (or a
horizontal wheel) scrolls; the wheel alone scrolls the track list.
"""
from __future__ import annotations

import math
from typing import Dict, Optional, Tuple

import numpy as np
from PyQt6.QtCore import QEvent, QObject, QPointF, QRectF, QSize, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QFont, QImage, QPainter, QPen, QPolygonF
from PyQt6.QtWidgets import (QFrame, QHBoxLayout, QLabel, QScrollArea, QScrollBar, QSizePolicy, QSlider,
                             QToolButton, QVBoxLayout, QWidget)

from .tracks import Track, effect_label

HEADER_W = 232
LANE_H = 92
RULER_H = 28
BG = QColor("#1e2126")
LANE_BG = QColor("#262a31")
GRID = QColor("#343a43")
TEXT = QColor("#c9ced6")
PLAYHEAD = QColor("#ff5a4f")
SELECTION = QColor(255, 255, 255, 38)
SELECTION_EDGE = QColor(255, 255, 255, 120)

TICK_STEPS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1200, 1800,
              3600)


def fmt_time(seconds: float, step: float = 1.0) -> str:
    """m:ss, with as many decimals as the tick step needs (h:mm:ss past an hour)."""
    neg = seconds < 0
    seconds = abs(seconds)
    decimals = 0 if step >= 1 else (1 if step >= 0.1 else (2 if step >= 0.01 else 3))
    whole = int(seconds)
    frac = seconds - whole
    if decimals:
        q = round(frac * 10 ** decimals)
        if q >= 10 ** decimals:
            whole, q = whole + 1, 0
    h, rem = divmod(whole, 3600)
    m, s = divmod(rem, 60)
    txt = f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
    if decimals:
        txt += f".{q:0{decimals}d}"
    return ("-" if neg else "") + txt


def tick_step(px_per_second: float, min_px: float = 80.0) -> float:
    for s in TICK_STEPS:
        if s * px_per_second >= min_px:
            return float(s)
    return float(TICK_STEPS[-1])


class TimelineState(QObject):
    """View geometry shared by the ruler and every lane: visible range, zoom, playhead, selection."""

    viewChanged = pyqtSignal()
    playheadChanged = pyqtSignal(int)
    selectionChanged = pyqtSignal()
    seekRequested = pyqtSignal(int)

    MIN_SPP = 1.0 / 32.0  # at most 32 pixels per sample

    def __init__(self, parent=None):
        super().__init__(parent)
        self.sample_rate = 44100.0
        self.length = 0
        self.start = 0.0
        self.spp = 256.0
        self.width = 800
        self.playhead = 0
        self.selection: Optional[Tuple[int, int]] = None
        self.fitted = True  # follow the window size until the user zooms

    # ----- geometry ------------------------------------------------------------------------------
    def max_spp(self) -> float:
        n = self.length if self.length > 0 else int(self.sample_rate * 10)
        return max(n / max(1, self.width), self.MIN_SPP * 4)

    def _clamp(self) -> None:
        self.spp = float(min(max(self.spp, self.MIN_SPP), self.max_spp()))
        hi = max(0.0, self.length - self.width * self.spp)
        self.start = float(min(max(self.start, 0.0), hi))

    def set_content(self, length: int, sample_rate: float) -> None:
        self.length = int(length)
        self.sample_rate = float(sample_rate or 44100.0)
        if self.fitted:
            self.fit()
        else:
            self._clamp()
            self.viewChanged.emit()
        if self.playhead > self.length:
            self.set_playhead(self.length)
        if self.selection and self.selection[1] > self.length:
            self.set_selection(self.selection[0], self.length)

    def set_width(self, width: int) -> None:
        width = max(1, int(width))
        if width == self.width:
            return
        self.width = width
        if self.fitted:
            self.fit()
        else:
            self._clamp()
            self.viewChanged.emit()

    def fit(self) -> None:
        self.fitted = True
        self.spp = self.max_spp()
        self.start = 0.0
        self._clamp()
        self.viewChanged.emit()

    def zoom(self, factor: float, anchor_x: Optional[float] = None) -> None:
        """factor > 1 zooms in around ``anchor_x`` (pixels; default: the playhead if visible, else the centre)."""
        if anchor_x is None:
            px = self.x_of(self.playhead)
            anchor_x = px if 0 <= px <= self.width else self.width / 2
        anchor = self.start + anchor_x * self.spp
        self.spp = self.spp / factor
        self.start = anchor - anchor_x * min(max(self.spp, self.MIN_SPP), self.max_spp())
        self._clamp()
        self.fitted = self.spp >= self.max_spp() * 0.999
        self.viewChanged.emit()

    def scroll_to(self, start: float) -> None:
        old = self.start
        self.start = float(start)
        self._clamp()
        if self.start != old:
            self.viewChanged.emit()

    def scroll_by_pixels(self, dx: float) -> None:
        self.scroll_to(self.start + dx * self.spp)

    def ensure_visible(self, sample: int, margin: float = 0.05) -> None:
        x = self.x_of(sample)
        if x < 0 or x > self.width * (1 - margin):
            self.scroll_to(sample - self.width * margin * self.spp)

    def x_of(self, sample: float) -> float:
        return (sample - self.start) / self.spp

    def sample_at(self, x: float) -> int:
        return int(min(max(round(self.start + x * self.spp), 0), self.length))

    @property
    def visible_range(self) -> Tuple[int, int]:
        return int(self.start), int(min(self.length, self.start + self.width * self.spp))

    # ----- playhead / selection --------------------------------------------------------------------
    def set_playhead(self, sample: int) -> None:
        sample = int(min(max(sample, 0), self.length))
        if sample != self.playhead:
            self.playhead = sample
            self.playheadChanged.emit(sample)

    def set_selection(self, a: Optional[int], b: Optional[int] = None) -> None:
        if a is None or b is None:
            sel = None
        else:
            lo, hi = sorted((int(a), int(b)))
            lo, hi = max(0, lo), min(self.length, hi)
            sel = (lo, hi) if hi - lo >= 1 else None
        if sel != self.selection:
            self.selection = sel
            self.selectionChanged.emit()


# ------------------------------------------------------------------------------------------------
# mouse: seek / select / zoom, shared by the ruler and the lanes
# ------------------------------------------------------------------------------------------------
class _ScrubMixin:
    state: TimelineState

    def _scrub_init(self):
        self._press_x = None
        self._anchor = 0
        self._dragging = False

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
        self._on_press()
        e.accept()

    def _on_press(self):
        pass

    def mouseMoveEvent(self, e):
        if self._press_x is None:
            return super().mouseMoveEvent(e)
        x = e.position().x()
        if not self._dragging and abs(x - self._press_x) < 4:
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
        d = e.angleDelta()
        mods = e.modifiers()
        if mods & Qt.KeyboardModifier.ControlModifier:
            steps = d.y() / 120.0
            if steps:
                st.zoom(1.25 ** steps, e.position().x())
            e.accept()
        elif d.x() or mods & Qt.KeyboardModifier.ShiftModifier:
            amount = d.x() if d.x() else d.y()
            st.scroll_by_pixels(-amount / 120.0 * st.width * 0.1)
            e.accept()
        else:
            e.ignore()


def _paint_overlays(p: QPainter, state: TimelineState, h: int, playhead: bool = True) -> None:
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


# ------------------------------------------------------------------------------------------------
# ruler
# ------------------------------------------------------------------------------------------------
class Ruler(_ScrubMixin, QWidget):
    def __init__(self, state: TimelineState, parent=None):
        super().__init__(parent)
        self.state = state
        self._scrub_init()
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
        _paint_overlays(p, st, h, playhead=False)
        x = st.x_of(st.playhead)
        if -6 <= x <= self.width() + 6:
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(PLAYHEAD)
            p.drawPolygon(QPolygonF([QPointF(x - 6, 0), QPointF(x + 6, 0), QPointF(x, 9)]))
            p.setPen(QPen(PLAYHEAD, 1.5))
            p.drawLine(QPointF(x, 0), QPointF(x, h))
        p.end()


# ------------------------------------------------------------------------------------------------
# waveform lane
# ------------------------------------------------------------------------------------------------
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


class WaveLane(_ScrubMixin, QWidget):
    clicked = pyqtSignal(str)
    painted = pyqtSignal(str)

    def __init__(self, track: Track, state: TimelineState, parent=None):
        super().__init__(parent)
        self.track = track
        self.state = state
        self._scrub_init()
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

    def _on_press(self):
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
        _paint_overlays(p, st, h)
        self._last_ph_x = st.x_of(st.playhead)
        p.end()
        self.paint_count += 1
        self.painted.emit(self.track.uid)


# ------------------------------------------------------------------------------------------------
# track header
# ------------------------------------------------------------------------------------------------
class _Swatch(QToolButton):
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


class TrackHeader(QFrame):
    KIND_TEXT = {"mix": "mix", "stem": "stem", "residual": "residual", "audio": "audio"}

    def __init__(self, track: Track, controller, parent=None):
        super().__init__(parent)
        self.track = track
        self.ctl = controller
        self.setFixedWidth(HEADER_W)
        self.setFixedHeight(LANE_H)
        self.setObjectName("trackHeader")
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)

        self.swatch = _Swatch(track.color)
        self.swatch.clicked.connect(lambda: self.ctl.choose_color(self.track.uid))
        self.name = QLabel()
        self.name.setObjectName("trackName")
        self.name.setToolTip("Double-click to rename")
        self.info = QLabel()
        self.info.setObjectName("trackInfo")
        self.delete_btn = QToolButton()
        self.delete_btn.setText("✕")
        self.delete_btn.setToolTip("Delete track (Ctrl+Z brings it back)")
        self.delete_btn.setAutoRaise(True)
        self.delete_btn.clicked.connect(lambda: self.ctl.delete_track(self.track.uid))

        self.solo = QToolButton()
        self.solo.setText("S")
        self.solo.setCheckable(True)
        self.solo.setObjectName("soloButton")
        self.solo.setToolTip("Solo: hear only soloed tracks")
        self.solo.toggled.connect(lambda on: self.ctl.set_solo(self.track.uid, on))
        self.mute = QToolButton()
        self.mute.setText("M")
        self.mute.setCheckable(True)
        self.mute.setObjectName("muteButton")
        self.mute.setToolTip("Mute")
        self.mute.toggled.connect(lambda on: self.ctl.set_mute(self.track.uid, on))
        self.fx = QToolButton()
        self.fx.setText("FX")
        self.fx.setObjectName("fxButton")
        self.fx.setToolTip("Effects: gain, EQ, filters, compressor")
        self.fx.clicked.connect(lambda: self.ctl.edit_effects(self.track.uid))
        self.gain = GainSlider()
        self.gain.setToolTip("Track gain")
        self.gain.valueChanged.connect(self._gain_moved)
        self.gain_label = QLabel()
        self.gain_label.setObjectName("gainLabel")
        self.gain_label.setFixedWidth(52)
        self.gain_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.setSpacing(6)
        top.addWidget(self.swatch)
        top.addWidget(self.name, 1)
        top.addWidget(self.delete_btn)
        mid = QHBoxLayout()
        mid.setContentsMargins(0, 0, 0, 0)
        mid.setSpacing(4)
        for b in (self.solo, self.mute, self.fx):
            b.setFixedSize(28, 22)
            mid.addWidget(b)
        mid.addSpacing(4)
        mid.addWidget(self.gain, 1)
        mid.addWidget(self.gain_label)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 6, 6)
        lay.setSpacing(4)
        lay.addLayout(top)
        lay.addWidget(self.info)
        lay.addLayout(mid)
        self.refresh()

    def _gain_moved(self, v):
        db = v / 2.0
        self.gain_label.setText(f"{db:+.1f} dB" if db else "0.0 dB")
        self.ctl.set_gain(self.track.uid, db)

    def _menu(self, pos):
        from PyQt6.QtWidgets import QMenu

        m = QMenu(self)
        uid = self.track.uid
        m.addAction("Rename…", lambda: self.ctl.rename_track_dialog(uid))
        m.addAction("Colour…", lambda: self.ctl.choose_color(uid))
        m.addAction("Effects…", lambda: self.ctl.edit_effects(uid))
        m.addAction("Separate from this track", lambda: self.ctl.set_current(uid))
        m.addSeparator()
        m.addAction("Delete", lambda: self.ctl.delete_track(uid))
        m.exec(self.mapToGlobal(pos))

    def mousePressEvent(self, e):
        self.ctl.set_current(self.track.uid)
        super().mousePressEvent(e)

    def mouseDoubleClickEvent(self, e):
        self.ctl.rename_track_dialog(self.track.uid)

    def refresh(self, current: bool = False):
        t = self.track
        fm = self.name.fontMetrics()
        self.name.setText(fm.elidedText(t.name, Qt.TextElideMode.ElideRight, HEADER_W - 70))
        self.name.setToolTip(f"{t.name}\nDouble-click to rename")
        self.swatch.set_color(t.color)
        bits = [self.KIND_TEXT.get(t.kind, t.kind)]
        if t.kind in ("stem", "residual") and t.query and t.name != t.query:
            bits.append(f"“{t.query}”")
        if t.region:
            sr = self.ctl.sample_rate or 44100
            bits.append(f"{fmt_time(t.region[0] / sr, 0.1)}–{fmt_time(t.region[1] / sr, 0.1)}")
        if t.has_active_effects:
            bits.append("fx: " + ", ".join(effect_label(e["type"]) for e in t.effects if not e.get("bypass")))
        info = " · ".join(bits)
        self.info.setText(self.info.fontMetrics().elidedText(info, Qt.TextElideMode.ElideRight, HEADER_W - 20))
        self.info.setToolTip(info)
        for w, v in ((self.solo, t.solo), (self.mute, t.mute)):
            w.blockSignals(True)
            w.setChecked(v)
            w.blockSignals(False)
        if self.fx.property("active") != t.has_active_effects:
            self.fx.setProperty("active", t.has_active_effects)
            self.fx.style().unpolish(self.fx)
            self.fx.style().polish(self.fx)
        self.gain.blockSignals(True)
        self.gain.set_db(t.gain_db)
        self.gain.blockSignals(False)
        self.gain_label.setText(f"{t.gain_db:+.1f} dB" if t.gain_db else "0.0 dB")
        if self.property("current") != current:
            self.setProperty("current", current)
            self.style().unpolish(self)
            self.style().polish(self)


class TrackRow(QWidget):
    def __init__(self, track: Track, state: TimelineState, controller, parent=None):
        super().__init__(parent)
        self.track = track
        self.header = TrackHeader(track, controller)
        self.lane = WaveLane(track, state)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 1)
        lay.setSpacing(0)
        lay.addWidget(self.header)
        lay.addWidget(self.lane, 1)
        self.setFixedHeight(LANE_H + 1)

    def refresh(self, current: bool, dim: bool):
        self.header.refresh(current)
        self.lane.current = current
        self.lane.dim = dim
        self.lane.update()  # the cached waveform is re-rendered only if its colour or the view changed


# ------------------------------------------------------------------------------------------------
# the whole timeline
# ------------------------------------------------------------------------------------------------
class TimelineWidget(QWidget):
    """Ruler + scrolling track rows + horizontal scrollbar, kept in sync with a Session."""

    lanePainted = pyqtSignal(str)

    def __init__(self, session, state: TimelineState, controller, parent=None):
        super().__init__(parent)
        self.session = session
        self.state = state
        self.ctl = controller
        self.rows: Dict[str, TrackRow] = {}
        self.current_uid: Optional[str] = None

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
        for b in (self.zoom_out_btn, self.zoom_in_btn, self.fit_btn):
            cl.addWidget(b)
        self.ruler = Ruler(state)

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
        self.placeholder = QLabel("Drop an audio file here, or open one with Ctrl+O\n\n"
                                  "Then type what to extract (“bass guitar”, “drums”, “vocals”…) and press Enter.")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setObjectName("placeholder")
        self.rows_layout.addWidget(self.placeholder, 1)
        self.rows_layout.addStretch(0)
        self.scroll.setWidget(self.content)
        self.scroll.viewport().installEventFilter(self)

        self.hbar = QScrollBar(Qt.Orientation.Horizontal)
        self.hbar.valueChanged.connect(self._hbar_moved)

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

        state.viewChanged.connect(self._sync_hbar)
        state.playheadChanged.connect(self._update_time_label)
        session.tracksChanged.connect(self.rebuild)
        session.trackChanged.connect(self.refresh_track)
        self.rebuild()

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

    def _hbar_moved(self, v):
        self.state.scroll_to(v * self.state.spp)

    def _update_time_label(self, sample):
        sr = self.state.sample_rate or 44100
        self.time_label.setText(fmt_time(sample / sr, 0.001))

    # ----- rows -----------------------------------------------------------------------------------
    def rebuild(self):
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
                row = TrackRow(t, self.state, self.ctl)
                row.lane.clicked.connect(self.ctl.set_current)
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
        row = self.rows.get(uid)
        if row is not None:
            any_solo = any(t.solo for t in self.session.tracks)
            t = row.track
            row.refresh(uid == self.current_uid, t.mute or (any_solo and not t.solo))
            if any_solo != getattr(self, "_any_solo", None):
                self._any_solo = any_solo
                self.refresh_all()

    def refresh_all(self):
        any_solo = any(t.solo for t in self.session.tracks)
        self._any_solo = any_solo
        for uid, row in self.rows.items():
            t = row.track
            row.refresh(uid == self.current_uid, t.mute or (any_solo and not t.solo))

    def set_current(self, uid: Optional[str]):
        self.current_uid = uid
        self.refresh_all()

    def lanes_painted(self) -> bool:
        return bool(self.rows) and all(r.lane.paint_count > 0 and r.track.peaks is not None for r in self.rows.values())

    def sizeHint(self):
        return QSize(900, 400)
