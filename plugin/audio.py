"""Audio arrays and files: validation, resampling, atomic writing.

Arrays follow pedalboard's convention: float32, shaped (channels, samples); a 1-D array is mono
and comes back 1-D. Every problem is one :class:`AudioError` / :class:`OutputError` whose message
names the value or file and says what to do.
"""
from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from .errors import AudioError, OutputError

MIN_RATE = 1000
MAX_RATE = 768000
MAX_CHANNELS = 64
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".oga", ".aif", ".aiff", ".aifc", ".m4a", ".opus", ".wv")
SOXR_QUALITY = "HQ"


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


UMASK = _umask()


def publish_mode(path, directory: bool = False) -> None:
    """Give a file made by mkstemp/mkdtemp (0600/0700) the permissions a normal create would."""
    os.chmod(path, (0o777 if directory else 0o666) & ~UMASK)


def check_rate(sr, what: str = "sample rate") -> float:
    try:
        r = float(sr)
    except (TypeError, ValueError):
        raise AudioError(f"{what} must be a number of Hz, got {sr!r}") from None
    if not math.isfinite(r) or not (MIN_RATE <= r <= MAX_RATE):
        raise AudioError(f"{what} {sr!r} Hz is outside {MIN_RATE}..{MAX_RATE} Hz; pass the file's real sample rate")
    return int(r) if r.is_integer() else r


def as_channels(audio, what: str = "audio") -> Tuple[np.ndarray, bool]:
    """Validate and convert to float32 (channels, samples). Returns (array, was_1d)."""
    try:
        a = np.asarray(audio)
    except Exception as exc:
        raise AudioError(f"{what} is not an array of samples ({exc})") from None
    if a.dtype == object or not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise AudioError(f"{what} has dtype {a.dtype}; pass float32 samples in [-1, 1]")
    mono = a.ndim == 1
    if mono:
        a = a[None, :]
    if a.ndim != 2:
        raise AudioError(f"{what} has shape {a.shape}; expected (channels, samples) or (samples,)")
    if a.shape[0] > MAX_CHANNELS:
        raise AudioError(
            f"{what} has shape {a.shape}: {a.shape[0]} channels? Arrays are (channels, samples) like pedalboard; "
            "if yours is (samples, channels), pass audio.T"
        )
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise AudioError(f"{what} is empty (shape {a.shape}); nothing to separate")
    if np.issubdtype(a.dtype, np.integer):
        info = np.iinfo(a.dtype)
        a = a.astype(np.float32) / float(max(abs(info.min), info.max))
    a = np.ascontiguousarray(a, dtype=np.float32)
    bad = ~np.isfinite(a)
    if bad.any():
        c, i = np.argwhere(bad)[0]
        raise AudioError(
            f"{what} contains {int(bad.sum())} non-finite samples (NaN/inf), first at channel {c}, sample {i}; "
            "fix the source or clean it with numpy.nan_to_num"
        )
    return a, mono


def resample(x: np.ndarray, sr_in, sr_out, length: Optional[int] = None) -> np.ndarray:
    """(channels, samples) float32 resampled with soxr (HQ); ``length`` pads/crops the result exactly."""
    if sr_in == sr_out:
        y = x
    else:
        import soxr

        y = soxr.resample(x.T, sr_in, sr_out, quality=SOXR_QUALITY).T
    y = np.ascontiguousarray(y, dtype=np.float32)
    if length is not None and y.shape[-1] != length:
        if y.shape[-1] > length:
            y = y[..., :length]
        else:
            y = np.concatenate([y, np.zeros((*y.shape[:-1], length - y.shape[-1]), np.float32)], axis=-1)
    return y


# ------------------------------------------------------------------------------------------------
# files
# ------------------------------------------------------------------------------------------------
def is_audio_path(p: Path) -> bool:
    return p.suffix.lower() in AUDIO_EXTENSIONS


def file_info(path) -> Tuple[float, int, int]:
    """(sample_rate, channels, frames) of an audio file, or an AudioError saying why it can't be read."""
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
    return check_rate(sr, f"sample rate of {p}"), int(ch), int(n)


def wav_truncation(path) -> Optional[str]:
    """For RIFF/WAVE files whose 'data' chunk is shorter than its header says (an interrupted copy or
    download), a sentence saying so; libsndfile then reads only the frames that are present."""
    import struct

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


SUBTYPES = {"16": "PCM_16", "24": "PCM_24", "32f": "FLOAT"}


CLIPPED = "clipped at full scale"  # the words of AtomicAudioWriter.clip_note that plugin.render looks for


