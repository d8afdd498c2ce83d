"""Files of the host (no Qt): opening audio, session folders, autosave/recovery, stem export.

A session is a folder::

    MySong/
      session.json        format "sepboard-session", format_version, sample rate, tracks
      audio/<id>.wav      every track's audio, 32-bit float WAV (lossless, stems may exceed 0 dBFS)
      .autosave.json      written every few seconds while there are unsaved changes

Paths inside session.json are relative to the folder, so a session can be moved or copied whole.
Every write is atomic (temp file in the same folder + ``os.replace``). ``session.json`` is only
ever replaced by an explicit save, and never when the existing file is unreadable or was written by
a newer version. Autosave writes ``.autosave.json`` (and any audio the session does not hold yet);
opening a session whose autosave is newer than ``session.json`` offers to recover it.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from plugin import __version__
from plugin.audio import AUDIO_EXTENSIONS, as_channels, file_info, resample, wav_truncation, write_audio
from plugin.errors import AudioError, Cancelled, OutputError, SepBoardError
from plugin.naming import slugify, song_name, stem_path

from .tracks import EffectError, Track, validate_effects

FORMAT = "sepboard-session"
FORMAT_VERSION = 1
SESSION_FILE = "session.json"
AUTOSAVE_FILE = ".autosave.json"
DISCARDED_AUTOSAVE = ".autosave-discarded.json"
AUDIO_DIR = "audio"

MAX_SECONDS = 60 * 60.0  # the host keeps every track in memory; longer files go through plugin.render
MAX_BYTES = 3 * 2 ** 30  # ... and no single track over this many bytes of float32 samples
MAX_CHANNELS = 8
READ_SECONDS = 10.0

ProgressFn = Optional[Callable[[float], None]]


class SessionError(SepBoardError):
    """A session folder/file cannot be read or written (corrupt, newer version, missing audio)."""


def _cancelled(cancel) -> bool:
    if cancel is None:
        return False
    return cancel.is_set() if hasattr(cancel, "is_set") else bool(cancel())


def fmt_duration(seconds: float) -> str:
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h} h {m:02d} min" if h else (f"{m} min {s:02d} s" if m else f"{seconds:.1f} s")


# ------------------------------------------------------------------------------------------------
# audio files
# ------------------------------------------------------------------------------------------------
@dataclass
class LoadedAudio:
    audio: np.ndarray
    sample_rate: float
    path: Path
    notes: List[str] = field(default_factory=list)
    original_rate: float = 0.0


def is_session_path(p: Path) -> bool:
    p = Path(p)
    return (p.is_dir() and (p / SESSION_FILE).exists()) or p.name in (SESSION_FILE, AUTOSAVE_FILE)


def load_audio_file(path, progress: ProgressFn = None, cancel=None, target_rate=None,
                    max_seconds: Optional[float] = None, max_channels: Optional[int] = None) -> LoadedAudio:
    """Decode a whole audio file in chunks (progress, cancel) to float32 (channels, samples).

    One :class:`AudioError` with a clear message for a missing, corrupt, empty, too long or oddly
    shaped file. ``target_rate`` resamples (soxr HQ) to a session's rate.
    """
    p = Path(path)
    max_seconds = MAX_SECONDS if max_seconds is None else max_seconds
    max_channels = MAX_CHANNELS if max_channels is None else max_channels
    if p.is_dir():
        raise AudioError(f"{p} is a folder without {SESSION_FILE}; open an audio file or a session folder")
    if p.exists() and p.suffix.lower() not in AUDIO_EXTENSIONS:
        raise AudioError(f"{p.name} is not an audio file this host opens ({', '.join(AUDIO_EXTENSIONS)})")
    sr, ch, n = file_info(p)  # missing / empty / corrupt / bad sample rate -> AudioError
    if ch < 1 or ch > max_channels:
        raise AudioError(f"{p.name} has {ch} channels; the host opens mono to {max_channels}-channel files. "
                         "Mix it down (or split it) first.")
    seconds = n / sr
    if seconds > max_seconds or n * ch * 4 > MAX_BYTES:
        gib = n * ch * 4 / 2 ** 30
        raise AudioError(f"{p.name} is {fmt_duration(seconds)} long ({gib:.1f} GiB as float samples); the host keeps "
                         f"tracks in memory and opens files up to {fmt_duration(max_seconds)} and "
                         f"{MAX_BYTES / 2 ** 30:.0f} GiB. Split it, or separate it with the batch renderer "
                         "(python -m plugin.render), which streams.")
    notes = []
    trunc = wav_truncation(p)
    if trunc:
        notes.append(trunc)
    from pedalboard.io import AudioFile

    parts = []
    got = 0
    try:
        with AudioFile(str(p)) as f:
            step = max(1, int(READ_SECONDS * sr))
            while got < n:
                if _cancelled(cancel):
                    raise Cancelled("loading cancelled")
                block = f.read(min(step, n - got))
                if block.shape[-1] == 0:
                    break
                parts.append(np.asarray(block, np.float32))
                got += block.shape[-1]
                if progress:
                    progress(0.9 * got / n)
    except (Cancelled, AudioError):
        raise
    except Exception as exc:
        raise AudioError(f"cannot decode {p.name}: {exc} (corrupt or truncated file)") from None
    if not parts or got == 0:
        raise AudioError(f"{p.name} contains no audio frames")
    a = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)
    a, _ = as_channels(a, what=p.name)
    out_rate = sr
    if target_rate is not None and sr != target_rate:
        if _cancelled(cancel):
            raise Cancelled("loading cancelled")
        a = resample(a, sr, target_rate)
        notes.append(f"{p.name} was resampled from {sr:g} Hz to the session's {target_rate:g} Hz")
        out_rate = target_rate
    if progress:
        progress(1.0)
    return LoadedAudio(a, out_rate, p, notes, original_rate=sr)


def _read_umask() -> int:
    m = os.umask(0o022)
    os.umask(m)
    return m


_UMASK = _read_umask()  # read once at import (changing the umask is process-wide, not thread-safe)


# ------------------------------------------------------------------------------------------------
# atomic text writes
# ------------------------------------------------------------------------------------------------
def atomic_write_text(path: Path, text: str) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# ------------------------------------------------------------------------------------------------
# session documents
# ------------------------------------------------------------------------------------------------
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


def read_doc(file) -> SessionDoc:
    """Parse and validate a session (or autosave) file; one SessionError naming the file otherwise."""
    f = Path(file)
    if not f.exists():
        raise SessionError(f"session file not found: {f}")
    try:
        raw = f.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SessionError(f"cannot read session file {f}: {exc}. The file was left untouched.") from None
    try:
        d = json.loads(raw)
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
    try:
        from plugin.audio import check_rate

        sr = check_rate(d.get("sample_rate"), f"sample_rate in {f.name}")
    except AudioError as exc:
        raise SessionError(f"{f}: {exc}. The file was left untouched.") from None
    tracks = d.get("tracks")
    if not isinstance(tracks, list):
        raise SessionError(f"{f} has no track list. The file was left untouched.")
    clean = []
    for i, t in enumerate(tracks):
        where = f"{f.name}: track {i + 1}"
        if not isinstance(t, dict) or not isinstance(t.get("file"), str) or not isinstance(t.get("name"), str):
            raise SessionError(f"{where} is malformed (needs \"name\" and \"file\"). The file was left untouched.")
        rel = Path(t["file"])
        if rel.is_absolute() or ".." in rel.parts:
            raise SessionError(f"{where}: audio path {t['file']!r} must be relative to the session folder.")
        kind = t.get("kind", "audio")
        if kind not in ("mix", "stem", "residual", "audio"):
            raise SessionError(f"{where}: unknown track kind {kind!r}.")
        try:
            effects = validate_effects(t.get("effects", []), f"{where} effects")
        except EffectError as exc:
            raise SessionError(f"{exc}. The file was left untouched.") from None
        region = t.get("region")
        if region is not None:
            if (not isinstance(region, list) or len(region) != 2 or not all(isinstance(x, int) for x in region)):
                raise SessionError(f"{where}: region must be [start, end] in samples.")
            region = (int(region[0]), int(region[1]))
        try:
            gain_db = float(t.get("gain_db", 0.0))
        except (TypeError, ValueError):
            raise SessionError(f"{where}: gain_db must be a number.") from None
        clean.append({
            "name": t["name"], "file": t["file"], "kind": kind, "query": t.get("query"),
            "color": str(t.get("color", "")), "gain_db": max(-60.0, min(24.0, gain_db)),
            "mute": bool(t.get("mute", False)), "solo": bool(t.get("solo", False)), "effects": effects,
            "region": region, "source": t.get("source"), "id": str(t.get("id") or ""),
        })
    hist = [h for h in d.get("history", []) if isinstance(h, str)][:100]
    return SessionDoc(path=f, sample_rate=sr, tracks=clean, song=str(d.get("song") or "song"),
                      source=d.get("source"), history=hist, view=d.get("view") if isinstance(d.get("view"), dict) else {},
                      saved_at=float(d.get("saved_at", 0.0) or 0.0), version=v)


def session_file(path) -> Path:
    p = Path(path)
    return p / SESSION_FILE if p.is_dir() or p.suffix == "" else p


def check_writable(folder) -> None:
    """Refuse to replace a session.json that this version cannot read (corrupt or newer)."""
    f = Path(folder) / SESSION_FILE
    if f.exists():
        try:
            read_doc(f)
        except SessionError as exc:
            raise SessionError(f"will not overwrite {f}: {exc}") from None


def _read_track_audio(file: Path, sr) -> np.ndarray:
    import soundfile as sf

    if not file.exists():
        raise SessionError(f"the session's audio file {file} is missing; the session cannot be opened as saved.")
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
    folder = doc.path.parent
    tracks = []
    for i, t in enumerate(doc.tracks):
        if _cancelled(cancel):
            raise Cancelled("opening cancelled")
        audio = _read_track_audio(folder / t["file"], doc.sample_rate)
        kw = {}
        if t["id"] and re.fullmatch(r"[0-9a-zA-Z_-]{1,64}", t["id"]):
            kw["uid"] = t["id"]
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


@dataclass
class SessionState:
    """Everything a session file stores, with the tracks' audio."""

    sample_rate: float
    tracks: List[Track]
    song: str = "song"
    source: Optional[str] = None
    history: List[str] = field(default_factory=list)
    view: dict = field(default_factory=dict)


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
    a = Path(folder) / AUTOSAVE_FILE
    if a.exists():
        os.replace(a, Path(folder) / DISCARDED_AUTOSAVE)


