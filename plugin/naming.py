"""Output names shared by the batch renderer and the host: ``<out>/<song>/<query-slug>.<ext>``."""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Dict, Sequence, Tuple

from .errors import QueryError

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


def query_outputs(queries: Sequence[str], residual: bool, fmt: str = "wav") -> Dict[Tuple[str, bool], str]:
    """{(query, is_residual): file name} of every output of ``queries``; a QueryError when two outputs
    would get the same file name (one would overwrite the other), e.g. 'bass guitar' and 'Bass-Guitar',
    or 'drums' with --residual and 'drums residual'. Names are compared case-insensitively."""
    names: Dict[Tuple[str, bool], str] = {}
    owner: Dict[str, Tuple[str, bool]] = {}
    for q in queries:
        for r in ((False, True) if residual else (False,)):
            name = f"{slugify(q, r)}.{fmt}"
            other = owner.get(name.casefold())
            if other is not None and other != (q, r):
                raise QueryError(f"{_label(other)} and {_label((q, r))} would both be written to {name}; "
                                 "word them differently (or drop one)")
            owner[name.casefold()] = (q, r)
            names[(q, r)] = name
    return names


def _label(output: Tuple[str, bool]) -> str:
    return f"query {output[0]!r}" + (" (its residual)" if output[1] else "")
