"""Autosave bookkeeping in a session folder, and the recovery folders of never-saved sessions.

``.autosave.json`` holds unsaved changes; it is newer than ``session.json`` after a crash. Declining
a recovery moves it aside as ``.autosave-discarded.json`` (never deleted). Track audio that no file
refers to any more is removed only beside a session file this version can read.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import List, Optional

from .format import AUDIO_DIR, AUTOSAVE_FILE, DISCARDED_AUTOSAVE, SESSION_FILE, SessionError, read_doc


def recovery_candidate(folder) -> Optional[Path]:
    """The folder's autosave when it is newer than session.json (unsaved work after a crash)."""
    folder = Path(folder)
    a = folder / AUTOSAVE_FILE
    if not a.exists():
        return None
    s = folder / SESSION_FILE
    try:
        da = read_doc(a)
    except SessionError:
        return None
    if not s.exists():
        return a
    try:
        ds = read_doc(s)
        newer = da.saved_at > ds.saved_at
    except SessionError:
        newer = a.stat().st_mtime > s.stat().st_mtime
    return a if newer else None


def _referenced(doc_file: Path) -> set:
    """Names of the audio files a session/autosave file refers to (none when it is unreadable)."""
    try:
        return {Path(t["file"]).name for t in read_doc(doc_file).tracks}
    except SessionError:
        return set()


def collect_garbage(folder, keep: Optional[set] = None) -> None:
    """Remove track audio files that neither session.json nor a kept-aside autosave refers to
    (tracks deleted before a save, or autosaved and then discarded)."""
    folder = Path(folder)
    audio = folder / AUDIO_DIR
    if not audio.is_dir():
        return
    if keep is None:
        s = folder / SESSION_FILE
        if s.exists():
            try:
                keep = {Path(t["file"]).name for t in read_doc(s).tracks}
            except SessionError:
                return  # never clean up beside a session file we cannot read
        else:
            keep = set()
    keep = set(keep) | _referenced(folder / DISCARDED_AUTOSAVE) | _referenced(folder / AUTOSAVE_FILE)
    for wav in audio.glob("*.wav"):
        if wav.name not in keep and re.fullmatch(r"[0-9a-zA-Z_-]{1,64}\.wav", wav.name):
            try:
                wav.unlink()
            except OSError:
                pass


def discard_autosave(folder) -> None:
    """Move the folder's autosave aside (as .autosave-discarded.json), if there is one."""
    a = Path(folder) / AUTOSAVE_FILE
    if a.exists():
        os.replace(a, Path(folder) / DISCARDED_AUTOSAVE)


def remove_autosave(folder) -> None:
    """Delete the folder's autosave (after a save made it obsolete); a missing file is fine."""
    try:
        (Path(folder) / AUTOSAVE_FILE).unlink()
    except OSError:
        pass


def recovery_root() -> Path:
    """Where never-saved sessions autosave: $SEPBOARD_RECOVERY_DIR, else the XDG state folder."""
    env = os.environ.get("SEPBOARD_RECOVERY_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "sepboard" / "recovery"


def untitled_recoveries(root: Optional[Path] = None) -> List[Path]:
    """Folders of never-saved sessions whose autosave survived (newest first)."""
    root = Path(root) if root else recovery_root()
    if not root.is_dir():
        return []
    found = [d for d in root.iterdir() if (d / AUTOSAVE_FILE).is_file()]
    return sorted(found, key=lambda d: (d / AUTOSAVE_FILE).stat().st_mtime, reverse=True)
