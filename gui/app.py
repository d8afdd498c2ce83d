"""Start the host: QApplication + MainWindow (called by ``python -m plugin.host``)."""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Optional

T_START = time.perf_counter()


def run(path: Optional[str] = None, bundle: Optional[str] = None, autosave_seconds: float = 30.0,
        screenshot: Optional[str] = None, exit_after_paint: bool = False, open_dialog: bool = True,
        size=(1280, 760), backend=None, prompter=None) -> int:
    """Open the window (on ``path`` if given, else offering recovery or an open dialog); the exit code.

    ``screenshot`` saves a picture once everything is drawn and exits; ``exit_after_paint`` prints
    when the first waveform was painted and exits. Both answer dialogs automatically.
    """
    from PyQt6.QtCore import QTimer, qInstallMessageHandler
    from PyQt6.QtWidgets import QApplication

    from .window import MainWindow

    qInstallMessageHandler(_qt_messages)
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "sepboard"])
    app.setApplicationName("SepBoard")
    app.setApplicationDisplayName("SepBoard")
    if screenshot or exit_after_paint:
        from .dialogs import AutoPrompter

        prompter = prompter or AutoPrompter({"ask": False, "ask_save": "discard"})
        open_dialog = False
    win = MainWindow(bundle=bundle, autosave_seconds=autosave_seconds, backend=backend, prompter=prompter)
    win.resize(*size)
    win.show()
    if path:
        QTimer.singleShot(0, lambda: win.documents.open_path(path))
    else:
        def startup():
            if not win.documents.offer_untitled_recovery() and open_dialog:
                win.documents.open_dialog()
        QTimer.singleShot(0, startup)

    if exit_after_paint:
        _print_first_paint_and_quit(win, app)
    if screenshot:
        _screenshot_when_ready(win, app, Path(screenshot))

    code = app.exec()
    win.shutdown()
    return code


def _print_first_paint_and_quit(win, app) -> None:
    """Print when the first waveform was painted (seconds since import, and epoch), then quit."""
    from PyQt6.QtCore import QTimer

    def painted(t):
        print(f"first-paint {t - T_START:.6f}", flush=True)
        print(f"first-paint-epoch {time.time():.6f}", flush=True)
        QTimer.singleShot(0, app.quit)

    win.firstWaveformPainted.connect(painted)
    fail_if_error(win, app)


def _screenshot_when_ready(win, app, out: Path) -> None:
    """Once the window is idle, drawn and has a model (or its error), save a picture to ``out`` and exit."""
    from PyQt6.QtCore import QTimer

    def ready():
        model = win.model
        return (not win.busy()) and win.timeline.lanes_painted() and (model.separator is not None or model.error)

    def poll():
        if ready():
            QTimer.singleShot(300, shoot)
        else:
            QTimer.singleShot(100, poll)

    def shoot():
        app.processEvents()
        img = win.grab()
        out.parent.mkdir(parents=True, exist_ok=True)
        ok = img.save(str(out))
        print(f"screenshot {out} {'saved' if ok else 'FAILED'} ({img.width()}x{img.height()}, "
              f"platform {app.platformName()})", flush=True)
        app.exit(0 if ok else 1)

    QTimer.singleShot(200, poll)
    fail_if_error(win, app)
    QTimer.singleShot(120000, lambda: (print("screenshot: timed out", flush=True), app.exit(3)))


_QUIET = ("does not support propagateSizeHints", "does not support raise()", "does not support grabbing")


def _qt_messages(mode, context, message):
    """Qt's own warnings go to stderr, minus the offscreen platform's harmless "not supported" notes."""
    if any(q in message for q in _QUIET):
        return
    print(message, file=sys.stderr, flush=True)


def fail_if_error(win, app):
    """In unattended modes an error message ends the run with its text (instead of waiting forever)."""
    p = win.prompter
    orig = p.error

    def error(title, text):
        orig(title, text)
        print(f"error: {title}: {text}", file=sys.stderr, flush=True)
        app.exit(2)

    p.error = error


def quit_later(seconds: float) -> None:
    """Create the QApplication now (``gui.app.run`` reuses it) and quit ``seconds`` after its event loop
    started, printing the windows on screen; the exit code is 0 if the main window was shown, else 1.
    Modal dialogs (the open dialog of an empty session) are closed with it."""
    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QApplication, QDialog

    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "sepboard"])

    def quit_now():
        shown = [w for w in app.topLevelWidgets() if w.isVisible()]
        names = ", ".join(f"{type(w).__name__} {w.width()}x{w.height()}" for w in shown) or "none"
        main_shown = any(not isinstance(w, QDialog) for w in shown)
        print(f"quit-after {seconds:g} s: platform {app.platformName()}, windows shown: {names}", flush=True)
        app.exit(0 if main_shown else 1)

    QTimer.singleShot(int(seconds * 1000), quit_now)
