"""``python -m plugin.check``: each line on fake machines (no audio device, no PortAudio, a CUDA build
that cannot load, a Qt that aborts), and the real command's output and exit status."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from types import SimpleNamespace

import pytest

from conftest import ROOT
from plugin import check, syslibs


class PortAudioError(Exception):
    pass


class FakeSoundDevice:
    """sounddevice's API as check_audio uses it; ``devices`` are output devices (empty: none)."""

    def __init__(self, devices=()):
        self.devices = list(devices)

    def get_portaudio_version(self):
        return 1246720, "PortAudio V19.6.0-devel, revision 396fe4b"

    def query_hostapis(self, index=None):
        apis = [{"name": "ALSA"}, {"name": "OSS"}]
        return apis if index is None else apis[index]

    def query_devices(self, kind=None):
        if not self.devices:
            raise PortAudioError("Error querying device -1")
        return self.devices[0]


def test_no_audio_device_is_reported_not_raised():
    line = check.check_audio(FakeSoundDevice())
    assert line.ok is False and line.topic == "audio"
    assert "no audio output device" in line.text and "PortAudioError" in line.text
    assert "ALSA, OSS" in line.text and "V19.6.0-devel" in line.text and "revision" not in line.text


def test_an_audio_device_is_named():
    dev = {"name": "HDA Intel PCH: ALC892 Analog", "hostapi": 0, "max_output_channels": 2, "default_samplerate": 48000.0}
    line = check.check_audio(FakeSoundDevice([dev]))
    assert line.ok is True and "HDA Intel PCH: ALC892 Analog" in line.text and "ALSA" in line.text
    assert "48000 Hz" in line.text


def test_missing_portaudio_library_gets_an_install_hint(monkeypatch):
    def importer(name):
        raise OSError("PortAudio library not found")

    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: "/usr/bin/apt-get" if name == "apt-get" else None)
    line = check.check_audio(importer=importer)
    assert line.ok is False and "PortAudio is not installed" in line.text and "apt-get install libportaudio2" in line.text


def test_this_machines_audio_line_never_raises():
    line = check.check_audio()
    assert line.topic == "audio" and line.ok in (True, False) and line.text


def test_a_missing_library_of_the_audio_file_modules_is_named(monkeypatch):
    def importer(name):
        if name == "pedalboard":
            raise ImportError("libatomic.so.1: cannot open shared object file: No such file or directory")
        return SimpleNamespace(__version__="1.0")

    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: "/usr/bin/apt-get" if name == "apt-get" else None)
    line = check.check_files(importer)
    assert line.ok is False and "libatomic.so.1" in line.text and "sudo apt-get install libatomic1" in line.text
    assert check.check_files().ok  # this machine has them


# ----- CUDA ----------------------------------------------------------------------------------------------
CUDA_NEEDS = ("libcudart.so.12", "libcublasLt.so.12", "libcublas.so.12", "libcudnn.so.9", "libcufft.so.11")


@pytest.fixture
def fake_ort(tmp_path):
    (tmp_path / "capi").mkdir()
    (tmp_path / "capi" / check.CUDA_PROVIDER_LIB).write_bytes(b"")
    return tmp_path


def fake_read(path):
    if os.path.basename(str(path)) == check.CUDA_PROVIDER_LIB:
        return syslibs.ElfInfo(str(path), 2, 62, CUDA_NEEDS + ("libc.so.6",), ())
    return None


def test_cuda_names_the_missing_cudnn(fake_ort):
    find = lambda n: None if n == "libcudnn.so.9" else f"/usr/local/cuda/lib64/{n}"  # noqa: E731
    why = check.cuda_problem(fake_ort, find=find, read=fake_read)
    assert "libcudnn.so.9" in why and "libcudart" not in why and "is not found" in why


def test_cuda_names_a_missing_driver(fake_ort):
    find = lambda n: None if n == "libcuda.so.1" else f"/usr/lib/{n}"  # noqa: E731
    assert "NVIDIA driver" in check.cuda_problem(fake_ort, find=find, read=fake_read)
    assert check.cuda_problem(fake_ort, find=lambda n: f"/usr/lib/{n}", read=fake_read) is None


