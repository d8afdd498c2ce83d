"""File checksums: the sha256 that bundle manifests and downloads are verified with."""
from __future__ import annotations

import hashlib
import os
from typing import Union

CHUNK_BYTES = 1 << 20


def sha256_file(path: Union[str, os.PathLike], chunk: int = CHUNK_BYTES) -> str:
    """Hex sha256 of a file's bytes, read ``chunk`` bytes at a time (constant memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()
