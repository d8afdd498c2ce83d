"""Output names shared by the batch renderer and the host: ``<out>/<song>/<query-slug>.<ext>``."""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path

MAX_SLUG = 60


def slugify(text: str, residual: bool = False) -> str:
    """'Bass Guitar!' -> 'bass-guitar'; the residual of a query gets a '-residual' suffix."""
    s = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    s = re.sub(r"[^a-z0-9]+", "-", s).strip("-")
    s = s[:MAX_SLUG].rstrip("-") or "query"
    return f"{s}-residual" if residual else s


def song_name(path) -> str:
    """Folder name for one input file: its stem, made filesystem-safe."""
    stem = Path(path).stem
    s = re.sub(r"[\\/:*?\"<>|\x00-\x1f]+", "_", stem).strip(" .")
    return s or "song"


def stem_path(out_dir, song, query: str, fmt: str = "wav", residual: bool = False) -> Path:
    return Path(out_dir) / song_name(song) / f"{slugify(query, residual)}.{fmt}"
