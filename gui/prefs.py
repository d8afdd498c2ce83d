"""What the host remembers between sessions: the last export folder and the recent model bundles.

Stored with QSettings in ``host.ini`` under ``$SEPBOARD_CONFIG_DIR`` (tests point it at a temporary
folder), else the user's configuration folder (``~/.config/sepboard`` on Linux). A missing or
unreadable file just means nothing is remembered yet.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional

from PyQt6.QtCore import QSettings, QStandardPaths

MAX_RECENT_BUNDLES = 6


def config_dir() -> Path:
    env = os.environ.get("SEPBOARD_CONFIG_DIR")
    if env:
        return Path(env)
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericConfigLocation)
    return Path(base or Path.home() / ".config") / "sepboard"


def music_dir() -> Path:
    """The user's music folder (``~/Music``), else the home folder."""
    loc = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.MusicLocation)
    return Path(loc) if loc else Path.home()


class Preferences:
    """The remembered choices; every setter writes through at once."""

    def __init__(self, folder: Optional[Path] = None):
        self.path = Path(folder or config_dir()) / "host.ini"
        self.settings = QSettings(str(self.path), QSettings.Format.IniFormat)

    def _list(self, key: str) -> List[str]:
        value = self.settings.value(key, [])
        if isinstance(value, str):
            value = [value] if value else []
        return [str(v) for v in value or [] if v]

    def last_export_dir(self) -> Optional[str]:
        value = self.settings.value("export/last_dir", "")
        return str(value) if value else None

    def set_last_export_dir(self, folder) -> None:
        self.settings.setValue("export/last_dir", str(folder))
        self.settings.sync()

    def recent_bundles(self) -> List[str]:
        """Bundle folders loaded before, newest first (those that no longer exist are left out)."""
        return [p for p in self._list("model/recent_bundles") if Path(p).is_dir()]

    def add_recent_bundle(self, folder) -> None:
        folder = str(Path(folder).resolve())
        items = [folder] + [p for p in self._list("model/recent_bundles") if p != folder]
        self.settings.setValue("model/recent_bundles", items[:MAX_RECENT_BUNDLES])
        self.settings.sync()
