"""The host in a musician's first ten minutes, offscreen: shortcuts work wherever the focus is, the scope
of the next separation is hard to miss and Esc clears it, the query language and its typo hints,
where exports go, the model picker, the FX dialog's title, and "Split into stems" as a rebalance
desk with A/B. Split runs on a fake multi-source separator (the contract of /work/notes/split_api.md)."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("PyQt6")
pytest.importorskip("pytestqt")

from PyQt6.QtCore import Qt, QTimer  # noqa: E402
from PyQt6.QtWidgets import QApplication  # noqa: E402

from conftest import music_like  # noqa: E402
from hostwin import WAIT, make_window, open_song  # noqa: E402
from plugin import Separator  # noqa: E402

SR = 32000
N = int(1.2 * SR)


class SplittingSeparator:
    """A Separator with the multi-source API: ``families`` and ``split`` (stems + "other" = the input)."""

    families = ["bass", "drums"]

    def __init__(self, sep):
        self.inner = sep
        self.split_calls = 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def split(self, audio, sr, *, threshold_db=-30.0, block_seconds=None, progress=None, cancel=None):
        self.split_calls += 1
        stems = self.inner.separate_many(audio, sr, self.families, progress=progress, cancel=cancel)
        out = dict(zip(self.families, stems))
        out["other"] = audio - sum(stems)
        return out


@pytest.fixture(scope="module")
def sep(text_bundle):
    return Separator.load(text_bundle)


@pytest.fixture(autouse=True)
def private_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("SEPBOARD_RECOVERY_DIR", str(tmp_path / "recovery"))
    monkeypatch.setenv("SEPBOARD_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setattr("gui.controllers.exporting.music_dir", lambda: tmp_path / "Music")


@pytest.fixture
def song(tmp_path):
    x = 0.5 * music_like(N, SR, 2, seed=7)
    p = tmp_path / "songs" / "My Song.wav"
    p.parent.mkdir()
    sf.write(str(p), x.T, SR, subtype="FLOAT")
    return p, x


@pytest.fixture
def win(qtbot, sep):
    w = make_window(qtbot, sep)
    yield w
    w.shutdown()


def activate(qtbot, w):
    w.show()
    qtbot.waitExposed(w)
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=WAIT)


def type_query(qtbot, w, text):
    q = w.panel.query
    q.setFocus()
    q.clear()
    qtbot.keyClicks(q, text)


def run_query(qtbot, w, text):
    with qtbot.waitSignal(w.separationFinished, timeout=WAIT) as blocker:
        type_query(qtbot, w, text)
        qtbot.keyClick(w.panel.query, Qt.Key.Key_Return)
    return [w.session.find(uid) for uid in blocker.args[0]]


def wait_idle(qtbot, w):
    qtbot.waitUntil(lambda: not w.tasks.tasks, timeout=WAIT)


# ------------------------------------------------------------------------------------------------
# shortcuts
# ------------------------------------------------------------------------------------------------
def test_application_shortcuts_work_while_the_query_field_has_focus(qtbot, win, song):
    mix = open_song(qtbot, win, song[0])
    activate(qtbot, win)
    (stem,) = run_query(qtbot, win, "bass")
    q = win.panel.query
    assert q.hasFocus() and q.text() == "bass"
    qtbot.keyClicks(q, " guitar")
    qtbot.keyClick(q, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo: the separation, not the typing
    assert [t.uid for t in win.session.tracks] == [mix.uid] and q.text() == "bass guitar"
    qtbot.keyClick(q, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert [t.uid for t in win.session.tracks] == [mix.uid, stem.uid] and q.hasFocus()
    opened = []

    def close_dialog():
        d = QApplication.activeModalWidget()
        opened.append(type(d).__name__)
        if d is not None:
            d.reject()

    QTimer.singleShot(300, close_dialog)
    q.setCursorPosition(0)
    qtbot.keyClick(q, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)  # export, not "end of line"
    assert opened == ["ExportDialog"] and q.cursorPosition() == 0
    qtbot.keyClick(q, Qt.Key.Key_Backspace)  # text editing keys stay the field's
    qtbot.keyClick(q, Qt.Key.Key_End)
    qtbot.keyClick(q, Qt.Key.Key_Backspace)
    assert q.text() == "bass guita" and len(win.session.tracks) == 2


# ------------------------------------------------------------------------------------------------
# the scope of the next separation
# ------------------------------------------------------------------------------------------------
def test_a_restored_selection_is_hard_to_miss_and_esc_clears_it(qtbot, win, song, tmp_path):
    open_song(qtbot, win, song[0])
    win.state.set_selection(SR // 4, SR // 4 + 2 * SR // 5)
    assert win.saving.save_as(tmp_path / "s", background=False)
    w = make_window(qtbot, win.model.separator)
    try:
        open_song(qtbot, w, tmp_path / "s")
        activate(qtbot, w)
        assert w.state.selection is not None
        assert w.panel.scope.isVisibleTo(w) and "Selection only: " in w.panel.scope_text.text()
        assert "0.4 s" in w.panel.scope_text.text() and w.panel.button.text() == "Separate selection"
        assert "time selection" in w.statusBar().currentMessage()
        q = w.panel.query
        q.setFocus()
        qtbot.keyClicks(q, "tabla")  # (no suggestion popup, whose own Esc would come first)
        qtbot.keyClick(q, Qt.Key.Key_Escape)  # first Esc: back to the whole track, still typing
        assert w.state.selection is None and not w.panel.scope.isVisibleTo(w)
        assert w.panel.button.text() == "Separate" and q.hasFocus() and q.text() == "tabla"
        qtbot.keyClick(q, Qt.Key.Key_Escape)  # then Esc leaves the field, as before
        assert not q.hasFocus()
        w.state.set_selection(0, SR // 2)
        assert w.panel.scope.isVisibleTo(w)
        w.panel.scope_clear.click()  # the chip's ✕ does the same
        assert w.state.selection is None
    finally:
        w.shutdown()


# ------------------------------------------------------------------------------------------------
# the query language and typo hints
# ------------------------------------------------------------------------------------------------
def test_the_query_field_speaks_the_query_language(qtbot, win, sep, song):
    path, x = song
    mix = open_song(qtbot, win, path)
    (union,) = run_query(qtbot, win, "bass and drums")
    both = sep.separate_many(mix.audio, SR, ["bass", "drums"])
    assert union.name == union.query == "bass and drums"
    np.testing.assert_allclose(union.audio, both[0] + both[1], atol=1e-5)
    (rest,) = run_query(qtbot, win, "not drums")
    assert rest.name == "everything but drums"
    np.testing.assert_allclose(rest.audio, mix.audio - sep.separate(mix.audio, SR, "drums"), atol=1e-5)
    before = len(win.session.tracks)
    type_query(qtbot, win, "guitar, not")
    qtbot.keyClick(win.panel.query, Qt.Key.Key_Return)
    assert "names nothing after it" in win.panel.source.text() and win.panel.source.property("error")
    assert len(win.session.tracks) == before and not win.tasks.tasks


def test_a_typo_gets_suggestions_under_the_field(qtbot, win, song):
    from plugin.vocabulary import DEFAULT_VOCABULARY, Vocabulary
    from conftest import fake_embed

    open_song(qtbot, win, song[0])
    win.model.vocabulary = Vocabulary(DEFAULT_VOCABULARY, fake_embed)
    type_query(qtbot, win, "drmus, not the bass")
    qtbot.waitUntil(lambda: win.panel.hint.isVisibleTo(win), timeout=WAIT)  # after a pause in typing
    assert "“drmus” is far from every wording this model knows" in win.panel.hint.text()
    assert ">drums</a>" in win.panel.hint.text()
    win.panel.hint.linkActivated.emit("0:0")  # click the first suggestion
    assert win.panel.query.text() == "drums, not the bass" and not win.panel.hint.isVisibleTo(win)
    with qtbot.waitSignal(win.separationFinished, timeout=WAIT):  # a warning, not a refusal
        win.separation.separate("pinao")
    assert win.panel.hint.isVisibleTo(win) and ">piano</a>" in win.panel.hint.text()


# ------------------------------------------------------------------------------------------------
# export folder, FX dialog, model picker
# ------------------------------------------------------------------------------------------------
def test_export_is_offered_away_from_the_song_and_remembers_the_choice(qtbot, win, sep, song, tmp_path):
    path, _ = song
    open_song(qtbot, win, path)
    (stem,) = run_query(qtbot, win, "bass")
    first = win.exporting.default_export_dir()
    assert first == str(tmp_path / "Music" / "SepBoard") and path.parent.as_posix() not in first
    chosen = tmp_path / "my stems"
    with qtbot.waitSignal(win.exported, timeout=WAIT):
        win.exporting.export([stem], chosen, "wav")
    assert win.exporting.default_export_dir() == str(chosen.resolve())
    assert win.saving.save_as(tmp_path / "sess", background=False)
    w = make_window(qtbot, sep)  # the next window: the session remembers it, a new song gets the last one
    try:
        open_song(qtbot, w, tmp_path / "sess")
        assert w.exporting.default_export_dir() == str(chosen.resolve())
        open_song(qtbot, w, path)
        assert w.exporting.default_export_dir() == str(chosen.resolve())
        assert w.saving.save_as(tmp_path / "sess2", background=False)
        w.session.view.pop("export_dir", None)
        assert w.exporting.default_export_dir() == str(tmp_path / "sess2" / "stems")
    finally:
        w.shutdown()


def test_the_effects_dialog_names_its_track(qtbot):
    from gui.panels import EffectsDialog

    d = EffectsDialog("bass guitar (residual)", [])
    qtbot.addWidget(d)
    d.show()
    assert d.heading.isVisible() and "bass guitar (residual)" in d.heading.text()


def test_model_picker_offers_default_recent_and_official_and_shows_families(qtbot, win, sep, text_bundle, tmp_path):
    from gui.panels import ModelPicker

    kinds = [c.kind for c in win.model.choices()]
    assert kinds == ["default", "official", "browse"]
    with qtbot.waitSignal(win.modelReady, timeout=WAIT):
        win.model.pick(next(c for c in win.model.choices() if c.kind == "browse").__class__(
            "recent", "tiny", str(text_bundle)))
    recent = [c for c in win.model.choices() if c.kind == "recent"]
    assert len(recent) == 1 and recent[0].loaded and "tiny-text-test" in recent[0].label
    (tmp_path / "empty").mkdir()
    win.prompter.answers["choose_bundle"] = str(tmp_path / "empty")
    assert win.model.pick(next(c for c in win.model.choices() if c.kind == "official")) is None
    assert "no manifest.json" in win.prompter.errors[-1] and "export.audiosep" in win.prompter.errors[-1]
    win.model.set_separator(SplittingSeparator(sep))
    assert win.model_label.text().endswith("· 2 families") and "bass, drums" in win.model_label.toolTip()
    picker = ModelPicker(win.model.describe(), win.model.choices())
    qtbot.addWidget(picker)
    assert "tiny-text-test on CPU" in picker.current.text() and "Families (2): bass, drums" in picker.current.text()
    assert picker.list.count() == len(win.model.choices()) and picker.choice() is not None


# ------------------------------------------------------------------------------------------------
# split into stems: the rebalance desk
# ------------------------------------------------------------------------------------------------
class NoSplit:
    """A separator-like object without ``split`` (an older runtime, or a plug-in model)."""

    def __init__(self, sep):
        self.inner = sep

    def __getattr__(self, name):
        if name == "split":
            raise AttributeError(name)
        return getattr(self.inner, name)


def test_split_is_offered_only_by_a_model_that_can_split(qtbot, sep, song):
    w = make_window(qtbot, NoSplit(sep))
    try:
        open_song(qtbot, w, song[0])
        assert w.panel.split.isHidden() and not w.host_actions.split.isEnabled()
        assert w.split.split() is None and "cannot split into stems" in w.panel.source.text()
        w.model.set_separator(sep)  # every Separator splits: without a family head, by a list of queries
        assert not w.panel.split.isHidden() and w.panel.split.isEnabled()
    finally:
        w.shutdown()


def test_split_with_a_real_multisource_bundle_adds_its_families_and_other(qtbot, song):
    from pathlib import Path

    ms = Separator.load(Path(__file__).resolve().parents[1] / "bundles" / "multisource")
    w = make_window(qtbot, ms)
    try:
        mix = open_song(qtbot, w, song[0])
        with qtbot.waitSignal(w.splitFinished, timeout=WAIT) as blocker:
            w.panel.split.click()
        stems = [w.session.find(uid) for uid in blocker.args[0]]
        names = [t.name for t in stems]
        assert names[-1] == "other" and set(names[:-1]) <= set(ms.families)
        np.testing.assert_allclose(sum(t.audio for t in stems), mix.audio, atol=1e-5)
    finally:
        w.shutdown()


def play_block(w, frames=N):
    w.transport.stop()
    w.transport.seek(0)
    w.transport.backend.clear()
    assert w.transport.play()
    w.transport.backend.pump(frames)
    return w.transport.backend.mixed()


def test_split_into_stems_is_a_desk_that_adds_up_to_the_mix_with_ab(qtbot, sep, song):
    w = make_window(qtbot, SplittingSeparator(sep))
    try:
        mix = open_song(qtbot, w, song[0])
        with qtbot.waitSignal(w.splitFinished, timeout=WAIT) as blocker:
            w.panel.split.click()
        stems = [w.session.find(uid) for uid in blocker.args[0]]
        assert [t.name for t in stems] == ["bass", "drums", "other"] and all(t.kind == "stem" for t in stems)
        assert w.session.find(mix.uid).mute
        np.testing.assert_allclose(sum(t.audio for t in stems), mix.audio, atol=1e-6)
        np.testing.assert_allclose(play_block(w), mix.audio, atol=1e-5)  # at unity the desk is the mix
        w.track_edits.set_gain(stems[1].uid, 6.0)
        w.track_edits.set_mute(stems[2].uid, True)
        desk = mix.audio + (10 ** (6 / 20) - 1) * stems[1].audio - stems[2].audio
        np.testing.assert_allclose(play_block(w), desk, atol=1e-5)
        w.host_actions.ab.trigger()  # A: the original mix, whatever the desk does
        assert w.transport.original and w.host_actions.ab.isChecked()
        np.testing.assert_allclose(play_block(w), mix.audio, atol=1e-5)
        w.host_actions.ab.trigger()  # B again
        assert not w.transport.original and not w.host_actions.ab.isChecked()
        np.testing.assert_allclose(play_block(w), desk, atol=1e-5)
        w.transport.stop()
        w.undo.undo()  # one step: the stems go and the mix is unmuted
        assert [t.uid for t in w.session.tracks] == [mix.uid] and not w.session.find(mix.uid).mute
    finally:
        w.shutdown()
