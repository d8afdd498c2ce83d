"""``python -m plugin.host``: argument checks without Qt, the missing-model message, a real window under Xvfb."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import soundfile as sf

from conftest import ROOT, music_like
from plugin import host


def test_importing_the_host_module_does_not_import_qt():
    code = ("import sys, plugin.host; bad = [m for m in sys.modules if m.startswith(('PyQt6', 'gui', 'torch'))]; "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("make, words", [
    (lambda d: [str(d / "missing.wav")], "no such file or folder"),
    (lambda d: [str(d)], "not a SepBoard session"),
    (lambda d: [str(d / "notes.txt")], "neither an audio file"),
    (lambda d: [str(d / "empty.wav")], "empty (0 bytes)"),
    (lambda d: ["--bundle", str(d / "nope")], "model bundle not found"),
    (lambda d: ["--bundle", str(d)], "not a model bundle"),
    (lambda d: ["--autosave", "nan"], "--autosave"),
    (lambda d: ["--window-size", "big"], "--window-size"),
])
def test_bad_arguments_give_one_clear_line_and_no_traceback(tmp_path, capsys, make, words, monkeypatch):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "empty.wav").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "gui.app", None)  # Qt must not even be reached
    assert host.main(make(tmp_path)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and words in err and "\n" not in err and "Traceback" not in err


def test_cli_error_through_the_real_entry_point(tmp_path):
    r = subprocess.run([sys.executable, "-m", "plugin.host", str(tmp_path / "nope.flac")], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == f"error: no such file or folder: {tmp_path / 'nope.flac'}"


def test_missing_default_model_is_explained_and_separation_is_off(qtbot, tmp_path, monkeypatch):
    pytest.importorskip("pytestqt")
    import plugin.bundle

    from gui.dialogs import AutoPrompter
    from gui.playback import FakeBackend
    from gui.window import MainWindow

    monkeypatch.setattr(plugin.bundle, "DEFAULT_BUNDLE", tmp_path / "bundles" / "default")
    monkeypatch.setenv("SEPBOARD_RECOVERY_DIR", str(tmp_path / "rec"))
    w = MainWindow(backend=FakeBackend(), prompter=AutoPrompter(), autosave_seconds=0)
    qtbot.addWidget(w)
    assert w.model.separator is None and "embedded default model is not installed" in w.model.error
    assert "--bundle" in w.panel.banner.text() and not w.panel.banner.isHidden()
    assert w.model_label.text() == "Model: none"
    assert not w.panel.button.isEnabled()
    assert not w.prompter.errors  # a banner, not a dialog at start-up
    p = tmp_path / "a.wav"
    sf.write(str(p), music_like(8000, 32000).T, 32000)
    with qtbot.waitSignal(w.sessionLoaded, timeout=20000):
        w.documents.open_path(p)
    assert w.separation.separate("bass") is None and "--bundle" in w.statusBar().currentMessage()
    w.shutdown()


def test_broken_bundle_shows_one_error(qtbot, tmp_path, monkeypatch):
    from gui.dialogs import AutoPrompter
    from gui.playback import FakeBackend
    from gui.window import MainWindow

    b = tmp_path / "b"
    b.mkdir()
    (b / "manifest.json").write_text("{ broken")
    monkeypatch.setenv("SEPBOARD_RECOVERY_DIR", str(tmp_path / "rec"))
    w = MainWindow(bundle=b, backend=FakeBackend(), prompter=AutoPrompter(), autosave_seconds=0)
    qtbot.addWidget(w)
    with qtbot.waitSignal(w.modelReady, timeout=20000):
        pass
    assert w.model.separator is None and len(w.prompter.errors) == 1 and "not valid JSON" in w.prompter.errors[0]
    w.shutdown()


def test_bundle_option_loads_the_model_and_shows_the_provider(qtbot, tmp_path, text_bundle, monkeypatch):
    from gui.dialogs import AutoPrompter
    from gui.playback import FakeBackend
    from gui.window import MainWindow

    monkeypatch.setenv("SEPBOARD_RECOVERY_DIR", str(tmp_path / "rec"))
    w = MainWindow(bundle=text_bundle, backend=FakeBackend(), prompter=AutoPrompter(), autosave_seconds=0)
    qtbot.addWidget(w)
    with qtbot.waitSignal(w.modelReady, timeout=20000) as blk:
        pass
    sep = blk.args[0]
    assert sep is not None and w.model.separator is sep
    assert w.model_label.text() == f"Model: tiny-text-test · {sep.bundle.device_label}"
    assert sep.provider in w.model_label.toolTip() and str(text_bundle) in w.model_label.toolTip()
    w.shutdown()


@pytest.mark.xvfb
def test_real_window_under_xvfb_saves_a_screenshot(tmp_path, text_bundle):
    """The real host process on an X server (xcb platform), opening a demo session and saving a picture."""
    if not shutil.which("xvfb-run") or not shutil.which("Xvfb"):
        pytest.skip("Xvfb is not installed")
    from gui import demo

    session = demo.build(tmp_path / "demo", seconds=6.0)
    shot = tmp_path / "host.png"
    env = dict(os.environ, QT_QPA_PLATFORM="xcb", SEPBOARD_RECOVERY_DIR=str(tmp_path / "rec"))
    cmd = ["xvfb-run", "-a", "-s", "-screen 0 1400x900x24", sys.executable, "-m", "plugin.host", str(session),
           "--bundle", str(text_bundle), "--screenshot", str(shot)]
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "platform xcb" in out and shot.is_file()

    from PyQt6.QtGui import QColor, QImage

    img = QImage(str(shot))
    assert (img.width(), img.height()) == (1280, 760)
    colours = {img.pixelColor(x, y).name() for x in range(0, img.width(), 7) for y in range(0, img.height(), 7)}
    assert len(colours) > 30  # a drawn window, not a blank one
    from gui.tracks import PALETTE

    # the three tracks' waveform colours are on screen
    assert {QColor(c).name() for c in PALETTE[:3]} <= colours


def test_no_display_is_one_clear_message(tmp_path):
    p = tmp_path / "a.wav"
    sf.write(str(p), music_like(800, 32000).T, 32000)
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    r = subprocess.run([sys.executable, "-m", "plugin.host", str(p)], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.startswith("error: no display") and "Traceback" not in r.stderr
