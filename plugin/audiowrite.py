"""Writing audio files atomically: streamed to a temp file, renamed into place by ``commit()``.

Formats and bit depths follow :mod:`plugin.formats`; samples an integer format had to clip are
counted and reported in one sentence (:meth:`AtomicAudioWriter.clip_note`).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np

from . import atomic
from .errors import OutputError
from .formats import FLOAT_DEPTH, SAMPLE_BYTES, SUBTYPES, check_output, encode_for_subtype, full_scale_top

WAV_MAX_BYTES = 2 ** 32 - 2 ** 16  # sample bytes a plain WAV's 32-bit sizes can describe (less the header)
CLIPPED = "clipped at full scale"  # the words of AtomicAudioWriter.clip_note that the render summary looks for


class AtomicAudioWriter:
    """Streamed write to a hidden temp file beside ``path``; ``commit()`` renames it into place.

    Without commit (error, Ctrl-C) the temp file is removed and any existing ``path`` is untouched.
    """

    def __init__(self, path, sample_rate: int, channels: int, fmt: str = "wav", bit_depth: str = "24",
                 frames: Optional[int] = None):
        import soundfile as sf

        self.path = Path(path)
        check_output(fmt, bit_depth)
        self.bit_depth = bit_depth
        self.clipped = 0  # samples an integer format had to clip (reported by clip_note)
        self.peak = 0.0  # largest |sample| written, before clipping
        self.made_dirs: List[Path] = []  # folders this writer created, removed again on abort if still empty
        self.tmp: Optional[Path] = None
        self.file = None
        self.frame_bytes = channels * SAMPLE_BYTES[bit_depth]
        self.written = 0  # bytes of samples written so far
        # A plain WAV's sizes are 32-bit: a longer output is written as RF64 (a WAV with 64-bit sizes).
        self.container = fmt.upper()
        if fmt == "wav" and frames is not None and frames * self.frame_bytes > WAV_MAX_BYTES:
            self.container = "RF64"
        try:
            folder = self.path.parent
            while not folder.exists():
                self.made_dirs.append(folder)
                folder = folder.parent
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.tmp = atomic.temp_path(self.path)
            self.file = sf.SoundFile(self.tmp, "w", samplerate=int(round(sample_rate)), channels=channels,
                                     format=self.container, subtype=SUBTYPES[bit_depth])
        except OSError as exc:
            self._cleanup()
            raise OutputError(f"cannot write to {self.path.parent}: {exc.strerror or exc}") from None
        except Exception as exc:
            self._cleanup()
            raise OutputError(f"cannot create {self.path}: {exc}") from None

    def write(self, block: np.ndarray) -> None:
        """block: (channels, samples). Non-finite samples, or more than a plain WAV holds, abort the
        file (nothing is left behind) with an OutputError."""
        if not np.isfinite(block).all():
            self.abort()
            raise OutputError(f"{self.path.name}: the separation produced NaN/inf samples (is the input or the "
                              "query embedding out of range?); nothing was written")
        self.written += block.shape[-1] * self.frame_bytes
        if self.container == "WAV" and self.written > WAV_MAX_BYTES:
            self.abort()
            raise OutputError(f"{self.path.name} would be over {WAV_MAX_BYTES / 2 ** 30:.0f} GiB, more than a WAV file "
                              "holds; nothing was written. Use --format flac or split the input")
        if block.size and self.bit_depth != FLOAT_DEPTH:
            peak = max(float(block.max()), -float(block.min()))
            if peak > self.peak:
                self.peak = peak
            top = full_scale_top(self.bit_depth)
            if peak > top:
                self.clipped += int(np.count_nonzero((block > top) | (block < -1.0)))
        try:
            self.file.write(encode_for_subtype(block, self.bit_depth).T)
        except Exception as exc:
            self.abort()
            raise OutputError(f"writing {self.path} failed: {exc} (disk full?); nothing was left behind") from None

    def clip_note(self) -> str:
        """One line for the user when the integer format clipped samples (empty when nothing clipped)."""
        if not self.clipped:
            return ""
        return (f"{self.path.name}: {self.clipped} sample(s) {CLIPPED} "
                f"(peak {20 * math.log10(self.peak):+.1f} dBFS); 32-bit float keeps them")

    def finish(self) -> None:
        """Close the temp file (headers written, data flushed); the target is still untouched. Callers
        that publish several files finish them all before committing any."""
        try:
            if not self.file.closed:
                self.file.close()
        except Exception as exc:
            self._cleanup()
            raise OutputError(f"cannot finish {self.path}: {exc} (disk full?); nothing was left behind") from None

    def commit(self) -> Path:
        """Finish the file and rename it into place."""
        self.finish()
        try:
            atomic.commit(self.tmp, self.path)
        except Exception as exc:
            self._cleanup()
            raise OutputError(f"cannot finish {self.path}: {exc}") from None
        return self.path

    def abort(self) -> None:
        try:
            if self.file is not None and not self.file.closed:
                self.file.close()
        except Exception:
            pass
        self._cleanup()

    def _cleanup(self) -> None:
        if self.tmp is not None:
            atomic.discard(self.tmp)
        for folder in self.made_dirs:
            try:
                folder.rmdir()  # only if empty: another writer may have committed a file there
            except OSError:
                break

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        if et is not None:
            self.abort()
        return False


def commit_all(writers: Sequence[AtomicAudioWriter]) -> None:
    """Rename finished writers into place, in order; when one cannot be, those not yet renamed are
    discarded (no temp file is left behind) and its OutputError is raised."""
    for i, w in enumerate(writers):
        try:
            w.commit()
        except BaseException:
            for rest in reversed(writers[i + 1:]):
                rest.abort()
            raise


def write_audio(path, audio: np.ndarray, sample_rate, fmt: Optional[str] = None, bit_depth: str = "24",
                notes: Optional[list] = None) -> Path:
    """Write (channels, samples) or 1-D atomically. ``notes``: a list that receives the clipping note, if any."""
    a = audio[None, :] if audio.ndim == 1 else audio
    fmt = fmt or (Path(path).suffix.lower().lstrip(".") or "wav")
    w = AtomicAudioWriter(path, sample_rate, a.shape[0], fmt, bit_depth, frames=a.shape[-1])
    w.write(a)
    out = w.commit()
    clip = w.clip_note()
    if notes is not None and clip:
        notes.append(clip)
    return out
