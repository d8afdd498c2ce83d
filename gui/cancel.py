"""Cooperative cancellation: whether a cancel flag handed to long work has been raised.

Long work in the host takes ``cancel``: ``None``, a :class:`threading.Event` (what
:class:`gui.tasks.Task` passes) or a zero-argument callable returning a truth value.
"""
from __future__ import annotations


def cancel_requested(cancel) -> bool:
    """True when ``cancel`` is set (an Event) or returns true (a callable); False for ``None``."""
    if cancel is None:
        return False
    return cancel.is_set() if hasattr(cancel, "is_set") else bool(cancel())
