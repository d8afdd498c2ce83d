"""Decoding an audio file into the host: size limits, chunked decode with progress and cancel, resampling.

The host keeps every track in memory, so a file longer than :data:`MAX_SECONDS` or larger than
:data:`MAX_BYTES` of float32 samples is refused with a message that points to the batch renderer
(``python -m plugin.render``), which streams.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional

import numpy as np

from plugin.audio import AUDIO_EXTENSIONS, FileInfo, as_channels, resample
from plugin.errors import AudioError, Cancelled

from ..cancel import cancel_requested
from .format import SESSION_FILE

MAX_SECONDS = 60 * 60.0  # the host keeps every track in memory; longer files go through plugin.render
MAX_BYTES = 3 * 2 ** 30  # ... and no single track over this many bytes of float32 samples
MAX_CHANNELS = 8
READ_SECONDS = 10.0  # seconds of audio decoded per step (the granularity of progress and cancel)

ProgressFn = Optional[Callable[[float], None]]


def fmt_duration(seconds: float) -> str:
    """A length for messages: ``"1 h 05 min"``, ``"3 min 07 s"`` or ``"12.5 s"``."""
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h} h {m:02d} min" if h else (f"{m} min {s:02d} s" if m else f"{seconds:.1f} s")


@dataclass
class LoadedAudio:
    """A decoded file: float32 (channels, samples) at ``sample_rate``, with notes to show the user."""

    audio: np.ndarray
    sample_rate: float
    path: Path
    notes: List[str] = field(default_factory=list)
    original_rate: float = 0.0


def _check_openable(p: Path, max_seconds: float, max_channels: int) -> FileInfo:
    """What a file the host can hold contains (frames that exist); one AudioError otherwise."""
    if p.is_dir():
        raise AudioError(f"{p} is a folder without {SESSION_FILE}; open an audio file or a session folder")
    if p.exists() and p.suffix.lower() not in AUDIO_EXTENSIONS:
        raise AudioError(f"{p.name} is not an audio file this host opens ({', '.join(AUDIO_EXTENSIONS)})")
    info = FileInfo.read(p)  # missing / empty / corrupt / bad sample rate -> AudioError; truncation noted
    sr, ch, n = info.sample_rate, info.channels, info.frames
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
    return info


def _decode(p: Path, sr: float, n: int, progress: ProgressFn, cancel) -> np.ndarray:
    """All ``n`` frames of ``p`` as float32 (channels, samples), read in steps of READ_SECONDS."""
    from pedalboard.io import AudioFile

    parts = []
    got = 0
    try:
        with AudioFile(str(p)) as f:
            step = max(1, int(READ_SECONDS * sr))
            while got < n:
                if cancel_requested(cancel):
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
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)


def load_audio_file(path, progress: ProgressFn = None, cancel=None, target_rate=None,
                    max_seconds: Optional[float] = None, max_channels: Optional[int] = None) -> LoadedAudio:
    """Decode a whole audio file in chunks (progress, cancel) to float32 (channels, samples).

    One :class:`AudioError` with a clear message for a missing, corrupt, empty, too long or oddly
    shaped file. ``target_rate`` resamples (soxr HQ) to a session's rate.
    """
    p = Path(path)
    max_seconds = MAX_SECONDS if max_seconds is None else max_seconds
    max_channels = MAX_CHANNELS if max_channels is None else max_channels
    info = _check_openable(p, max_seconds, max_channels)
    sr, n = info.sample_rate, info.frames
    notes = [info.truncation] if info.truncation else []
    a, _ = as_channels(_decode(p, sr, n, progress, cancel), what=p.name)
    out_rate = sr
    if target_rate is not None and sr != target_rate:
        if cancel_requested(cancel):
            raise Cancelled("loading cancelled")
        a = resample(a, sr, target_rate)
        notes.append(f"{p.name} was resampled from {sr:g} Hz to the session's {target_rate:g} Hz")
        out_rate = target_rate
    if progress:
        progress(1.0)
    return LoadedAudio(a, out_rate, p, notes, original_rate=sr)
