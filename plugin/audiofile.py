"""Reading audio files: what a file holds (:class:`FileInfo`, read once) and its samples, block by block.

Files are decoded with pedalboard (libsndfile, plus mp3/ogg/m4a where the platform has them) in
blocks of ``READ_SECONDS``, so memory stays constant in the file's length. Every problem is one
:class:`AudioError` naming the file.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Tuple

import numpy as np

from .arrays import as_channels, check_rate
from .errors import AudioError, Cancelled
from .progress import CancelFn, raise_if_cancelled

AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".oga", ".aif", ".aiff", ".aifc", ".m4a", ".opus", ".wv")
READ_SECONDS = 10.0  # decode this much audio at a time


def is_audio_path(p: Path) -> bool:
    return Path(p).suffix.lower() in AUDIO_EXTENSIONS


@dataclass(frozen=True)
class FileInfo:
    """What an audio file's header says: rate, channels, frames, and a note when a WAV is truncated."""

    path: Path
    sample_rate: float
    channels: int
    frames: int
    truncation: str = ""  # see wav_truncation; empty for an intact file

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate

    @classmethod
    def read(cls, path) -> "FileInfo":
        """Open ``path`` once and read its header, or raise an AudioError saying why it can't be read."""
        p = Path(path)
        if not p.exists():
            raise AudioError(f"audio file not found: {p}")
        if p.is_dir():
            raise AudioError(f"{p} is a folder, not an audio file")
        if p.stat().st_size == 0:
            raise AudioError(f"{p} is empty (0 bytes)")
        from pedalboard.io import AudioFile

        try:
            with AudioFile(str(p)) as f:
                sr, ch, n = f.samplerate, f.num_channels, f.frames
        except Exception as exc:
            raise AudioError(f"cannot read {p}: {exc} (corrupt, truncated or not an audio format)") from None
        if n <= 0:
            raise AudioError(f"{p} contains no audio frames")
        return cls(p, check_rate(sr, f"sample rate of {p}"), int(ch), int(n), wav_truncation(p) or "")


def file_info(path) -> Tuple[float, int, int]:
    """(sample_rate, channels, frames) of an audio file (see :meth:`FileInfo.read`)."""
    info = FileInfo.read(path)
    return info.sample_rate, info.channels, info.frames


def wav_truncation(path) -> Optional[str]:
    """For RIFF/WAVE files whose 'data' chunk is shorter than its header says (an interrupted copy or
    download), a sentence saying so; libsndfile then reads only the frames that are present."""
    p = Path(path)
    if p.suffix.lower() not in (".wav", ".wave"):
        return None
    try:
        size = p.stat().st_size
        with open(p, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            pos = 12
            while pos + 8 <= size:
                f.seek(pos)
                cid, clen = struct.unpack("<4sI", f.read(8))
                if cid == b"data":
                    present = size - pos - 8
                    if clen != 0xFFFFFFFF and clen > present:
                        return (f"{p.name} is truncated: its header announces {clen} bytes of audio but only "
                                f"{present} are present ({100 * present / clen:.0f} %); the part that exists was used")
                    return None
                pos += 8 + clen + (clen & 1)
    except (OSError, struct.error):
        return None
    return None


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
                got += block.shape[-1]
                yield np.ascontiguousarray(block, dtype=np.float32)
    except (AudioError, Cancelled):
        raise
    except Exception as exc:
        raise AudioError(f"cannot decode {path}: {exc} (corrupt or truncated?)") from None
    if got < frames:
        raise AudioError(f"{path} is truncated: its header promises {frames} frames, only {got} could be read")


def read_audio(path) -> Tuple[np.ndarray, float]:
    """Whole file as float32 (channels, samples) and its sample rate."""
    sr, ch, n = file_info(path)
    from pedalboard.io import AudioFile

    try:
        with AudioFile(str(path)) as f:
            a = f.read(f.frames)
    except Exception as exc:
        raise AudioError(f"cannot decode {path}: {exc}") from None
    if a.shape[-1] == 0:
        raise AudioError(f"{path} contains no audio frames")
    a, _ = as_channels(a, what=str(path))
    return a, sr
