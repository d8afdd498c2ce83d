"""The separation model: loading a bundle in the background, choosing one (the model picker), and
showing which model, device and instrument families run.

``ready`` carries the :class:`plugin.Separator` once it can separate, or None when loading failed or
no model is installed; then ``error`` says why and separation stays off while everything else works.
``vocabulary`` (:mod:`plugin.vocabulary`) tells which wordings the loaded model knows; its vectors
are computed while the model loads. Bundles loaded from a folder are remembered (:mod:`gui.prefs`).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtWidgets import QWidget

from plugin.vocabulary import vocabulary_of

from ..panels import ModelChoice, ModelPicker
from ..prefs import Preferences
from ..tasks import Task
from .context import HostContext
from .ports import ModelView

WARM_UP_QUERY = "bass"  # embedded once after loading, so the first real query answers quickly
OFFICIAL_HINT = ("The official AudioSep model becomes a bundle folder with\n"
                 "  python -m export.audiosep --download --out bundles/audiosep\n(README: the official AudioSep model).")


def bundle_name(folder) -> str:
    """The model name in a bundle folder's manifest, else the folder's name."""
    try:
        return str(json.loads((Path(folder) / "manifest.json").read_text(encoding="utf-8"))["name"])
    except (OSError, ValueError, KeyError, TypeError):
        return Path(folder).name


def families_of(sep) -> List[str]:
    """The instrument families a multi-source model separates in one pass ([] for free-text models)."""
    return [str(f) for f in (getattr(sep, "families", None) or [])]


class ModelController(QObject):
    """Holds the current Separator (``separator``), its ``vocabulary``, the bundle it came from and the last error."""

    ready = pyqtSignal(object)  # Separator or None (failed / missing)

    def __init__(self, ctx: HostContext, view: ModelView, bundle=None, parent=None, *,
                 prefs: Optional[Preferences] = None, dialog_parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.ctx = ctx
        self.view = view
        self.prefs = prefs or Preferences()
        self.dialog_parent = dialog_parent
        self.separator = None
        self.vocabulary = None
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

    def can_split(self) -> bool:
        """The loaded model splits a track into its instrument families (``Separator.split``)."""
        return self.separator is not None and callable(getattr(self.separator, "split", None))

    def load(self, path=None) -> Optional[Task]:
        """Load a bundle (None: the embedded default) in the background; None when there is nothing to load."""
        from plugin.bundle import DEFAULT_BUNDLE

        if path is None and not DEFAULT_BUNDLE.exists():
            self._failed(
                f"No model: the embedded default model is not installed ({DEFAULT_BUNDLE} is missing). "
                "Start with --bundle PATH, or choose File ▸ Choose model…. "
                "Everything except separation works meanwhile.", dialog=False)
            return None
        self.view.show_model("Model: loading…")

        def work(progress, cancel):
            from plugin import Separator

            sep = Separator.load(path)
            sep.provider  # opens the ONNX session (and shows which provider is used)
            vocab = vocabulary_of(sep)
            if vocab is not None:
                sep.embed(WARM_UP_QUERY)
                vocab.prepare()  # here, not on the first unknown word typed
            progress(1.0)
            return sep, vocab

        return self.ctx.tasks.start("Loading model", work, lambda result: self._loaded(path, *result),
                                    lambda msg: self._failed(f"Cannot load the model bundle: {msg}"), kind="model",
                                    visible=False)

    def _loaded(self, path, sep, vocab) -> None:
        if path is not None:
            self.prefs.add_recent_bundle(path)
        self.set_separator(sep, vocab)

    def describe(self) -> str:
        """A few lines about the loaded model: name, device and provider, families, folder."""
        sep = self.separator
        if sep is None:
            return self.error or "No model is loaded."
        families = families_of(sep)
        return "\n".join([
            f"{sep.name} on {sep.bundle.device_label} (ONNX Runtime provider {sep.provider}), {sep.sample_rate} Hz",
            (f"Families ({len(families)}): {', '.join(families)}" if families
             else "Families: none listed; it separates whatever the text describes"),
            f"Folder: {sep.bundle.path}"])

    def set_separator(self, sep, vocabulary=None) -> None:
        """Use ``sep`` from now on and show its name, device, families and provider."""
        self.separator = sep
        self.vocabulary = vocabulary if vocabulary is not None else vocabulary_of(sep)
        self.error = None
        families = families_of(sep)
        self.view.show_model(f"Model: {sep.name} · {sep.bundle.device_label}"
                             + (f" · {len(families)} families" if families else ""), self.describe(), error=False)
        if not sep.has_text_encoder:
            self.view.show_banner(f"The model {sep.name!r} has no text encoder, so it cannot separate by text "
                                  "query. Load a bundle with a text encoder (File ▸ Choose model…).")
        else:
            self.view.show_banner(None)
        self.ctx.shell.update_enabled()
        self.ready.emit(sep)

    def _failed(self, message: str, dialog: bool = True) -> None:
        self.separator = None
        self.vocabulary = None
        self.error = message
        self.view.show_model("Model: none", message, error=True)
        self.view.show_banner(message)
        self.ctx.shell.show_status(message, 15000)
        if dialog:
            self.ctx.prompter.error("Model bundle", message)
        self.ctx.shell.update_enabled()
        self.ready.emit(None)

    # ----- the picker ------------------------------------------------------------------------------
    def choices(self) -> List[ModelChoice]:
        """The embedded default, the recent bundles, the official bundle's folder, another folder."""
        loaded = self.separator.bundle.path.resolve() if self.separator is not None else None
        from plugin.bundle import DEFAULT_BUNDLE

        out = [ModelChoice("default", f"Embedded default model ({bundle_name(DEFAULT_BUNDLE)})",
                           str(DEFAULT_BUNDLE), loaded == DEFAULT_BUNDLE.resolve())]
        for p in self.prefs.recent_bundles():
            if Path(p).resolve() != DEFAULT_BUNDLE.resolve():
                out.append(ModelChoice("recent", f"{bundle_name(p)} — {p}", p, loaded == Path(p).resolve()))
        out.append(ModelChoice("official", "Official AudioSep bundle folder…"))
        out.append(ModelChoice("browse", "Another bundle folder…"))
        return out

    def choose_bundle(self) -> None:
        """The model picker: show the loaded model and load the one chosen."""
        dialog = ModelPicker(self.describe(), self.choices(), self.dialog_parent)
        if dialog.exec() and dialog.choice() is not None:
            self.pick(dialog.choice())

    def pick(self, choice: ModelChoice) -> Optional[Task]:
        """Load what a picker entry names (asking for the folder of "official" and "browse")."""
        if choice.kind == "default":
            self.bundle_path = None
            return self.load(None)
        path = choice.path
        if path is None:
            start = Path.cwd() / "bundles" / "audiosep" if choice.kind == "official" else self.bundle_path
            path = self.ctx.prompter.choose_bundle(str(start or ""))
            if not path:
                return None
        if not (Path(path) / "manifest.json").is_file():
            self.ctx.prompter.error("Model bundle", f"{path} is not a model bundle folder (it has no manifest.json)."
                                    + ("\n\n" + OFFICIAL_HINT if choice.kind == "official" else ""))
            return None
        self.bundle_path = Path(path)
        return self.load(self.bundle_path)
