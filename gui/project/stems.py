"""Stem export: where each track's file goes (the batch renderer's names) and writing the files.

Names come from :mod:`plugin.naming`, so the host and ``python -m plugin.render`` write the same
``<out>/<song>/<query-slug>.<fmt>`` for the same query. Each file is written atomically with the
track's effects and fader gain applied.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from plugin.audio import AUDIO_EXTENSIONS, write_audio
from plugin.errors import Cancelled
from plugin.naming import slugify, song_name, stem_path

from ..cancel import cancel_requested
from ..tracks import Track

ProgressFn = Optional[Callable[[float], None]]


def song_of(path) -> str:
    """The song's name as the batch renderer derives it from its file path."""
    return song_name(path)


def _song_arg(song) -> str:
    """``song`` is the song's file path or its name (already ``song_name``'d, e.g. "Live 2.0"); give
    plugin.naming a file name either way, so "Live 2.0" is not cut at its dot."""
    s = str(song)
    return s if Path(s).suffix.lower() in AUDIO_EXTENSIONS else s + ".wav"


def export_plan(tracks: Iterable[Track], out_dir, song, fmt: str = "wav") -> List[Tuple[Track, Path]]:
    """Output path of each track: ``<out>/<song>/<query-slug>.<fmt>`` (plugin.naming, as the batch
    renderer names them); clashing names get ``-2``, ``-3``..."""
    plan = []
    used = set()
    song = _song_arg(song)
    for t in tracks:
        text, residual = t.export_name()
        p = stem_path(out_dir, song, text, fmt, residual)
        k = 2
        while p in used:
            p = p.with_name(f"{slugify(text, residual)}-{k}.{fmt}")
            k += 1
        used.add(p)
        plan.append((t, p))
    return plan


def export_tracks(plan: Sequence[Tuple[Track, Path]], sr, fmt: str = "wav", bit_depth: str = "24",
                  progress: ProgressFn = None, cancel=None, apply_gain: bool = True,
                  notes: Optional[list] = None) -> List[Path]:
    """Write each track with its effects (and fader gain) applied; each file is atomic.
    ``notes`` receives one line per file that an integer format had to clip."""
    written = []
    n = max(1, len(plan))
    for i, (t, path) in enumerate(plan):
        if cancel_requested(cancel):
            raise Cancelled(f"export cancelled after {len(written)} of {len(plan)} files; no partial file was left")

        def sub(f, i=i):
            if progress:
                progress((i + 0.8 * f) / n)

        a = t.rendered(sr, sub, cancel)
        if apply_gain and t.gain_db != 0.0:
            a = a * np.float32(t.gain)
        written.append(write_audio(path, a, sr, fmt=fmt, bit_depth=bit_depth, notes=notes))
        if progress:
            progress((i + 1) / n)
    return written
