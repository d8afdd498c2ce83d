"""The separation model: loading a bundle in the background, and showing which model and device run.

``ready`` carries the :class:`plugin.Separator` once it can separate, or None when loading failed or
no model is installed; then ``error`` says why and separation stays off while everything else works.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from PyQt6.QtCore import QObject, pyqtSignal

from ..tasks import Task
from .context import HostContext
from .ports import ModelView

WARM_UP_QUERY = "bass"  # embedded once after loading, so the first real query answers quickly


class ModelController(QObject):
    """Holds the current Separator (``separator``), the bundle it came from and the last load error."""

    ready = pyqtSignal(object)  # Separator or None (failed / missing)

    def __init__(self, ctx: HostContext, view: ModelView, bundle=None, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        self.view = view
        self.separator = None
        self.bundle_path = Path(bundle) if bundle else None
        self.error: Optional[str] = None

    def start(self, separator=None, load: bool = True) -> None:
        """At start-up: use ``separator``, else load the bundle (the embedded default when none), or neither."""
        if separator is not None:
            self.set_separator(separator)
        elif load:
            self.load(self.bundle_path)
        else:
            self.view.show_model("Model: none")

    def can_separate(self) -> bool:
        """A model is loaded and it has a text encoder."""
        return self.separator is not None and self.separator.has_text_encoder

    def load(self, path=None) -> Optional[Task]:
        """Load a bundle (None: the embedded default) in the background; None when there is nothing to load."""
        from plugin.bundle import DEFAULT_BUNDLE

        if path is None and not DEFAULT_BUNDLE.exists():
            self._failed(
                f"No model: the embedded default model is not installed ({DEFAULT_BUNDLE} is missing). "
                "Start with --bundle PATH, or choose File ▸ Load model bundle…. "
                "Everything except separation works meanwhile.", dialog=False)
            return None
        self.view.show_model("Model: loading…")

        def work(progress, cancel):
            from plugin import Separator

            sep = Separator.load(path)
            sep.provider  # opens the ONNX session (and shows which provider is used)
            if sep.has_text_encoder:
                sep.embed(WARM_UP_QUERY)
            progress(1.0)
            return sep

        return self.ctx.tasks.start("Loading model", work, self.set_separator,
                                    lambda msg: self._failed(f"Cannot load the model bundle: {msg}"), kind="model",
                                    visible=False)

    def set_separator(self, sep) -> None:
        """Use ``sep`` from now on and show its name, device and provider."""
        self.separator = sep
        self.error = None
        self.view.show_model(f"Model: {sep.name} · {sep.bundle.device_label}",
                             f"{sep.bundle.path}\nONNX Runtime provider: {sep.provider}\n{sep.sample_rate} Hz model",
                             error=False)
        if not sep.has_text_encoder:
            self.view.show_banner(f"The model {sep.name!r} has no text encoder, so it cannot separate by text "
                                  "query. Load a bundle with a text encoder (File ▸ Load model bundle…).")
        else:
            self.view.show_banner(None)
        self.ctx.shell.update_enabled()
        self.ready.emit(sep)

    def _failed(self, message: str, dialog: bool = True) -> None:
        self.separator = None
        self.error = message
        self.view.show_model("Model: none", message, error=True)
        self.view.show_banner(message)
        self.ctx.shell.show_status(message, 15000)
        if dialog:
            self.ctx.prompter.error("Model bundle", message)
        self.ctx.shell.update_enabled()
        self.ready.emit(None)

    def choose_bundle(self) -> None:
        """Ask for a bundle folder and load it."""
        path = self.ctx.prompter.choose_bundle(str(self.bundle_path or ""))
        if path:
            self.bundle_path = Path(path)
            self.load(self.bundle_path)
