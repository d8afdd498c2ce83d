"""The inputs of a batch render: audio files found in files and folders, and each one's song folder.

A folder is searched recursively and its layout is mirrored under the output folder:
``in/live/song.wav`` becomes ``<out>/live/song/``, so two songs of the same name in different
subfolders never share (and overwrite) one output folder. Inputs that still land on the same song
folder (two files given by name, ``a/song.wav`` and ``b/song.flac``) are reported, not rendered.
Every input that yields nothing gets a sentence saying why: missing, not a regular file, an
unreadable folder, no audio inside, or the output folder itself.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

from .audiofile import AUDIO_EXTENSIONS, is_audio_path
from .naming import song_name

Problem = Tuple[str, str]  # (input, what is wrong with it)


class Input(NamedTuple):
    """One audio file to render and its song folder, relative to the output folder."""

    path: Path
    song_dir: Path


def _wanted(q: Path, skip: Optional[Path]) -> bool:
    if not is_audio_path(q) or q.name.startswith(".") or not q.is_file():
        return False
    return skip is None or skip not in q.resolve().parents


def _walk(folder: Path, skip: Optional[Path], problems: List[Problem]) -> List[Input]:
    """Audio files under ``folder`` (sorted), each with its mirrored song folder; unreadable
    subfolders become problems instead of being skipped silently."""
    found = []

    def unreadable(err: OSError) -> None:
        where = err.filename or folder
        problems.append((str(where), f"cannot read folder {where}: {err.strerror or err}; its files were skipped"))

    for root, dirs, names in os.walk(folder, onerror=unreadable):
        dirs.sort()
        rel = Path(root).relative_to(folder)
        for name in sorted(names):
            q = Path(root) / name
            if _wanted(q, skip):
                found.append(Input(q, rel / song_name(q)))
    return found


def _folder_problem(p: Path, skip: Optional[Path]) -> Optional[str]:
    if skip is not None and (p.resolve() == skip or skip in p.resolve().parents):
        return (f"input folder {p} is the output folder (or inside it): its stems would be mixed with its "
                "songs; choose an --out folder outside it")
    return None


def collect_inputs(inputs: Sequence, exclude=None) -> Tuple[List[Input], List[Problem]]:
    """Expand files and folders into :class:`Input` s (each file once); the inputs that yield nothing
    or cannot be rendered, with why. Files under ``exclude`` (the output folder) are not collected
    from folders, so stems written inside an input folder are not separated again on the next run."""
    skip = Path(exclude).expanduser().resolve() if exclude is not None else None
    found: List[Input] = []
    problems: List[Problem] = []
    for item in inputs:
        p = Path(item).expanduser()
        if p.is_dir():
            problem = _folder_problem(p, skip)
            files = [] if problem else _walk(p, skip, problems)
            if not files and not problem:
                problem = f"no audio files ({', '.join(AUDIO_EXTENSIONS[:5])}, ...) in folder {p}"
            if problem:
                problems.append((str(p), problem))
            found.extend(files)
        elif p.is_file():
            found.append(Input(p, Path(song_name(p))))
        elif p.exists():
            problems.append((str(p), f"input {p} is not a regular file (a device, FIFO or socket); "
                                     "give audio files or folders"))
        else:
            problems.append((str(p), f"input not found: {p}"))
    return _without_clashes(_unique(found), problems)


def _unique(found: List[Input]) -> List[Input]:
    seen, unique = set(), []
    for i in found:
        k = i.path.resolve()
        if k not in seen:
            seen.add(k)
            unique.append(i)
    return unique


def _without_clashes(found: List[Input], problems: List[Problem]) -> Tuple[List[Input], List[Problem]]:
    """Inputs whose song folders clash (case-insensitively, as on macOS and Windows) become problems."""
    by_dir: Dict[str, List[Input]] = {}
    for i in found:
        by_dir.setdefault(str(i.song_dir).casefold(), []).append(i)
    kept = []
    for i in found:
        clash = by_dir[str(i.song_dir).casefold()]
        if len(clash) == 1:
            kept.append(i)
            continue
        others = ", ".join(str(c.path) for c in clash if c is not i)
        problems.append((str(i.path), f"{i.path} and {others} would share the output folder {i.song_dir}/; "
                                      "render them into different --out folders (or rename one)"))
    return kept, problems
