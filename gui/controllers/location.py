"""Where the open session lives on disk: its folder, or the recovery folder of a never-saved session.

:class:`SessionLocation` also holds the session's identity (``session_id``), which changes whenever
another session replaces it, so work started for the old one can tell that it arrived too late.
"""
from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Optional

from .. import project as P


def _new_id() -> str:
    return uuid.uuid4().hex[:12]


class SessionLocation:
    """The session folder (None until saved), the untitled recovery folder (None until autosaved)."""

    def __init__(self):
        self.session_dir: Optional[Path] = None
        self.untitled_dir: Optional[Path] = None
        self.session_id = _new_id()

    def renew(self) -> None:
        """Another session replaces this one: no folder, a new identity (the untitled folder is dropped)."""
        self.drop_untitled()
        self.session_dir = None
        self.session_id = _new_id()

    def opened(self, folder: Optional[Path], untitled: Optional[Path] = None) -> None:
        """A session was opened from ``folder`` (None: a recovered untitled one, kept in ``untitled``)."""
        self.session_dir = Path(folder) if folder is not None else None
        self.untitled_dir = untitled

    def untitled_folder(self) -> Path:
        """The recovery folder of this never-saved session (named by its identity)."""
        if self.untitled_dir is None:
            self.untitled_dir = P.recovery_root() / self.session_id
        return self.untitled_dir

    def autosave_folder(self) -> Path:
        """Where the autosave goes: the session folder, or the untitled recovery folder."""
        return self.session_dir if self.session_dir is not None else self.untitled_folder()

    def saved_to(self, folder: Path) -> None:
        """The session now lives in ``folder``: the old folder's autosave and the recovery folder go."""
        old_untitled = self.untitled_dir
        if self.session_dir is not None and Path(self.session_dir).resolve() != folder.resolve():
            P.remove_autosave(self.session_dir)
        self.session_dir = folder
        self.untitled_dir = None
        if old_untitled is not None:
            remove_untitled(old_untitled)

    def drop_untitled(self) -> None:
        """Delete the untitled recovery folder, if any (its changes were saved or discarded)."""
        folder, self.untitled_dir = self.untitled_dir, None
        if folder is not None:
            remove_untitled(folder)


def remove_untitled(folder: Path) -> None:
    """Delete a recovery folder, but only one of ours (directly inside the recovery root)."""
    try:
        root = P.recovery_root().resolve()
        if Path(folder).resolve().parent == root:
            shutil.rmtree(folder, ignore_errors=True)
    except OSError:
        pass
