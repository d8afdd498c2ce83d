"""The timeline: a time ruler, one row per track (header + waveform lane), zoom, scroll, playhead and
time selection.

Modules, one concern each: :mod:`.state` (the shared view geometry, playhead and selection),
:mod:`.ticks` (time labels, no Qt), :mod:`.theme` (sizes, colours), :mod:`.scrub` (mouse on the time
axis, overlays), :mod:`.ruler`, :mod:`.lane` (cached waveform), :mod:`.header` (track header),
:mod:`.actions` (the :class:`TrackActions` protocol the headers call) and :mod:`.view` (the whole
widget, kept in step with a Session).

Mouse: click = move the playhead (seek); drag = select a time range (what "Separate" works on);
Shift+click extends the selection; Ctrl+wheel zooms around the pointer; Shift+wheel (or a
horizontal wheel) scrolls; the wheel alone scrolls the track list.
"""
from .actions import TrackActions
from .header import ColorSwatch, GainSlider, TrackHeader
from .lane import WaveLane, waveform_image
from .ruler import Ruler
from .scrub import ScrubMixin, paint_overlays
from .state import TimelineState
from .theme import HEADER_W, LANE_H, RULER_H
from .ticks import TICK_STEPS, fmt_time, tick_step
from .view import TimelineWidget, TrackRow

__all__ = [
    "HEADER_W", "LANE_H", "RULER_H", "TICK_STEPS", "ColorSwatch", "GainSlider", "Ruler", "ScrubMixin",
    "TimelineState", "TimelineWidget", "TrackActions", "TrackHeader", "TrackRow", "WaveLane", "fmt_time",
    "paint_overlays", "tick_step", "waveform_image",
]
