"""Atomic file output: write a hidden temp file beside the target, then ``os.replace`` it into place.

Every temp file or folder is named ``.<target name>.<random>.part`` in the target's folder (same file
system, so the rename is atomic), and gets the permissions a plain create would give it. Until the
rename the target is untouched; on any error the temp is removed, so a reader never sees a partial
or half-overwritten file.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Union

TEMP_SUFFIX = ".part"
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
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=TEMP_SUFFIX)
    os.close(fd)
    return Path(tmp)


def temp_dir(target: PathLike) -> Path:
    """A new, empty temp folder for ``target`` (in its parent folder, named by the module's pattern)."""
    target = Path(target)
    return Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=TEMP_SUFFIX))


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