def remove_autosave(folder) -> None:
    try:
        (Path(folder) / AUTOSAVE_FILE).unlink()
    except OSError:
        pass


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


def _rel_or_abs(p, folder: Path) -> str:
    try:
        return os.path.relpath(str(p), str(folder))
    except ValueError:  # another drive on Windows
        return str(p)


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
    key = str(folder.resolve())
    files = []
    todo = [t for t in state.tracks if not (t.saved_in == key and (folder / AUDIO_DIR / f"{t.uid}.wav").exists())]
    done = 0
    for t in state.tracks:
        rel = f"{AUDIO_DIR}/{t.uid}.wav"
        files.append(rel)
        if t in todo:
            if _cancelled(cancel):
                raise Cancelled("saving cancelled; the previous session file is unchanged")
            write_audio(folder / rel, t.audio, state.sample_rate, fmt="wav", bit_depth="32f")
            t.saved_in = key
            done += 1
            if progress:
                progress(0.95 * done / max(1, len(todo)))
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


# ------------------------------------------------------------------------------------------------
# recovery of never-saved sessions
# ------------------------------------------------------------------------------------------------
def recovery_root() -> Path:
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


# ------------------------------------------------------------------------------------------------
# export
# ------------------------------------------------------------------------------------------------
def _song_arg(song) -> str:
    """``song`` is the song's file path or its name (already ``song_name``'d, e.g. "Live 2.0"); give
    plugin.naming a file name either way, so "Live 2.0" is not cut at its dot."""
    s = str(song)
    return s if Path(s).suffix.lower() in AUDIO_EXTENSIONS else s + ".wav"


