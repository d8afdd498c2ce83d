"""SepBoard desktop host (PyQt6): timeline of the mix and its stems, text queries, playback, sessions.

Start it with ``python -m plugin.host [AUDIO | SESSION] [--bundle PATH]``. Qt is imported only when
the host starts; :mod:`gui.peaks`, :mod:`gui.tracks`, :mod:`gui.project` and :mod:`gui.playback`
work without it.
"""