def test_cpu_only_onnxruntime_has_no_cuda_provider(tmp_path):
    assert "no CUDA provider" in check.cuda_problem(tmp_path, find=lambda n: None)


def test_runtime_line_explains_a_cpu_fallback(monkeypatch):
    import plugin.bundle

    monkeypatch.setattr(plugin.bundle, "choose_providers",
                        lambda requested=None: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(check, "cuda_problem", lambda ort_dir: "its CUDA provider needs libcudnn.so.9, which is not found")
    line = check.check_runtime(SimpleNamespace(provider="CPUExecutionProvider"))
    assert "runs on CPUExecutionProvider" in line.text
    assert "fell back to the CPU" in line.text and "libcudnn.so.9" in line.text


def test_runtime_line_on_this_machine_says_which_provider_runs():
    from plugin import Separator

    line = check.check_runtime(Separator.load())
    assert line.ok and "runs on " in line.text and "onnxruntime" in line.text


# ----- window ----------------------------------------------------------------------------------------------
def test_window_line_without_a_display():
    line = check.check_window({"PATH": os.environ.get("PATH", "")})
    assert line.ok is False and "no display" in line.text


def test_window_line_names_missing_libraries_without_starting_qt(monkeypatch):
    real = syslibs.system_finder()
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: "/usr/bin/apt-get" if name == "apt-get" else None)
    line = check.check_window({"DISPLAY": ":0"}, find=lambda n: None if n == "libxcb-cursor.so.0" else real(n),
                              connect=lambda family, address: None)
    assert line.ok is False and "libxcb-cursor.so.0" in line.text and "apt-get install libxcb-cursor0" in line.text


def test_a_qt_abort_in_the_window_probe_is_reported(tmp_path):
    """The pre-flight is told the display answers, but nothing listens there: Qt aborts in the child."""
    env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY", "XDG_SESSION_TYPE")}
    env.update(QT_QPA_PLATFORM="xcb", DISPLAY=":59998")
    line = check.check_window(env, connect=lambda family, address: None)
    assert line.ok is False and "Qt failed to open a test window" in line.text, line.text


@pytest.mark.xvfb
def test_window_probe_opens_a_window_on_xvfb():
    if not shutil.which("xvfb-run"):
        pytest.skip("Xvfb is not installed")
    code = "import sys; from plugin import check; l = check.check_window(); print(l.ok, l.text)"
    env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY", "XDG_SESSION_TYPE", "QT_QPA_PLATFORM")}
    r = subprocess.run(["xvfb-run", "-a", sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("True "), r.stdout + r.stderr
    assert "platform xcb" in r.stdout and "a test window opened" in r.stdout


# ----- the command ----------------------------------------------------------------------------------------
def test_command_reports_every_topic_and_exits_0_when_separation_runs():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    r = subprocess.run([sys.executable, "-m", "plugin.check"], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("SepBoard ") and "Python " in lines[0]
    topics = [ln.split()[0] for ln in lines[1:-1]]
    assert topics == ["model", "runtime", "separate", "files", "window", "audio", "ray"]
    for ln in lines[1:5]:
        assert ln.split()[1] == "ok", ln
    assert "sha256 verified" in lines[1] and "no display" in lines[5]
    assert lines[-1] == "separation can run: yes"


def test_command_with_a_broken_bundle_exits_1_without_traceback(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "manifest.json").write_text(json.dumps({"format_version": 1}))
    r = subprocess.run([sys.executable, "-m", "plugin.check", "--bundle", str(bad), "--no-window-probe"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "Traceback" not in r.stdout + r.stderr
    model = next(ln for ln in r.stdout.splitlines() if ln.split()[:1] == ["model"])
    assert model.split()[1] == "NO" and "manifest" in model
    assert r.stdout.splitlines()[-1] == "separation can run: no"


def test_command_on_a_tiny_bundle_without_text_encoder(tiny_bundle):
    path, _ = tiny_bundle
    r = subprocess.run([sys.executable, "-m", "plugin.check", "--bundle", str(path), "--no-window-probe"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "text queries no" in r.stdout and "an embedding query" in r.stdout
