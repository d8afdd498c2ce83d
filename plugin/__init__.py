"""SepBoard runtime: text-queried stem separation on ONNX Runtime.

Imports are lazy so that `import plugin` stays fast and never pulls torch or Qt:

    from plugin import Separator, Chain

ARCHITECTURE.md describes the modules and who may import whom.
"""
from __future__ import annotations

import os

# ONNX Runtime writes a device id and a telemetry database under the user's cache when it is imported,
# unless this is set first; every import of onnxruntime in this project comes after `import plugin`.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from .errors import (
    AudioError,
    BundleError,
    Cancelled,
    CheckpointError,
    OutputError,
    QueryError,
    RuntimeMissingError,
    SepBoardError,
)

__version__ = "0.1.0"

__all__ = [
    "Separator",
    "Chain",
    "SepBoardError",
    "AudioError",
    "BundleError",
    "Cancelled",
    "CheckpointError",
    "OutputError",
    "QueryError",
    "RuntimeMissingError",
]


def __getattr__(name: str):
    if name == "Separator":
        from .separator import Separator

        return Separator
    if name == "Chain":
        from .chain import Chain

        return Chain
    raise AttributeError(f"module 'plugin' has no attribute {name!r}")
