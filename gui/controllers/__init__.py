"""The host's controllers: one concern each, driven by the window's actions and widgets.

:mod:`.model` (loading the bundle, model/device label), :mod:`.documents` (open audio and sessions,
new session, recovery, dropped files), :mod:`.saving` (save, save as, autosave), :mod:`.separation`
(query -> task -> stem tracks), :mod:`.transport` (play, stop, seek), :mod:`.exporting` (stem
export), :mod:`.track_edits` (the timeline's TrackActions), :mod:`.effects` (background effect
renders); shared pieces: :mod:`.context` (services), :mod:`.ports` (what they may ask of the window),
:mod:`.location` (where the session lives on disk), :mod:`.view_state` (the view a session remembers).

Imports go one way: documents uses saving, separation, transport, track_edits and effects;
separation uses model and track_edits; saving uses track_edits; no controller imports
:mod:`gui.window` or :mod:`gui.actions` (the window and its actions use the controllers).
"""
