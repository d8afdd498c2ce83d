"""Reading audio files: what a file holds (:class:`FileInfo`, read once) and its samples, block by block.

Files are decoded with pedalboard (libsndfile, plus mp3/ogg/m4a where the platform has them) in
blocks of ``READ_SECONDS``, so memory stays constant in the file's length. Every problem is one
:class:`AudioError` naming the file.
"""
from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Tuple

import numpy as np

from .arrays import MAX_ABS_SAMPLE, as_channels, check_rate, out_of_range
from .errors import AudioError, Cancelled
from .progress import CancelFn, raise_if_cancelled
from .truncated import flac_frames, wav_frames, wav_truncation

__all__ = ["AUDIO_EXTENSIONS", "READ_SECONDS", "FileInfo", "file_info", "is_audio_path", "iter_blocks", "read_audio",
           "wav_truncation"]

AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".oga", ".aif", ".aiff", ".aifc", ".m4a", ".opus", ".wv")
READ_SECONDS = 10.0  # decode this much audio at a time


def is_audio_path(p: Path) -> bool:
    return Path(p).suffix.lower() in AUDIO_EXTENSIONS


@dataclass(frozen=True)
class FileInfo:
    """What an audio file holds: rate, channels, frames that really exist, and a note when it is truncated."""

    path: Path
    sample_rate: float
    channels: int
    frames: int
    truncation: str = ""  # a note when the file is cut short (plugin.truncated); empty for an intact file

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate

    @classmethod
    def read(cls, path) -> "FileInfo":
        """Open ``path`` once and read its header, or raise an AudioError saying why it can't be read.

        A WAV or FLAC file cut short reports the frames that really exist (see :mod:`plugin.truncated`),
        with ``truncation`` saying so."""
        p = Path(path)
        _check_readable(p)
        from pedalboard.io import AudioFile

        try:
            with AudioFile(str(p)) as f:
                sr, ch, n = f.samplerate, f.num_channels, f.frames
        except Exception as exc:
            raise AudioError(f"cannot read {p}: {exc} (corrupt, truncated or not an audio format)") from None
        present, note = wav_frames(p)
        if present is None:
            present, note = flac_frames(p, int(n))
        if present is not None:
            n = min(int(n), present)
        if n <= 0:
            raise AudioError(f"{p} contains no audio frames" + (f" ({note})" if note else ""))
        return cls(p, check_rate(sr, f"sample rate of {p}"), int(ch), int(n), note)


def _check_readable(p: Path) -> None:
    """An AudioError unless ``p`` is a non-empty regular file this process may read (never opens a FIFO)."""
    try:
        st = p.stat()
    except FileNotFoundError:
        raise AudioError(f"audio file not found: {p}") from None
    except OSError as exc:
        raise AudioError(f"cannot read {p}: {exc.strerror or exc}") from None
    if p.is_dir():
        raise AudioError(f"{p} is a folder, not an audio file")
    if not stat.S_ISREG(st.st_mode):
        raise AudioError(f"{p} is not a regular file (a device, FIFO or socket); give an audio file")
    if st.st_size == 0:
        raise AudioError(f"{p} is empty (0 bytes)")
    try:
        with open(p, "rb"):
            pass
    except PermissionError:
        raise AudioError(f"cannot read {p}: permission denied; check the file's permissions") from None
    except OSError as exc:
        raise AudioError(f"cannot read {p}: {exc.strerror or exc}") from None


def file_info(path) -> Tuple[float, int, int]:
    """(sample_rate, channels, frames) of an audio file (see :meth:`FileInfo.read`)."""
    info = FileInfo.read(path)
    return info.sample_rate, info.channels, info.frames


def iter_blocks(info: FileInfo, cancel: CancelFn = None, seconds: Optional[float] = None) -> Iterator[np.ndarray]:
    """The file's samples as float32 (channels, n) blocks of ``seconds`` (default ``READ_SECONDS``),
    checking that every sample is finite. Raises Cancelled between blocks, AudioError for NaN/inf samples, an undecodable file or
    one with fewer frames than its header promises."""
    from pedalboard.io import AudioFile

    path, frames = info.path, info.frames
    got = 0
    try:
        with AudioFile(str(path)) as f:
            step = max(1, int((READ_SECONDS if seconds is None else seconds) * f.samplerate))
            while got < frames:
                raise_if_cancelled(cancel)
                block = f.read(min(step, frames - got))
                if block.shape[-1] == 0:
                    break
                bad = ~np.isfinite(block)
                if bad.any():
                    c, i = np.argwhere(bad)[0]
                    raise AudioError(f"{path} contains NaN/inf samples (first at {(got + i) / f.samplerate:.3f} s, "
                                     f"channel {c}); repair the file before separating it")
                if out_of_range(block):
                    raise AudioError(f"{path} has samples up to {out_of_range(block):.3g} (first block at "
                                     f"{got / f.samplerate:.3f} s), far beyond full scale (1.0); scale it down "
                                     f"below ±{MAX_ABS_SAMPLE:g} before separating it")
                got += block.shape[-1]
                yield np.ascontiguousarray(block, dtype=np.float32)
    except (AudioError, Cancelled):
        raise
    except Exception as exc:
        raise AudioError(f"cannot decode {path}: {exc} (corrupt or truncated?)") from None
    if got < frames:
        raise AudioError(f"{path} is truncated: its header promises {frames} frames, only {got} could be read")


def read_audio(path) -> Tuple[np.ndarray, float]:
    """Whole file as float32 (channels, samples) and its sample rate (the frames that exist)."""
    info = FileInfo.read(path)
    a = np.concatenate(list(iter_blocks(info)), axis=-1)
    a, _ = as_channels(a, what=str(path))
    return a, info.sample_rate