def export_plan(tracks: Iterable[Track], out_dir, song, fmt: str = "wav") -> List[Tuple[Track, Path]]:
    """Output path of each track: ``<out>/<song>/<query-slug>.<fmt>`` (plugin.naming, as the batch
    renderer names them); clashing names get ``-2``, ``-3``..."""
    plan = []
    used = set()
    song = _song_arg(song)
    for t in tracks:
        text, residual = t.export_name()
        p = stem_path(out_dir, song, text, fmt, residual)
        k = 2
        while p in used:
            p = p.with_name(f"{slugify(text, residual)}-{k}.{fmt}")
            k += 1
        used.add(p)
        plan.append((t, p))
    return plan


def export_tracks(plan: Sequence[Tuple[Track, Path]], sr, fmt: str = "wav", bit_depth: str = "24",
                  progress: ProgressFn = None, cancel=None, apply_gain: bool = True,
                  notes: Optional[list] = None) -> List[Path]:
    """Write each track with its effects (and fader gain) applied; each file is atomic.
    ``notes`` receives one line per file that an integer format had to clip."""
    written = []
    n = max(1, len(plan))
    for i, (t, path) in enumerate(plan):
        if _cancelled(cancel):
            raise Cancelled(f"export cancelled after {len(written)} of {len(plan)} files; no partial file was left")

        def sub(f, i=i):
            if progress:
                progress((i + 0.8 * f) / n)

        a = t.rendered(sr, sub, cancel)
        if apply_gain and t.gain_db != 0.0:
            a = a * np.float32(t.gain)
        written.append(write_audio(path, a, sr, fmt=fmt, bit_depth=bit_depth, notes=notes))
        if progress:
            progress((i + 1) / n)
    return written


def song_of(path) -> str:
    return song_name(path)
