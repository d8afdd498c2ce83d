"""Loading and saving a whole session folder (session.json or .autosave.json plus track audio).

Every write is atomic (temp file in the same folder + ``os.replace``). ``session.json`` is only
ever replaced by an explicit save, and never when the existing file is unreadable or was written by
a newer version. Audio is written only for tracks the folder does not hold yet.
"""
from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from plugin import __version__, atomic
from plugin.audio import resample, write_audio
from plugin.confine import inside
from plugin.errors import Cancelled, OutputError

from ..cancel import cancel_requested
from ..tracks import Track
from .format import (AUDIO_DIR, AUTOSAVE_FILE, FORMAT, FORMAT_VERSION, SESSION_FILE, SessionDoc, SessionError,
                     check_writable, read_doc)
from .recovery import collect_garbage, remove_autosave

ProgressFn = Optional[Callable[[float], None]]


@dataclass
class SessionState:
    """Everything a session file stores, with the tracks' audio."""

    sample_rate: float
    tracks: List[Track]
    song: str = "song"
    source: Optional[str] = None
    history: List[str] = field(default_factory=list)
    view: dict = field(default_factory=dict)


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) atomically and durably: the old content or the new, never a mix."""
    atomic.write_text(path, text, fsync=True)


# ------------------------------------------------------------------------------------------------
# loading
# ------------------------------------------------------------------------------------------------
def _read_track_audio(folder: Path, rel: str, sr) -> np.ndarray:
    import soundfile as sf

    file = folder / rel
    if inside(folder, rel) is None:
        raise SessionError(f"the session's audio file {rel!r} points outside the session folder {folder} (a link?); "
                           "refusing to read it. Copy the audio into the folder's 'audio' folder.")
    if not file.exists():
        raise SessionError(f"the session's audio file {file} is missing; the session cannot be opened as saved.")
    if not file.is_file():
        raise SessionError(f"the session's audio file {file} is not a regular file; the session cannot be opened.")
    try:
        data, rate = sf.read(str(file), dtype="float32", always_2d=True)
    except Exception as exc:
        raise SessionError(f"the session's audio file {file} is unreadable ({exc}).") from None
    if data.shape[0] == 0:
        raise SessionError(f"the session's audio file {file} is empty.")
    a = np.ascontiguousarray(data.T)
    if abs(rate - float(sr)) > 1e-6:
        a = resample(a, rate, sr)
    return a


def load_doc_tracks(doc: SessionDoc, progress: ProgressFn = None, cancel=None) -> List[Track]:
    """The tracks a session file lists, with their audio (resampled to the session rate) and peaks."""
    folder = doc.path.parent
    tracks = []
    ids = set()
    for i, t in enumerate(doc.tracks):
        if cancel_requested(cancel):
            raise Cancelled("opening cancelled")
        audio = _read_track_audio(folder, t["file"], doc.sample_rate)
        kw = {}
        # a repeated id gets a fresh one: two tracks must never share (and overwrite) one audio file
        if t["id"] and re.fullmatch(r"[0-9a-zA-Z_-]{1,64}", t["id"]) and t["id"].casefold() not in ids:
            kw["uid"] = t["id"]
            ids.add(t["id"].casefold())
        tr = Track(name=t["name"], audio=audio, kind=t["kind"], query=t["query"], color=t["color"] or "#4f9dde",
                   gain_db=t["gain_db"], mute=t["mute"], solo=t["solo"], effects=t["effects"], region=t["region"],
                   source=t["source"], **kw)
        if (folder / t["file"]).resolve() == (folder / AUDIO_DIR / f"{tr.uid}.wav").resolve():
            tr.saved_in = str(folder.resolve())
        tr.ensure_peaks()
        tracks.append(tr)
        if progress:
            progress((i + 1) / max(1, len(doc.tracks)))
    return tracks


def load_session(path, progress: ProgressFn = None, cancel=None, autosave: bool = False
                 ) -> Tuple[SessionState, Path]:
    """Open a session folder (or its session.json). With ``autosave=True`` read its .autosave.json.
    Returns (state, folder)."""
    p = Path(path)
    if p.is_dir():
        folder = p
        f = folder / (AUTOSAVE_FILE if autosave else SESSION_FILE)
        if not autosave and not f.exists():
            raise SessionError(f"{folder} is not a SepBoard session folder (it has no {SESSION_FILE})")
    else:
        folder = p.parent
        f = folder / AUTOSAVE_FILE if autosave else p
    doc = read_doc(f)
    tracks = load_doc_tracks(doc, progress, cancel)
    return SessionState(doc.sample_rate, tracks, doc.song, doc.source, doc.history, doc.view), folder


# ------------------------------------------------------------------------------------------------
# saving
# ------------------------------------------------------------------------------------------------
def _rel_or_abs(p, folder: Path) -> str:
    try:
        return os.path.relpath(str(p), str(folder))
    except ValueError:  # another drive on Windows
        return str(p)


def _doc_dict(state: SessionState, files: Sequence[str], folder: Path) -> dict:
    tracks = []
    for t, rel in zip(state.tracks, files):
        tracks.append({
            "id": t.uid, "name": t.name, "kind": t.kind, "query": t.query, "file": rel, "color": t.color,
            "gain_db": round(float(t.gain_db), 4), "mute": t.mute, "solo": t.solo, "effects": t.effects,
            "region": list(t.region) if t.region else None, "channels": t.channels, "samples": t.length,
            "source": _rel_or_abs(t.source, folder) if t.source else None,
        })
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "created_with": f"sepboard {__version__}",
        "saved_at": time.time(), "sample_rate": state.sample_rate, "song": state.song,
        "source": _rel_or_abs(state.source, folder) if state.source else None,
        "tracks": tracks, "history": list(state.history)[:100], "view": state.view,
    }


def _write_new_audio(folder: Path, state: SessionState, progress: ProgressFn, cancel) -> List[str]:
    """Write the audio of tracks the folder does not hold yet; the relative file of every track."""
    key = str(folder.resolve())
    files = []
    todo = [t for t in state.tracks if not (t.saved_in == key and (folder / AUDIO_DIR / f"{t.uid}.wav").exists())]
    done = 0
    for t in state.tracks:
        rel = f"{AUDIO_DIR}/{t.uid}.wav"
        files.append(rel)
        if t in todo:
            if cancel_requested(cancel):
                raise Cancelled("saving cancelled; the previous session file is unchanged")
            write_audio(folder / rel, t.audio, state.sample_rate, fmt="wav", bit_depth="32f")
            t.saved_in = key
            done += 1
            if progress:
                progress(0.95 * done / max(1, len(todo)))
    return files


def save_session(folder, state: SessionState, progress: ProgressFn = None, cancel=None,
                 autosave: bool = False) -> Path:
    """Write the session into ``folder`` (created if needed). Audio files are written only for tracks
    the folder does not hold yet; then session.json (or .autosave.json) is replaced atomically. A
    normal save removes the autosave and audio files no longer referenced."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder} is a file; choose a folder name for the session")
    if not autosave:
        check_writable(folder)
    try:
        (folder / AUDIO_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the session folder {folder}: {exc.strerror or exc}") from None
    for where in (folder, folder / AUDIO_DIR):
        atomic.clean_stale(where)  # temp files of a save that was killed outright
    files = _write_new_audio(folder, state, progress, cancel)
    doc = _doc_dict(state, files, folder)
    target = folder / (AUTOSAVE_FILE if autosave else SESSION_FILE)
    try:
        atomic_write_text(target, json.dumps(doc, indent=1) + "\n")
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}; the previous file is unchanged") from None
    if not autosave:
        remove_autosave(folder)
        collect_garbage(folder, keep={Path(f).name for f in files})
    if progress:
        progress(1.0)
    return target
