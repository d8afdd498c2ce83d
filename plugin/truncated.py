"""Truncated audio files: how many frames of a WAV or FLAC file really exist, and a note saying so.

An interrupted copy or download leaves a file whose header promises more audio than the file holds.
Decoders then make up the rest (a WAV's missing frames come back as zeros; pedalboard decodes a
FLAC read that crosses the cut as silence throughout), so the header cannot be trusted: a WAV's
frames are counted from the bytes present, a FLAC's by finding the last frame libsndfile decodes.
"""
from __future__ import annotations

import struct
from pathlib import Path
from typing import Optional, Tuple

WAV_SUFFIXES = (".wav", ".wave")
FLAC_SUFFIXES = (".flac",)


def _note(path: Path, claimed: int, present: int, unit: str) -> str:
    share = 100 * present / claimed if claimed else 0
    return (f"{path.name} is truncated: its header announces {claimed} {unit} of audio but only {present} are "
            f"present ({share:.0f} %); the part that exists was used")


def _wav_chunks(f, size: int) -> Tuple[Optional[int], Optional[Tuple[int, int]]]:
    """(block align from 'fmt ', (claimed data bytes, data offset)) of an open RIFF/WAVE file."""
    align, data, pos = None, None, 12
    while pos + 8 <= size and data is None:
        f.seek(pos)
        cid, clen = struct.unpack("<4sI", f.read(8))
        if cid == b"fmt " and clen >= 14:
            align = struct.unpack("<H", f.read(14)[12:14])[0]
        elif cid == b"data":
            data = (clen, pos + 8)
        pos += 8 + clen + (clen & 1)
    return align, data


def wav_frames(path) -> Tuple[Optional[int], str]:
    """(frames actually present, note) of a RIFF/WAVE file whose 'data' chunk is cut short or claims
    more than the file holds; (None, "") for an intact file, another format or an unparsable header."""
    p = Path(path)
    if p.suffix.lower() not in WAV_SUFFIXES:
        return None, ""
    try:
        size = p.stat().st_size
        with open(p, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None, ""
            align, data = _wav_chunks(f, size)
    except (OSError, struct.error):
        return None, ""
    if data is None:
        return None, ""
    claimed, offset = data
    present = size - offset
    if claimed == 0xFFFFFFFF or claimed <= present:  # 0xFFFFFFFF: streamed, length unknown
        return None, ""
    frames = present // align if align else None
    return frames, _note(p, claimed, present, "bytes")


def wav_truncation(path) -> Optional[str]:
    """A sentence when a WAV file is truncated (see :func:`wav_frames`), else None."""
    return wav_frames(path)[1] or None


def _decodes_at(path: Path, pos: int) -> bool:
    """Whether libsndfile decodes the frame at ``pos`` (a fresh decoder each time: one that failed a
    seek fails every later one)."""
    import soundfile as sf

    try:
        with sf.SoundFile(str(path)) as f:
            f.seek(pos)
            return len(f.read(1, dtype="float32")) == 1
    except Exception:
        return False


def flac_frames(path, frames: int) -> Tuple[Optional[int], str]:
    """(frames that decode, note) of a FLAC file that stops before the ``frames`` its header promises;
    (None, "") for an intact file or another format. Finds the last decodable frame by bisection."""
    p = Path(path)
    if p.suffix.lower() not in FLAC_SUFFIXES or frames <= 0 or _decodes_at(p, frames - 1):
        return None, ""
    good, bad = -1, frames - 1  # invariant: `good` decodes (or is -1), `bad` does not
    while bad - good > 1:
        mid = (good + bad) // 2
        if _decodes_at(p, mid):
            good = mid
        else:
            bad = mid
    present = good + 1
    return present, _note(p, frames, present, "frames")
