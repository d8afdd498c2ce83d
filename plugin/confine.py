"""Paths that must stay inside a folder: a bundle's files, a session's audio.

A name from a file we did not write (a manifest, a session) is joined to its folder only after
checking that the result, with every symbolic link resolved, still lies inside that folder. The
check says nothing about whether the outside target exists, so a refusal reveals nothing about
the rest of the file system.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

PathLike = Union[str, os.PathLike]


def inside(folder: PathLike, name: PathLike) -> Optional[Path]:
    """``folder / name`` when it resolves (links followed) to a path inside ``folder``, else None.

    An absolute ``name``, a ``..`` that climbs out, or a link that points outside gives None, whether
    or not the target exists."""
    root = Path(folder).resolve()
    try:
        target = (root / name).resolve()
    except (OSError, RuntimeError, ValueError):  # a link loop, a NUL byte
        return None
    if target == root or root not in target.parents:
        return None
    return Path(folder) / name
