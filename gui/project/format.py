"""The session file format: names in a session folder, and reading + validating session.json.

:func:`read_doc` is the one gate every session (or autosave) file passes: it returns a
:class:`SessionDoc` or raises one :class:`SessionError` that names the file and says what to do.
It never modifies the file.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

from plugin.errors import AudioError, SepBoardError

from ..tracks import KINDS, EffectError, validate_effects

FORMAT = "sepboard-session"
FORMAT_VERSION = 1
SESSION_FILE = "session.json"
AUTOSAVE_FILE = ".autosave.json"
DISCARDED_AUTOSAVE = ".autosave-discarded.json"
AUDIO_DIR = "audio"


class SessionError(SepBoardError):
    """A session folder/file cannot be read or written (corrupt, newer version, missing audio)."""


@dataclass
class SessionDoc:
    """What a session file says (tracks without audio yet)."""

    path: Path
    sample_rate: float
    tracks: List[dict]
    song: str = "song"
    source: Optional[str] = None
    history: List[str] = field(default_factory=list)
    view: dict = field(default_factory=dict)
    saved_at: float = 0.0
    version: int = FORMAT_VERSION


def is_session_path(p: Path) -> bool:
    """A session folder (it holds session.json) or a session/autosave file by name."""
    p = Path(p)
    return (p.is_dir() and (p / SESSION_FILE).exists()) or p.name in (SESSION_FILE, AUTOSAVE_FILE)


def session_file(path) -> Path:
    """The session.json of a folder, or ``path`` itself when it names a file."""
    p = Path(path)
    return p / SESSION_FILE if p.is_dir() or p.suffix == "" else p


def _parse(f: Path) -> dict:
    """The JSON object of a SepBoard session file ``f``, format and version checked."""
    if not f.exists():
        raise SessionError(f"session file not found: {f}")
    try:
        raw = f.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SessionError(f"cannot read session file {f}: {exc}. The file was left untouched.") from None
    try:
        d = json.loads(raw)
    except RecursionError:
        raise SessionError(f"{f} is corrupt (nested too deeply to be a session file). It was left untouched.") from None
    except json.JSONDecodeError as exc:
        raise SessionError(f"{f} is corrupt (not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}). "
                           "It was left untouched; restore it from a backup, or recover its audio from the "
                           f"'{AUDIO_DIR}' folder beside it.") from None
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise SessionError(f"{f} is not a SepBoard session file (no \"format\": \"{FORMAT}\"). It was left untouched.")
    v = d.get("format_version")
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise SessionError(f"{f} has an invalid format_version {v!r}. It was left untouched.")
    if v > FORMAT_VERSION:
        raise SessionError(f"{f} was saved by a newer SepBoard (session format {v}; this version reads format "
                           f"{FORMAT_VERSION}). Update SepBoard to open it. The file was left untouched.")
    return d


def _clean_track(t, where: str) -> dict:
    """One track entry of a session file, validated and normalised (``where`` names it in messages)."""
    if not isinstance(t, dict) or not isinstance(t.get("file"), str) or not isinstance(t.get("name"), str):
        raise SessionError(f"{where} is malformed (needs \"name\" and \"file\"). The file was left untouched.")
    rel = Path(t["file"])
    if rel.is_absolute() or ".." in rel.parts:
        raise SessionError(f"{where}: audio path {t['file']!r} must be relative to the session folder.")
    kind = t.get("kind", "audio")
    if kind not in KINDS:
        raise SessionError(f"{where}: unknown track kind {kind!r}.")
    try:
        effects = validate_effects(t.get("effects", []), f"{where} effects")
    except EffectError as exc:
        raise SessionError(f"{exc}. The file was left untouched.") from None
    region = t.get("region")
    if region is not None:
        if (not isinstance(region, list) or len(region) != 2
                or not all(isinstance(x, int) and not isinstance(x, bool) for x in region)):
            raise SessionError(f"{where}: region must be [start, end] in samples.")
        region = (int(region[0]), int(region[1]))
    gain_db = _number(t.get("gain_db", 0.0), 0.0)
    if gain_db is None or math.isnan(gain_db):
        raise SessionError(f"{where}: gain_db must be a number (got {t.get('gain_db')!r:.40}). "
                           "The file was left untouched.")
    return {
        "name": t["name"], "file": t["file"], "kind": kind, "query": _text_or_none(t.get("query")),
        "color": str(t.get("color", "")), "gain_db": max(-60.0, min(24.0, gain_db)),
        "mute": bool(t.get("mute", False)), "solo": bool(t.get("solo", False)), "effects": effects,
        "region": region, "source": _text_or_none(t.get("source")), "id": str(t.get("id") or ""),
    }


def _number(v, default: float) -> Optional[float]:
    """``v`` as a float (None when it is not a number; ``default`` when it is absent/null)."""
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


def _text_or_none(v) -> Optional[str]:
    return v if isinstance(v, str) else None


def read_doc(file) -> SessionDoc:
    """Parse and validate a session (or autosave) file; one SessionError naming the file otherwise."""
    f = Path(file)
    d = _parse(f)
    try:
        from plugin.audio import check_rate

        sr = check_rate(d.get("sample_rate"), f"sample_rate in {f.name}")
    except AudioError as exc:
        raise SessionError(f"{f}: {exc}. The file was left untouched.") from None
    tracks = d.get("tracks")
    if not isinstance(tracks, list):
        raise SessionError(f"{f} has no track list. The file was left untouched.")
    clean = [_clean_track(t, f"{f.name}: track {i + 1}") for i, t in enumerate(tracks)]
    history = d.get("history")
    hist = [h for h in history if isinstance(h, str)][:100] if isinstance(history, list) else []
    view = d.get("view") if isinstance(d.get("view"), dict) else {}
    saved_at = _number(d.get("saved_at"), 0.0)
    song = d.get("song")
    return SessionDoc(path=f, sample_rate=sr, tracks=clean, song=song if isinstance(song, str) and song else "song",
                      source=_text_or_none(d.get("source")), history=hist, view=view,
                      saved_at=saved_at if saved_at is not None and math.isfinite(saved_at) else 0.0,
                      version=d["format_version"])


def check_writable(folder) -> None:
    """Refuse to replace a session.json that this version cannot read (corrupt or newer)."""
    f = Path(folder) / SESSION_FILE
    if f.exists():
        try:
            read_doc(f)
        except SessionError as exc:
            raise SessionError(f"will not overwrite {f}: {exc}") from None