def full_scale_top(bit_depth: str) -> float:
    """The largest sample an integer format holds: 1 - 1 LSB."""
    return 1.0 - 1.0 / (2 ** (int(bit_depth) - 1))


def encode_for_subtype(x: np.ndarray, bit_depth: str) -> np.ndarray:
    """Integer formats clip to [-1, 1 - 1 LSB] (never wrap around); float passes through."""
    if bit_depth == "32f":
        return x.astype(np.float32)
    return np.clip(x, -1.0, full_scale_top(bit_depth)).astype(np.float32)


class AtomicAudioWriter:
    """Streamed write to a hidden temp file beside ``path``; ``commit()`` renames it into place.

    Without commit (error, Ctrl-C) the temp file is removed and any existing ``path`` is untouched.
    """

    def __init__(self, path, sample_rate: int, channels: int, fmt: str = "wav", bit_depth: str = "24"):
        import soundfile as sf

        self.path = Path(path)
        if fmt not in ("wav", "flac"):
            raise OutputError(f"unsupported output format {fmt!r}; use wav or flac")
        if bit_depth not in SUBTYPES:
            raise OutputError(f"unsupported bit depth {bit_depth!r}; use 16, 24 or 32f")
        if fmt == "flac" and bit_depth == "32f":
            raise OutputError("FLAC cannot store 32-bit float; use --bit-depth 16 or 24, or --format wav")
        self.bit_depth = bit_depth
        self.clipped = 0  # samples an integer format had to clip (reported by clip_note)
        self.peak = 0.0  # largest |sample| written, before clipping
        self.made_dirs = []  # folders this writer created, removed again on abort if still empty
        try:
            d = self.path.parent
            while not d.exists():
                self.made_dirs.append(d)
                d = d.parent
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, self.tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".part")
            os.close(fd)
            self.f = sf.SoundFile(self.tmp, "w", samplerate=int(round(sample_rate)), channels=channels,
                                  format=fmt.upper(), subtype=SUBTYPES[bit_depth])
        except OSError as exc:
            self._cleanup()
            raise OutputError(f"cannot write to {self.path.parent}: {exc.strerror or exc}") from None
        except Exception as exc:
            self._cleanup()
            raise OutputError(f"cannot create {self.path}: {exc}") from None

    def write(self, block: np.ndarray) -> None:
        """block: (channels, samples)."""
        if block.size and self.bit_depth != "32f":
            peak = max(float(block.max()), -float(block.min()))
            if peak > self.peak:
                self.peak = peak
            top = full_scale_top(self.bit_depth)
            if peak > top:
                self.clipped += int(np.count_nonzero((block > top) | (block < -1.0)))
        try:
            self.f.write(encode_for_subtype(block, self.bit_depth).T)
        except Exception as exc:
            self.abort()
            raise OutputError(f"writing {self.path} failed: {exc} (disk full?); nothing was left behind") from None

    def clip_note(self) -> str:
        """One line for the user when the integer format clipped samples (empty when nothing clipped)."""
        if not self.clipped:
            return ""
        return (f"{self.path.name}: {self.clipped} sample(s) {CLIPPED} "
                f"(peak {20 * math.log10(self.peak):+.1f} dBFS); 32-bit float keeps them")

    def commit(self) -> Path:
        try:
            self.f.close()
            publish_mode(self.tmp)
            os.replace(self.tmp, self.path)
        except Exception as exc:
            self._cleanup()
            raise OutputError(f"cannot finish {self.path}: {exc}") from None
        return self.path

    def abort(self) -> None:
        try:
            if getattr(self, "f", None) is not None and not self.f.closed:
                self.f.close()
        except Exception:
            pass
        self._cleanup()

    def _cleanup(self):
        tmp = getattr(self, "tmp", None)
        if tmp and os.path.exists(tmp):
            try:
                os.unlink(tmp)
            except OSError:
                pass
        for d in getattr(self, "made_dirs", []):
            try:
                d.rmdir()  # only if empty: another writer may have committed a file there
            except OSError:
                break

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        if et is not None:
            self.abort()
        return False


def write_audio(path, audio: np.ndarray, sample_rate, fmt: Optional[str] = None, bit_depth: str = "24",
                notes: Optional[list] = None) -> Path:
    """Write (channels, samples) or 1-D atomically. ``notes``: a list that receives the clipping note, if any."""
    a = audio[None, :] if audio.ndim == 1 else audio
    fmt = fmt or (Path(path).suffix.lower().lstrip(".") or "wav")
    w = AtomicAudioWriter(path, sample_rate, a.shape[0], fmt, bit_depth)
    w.write(a)
    out = w.commit()
    clip = w.clip_note()
    if notes is not None and clip:
        notes.append(clip)
    return out
