"""Which recordings may be used for training, and which are reserved for independent evaluation.

Reserved (never train, tune or select on them): Debian ``freepats``, ``timidity`` patch sets,
``hydrogen-drumkits``, ``sonic-pi-samples``, ``flite`` and festival's kal and slt voices (the same
speakers as flite's), and the npm ``@audio-samples/*`` pianos. Some training packages hold the same
recordings as reserved ones under other names: hydrogen-drumkits' "The Black Pearl" kit is the same
recording as avldrums' Black Pearl and hydrogen-data's GMRockKit (training), so evaluation skips it
(``SHARED_WITH_TRAINING``); the well-known breakbeats that lmms ships (``beats/break*``, ``jungle01``)
are treated as Sonic Pi's loops and are not used for training.
"""
from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path
from typing import FrozenSet, Union

RESERVED_PACKAGES = ("freepats", "timidity", "timidity-daemon", "hydrogen-drumkits", "sonic-pi-samples", "flite",
                     "libflite1", "festvox-kallpc16k", "festvox-kallpc8k", "festvox-us-slt-hts")
RESERVED_NPM_SCOPE = "@audio-samples"
# recordings in training packages that reserved sources repeat, or that repeat reserved sources
NOT_FOR_TRAINING = ("lmms/samples/beats/break", "lmms/samples/beats/jungle")
SHARED_WITH_TRAINING = ("The Black Pearl", "GMRockKit")  # hydrogen-drumkits kits evaluation must skip


class ReservedSourceError(RuntimeError):
    """A training step tried to read a recording reserved for independent evaluation."""


@functools.lru_cache(maxsize=1)
def reserved_files() -> FrozenSet[str]:
    """Every file that the installed reserved Debian packages own (empty where dpkg is missing)."""
    files = set()
    for pkg in RESERVED_PACKAGES:
        try:
            out = subprocess.run(["dpkg", "-L", pkg], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return frozenset()
        if out.returncode == 0:
            files.update(line for line in out.stdout.splitlines() if line and not os.path.isdir(line))
    return frozenset(files)


def is_reserved(path: Union[str, Path]) -> bool:
    """True for a file of a reserved package (links resolved), the npm pianos, or a ripped breakbeat."""
    raw = str(path)
    real = os.path.realpath(raw)
    if RESERVED_NPM_SCOPE in raw or RESERVED_NPM_SCOPE in real:
        return True
    if any(part in real for part in NOT_FOR_TRAINING):
        return True
    owned = reserved_files()
    return raw in owned or real in owned


def require_trainable(path: Union[str, Path]) -> None:
    """Raise ReservedSourceError when ``path`` may not be used for training."""
    if is_reserved(path):
        raise ReservedSourceError(f"{path} is reserved for independent evaluation and must not be used for training")
