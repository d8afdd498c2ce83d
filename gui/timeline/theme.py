"""Sizes and colours shared by the timeline's widgets (the rest of the look is in :mod:`gui.style`)."""
from __future__ import annotations

from PyQt6.QtGui import QColor

HEADER_W = 232  # track header width, and the ruler's left corner
LANE_H = 92  # height of one track row
RULER_H = 28
BG = QColor("#1e2126")
LANE_BG = QColor("#262a31")
GRID = QColor("#343a43")
TEXT = QColor("#c9ced6")
PLAYHEAD = QColor("#ff5a4f")
SELECTION = QColor(255, 255, 255, 38)
SELECTION_EDGE = QColor(255, 255, 255, 120)
