"""Every question and message the host puts to the user goes through a Prompter.

The window never calls QMessageBox/QFileDialog directly, so tests and benchmarks inject an
:class:`AutoPrompter` that answers at once and records what was said (no dialog ever blocks a test).
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Tuple

from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import QColorDialog, QFileDialog, QInputDialog, QMessageBox, QWidget

from plugin.audio import AUDIO_EXTENSIONS

AUDIO_FILTER = "Audio files (" + " ".join(f"*{e}" for e in AUDIO_EXTENSIONS) + ")"
OPEN_FILTER = f"Audio or session ({' '.join('*' + e for e in AUDIO_EXTENSIONS)} session.json);;{AUDIO_FILTER};;" \
              "SepBoard session (session.json);;All files (*)"


class Prompter:
    """Real dialogs, parented to the main window."""

    def __init__(self, parent: Optional[QWidget] = None):
        self.parent = parent

    def error(self, title: str, text: str) -> None:
        QMessageBox.critical(self.parent, title, text)

    def info(self, title: str, text: str) -> None:
        QMessageBox.information(self.parent, title, text)

    def ask(self, title: str, text: str, default: bool = False) -> bool:
        b = QMessageBox.StandardButton
        r = QMessageBox.question(self.parent, title, text, b.Yes | b.No, b.Yes if default else b.No)
        return r == b.Yes

    def ask_save(self, title: str, text: str) -> str:
        """'save' | 'discard' | 'cancel'."""
        b = QMessageBox.StandardButton
        r = QMessageBox.warning(self.parent, title, text, b.Save | b.Discard | b.Cancel, b.Save)
        return {b.Save: "save", b.Discard: "discard"}.get(r, "cancel")

    def get_text(self, title: str, label: str, text: str = "") -> Optional[str]:
        value, ok = QInputDialog.getText(self.parent, title, label, text=text)
        return value if ok else None

    def get_color(self, current: str) -> Optional[str]:
        c = QColorDialog.getColor(QColor(current), self.parent, "Track colour")
        return c.name() if c.isValid() else None

    def open_path(self, start: str = "") -> Optional[str]:
        path, _ = QFileDialog.getOpenFileName(self.parent, "Open audio or session", start, OPEN_FILTER)
        return path or None

    def add_audio_path(self, start: str = "") -> Optional[str]:
        path, _ = QFileDialog.getOpenFileName(self.parent, "Add audio as a track", start, AUDIO_FILTER)
        return path or None

    def save_folder(self, suggestion: str) -> Optional[str]:
        path, _ = QFileDialog.getSaveFileName(self.parent, "Save session as folder", suggestion,
                                              "SepBoard session folder (*)")
        return path or None

    def choose_folder(self, title: str, start: str = "") -> Optional[str]:
        path = QFileDialog.getExistingDirectory(self.parent, title, start)
        return path or None

    def choose_bundle(self, start: str = "") -> Optional[str]:
        return self.choose_folder("Choose a model bundle folder (with manifest.json)", start)


class AutoPrompter(Prompter):
    """Answers without showing anything and records every message: for tests and benchmarks.

    ``answers`` maps a method name ('ask', 'ask_save', 'get_text', 'get_color', 'open_path',
    'save_folder', 'choose_folder', 'choose_bundle', 'add_audio_path') to the value it returns.
    """

    def __init__(self, answers: Optional[Dict[str, object]] = None):
        super().__init__(None)
        self.answers = dict(answers or {})
        self.messages: List[Tuple[str, str, str]] = []  # (kind, title, text)

    def _answer(self, kind, title, text, default):
        self.messages.append((kind, title, text))
        return self.answers.get(kind, default)

    @property
    def errors(self) -> List[str]:
        return [t for k, _, t in self.messages if k == "error"]

    @property
    def infos(self) -> List[str]:
        return [t for k, _, t in self.messages if k == "info"]

    def error(self, title, text):
        self.messages.append(("error", title, text))

    def info(self, title, text):
        self.messages.append(("info", title, text))

    def ask(self, title, text, default=False):
        return bool(self._answer("ask", title, text, default))

    def ask_save(self, title, text):
        return str(self._answer("ask_save", title, text, "discard"))

    def get_text(self, title, label, text=""):
        return self._answer("get_text", title, label, None)

    def get_color(self, current):
        return self._answer("get_color", "colour", current, None)

    def open_path(self, start=""):
        return self._answer("open_path", "open", start, None)

    def add_audio_path(self, start=""):
        return self._answer("add_audio_path", "add", start, None)

    def save_folder(self, suggestion):
        return self._answer("save_folder", "save", suggestion, None)

    def choose_folder(self, title, start=""):
        return self._answer("choose_folder", title, start, None)

    def choose_bundle(self, start=""):
        return self._answer("choose_bundle", "bundle", start, None)


def short_path(p) -> str:
    p = Path(p)
    try:
        return "~/" + p.relative_to(Path.home()).as_posix()
    except ValueError:
        return str(p)
