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

Modules: :mod:`.audio_files` (decoding a file into the host), :mod:`.format` (the session file and
its validation), :mod:`.store` (loading and saving a folder), :mod:`.recovery` (autosave
bookkeeping, never-saved sessions), :mod:`.stems` (export names and writing). The names below are
the package's public vocabulary; limits such as ``audio_files.MAX_SECONDS`` live in their module.
"""
from plugin.errors import OutputError

from .audio_files import LoadedAudio, fmt_duration, load_audio_file
from .format import (AUDIO_DIR, AUTOSAVE_FILE, DISCARDED_AUTOSAVE, FORMAT, FORMAT_VERSION, SESSION_FILE, SessionDoc,
                     SessionError, check_writable, is_session_path, read_doc, session_file)
from .recovery import (collect_garbage, discard_autosave, recovery_candidate, recovery_root, remove_autosave,
                       untitled_recoveries)
from .stems import export_plan, export_tracks, song_of
from .store import SessionState, load_doc_tracks, load_session, save_session

__all__ = [
    "AUDIO_DIR", "AUTOSAVE_FILE", "DISCARDED_AUTOSAVE", "FORMAT", "FORMAT_VERSION", "SESSION_FILE",
    "LoadedAudio", "OutputError", "SessionDoc", "SessionError", "SessionState",
    "check_writable", "collect_garbage", "discard_autosave", "export_plan", "export_tracks", "fmt_duration",
    "is_session_path", "load_audio_file", "load_doc_tracks", "load_session", "read_doc", "recovery_candidate",
    "recovery_root", "remove_autosave", "save_session", "session_file", "song_of", "untitled_recoveries",
]
