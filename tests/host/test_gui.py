"""The desktop host, offscreen: open, query, separate, play (fake backend), save/reload, undo, export.

Dialogs never block: every window gets an AutoPrompter that answers at once and records messages.
Audio is short (about a second) so the whole file runs in seconds.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("PyQt6")
pytest.importorskip("pytestqt")

from PyQt6.QtCore import QPoint, Qt  # noqa: E402

from conftest import music_like  # noqa: E402
from gui import project as P  # noqa: E402
from gui.project import audio_files  # noqa: E402
from gui.dialogs import AutoPrompter  # noqa: E402
from gui.playback import FakeBackend  # noqa: E402
from gui.tracks import Track  # noqa: E402
from gui.window import MainWindow  # noqa: E402
from hostwin import WAIT, make_window, open_song  # noqa: E402
from plugin import Separator  # noqa: E402
from plugin.naming import stem_path  # noqa: E402

SR = 32000
N = int(1.2 * SR)


@pytest.fixture(scope="module")
def sep(text_bundle):
    return Separator.load(text_bundle)


@pytest.fixture
def song(tmp_path):
    x = music_like(N, SR, 2, seed=7)
    p = tmp_path / "My Song.wav"
    sf.write(str(p), x.T, SR, subtype="FLOAT")
    return p, x


@pytest.fixture(autouse=True)
def recovery_dir(tmp_path, monkeypatch):
    d = tmp_path / "recovery"
    monkeypatch.setenv("SEPBOARD_RECOVERY_DIR", str(d))
    return d


@pytest.fixture
def win(qtbot, sep):
    w = make_window(qtbot, sep)
    yield w
    w.shutdown()


def run_query(qtbot, w, query, residual=False, keyboard=True):
    w.panel.residual.setChecked(residual)
    with qtbot.waitSignal(w.separationFinished, timeout=WAIT) as blocker:
        if keyboard:
            w.panel.query.clear()
            qtbot.keyClicks(w.panel.query, query)
            qtbot.keyClick(w.panel.query, Qt.Key.Key_Return)
        else:
            assert w.separation.separate(query, residual) is not None
    return [w.session.find(uid) for uid in blocker.args[0]]


def activate(qtbot, w):
    """Show and activate the window so its keyboard shortcuts fire (offscreen too)."""
    from PyQt6.QtWidgets import QApplication

    w.show()
    qtbot.waitExposed(w)
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=WAIT)


def wait_idle(qtbot, w):
    qtbot.waitUntil(lambda: not w.tasks.tasks, timeout=WAIT)


# ------------------------------------------------------------------------------------------------
# open -> query -> separate
# ------------------------------------------------------------------------------------------------
def test_open_type_query_and_get_an_aligned_stem_track(qtbot, win, sep, song):
    path, x = song
    mix = open_song(qtbot, win, path)
    assert mix.kind == "mix" and mix.audio.shape == x.shape and win.session.sample_rate == SR
    assert "tiny-text-test" in win.model_label.text() and "CPU" in win.model_label.text()
    assert not win.session.dirty
    (stem,) = run_query(qtbot, win, "bass guitar")
    assert [t.name for t in win.session.tracks] == [mix.name, "bass guitar"]
    assert stem.kind == "stem" and stem.query == "bass guitar" and stem.region is None
    assert stem.audio.shape == x.shape  # time-aligned: same length and channels as the mix
    np.testing.assert_allclose(stem.audio, sep.separate(x, SR, "bass guitar"), atol=1e-6)
    assert stem.peaks is not None and stem.color != mix.color
    assert win.panel.query.history[0] == "bass guitar" and win.session.dirty
    assert win.timeline.rows[stem.uid].lane.isVisibleTo(win)
    assert not win.prompter.errors


def test_query_runs_on_the_embedded_default_model(qtbot, tmp_path):
    """No separator and no --bundle: the window loads the shipped default model and uses it."""
    from plugin.bundle import DEFAULT_BUNDLE

    x = music_like(int(3.0 * 44100), 44100, 2, seed=3)
    path = tmp_path / "take.wav"
    sf.write(str(path), x.T, 44100, subtype="FLOAT")
    w = MainWindow(backend=FakeBackend(), prompter=AutoPrompter(), autosave_seconds=0)
    qtbot.addWidget(w)
    try:
        qtbot.waitUntil(lambda: w.model.separator is not None, timeout=WAIT)
        assert w.model.separator.bundle.path.resolve() == DEFAULT_BUNDLE.resolve()
        assert "sepboard-default" in w.model_label.text()
        mix = open_song(qtbot, w, path)
        (stem,) = run_query(qtbot, w, "drums")
        assert stem.query == "drums" and stem.audio.shape == mix.audio.shape == x.shape
        ref = Separator.load().separate(mix.audio, 44100, "drums")
        np.testing.assert_allclose(stem.audio, ref, atol=1e-5)
        assert np.abs(stem.audio).max() > 0 and not np.allclose(stem.audio, mix.audio, atol=1e-3)
        assert not w.prompter.errors
    finally:
        w.shutdown()


def test_residual_track_and_stem_add_up_to_the_mix(qtbot, win, song):
    path, x = song
    open_song(qtbot, win, path)
    stem, res = run_query(qtbot, win, "drums", residual=True, keyboard=False)
    assert res.kind == "residual" and res.name == "drums (residual)"
    np.testing.assert_allclose(stem.audio + res.audio, x, atol=1e-6)


def test_time_selection_separates_only_that_region_in_place(qtbot, win, sep, song):
    path, x = song
    open_song(qtbot, win, path)
    a, b = 9000, 25000
    win.state.set_selection(a, b)
    assert "selection" in win.panel.source.text()
    stem, res = run_query(qtbot, win, "piano", residual=True, keyboard=False)
    assert stem.audio.shape == x.shape and stem.region == (a, b)
    assert not stem.audio[:, :a].any() and not stem.audio[:, b:].any()
    np.testing.assert_allclose(stem.audio[:, a:b], sep.separate(x[:, a:b], SR, "piano"), atol=1e-6)
    np.testing.assert_allclose(stem.audio[:, a:b] + res.audio[:, a:b], x[:, a:b], atol=1e-6)


def test_a_task_has_left_the_running_list_when_its_outcome_arrives(qtbot):
    """Code reacting to a result may start the next task of the same kind at once (the host refuses
    a second separation while one runs: this raced when the task left the list only afterwards)."""
    from gui.tasks import TaskManager

    tm = TaskManager()
    seen = {}
    tm.start("ok", lambda progress, cancelled: 1, lambda r: seen.setdefault("done", tm.running("k")), kind="k")
    tm.start("bad", lambda progress, cancelled: 1 / 0, None, lambda m: seen.setdefault("failed", tm.running("j")),
             kind="j")
    qtbot.waitUntil(lambda: len(seen) == 2 and not tm.tasks, timeout=WAIT)
    assert seen == {"done": [], "failed": []}


def test_a_near_silent_stem_is_said_so(qtbot, win, song, monkeypatch):
    """A track that comes out near silent looks like a failure; the status bar says what happened."""
    import plugin.report as R

    path, x = song
    open_song(qtbot, win, path)
    (stem,) = run_query(qtbot, win, "bass", keyboard=False)
    assert R.NEAR_SILENT not in win.statusBar().currentMessage()  # the tiny test model's stem is not quiet
    level = 10 * np.log10(np.sum(stem.audio.astype(np.float64) ** 2) / np.sum(x.astype(np.float64) ** 2))
    monkeypatch.setattr(R, "NEAR_SILENT_DB", level + 1.0)
    run_query(qtbot, win, "bass", keyboard=False)
    msg = win.statusBar().currentMessage()
    assert f"near silent ({level:.0f} dB re the source)" in msg and "“bass”" in msg


def test_query_field_suggests_instruments_and_remembers_history(qtbot, win, song):
    q = win.panel.query
    for name in ("bass", "bass guitar", "drums", "piano", "acoustic guitar", "vocals", "synth pad", "saxophone"):
        assert name in q.suggestions()
    q.remember("slap bass")
    q.remember("vocals")
    assert q.suggestions()[:2] == ["vocals", "slap bass"]
    q.setFocus()
    q.clear()
    qtbot.keyClick(q, Qt.Key.Key_Up)
    assert q.text() == "vocals"
    qtbot.keyClick(q, Qt.Key.Key_Up)
    assert q.text() == "slap bass"


def test_empty_query_or_no_audio_gives_a_message_not_a_task(qtbot, win, song):
    assert win.separation.separate("bass") is None  # nothing open yet
    assert "Open an audio file" in win.statusBar().currentMessage()
    open_song(qtbot, win, song[0])  # the load task has left the list when sessionLoaded arrives
    assert win.separation.separate("   ") is None
    assert "Type what to extract" in win.statusBar().currentMessage()
    win.state.set_selection(100, 110)  # a few samples
    assert win.separation.separate("bass") is None
    assert "too short" in win.statusBar().currentMessage()
    assert len(win.session.tracks) == 1 and not win.tasks.tasks, [(t.kind, t.label) for t in win.tasks.tasks]


# ------------------------------------------------------------------------------------------------
# cancel
# ------------------------------------------------------------------------------------------------
def test_cancel_a_running_separation_adds_nothing(qtbot, win, song):
    path, x = song
    open_song(qtbot, win, path)
    task = win.separation.separate("bass guitar", residual=True)
    assert task is not None and not win.panel.button.isEnabled()
    row = win.task_panel.row_for(task)
    assert row is not None and not win.task_panel.isHidden()
    row.cancel.click()  # the Cancel button right after the start
    wait_idle(qtbot, win)
    assert task.outcome == "cancelled"
    assert len(win.session.tracks) == 1 and win.undo.count() == 0
    assert "cancelled" in win.statusBar().currentMessage()
    assert not win.prompter.errors
    assert win.panel.button.isEnabled() and win.task_panel.isHidden()
    (stem,) = run_query(qtbot, win, "bass guitar", keyboard=False)  # still works afterwards
    assert stem.audio.shape == x.shape


def test_cancel_mid_way_through_a_long_separation(qtbot, win, tmp_path):
    from PyQt6.QtCore import QTimer

    long = tmp_path / "long.wav"
    sf.write(str(long), music_like(30 * SR, SR, 1, seed=2).T, SR, subtype="PCM_16")
    open_song(qtbot, win, long)
    task = win.separation.separate("drums")
    QTimer.singleShot(100, task.cancel)  # while the model is working through the file
    qtbot.waitUntil(lambda: not win.tasks.tasks, timeout=60000)
    assert task.outcome == "cancelled" and len(win.session.tracks) == 1 and not win.prompter.errors


def test_opening_another_song_during_a_separation_leaves_the_new_session_alone(qtbot, win, song, tmp_path):
    open_song(qtbot, win, song[0])
    task = win.separation.separate("bass guitar")
    other = tmp_path / "other.wav"
    sf.write(str(other), music_like(5000, 22050, 1).T, 22050)
    open_song(qtbot, win, other)
    wait_idle(qtbot, win)
    assert task.outcome == "cancelled"
    assert [t.name for t in win.session.tracks] == ["other"] and win.session.sample_rate == 22050


# ------------------------------------------------------------------------------------------------
# playback: the fake backend records what the mixer produced
# ------------------------------------------------------------------------------------------------
def add_track(w, audio, name, kind="stem"):
    t = Track(name=name, audio=np.asarray(audio, np.float32), kind=kind, query=name if kind == "stem" else None)
    t.ensure_peaks()
    w.session.insert(len(w.session.tracks), t)
    return t


def test_solo_mute_gain_decide_what_the_playback_mixes(qtbot, win, song):
    path, x = song
    mix = open_song(qtbot, win, path)
    rng = np.random.default_rng(0)
    stem = add_track(win, 0.1 * rng.standard_normal(x.shape), "bass")
    be = win.transport.backend
    assert win.transport.play() and win.transport.playing and be.started == [(SR, 2)]
    blk = be.pump(1000)
    np.testing.assert_allclose(blk.T, x[:, :1000] + stem.audio[:, :1000], atol=1e-6)

    win.track_edits.set_solo(stem.uid, True)  # solo: only the stem
    blk = be.pump(1000)
    np.testing.assert_allclose(blk.T, stem.audio[:, 1000:2000], atol=1e-6)
    assert win.timeline.rows[mix.uid].lane.dim and not win.timeline.rows[stem.uid].lane.dim

    win.track_edits.set_solo(stem.uid, False)
    win.track_edits.set_mute(stem.uid, True)  # mute: only the mix
    win.track_edits.set_gain(mix.uid, -6.0)
    blk = be.pump(1000)
    np.testing.assert_allclose(blk.T, x[:, 2000:3000] * 10 ** (-6 / 20), atol=1e-6)

    win.track_edits.set_mute(mix.uid, True)  # everything muted: silence
    assert not be.pump(500).any()
    win.transport.tick()
    assert win.state.playhead == 3500  # the playhead follows the mixer
    win.transport.seek(100)
    win.track_edits.set_mute(mix.uid, False)
    np.testing.assert_allclose(be.pump(10).T, x[:, 100:110] * 10 ** (-6 / 20), atol=1e-6)
    win.transport.stop()
    assert not win.transport.playing and not be.running and be.pump(10) is None


def test_mono_track_plays_on_both_channels_and_playback_stops_at_the_end(qtbot, win, tmp_path):
    p = tmp_path / "mono.wav"
    x = music_like(3000, SR, 1, seed=1)
    sf.write(str(p), x.T, SR, subtype="FLOAT")
    open_song(qtbot, win, p)
    win.transport.play()
    blk = win.transport.backend.pump(4096)
    np.testing.assert_allclose(blk[:3000, 0], x[0], atol=1e-6)
    np.testing.assert_allclose(blk[:3000, 1], x[0], atol=1e-6)
    assert not blk[3000:].any()
    win.transport.tick()
    assert not win.transport.playing and win.state.playhead == 3000


def test_play_selection_and_clocked_fake_backend(qtbot, sep, song):
    be = FakeBackend(blocksize=512, clock_ms=5)
    w = make_window(qtbot, sep, backend=be)
    path, x = song
    open_song(qtbot, w, path)
    w.state.set_selection(1000, 4000)
    assert w.transport.play()
    qtbot.waitUntil(lambda: not w.transport.playing, timeout=WAIT)  # stops by itself at the selection's end
    np.testing.assert_allclose(be.mixed()[:, :3000], x[:, 1000:4000], atol=1e-6)
    assert w.state.playhead == 4000
    w.shutdown()


def test_space_plays_and_stops_but_types_in_the_query_field(qtbot, win, song):
    mix = open_song(qtbot, win, song[0])
    activate(qtbot, win)
    lane = win.timeline.rows[mix.uid].lane
    win.panel.query.setFocus()
    qtbot.mouseClick(lane, Qt.MouseButton.LeftButton, pos=QPoint(5, 10))  # clicking the timeline takes focus
    assert lane.hasFocus()
    qtbot.keyClick(lane, Qt.Key.Key_Space)
    assert win.transport.playing
    qtbot.keyClick(lane, Qt.Key.Key_Space)
    assert not win.transport.playing
    qtbot.keyClicks(lane, "d")  # typing on the timeline goes to the query field
    assert win.panel.query.hasFocus() and win.panel.query.text() == "d"
    qtbot.keyClicks(win.panel.query, "rums and bass")
    assert win.panel.query.text() == "drums and bass" and not win.transport.playing
    qtbot.keyClick(win.panel.query, Qt.Key.Key_Escape)  # Escape leaves the field: Space plays again
    assert not win.panel.query.hasFocus()
    qtbot.keyClick(win, Qt.Key.Key_Space)
    assert win.transport.playing


def test_no_audio_device_disables_playback_with_a_message(qtbot, sep, song):
    from gui.playback import NO_DEVICE_MESSAGE, SoundDeviceBackend

    real = SoundDeviceBackend()
    if real.available:
        pytest.skip("this machine has an audio output device")
    assert real.message == NO_DEVICE_MESSAGE
    w = make_window(qtbot, sep, backend=real)
    open_song(qtbot, w, song[0])
    assert not w.host_actions.play.isEnabled()
    assert "no audio device" in w.play_label.text()
    assert w.transport.play() is False and not w.transport.playing
    assert w.prompter.infos == [NO_DEVICE_MESSAGE]
    assert w.transport.play() is False and len(w.prompter.infos) == 1  # told once, then only the status bar
    (stem,) = run_query(qtbot, w, "drums", keyboard=False)  # everything else works
    assert stem.audio.shape == song[1].shape
    w.shutdown()


# ------------------------------------------------------------------------------------------------
# effects
# ------------------------------------------------------------------------------------------------
def test_effects_chain_is_cached_and_applied_on_playback_and_export(qtbot, win, song, tmp_path):
    from plugin import Chain
    import pedalboard

    path, x = song
    mix = open_song(qtbot, win, path)
    effects = [{"type": "Gain", "params": {"gain_db": -6.0}},
               {"type": "HighpassFilter", "params": {"cutoff_frequency_hz": 200.0}},
               {"type": "Compressor", "params": {"threshold_db": -20.0, "ratio": 4.0, "attack_ms": 2.0,
                                                 "release_ms": 80.0}}]
    assert win.track_edits.set_track_effects(mix.uid, effects) is not None
    wait_idle(qtbot, win)
    ref = Chain([pedalboard.Gain(gain_db=-6.0), pedalboard.HighpassFilter(cutoff_frequency_hz=200.0),
                 pedalboard.Compressor(threshold_db=-20.0, ratio=4.0, attack_ms=2.0, release_ms=80.0)])(x, SR)
    assert mix.processed is not None and mix.processed_key == mix.effects_key
    np.testing.assert_allclose(mix.processed, ref, atol=1e-5)
    assert "fx:" in win.timeline.rows[mix.uid].header.info.text()
    win.transport.play()
    np.testing.assert_allclose(win.transport.backend.pump(2048).T, ref[:, :2048], atol=1e-5)
    win.transport.stop()
    cached = mix.processed
    win.track_edits.set_gain(mix.uid, -3.0)  # the fader does not re-render the chain
    assert mix.processed is cached
    with qtbot.waitSignal(win.exported, timeout=WAIT) as blk:
        win.exporting.export([mix], tmp_path / "out", "wav", "32f")
    y, _ = sf.read(blk.args[0][0], always_2d=True, dtype="float32")
    np.testing.assert_allclose(y.T, ref * 10 ** (-3 / 20), atol=1e-5)
    win.track_edits.set_track_effects(mix.uid, [])  # chain removed: dry audio again
    assert mix.playable() is mix.audio


def test_effects_dialog_edits_the_chain(qtbot):
    from gui.panels import EffectsDialog

    d = EffectsDialog("bass", [{"type": "Gain", "params": {"gain_db": 3.0}}])
    qtbot.addWidget(d)
    i = d.add("PeakFilter")
    d.set_param(i, "gain_db", 99.0)  # clamped to the parameter's range
    d.add("Compressor")
    d.move(2, -1)
    d.list.item(0).setCheckState(Qt.CheckState.Unchecked)  # bypass the gain
    fx = d.effects()
    assert [e["type"] for e in fx] == ["Gain", "Compressor", "PeakFilter"]
    assert fx[0].get("bypass") and fx[2]["params"]["gain_db"] == 24.0
    d.remove(0)
    assert [e["type"] for e in d.effects()] == ["Compressor", "PeakFilter"]


# ------------------------------------------------------------------------------------------------
# undo
# ------------------------------------------------------------------------------------------------
def test_undo_redo_of_add_delete_rename(qtbot, win, song):
    path, x = song
    mix = open_song(qtbot, win, path)
    stem, res = run_query(qtbot, win, "bass", residual=True, keyboard=False)
    assert win.undo.count() == 1
    assert win.track_edits.rename_track(stem.uid, "Low end")
    assert stem.name == "Low end" and win.timeline.rows[stem.uid].header.name.text() == "Low end"
    win.undo.undo()
    assert stem.name == "bass"
    win.undo.redo()
    assert stem.name == "Low end"
    win.track_edits.delete_track(stem.uid)
    assert win.session.find(stem.uid) is None and stem.uid not in win.timeline.rows
    activate(qtbot, win)
    qtbot.keyClick(win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # Ctrl+Z: the delete
    assert [t.uid for t in win.session.tracks] == [mix.uid, stem.uid, res.uid]  # back where it was
    assert win.session.find(stem.uid).audio is stem.audio
    win.undo.undo()  # the rename
    win.undo.undo()  # the separation: both tracks go
    assert [t.uid for t in win.session.tracks] == [mix.uid]
    win.undo.redo()
    assert [t.name for t in win.session.tracks] == [mix.name, "bass", "bass (residual)"]
    assert not win.track_edits.rename_track(stem.uid, "   ")  # an empty name is refused


# ------------------------------------------------------------------------------------------------
# sessions
# ------------------------------------------------------------------------------------------------
def test_save_reload_gives_the_same_session(qtbot, sep, win, song, tmp_path):
    path, x = song
    mix = open_song(qtbot, win, path)
    stem, res = run_query(qtbot, win, "bass guitar", residual=True, keyboard=False)
    win.track_edits.rename_track(res.uid, "Band without bass")
    win.track_edits.set_gain(stem.uid, 4.5)
    win.track_edits.set_solo(stem.uid, True)
    win.track_edits.set_mute(res.uid, True)
    win.track_edits.set_color(mix.uid, "#123456")
    assert win.track_edits.set_track_effects(stem.uid,
                                             [{"type": "LowpassFilter", "params": {"cutoff_frequency_hz": 500.0}}])
    wait_idle(qtbot, win)
    folder = tmp_path / "sessions" / "take 1"
    win.prompter.answers["save_folder"] = str(folder)
    activate(qtbot, win)
    with qtbot.waitSignal(win.saved, timeout=WAIT):
        qtbot.keyClick(win, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)  # Ctrl+S -> save as
    assert not win.session.dirty and win.location.session_dir == folder
    doc = json.loads((folder / "session.json").read_text())
    assert doc["format"] == "sepboard-session" and doc["format_version"] == P.FORMAT_VERSION
    assert all(not Path(t["file"]).is_absolute() and (folder / t["file"]).is_file() for t in doc["tracks"])
    assert not (folder / ".autosave.json").exists()

    w2 = make_window(qtbot, sep)
    with qtbot.waitSignal(w2.sessionLoaded, timeout=WAIT):
        w2.documents.open_path(folder)
    a, b = win.session.tracks, w2.session.tracks
    assert [t.name for t in b] == [t.name for t in a]
    for ta, tb in zip(a, b):
        for k in ("uid", "kind", "query", "color", "gain_db", "mute", "solo", "effects", "region"):
            assert getattr(ta, k) == getattr(tb, k), k
        np.testing.assert_array_equal(ta.audio, tb.audio)  # 32-bit float WAV: lossless
    assert w2.session.sample_rate == SR and w2.session.song == "My Song"
    assert w2.panel.query.history[0] == "bass guitar"
    qtbot.waitUntil(lambda: w2.session.tracks[1].processed is not None, timeout=WAIT)  # chain re-rendered
    assert not w2.session.dirty and w2.undo.count() == 0

    # a second save rewrites only what changed, and deleted tracks' audio goes away
    w2.track_edits.delete_track(w2.session.tracks[2].uid)
    before = {p.name: p.stat().st_mtime_ns for p in (folder / "audio").glob("*.wav")}
    assert w2.saving.save(background=False)
    after = {p.name: p.stat().st_mtime_ns for p in (folder / "audio").glob("*.wav")}
    assert len(after) == 2 and all(before[k] == v for k, v in after.items())
    w2.shutdown()


def test_moved_session_folder_still_opens(qtbot, win, sep, song, tmp_path):
    open_song(qtbot, win, song[0])
    run_query(qtbot, win, "drums", keyboard=False)
    assert win.saving.save_as(tmp_path / "a", background=False)
    (tmp_path / "a").rename(tmp_path / "b")
    st, folder = P.load_session(tmp_path / "b")
    assert [t.name for t in st.tracks] == [t.name for t in win.session.tracks]


@pytest.mark.parametrize("content, words", [
    ("{ this is not json", ["corrupt", "left untouched"]),
    (json.dumps({"format": "sepboard-session", "format_version": 99, "sample_rate": 44100, "tracks": []}),
     ["newer SepBoard", "format 99", "left untouched"]),
    (json.dumps({"hello": 1}), ["not a SepBoard session"]),
])
def test_unreadable_session_gives_one_clear_message_and_is_never_overwritten(qtbot, win, song, tmp_path, content,
                                                                              words):
    folder = tmp_path / "bad"
    folder.mkdir()
    f = folder / "session.json"
    f.write_text(content)
    before = f.read_bytes()
    assert win.documents.open_path(folder) is not None
    wait_idle(qtbot, win)
    assert len(win.prompter.errors) == 1
    msg = win.prompter.errors[0]
    assert str(f) in msg and all(w in msg for w in words), msg
    assert "Traceback" not in msg
    assert win.location.session_dir is None and win.session.empty
    # with a song open, saving into that folder is refused too
    open_song(qtbot, win, song[0])
    assert win.saving.save_as(folder, background=False) is False
    assert "will not overwrite" in win.prompter.errors[-1]
    assert f.read_bytes() == before and not (folder / "audio").exists()


def test_session_with_missing_audio_reports_the_file(qtbot, win, song, tmp_path):
    open_song(qtbot, win, song[0])
    assert win.saving.save_as(tmp_path / "s", background=False)
    wav = next((tmp_path / "s" / "audio").glob("*.wav"))
    wav.unlink()
    with pytest.raises(P.SessionError, match="missing"):
        P.load_session(tmp_path / "s")


def test_autosave_and_recovery_after_a_crash(qtbot, sep, win, song, tmp_path):
    open_song(qtbot, win, song[0])
    folder = tmp_path / "s"
    assert win.saving.save_as(folder, background=False)
    saved = (folder / "session.json").read_bytes()
    (stem,) = run_query(qtbot, win, "vocals", keyboard=False)
    win.track_edits.rename_track(stem.uid, "lead vocal")
    assert win.session.dirty
    assert win.saving.autosave_now(wait=True) == folder / ".autosave.json"
    assert (folder / "session.json").read_bytes() == saved  # autosave never touches the session file
    # "crash": the window goes away without saving; a new one opens the folder and recovers
    w2 = make_window(qtbot, sep, answers={"ask": True})
    with qtbot.waitSignal(w2.sessionLoaded, timeout=WAIT):
        w2.documents.open_path(folder)
    assert "Recover" in w2.prompter.messages[0][1]
    assert [t.name for t in w2.session.tracks][1:] == ["lead vocal"] and w2.session.dirty
    np.testing.assert_array_equal(w2.session.tracks[1].audio, stem.audio)
    assert w2.saving.save(background=False)  # saving the recovered session retires the autosave
    assert not (folder / ".autosave.json").exists()
    assert [t["name"] for t in json.loads((folder / "session.json").read_text())["tracks"]][1:] == ["lead vocal"]
    w2.shutdown()


def test_declining_recovery_keeps_the_autosave_aside(qtbot, sep, win, song, tmp_path):
    open_song(qtbot, win, song[0])
    folder = tmp_path / "s"
    assert win.saving.save_as(folder, background=False)
    win.track_edits.rename_track(win.session.tracks[0].uid, "renamed")
    win.saving.autosave_now(wait=True)
    w2 = make_window(qtbot, sep, answers={"ask": False})
    with qtbot.waitSignal(w2.sessionLoaded, timeout=WAIT):
        w2.documents.open_path(folder)
    assert w2.session.tracks[0].name == "My Song" and not w2.session.dirty
    assert not (folder / ".autosave.json").exists() and (folder / ".autosave-discarded.json").exists()
    w2.shutdown()


def test_untitled_session_is_recovered_at_start_up(qtbot, sep, win, song, recovery_dir):
    open_song(qtbot, win, song[0])
    (stem,) = run_query(qtbot, win, "drums", keyboard=False)
    path = win.saving.autosave_now(wait=True)
    assert path is not None and path.parent.parent == recovery_dir
    w2 = make_window(qtbot, sep, answers={"ask": True})
    with qtbot.waitSignal(w2.sessionLoaded, timeout=WAIT):
        assert w2.documents.offer_untitled_recovery()
    assert [t.name for t in w2.session.tracks] == ["My Song", "drums"] and w2.session.dirty
    assert w2.location.session_dir is None
    w2.prompter.answers["ask_save"] = "discard"
    w2.close()  # discarding the recovered changes removes the recovery folder
    assert not path.parent.exists()


def test_autosave_timer_writes_when_dirty(qtbot, sep, song, tmp_path):
    w = MainWindow(separator=sep, backend=FakeBackend(), prompter=AutoPrompter(), autosave_seconds=0.05)
    qtbot.addWidget(w)
    open_song(qtbot, w, song[0])
    assert w.saving.save_as(tmp_path / "s", background=False)
    w.track_edits.rename_track(w.session.tracks[0].uid, "x")
    qtbot.waitUntil(lambda: (tmp_path / "s" / ".autosave.json").exists(), timeout=WAIT)
    assert json.loads((tmp_path / "s" / ".autosave.json").read_text())["tracks"][0]["name"] == "x"
    w.shutdown()


# ------------------------------------------------------------------------------------------------
# export
# ------------------------------------------------------------------------------------------------
def test_export_uses_the_batch_renderers_names(qtbot, win, sep, song, tmp_path):
    from plugin.render import render

    path, x = song
    open_song(qtbot, win, path)
    stem, res = run_query(qtbot, win, "Bass Guitar!", residual=True, keyboard=False)
    batch = tmp_path / "batch"
    render([path], ["Bass Guitar!"], batch, residual=True, separator=sep)
    expected = sorted(p.relative_to(batch) for p in batch.rglob("*.wav"))
    assert expected == [Path("My Song/bass-guitar-residual.wav"), Path("My Song/bass-guitar.wav")]
    out = tmp_path / "host"
    with qtbot.waitSignal(win.exported, timeout=WAIT) as blk:
        win.exporting.export([stem, res], out, "wav", "24")
    assert sorted(Path(p).relative_to(out) for p in blk.args[0]) == expected
    assert Path(blk.args[0][0]) == stem_path(out, path, "Bass Guitar!", "wav")
    a, _ = sf.read(str(out / expected[1]), always_2d=True)
    b, _ = sf.read(str(batch / expected[1]), always_2d=True)
    np.testing.assert_allclose(a, b, atol=2e-4)  # same separation, same file
    # FLAC, a renamed track keeps its new name, existing files are only replaced when confirmed
    win.track_edits.rename_track(res.uid, "Band")
    win.prompter.answers["ask"] = False
    assert win.exporting.export([stem], out, "wav") is None  # refused to overwrite
    with qtbot.waitSignal(win.exported, timeout=WAIT) as blk:
        win.exporting.export([stem, res], out, "flac", "16")
    assert sorted(Path(p).name for p in blk.args[0]) == ["band.flac", "bass-guitar.flac"]
    assert win.exporting.export([stem], out, "flac", "32f") is None and "32-bit float" in win.prompter.errors[-1]
    # a fader boost that drives a 16-bit export past full scale is reported, not clipped silently
    infos = len(win.prompter.infos)
    peak = float(np.abs(res.audio).max())
    res.gain_db = 20 * np.log10(2.0 / peak)  # residual now peaks at +6 dBFS
    win.prompter.answers["ask"] = True
    with qtbot.waitSignal(win.exported, timeout=WAIT):
        win.exporting.export([stem, res], out, "wav", "16")
    assert len(win.prompter.infos) == infos + 1
    assert "band.wav:" in win.prompter.infos[-1] and "clipped at full scale (peak +6.0 dBFS)" in win.prompter.infos[-1]
    assert "bass-guitar.wav" not in win.prompter.infos[-1]


# ------------------------------------------------------------------------------------------------
# bad inputs: one clear message, nothing lost
# ------------------------------------------------------------------------------------------------
def test_bad_audio_files_give_one_message_and_lose_nothing(qtbot, win, song, tmp_path, monkeypatch):
    path, x = song
    mix = open_song(qtbot, win, path)
    (stem,) = run_query(qtbot, win, "bass", keyboard=False)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage garbage garbage")
    empty = tmp_path / "empty.flac"
    empty.write_bytes(b"")
    many = tmp_path / "many.wav"
    sf.write(str(many), np.zeros((100, 12), np.float32), SR)
    longf = tmp_path / "long.wav"
    sf.write(str(longf), np.zeros((3 * SR, 1), np.float32), SR)
    slow = tmp_path / "500hz.wav"
    sf.write(str(slow), np.zeros((100, 1), np.float32), 500)
    cases = [(tmp_path / "missing.wav", "not found"), (corrupt, "corrupt"), (empty, "empty"),
             (many, "12 channels"), (longf, "long"), (slow, "outside 1000..768000 Hz"), (tmp_path, "folder")]
    monkeypatch.setattr(audio_files, "MAX_SECONDS", 2.0)
    for bad, words in cases:
        n = len(win.prompter.errors)
        assert win.documents.add_audio(bad) is not None
        wait_idle(qtbot, win)
        assert len(win.prompter.errors) == n + 1, bad
        assert words in win.prompter.errors[-1] and "Traceback" not in win.prompter.errors[-1]
        assert [t.uid for t in win.session.tracks] == [mix.uid, stem.uid]
    # opening a bad file as a new session keeps the current one too
    assert win.documents.open_path(corrupt) is not None
    wait_idle(qtbot, win)
    assert [t.uid for t in win.session.tracks] == [mix.uid, stem.uid]


def test_odd_rate_and_channel_count_open_and_separate(qtbot, win, tmp_path):
    p = tmp_path / "odd.wav"
    x = music_like(11025, 11025, 3, seed=4)  # 1 s, 3 channels at 11.025 kHz
    sf.write(str(p), x.T, 11025, subtype="FLOAT")
    open_song(qtbot, win, p)
    assert win.session.sample_rate == 11025 and win.session.tracks[0].peaks.channels == 1  # folded overview
    (stem,) = run_query(qtbot, win, "organ", keyboard=False)
    assert stem.audio.shape == x.shape
    win.transport.play()
    assert win.transport.backend.started[-1] == (11025, 2) and win.transport.backend.pump(64).shape == (64, 2)


def test_editing_keys_in_the_query_field_do_not_touch_tracks(qtbot, win, song):
    mix = open_song(qtbot, win, song[0])
    activate(qtbot, win)
    win.track_edits.set_current(mix.uid)
    q = win.panel.query
    q.setFocus()
    qtbot.keyClicks(q, "bass")
    for key in (Qt.Key.Key_Home, Qt.Key.Key_Delete, Qt.Key.Key_End, Qt.Key.Key_Space):
        qtbot.keyClick(q, key)
    assert q.text() == "ass " and win.session.find(mix.uid) is not None and not win.transport.playing
    assert win.state.playhead == 0


def test_dropped_file_with_another_rate_is_resampled_into_the_session(qtbot, win, song, tmp_path):
    path, x = song
    open_song(qtbot, win, path)
    other = tmp_path / "other.flac"
    sf.write(str(other), music_like(48000, 48000, 1).T, 48000)
    from PyQt6.QtCore import QMimeData, QPointF, QUrl
    from PyQt6.QtGui import QDragEnterEvent, QDropEvent

    md = QMimeData()
    md.setUrls([QUrl.fromLocalFile(str(other))])
    args = (Qt.DropAction.CopyAction, md, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    enter = QDragEnterEvent(QPoint(20, 20), *args)
    win.dragEnterEvent(enter)
    assert enter.isAccepted()
    with qtbot.waitSignal(win.session.tracksChanged, timeout=WAIT):
        win.dropEvent(QDropEvent(QPointF(20, 20), *args))  # dragged in from a file manager
    qtbot.waitUntil(lambda: len(win.session.tracks) == 2, timeout=WAIT)
    t = win.session.tracks[1]
    assert t.kind == "audio" and t.channels == 1 and abs(t.length - SR) <= 2
    assert "resampled" in win.statusBar().currentMessage()
    assert win.prompter.infos and "48000" in win.prompter.infos[-1]
    win.undo.undo()  # a dropped file is an undoable add
    assert len(win.session.tracks) == 1


# ------------------------------------------------------------------------------------------------
# timeline
# ------------------------------------------------------------------------------------------------
def test_timeline_zoom_scroll_seek_and_select_with_the_mouse(qtbot, win, song):
    path, x = song
    mix = open_song(qtbot, win, path)
    win.show()
    qtbot.waitExposed(win)
    st = win.state
    assert st.fitted and st.start == 0 and abs(st.spp * st.width - N) < st.spp + 1
    lane = win.timeline.rows[mix.uid].lane
    qtbot.waitUntil(lambda: lane.paint_count > 0, timeout=WAIT)
    assert win.timeline.lanes_painted() and win.first_paint_at is not None
    assert lane.width() == st.width == win.timeline.ruler.width()  # lanes and ruler share one time axis
    qtbot.mouseClick(lane, Qt.MouseButton.LeftButton, pos=QPoint(lane.width() // 2, 20))
    assert abs(st.playhead - N // 2) <= st.spp + 1  # click = seek
    qtbot.mousePress(lane, Qt.MouseButton.LeftButton, pos=QPoint(100, 20))
    qtbot.mouseMove(lane, QPoint(200, 30))
    qtbot.mouseRelease(lane, Qt.MouseButton.LeftButton, pos=QPoint(200, 30))
    a, b = st.selection
    assert abs(a - st.sample_at(100)) <= 1 and abs(b - st.sample_at(200)) <= 1
    spp = st.spp
    st.zoom(4.0, anchor_x=100)
    assert st.spp == pytest.approx(spp / 4) and abs(st.sample_at(100) - a) <= spp
    assert not st.fitted and win.timeline.hbar.maximum() > 0
    win.timeline.hbar.setValue(win.timeline.hbar.maximum())
    assert st.visible_range[1] == pytest.approx(N, abs=st.spp + 1)
    lane.repaint()
    renders = lane.render_count
    st.set_playhead(st.playhead + 10)  # moving the playhead reuses the cached waveform
    lane.repaint()
    assert lane.render_count == renders
    st.fit()
    assert st.start == 0 and st.fitted
