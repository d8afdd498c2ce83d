"""Long operations off the GUI thread, with progress and cancel.

``Task(label, fn)`` runs ``fn(progress, cancel)`` in a QThread: ``progress(f)`` takes 0..1 and is
forwarded (throttled) as the ``progressed`` signal; ``cancel`` is a ``threading.Event`` the work
polls (the Separator and every loader here accept one). Exactly one of ``succeeded``, ``failed`` or
``cancelled`` is emitted, always on the GUI thread. A user mistake (``SepBoardError``) comes back as
its message; anything else as a short message with the traceback logged, never a crash.
"""
from __future__ import annotations

import logging
import threading
import time
import traceback
from typing import Callable, List, Optional

from PyQt6.QtCore import QObject, QThread, pyqtSignal

from plugin.errors import Cancelled, SepBoardError

log = logging.getLogger("sepboard")


class Task(QThread):
    progressed = pyqtSignal(float)
    succeeded = pyqtSignal(object)
    failed = pyqtSignal(str)
    cancelled = pyqtSignal(str)

    def __init__(self, label: str, fn: Callable, parent=None, kind: str = "task"):
        super().__init__(parent)
        self.label = label
        self.kind = kind
        self.visible = True  # shown in the task list (False: background chores such as autosave)
        self.fn = fn
        self.cancel_event = threading.Event()
        self.fraction = 0.0
        self.started_at = time.perf_counter()
        self.outcome: Optional[str] = None  # succeeded | failed | cancelled
        self.done = threading.Event()  # set when run() has returned (a Python flag: outlives the QThread)
        self._last_emit = 0.0

    def cancel(self) -> None:
        self.cancel_event.set()

    @property
    def is_cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def _progress(self, f: float) -> None:
        f = float(min(1.0, max(0.0, f)))
        now = time.perf_counter()
        if f >= 1.0 or f - self.fraction >= 0.01 or now - self._last_emit > 0.1:
            self.fraction = f
            self._last_emit = now
            self.progressed.emit(f)

    @property
    def active(self) -> bool:
        return not self.done.is_set()

    def join(self, timeout: Optional[float] = None) -> bool:
        """Wait for the work to end (safe to call after Qt deleted the thread object)."""
        return self.done.wait(timeout)

    def run(self) -> None:  # worker thread
        try:
            self._run()
        finally:
            self.fn = None  # drop the closure (and the audio it holds) as soon as the work is over
            self.done.set()

    def _run(self) -> None:
        try:
            result = self.fn(self._progress, self.cancel_event)
        except Cancelled as exc:
            self.outcome = "cancelled"
            self.cancelled.emit(str(exc))
        except SepBoardError as exc:
            self.outcome = "failed"
            self.failed.emit(str(exc))
        except MemoryError:
            self.outcome = "failed"
            self.failed.emit(f"{self.label}: not enough memory. Close other sessions or use a shorter file/selection.")
        except Exception as exc:  # a bug: report it, keep the host alive
            log.error("%s failed:\n%s", self.label, traceback.format_exc())
            self.outcome = "failed"
            self.failed.emit(f"{self.label} failed unexpectedly: {type(exc).__name__}: {exc}")
        else:
            if self.cancel_event.is_set():  # finished while a cancel was on its way: honour the cancel
                self.outcome = "cancelled"
                self.cancelled.emit(f"{self.label} cancelled")
            else:
                self.outcome = "succeeded"
                self.succeeded.emit(result)


class TaskManager(QObject):
    """Keeps running tasks alive, tells views about them, cancels and joins them on shutdown."""

    started = pyqtSignal(object)  # Task
    ended = pyqtSignal(object)  # Task

    def __init__(self, parent=None):
        super().__init__(parent)
        self.tasks: List[Task] = []

    def start(self, label: str, fn: Callable, on_done: Optional[Callable] = None, on_error: Optional[Callable] = None,
              on_cancel: Optional[Callable] = None, kind: str = "task", visible: bool = True) -> Task:
        t = Task(label, fn, self, kind)
        t.visible = visible

        def delivered(result, t=t):
            # a Cancel clicked after the work finished but before its result arrived still wins
            if t.is_cancelled:
                t.outcome = "cancelled"
                if on_cancel:
                    on_cancel(f"{label} cancelled")
            elif on_done:
                on_done(result)

        # Leave the running list before any outcome is delivered (slots run in connection order), so
        # code reacting to the result (or a signal it emits) can start the next task of this kind.
        for sig in (t.succeeded, t.failed, t.cancelled):
            sig.connect(lambda *_, t=t: self._forget(t))
        t.succeeded.connect(delivered)
        if on_error:
            t.failed.connect(on_error)
        if on_cancel:
            t.cancelled.connect(on_cancel)
        t.finished.connect(lambda t=t: self._finished(t))
        self.tasks.append(t)
        self.started.emit(t)
        t.start()
        return t

    def _forget(self, t: Task) -> None:
        if t in self.tasks:
            self.tasks.remove(t)

    def _finished(self, t: Task) -> None:
        self._forget(t)  # already gone when an outcome was delivered
        self.ended.emit(t)
        t.deleteLater()

    def running(self, kind: Optional[str] = None) -> List[Task]:
        return [t for t in self.tasks if kind is None or t.kind == kind]

    def cancel_all(self) -> None:
        for t in list(self.tasks):
            t.cancel()

    def shutdown(self, timeout_ms: int = 10000) -> None:
        self.cancel_all()
        for t in list(self.tasks):
            t.join(timeout_ms / 1000.0)
            t.wait(timeout_ms)
