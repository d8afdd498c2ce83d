"""One exception family for everything a user can get wrong.

Every message names the file or value at fault and says what to do about it. CLIs print the
message (no traceback) and exit non-zero; the GUI shows it in a dialog.
"""
from __future__ import annotations


class SepBoardError(Exception):
    """Base class: a problem the user can fix (bad input, bad bundle, missing package)."""


class BundleError(SepBoardError):
    """A model bundle is missing, incomplete, corrupt or of an unknown format."""


class AudioError(SepBoardError):
    """Audio input is unreadable, empty, non-finite or has an unsupported rate/shape."""


class QueryError(SepBoardError):
    """A text query or embedding cannot be used (empty, wrong size, NaN, no text encoder)."""


class RuntimeMissingError(SepBoardError):
    """ONNX Runtime (or another optional runtime package) is not installed."""


class CheckpointError(SepBoardError):
    """A training/official checkpoint cannot be read or does not fit the model."""


class OutputError(SepBoardError):
    """An output file cannot be written (permissions, disk full, same path as input)."""


class Cancelled(SepBoardError):
    """A long operation was cancelled by the user; nothing partial was left behind."""
