"""Helpers the host tests share: a test window (fake playback, prompts answered at once, no autosave)
and opening a song in it."""
from __future__ import annotations

from gui.dialogs import AutoPrompter
from gui.playback import FakeBackend
from gui.window import MainWindow

WAIT = 20000  # ms: generous upper bound for a busy 2-core machine; tests never assert durations


def make_window(qtbot, separator, answers=None, backend=None, **kw):
    """A MainWindow on ``separator`` that qtbot closes; ``answers`` feed its AutoPrompter."""
    w = MainWindow(separator=separator, backend=backend or FakeBackend(), prompter=AutoPrompter(answers),
                   autosave_seconds=0, **kw)
    qtbot.addWidget(w)
    w.resize(1100, 600)
    return w


def open_song(qtbot, w, path):
    """Open ``path`` in ``w`` and wait until the session is loaded; the mix track."""
    with qtbot.waitSignal(w.sessionLoaded, timeout=WAIT):
        assert w.documents.open_path(path) is not None
    return w.session.tracks[0]
