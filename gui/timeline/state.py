"""The view geometry every timeline widget shares: visible range, zoom, playhead and time selection.

Positions are in samples of the session; ``spp`` is samples per pixel and ``start`` the sample at the
left edge. Widgets draw from this state and change it through its methods, which emit
``viewChanged``, ``playheadChanged`` or ``selectionChanged``; ``seekRequested`` asks the host to move
the playback position (a click on the ruler or a lane).
"""
from __future__ import annotations

from typing import Optional, Tuple

from PyQt6.QtCore import QObject, pyqtSignal


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

    def restore_zoom(self, spp: float, start: float) -> None:
        """Zoom to ``spp`` samples per pixel with ``start`` at the left edge (a saved view), no longer fitted."""
        self.fitted = False
        self.spp = float(spp)
        self.scroll_to(float(start))
        self.zoom(1.0)

    def reset(self) -> None:
        """No selection, the playhead at 0, and fit the next content (a new session)."""
        self.set_selection(None)
        self.set_playhead(0)
        self.fitted = True

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
