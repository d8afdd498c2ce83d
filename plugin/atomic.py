"""Atomic file output: write a hidden temp file beside the target, then ``os.replace`` it into place.

Every temp file or folder is named ``.<target name>.<pid>-<random>.part`` in the target's folder (same
file system, so the rename is atomic), and gets the permissions a plain create would give it. Until
the rename the target is untouched; on any error the temp is removed, so a reader never sees a
partial or half-overwritten file. A process killed outright (SIGKILL, power loss) cannot remove its
temp files: :func:`clean_stale` removes those of our naming whose process is gone.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, Optional, Union

TEMP_SUFFIX = ".part"
# .<target>.<pid>-<random>.part, and what earlier versions wrote: .<target>.<random>.part, and
# .<target>.<random>.tmp (the host's session files)
TEMP_PATTERN = re.compile(r"^\..+\.(?:(\d+)-)?[A-Za-z0-9_]{8}(?:\.part|\.tmp)$")
STALE_SECONDS = 60.0  # untouched this long and its process gone: a temp file nobody will finish
STALE_UNOWNED_SECONDS = 600.0  # the same for a temp name without a process id (earlier versions)
PathLike = Union[str, os.PathLike]


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


UMASK = _read_umask()  # read once at import: changing the umask is process-wide, not thread-safe


def publish_mode(path: PathLike, directory: bool = False) -> None:
    """Give a file made by mkstemp/mkdtemp (0600/0700) the permissions a normal create would."""
    os.chmod(path, (0o777 if directory else 0o666) & ~UMASK)


def temp_path(target: PathLike) -> Path:
    """A new, empty temp file for ``target`` (in its folder, named by the module's pattern)."""
    target = Path(target)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.{os.getpid()}-", suffix=TEMP_SUFFIX)
    os.close(fd)
    return Path(tmp)


def temp_dir(target: PathLike) -> Path:
    """A new, empty temp folder for ``target`` (in its parent folder, named by the module's pattern)."""
    target = Path(target)
    return Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.{os.getpid()}-", suffix=TEMP_SUFFIX))


def discard(tmp: PathLike) -> None:
    """Remove a temp file if it is still there (never raises)."""
    try:
        os.unlink(tmp)
    except OSError:
        pass


def commit(tmp: PathLike, target: PathLike, directory: bool = False) -> Path:
    """Publish ``tmp`` (normal permissions) and rename it over ``target``."""
    publish_mode(tmp, directory=directory)
    os.replace(tmp, target)
    return Path(target)


@contextmanager
def atomic_path(target: PathLike) -> Iterator[Path]:
    """``with atomic_path(p) as tmp:`` write ``tmp`` inside the block; it becomes ``p`` when the block
    ends without an exception, and is removed otherwise."""
    tmp = temp_path(target)
    try:
        yield tmp
        commit(tmp, target)
    except BaseException:
        discard(tmp)
        raise


def write_bytes(target: PathLike, data: bytes, fsync: bool = False) -> Path:
    """Write ``data`` to ``target`` atomically (its folder is created if needed). ``fsync`` also
    flushes the data to the disk before the rename, so a crash right after cannot leave an empty file."""
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
    return Path(target)


def write_text(target: PathLike, text: str, encoding: str = "utf-8", fsync: bool = False) -> Path:
    """Write ``text`` to ``target`` atomically (see :func:`write_bytes`)."""
    return write_bytes(target, text.encode(encoding), fsync)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def is_stale(path: PathLike, now: Optional[float] = None, older_than: float = STALE_SECONDS) -> bool:
    """Whether ``path`` is a temp file or folder of this module's naming that no process will finish:
    made by a process that is not running here and untouched for ``older_than`` seconds (a writer
    on another machine sharing the folder keeps its file fresh), or, without a process id in its
    name, untouched for ``STALE_UNOWNED_SECONDS``."""
    p = Path(path)
    m = TEMP_PATTERN.match(p.name)
    if not m:
        return False
    try:
        age = (time.time() if now is None else now) - p.lstat().st_mtime
    except OSError:
        return False
    if m.group(1) is None:
        return age >= max(older_than, STALE_UNOWNED_SECONDS)
    return age >= older_than and not _process_alive(int(m.group(1)))


def temp_files(folder: PathLike) -> List[Path]:
    """The temp files and folders of this module's naming directly inside ``folder`` (none if unreadable)."""
    try:
        return [p for p in Path(folder).iterdir() if TEMP_PATTERN.match(p.name)]
    except OSError:
        return []


def clean_stale(folder: PathLike, older_than: float = STALE_SECONDS) -> List[Path]:
    """Remove the stale temp files and folders (:func:`is_stale`) directly inside ``folder``; the
    paths removed. Never raises; names not of our pattern are never touched."""
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    now = time.time()
    for p in entries:
        if not is_stale(p, now, older_than):
            continue
        try:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
            removed.append(p)
        except OSError:
            pass
    return removed
