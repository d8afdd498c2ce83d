"""Progress and cancellation: one callback type and one cancel check for every long operation.

A :data:`ProgressFn` is called with the fraction done, from 0 to 1. A :data:`CancelFn` is a
``threading.Event`` (or anything with ``is_set()``), a callable that returns True to cancel, or None
(never cancelled). Long loops call :func:`raise_if_cancelled` between steps; it raises
:class:`~plugin.errors.Cancelled`, and the caller leaves nothing partial behind.
"""
from __future__ import annotations

import threading
from typing import Callable, Union

from .errors import Cancelled

ProgressFn = Callable[[float], None]
CancelFn = Union[threading.Event, Callable[[], bool], None]


def is_cancelled(cancel: CancelFn) -> bool:
    """True when ``cancel`` asks to stop now."""
    if cancel is None:
        return False
    is_set = getattr(cancel, "is_set", None)
    if is_set is not None:
        return bool(is_set())
    return bool(cancel())


def raise_if_cancelled(cancel: CancelFn, message: str = "cancelled") -> None:
    """Raise :class:`Cancelled` with ``message`` when ``cancel`` asks to stop."""
    if is_cancelled(cancel):
        raise Cancelled(message)
