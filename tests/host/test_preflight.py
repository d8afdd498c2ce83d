"""The host's pre-flight (plugin.syslibs, plugin.qtplatform): missing Qt platform libraries are named
before Qt can abort, on fake machines that do not depend on what this one has installed, and on this
machine with a library really hidden (a private mount namespace)."""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import soundfile as sf

from conftest import ROOT, music_like
from plugin import host, qtplatform, syslibs

APT = {"apt-get": "/usr/bin/apt-get"}.get
NO_PM = (lambda name: None)
REACHABLE = (lambda family, address: None)


def qt_real() -> Path:
    qt = qtplatform.qt_dir()
    if qt is None:
        pytest.skip("PyQt6 is not installed")
    return qt


# ----- ELF reading and library lookup --------------------------------------------------------------
def test_read_elf_agrees_with_readelf():
    if not shutil.which("readelf"):
        pytest.skip("readelf (binutils) is not installed")
    plugin = qt_real() / "plugins" / "platforms" / "libqxcb.so"
    info = syslibs.read_elf(plugin)
    out = subprocess.run(["readelf", "-d", str(plugin)], capture_output=True, text=True, check=True).stdout
    assert list(info.needed) == re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", out)
    runpath = re.findall(r"\((?:RUNPATH|RPATH)\)\s+Library r(?:un)?path: \[(.+?)\]", out)
    assert info.search_path == tuple(os.path.normpath(d.replace("$ORIGIN", str(plugin.parent)))
                                     for d in runpath[0].split(":"))
    assert "libxcb-cursor.so.0" in info.needed and info.elf_class == 2


def test_read_elf_refuses_what_is_not_elf(tmp_path):
    (tmp_path / "fake.so").write_text("not a library")
    (tmp_path / "short.so").write_bytes(b"\x7fELF")
    assert syslibs.read_elf(tmp_path / "fake.so") is None
    assert syslibs.read_elf(tmp_path / "short.so") is None
    assert syslibs.read_elf(tmp_path / "absent.so") is None


def test_system_finder_skips_non_elf_and_wrong_class(tmp_path):
    good = syslibs.system_finder()("libc.so.6")
    assert good and syslibs.elf_header(good)
    (tmp_path / "libfake.so.1").write_text("text")
    assert syslibs.system_finder([str(tmp_path)])("libfake.so.1") is None
    shutil.copy(good, tmp_path / "libc.so.6")
    me = syslibs.elf_header(good)
    assert syslibs.system_finder([str(tmp_path)])("libc.so.6") == str(tmp_path / "libc.so.6")
    other = 1 if me[0] == 2 else 2
    assert syslibs.system_finder([str(tmp_path)], elf_class=other)("libc.so.6") is None


def test_closure_finds_bundled_qt_through_runpath_and_reports_each_missing_system_library():
    """A machine with no system libraries at all: Qt's own (bundled, RUNPATH) are still found and
    every other library is reported with the files that need it."""
    qt = qt_real()
    c = syslibs.dependency_closure([qt / "plugins" / "platforms" / "libqxcb.so"], lambda name: None)
    assert not any(name.startswith("libQt6") for name in c.missing)
    assert "libQt6XcbQpa.so.6" in c.found
    for soname in ("libxcb-cursor.so.0", "libxkbcommon-x11.so.0", "libxcb.so.1", "libGL.so.1"):
        assert soname in c.missing
    assert "libqxcb.so" in c.missing["libxcb-cursor.so.0"]
    assert "libQt6Gui.so.6" in c.missing["libEGL.so.1"]


def test_closure_hides_one_library_on_this_machine():
    qt = qt_real()
    real = syslibs.system_finder()
    hidden = {"libxcb-cursor.so.0", "libEGL.so.1"}
    c = syslibs.dependency_closure([qt / "plugins" / "platforms" / "libqxcb.so"],
                                   lambda n: None if n in hidden else real(n))
    if any(real(n) is None for n in c.missing if n not in hidden):
        pytest.skip("this machine lacks other Qt libraries too")
    assert set(c.missing) == hidden


def test_install_hint_names_packages_or_libraries():
    assert syslibs.install_hint(["libxcb-cursor.so.0", "libEGL.so.1", "libxcb-cursor.so.0"], APT) == \
        "sudo apt-get install libegl1 libxcb-cursor0"
    hint = syslibs.install_hint(["libxcb-cursor.so.0", "libfoo.so.3"], APT)
    assert hint.startswith("sudo apt-get install libxcb-cursor0") and "libfoo.so.3" in hint
    dnf = syslibs.install_hint(["libxcb-cursor.so.0"], {"dnf": "/usr/bin/dnf"}.get)
    assert "libxcb-cursor.so.0" in dnf and "dnf" in dnf and "apt" not in dnf
    assert syslibs.install_hint(["libxcb-cursor.so.0"], NO_PM) == \
        "install the system packages that provide libxcb-cursor.so.0"


def test_setup_sh_installs_every_package_the_preflight_can_ask_for_by_default():
    """README's first command (plain setup.sh) must make the host work: the packages for every system
    library that the xcb plugin and the host's PyQt6 modules load are in its default list."""
    qt = qt_real()
    files = [qt / "plugins" / "platforms" / "libqxcb.so"] + [p for m in qtplatform.HOST_MODULES
                                                             for p in sorted(qt.parent.glob(f"{m}.*so"))[:1]]
    c = syslibs.dependency_closure(files, lambda name: None, extra=qtplatform.RUNTIME_LIBS["xcb"])
    libc = {"libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "ld-linux-x86-64.so.2",
            "ld-linux-aarch64.so.1", "libstdc++.so.6", "libgcc_s.so.1",  # glibc & the C++ runtime
            "libz.so.1", "libzstd.so.1"}  # in every Debian (apt and dpkg need them)
    needed = set(c.missing) - libc
    pkgs, unknown = syslibs.debian_packages(needed)
    assert not unknown, f"add these to syslibs.DEBIAN_PACKAGES: {unknown}"
    out = subprocess.run([str(ROOT / "scripts" / "setup.sh"), "--dry-run"], capture_output=True, text=True,
                         check=True).stdout
    default = set(re.search(r"^system packages: (.*)$", out, re.M).group(1).split())
    assert set(pkgs) - default == set()
    assert {"libxcb-cursor0", "libegl1", "libxkbcommon0", "libportaudio2", "libatomic1"} <= default
    assert not {"xvfb", "fluidsynth"} & default  # test tools stay in --test


# ----- which platform, and why not ------------------------------------------------------------------
@pytest.mark.parametrize("env, order", [
    ({}, ["xcb"]),
    ({"DISPLAY": ":0"}, ["xcb"]),
    ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, ["wayland", "xcb"]),
    ({"XDG_SESSION_TYPE": "wayland"}, ["wayland", "xcb"]),
    ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen:fontengine=freetype"}, ["offscreen"]),
    ({"QT_QPA_PLATFORM": "wayland;xcb"}, ["wayland", "xcb"]),
])
def test_platform_order_follows_qt6(env, order):
    assert qtplatform.candidates(env) == order


def fake_qt(tmp_path) -> Path:
    """A PyQt6 tree whose files are placeholders; fake_read says what each one needs."""
    qt = tmp_path / "PyQt6" / "Qt6"
    for name in ("xcb", "wayland", "offscreen"):
        p = qt / "plugins" / "platforms" / f"libq{name}.so"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"")
    for m in qtplatform.HOST_MODULES:
        (qt.parent / f"{m}.abi3.so").write_bytes(b"")
    return qt


NEEDS = {
    "libqxcb.so": ("libxcb.so.1", "libxkbcommon-x11.so.0", "libGL.so.1"),  # no libxcb-cursor: Qt dlopens it
    "libqwayland.so": ("libwayland-client.so.0", "libwayland-cursor.so.0"),
    "libqoffscreen.so": ("libGL.so.1",),
    "QtGui.abi3.so": ("libEGL.so.1",),
}


def fake_read(path):
    name = os.path.basename(str(path))
    return syslibs.ElfInfo(str(path), 2, 62, NEEDS.get(name, ()), ())


def machine(*missing):
    return lambda soname: None if soname in missing else f"/usr/lib/{soname}"


def test_missing_runtime_library_is_named_with_the_apt_command(tmp_path):
    """The issue's machine: everything but libxcb-cursor, which the plugin does not even link."""
    d = qtplatform.diagnose({"DISPLAY": ":0"}, qt=fake_qt(tmp_path), find=machine("libxcb-cursor.so.0"),
                            connect=REACHABLE, read=fake_read, which=APT)
    assert not d.ok and d.platform is None
    assert d.missing == {"libxcb-cursor.so.0": [qtplatform.RUNTIME_LIBS["xcb"]["libxcb-cursor.so.0"]]}
    msg = d.message()
    assert "\n" not in msg and "libxcb-cursor.so.0" in msg and msg.endswith("sudo apt-get install libxcb-cursor0")


def test_linked_libraries_of_plugin_and_host_modules_are_checked(tmp_path):
    d = qtplatform.diagnose({"DISPLAY": ":0"}, qt=fake_qt(tmp_path), find=machine("libxkbcommon-x11.so.0", "libEGL.so.1"),
                            connect=REACHABLE, read=fake_read, which=APT)
    assert set(d.missing) == {"libxkbcommon-x11.so.0", "libEGL.so.1"}
    assert "sudo apt-get install libegl1 libxkbcommon-x11-0" in d.message()


def test_complete_machine_passes(tmp_path):
    d = qtplatform.diagnose({"DISPLAY": ":0"}, qt=fake_qt(tmp_path), find=machine(), connect=REACHABLE, read=fake_read)
    assert d.ok and d.platform == "xcb" and d.message() is None


def test_wayland_session_works_without_the_xcb_libraries(tmp_path):
    env = {"WAYLAND_DISPLAY": "wayland-0", "XDG_RUNTIME_DIR": "/run/user/1000", "DISPLAY": ":0"}
    d = qtplatform.diagnose(env, qt=fake_qt(tmp_path), find=machine("libxcb-cursor.so.0"), connect=REACHABLE,
                            read=fake_read)
    assert d.ok and d.platform == "wayland"


def test_wayland_session_without_wayland_libraries_falls_back_to_xcb(tmp_path):
    env = {"WAYLAND_DISPLAY": "wayland-0", "XDG_RUNTIME_DIR": "/run/user/1000", "DISPLAY": ":0"}
    d = qtplatform.diagnose(env, qt=fake_qt(tmp_path), find=machine("libwayland-cursor.so.0"), connect=REACHABLE,
                            read=fake_read)
    assert d.ok and d.platform == "xcb"
    d = qtplatform.diagnose(env, qt=fake_qt(tmp_path), find=machine("libwayland-cursor.so.0", "libxcb.so.1"),
                            connect=REACHABLE, read=fake_read, which=APT)
    assert not d.ok and "wayland" in d.message() and "libxcb1" in d.message()


def test_unreachable_display_and_unknown_platform_are_explained(tmp_path):
    qt = fake_qt(tmp_path)
    d = qtplatform.diagnose({"DISPLAY": ":7"}, qt=qt, find=machine(), read=fake_read,
                            connect=lambda family, address: f"nothing accepts connections at {address}")
    assert not d.ok and "DISPLAY=:7" in d.message() and "/tmp/.X11-unix/X7" in d.message()
    d = qtplatform.diagnose({"QT_QPA_PLATFORM": "cocoa"}, qt=qt, find=machine(), read=fake_read, connect=REACHABLE)
    assert not d.ok and "'cocoa'" in d.message() and "xcb" in d.message()
    d = qtplatform.diagnose({"QT_QPA_PLATFORM": "offscreen"}, qt=qt, find=machine(), read=fake_read)
    assert d.ok and d.platform == "offscreen"  # no display needed


def test_display_names_and_sockets(tmp_path):
    assert qtplatform.display_socket("xcb", {"DISPLAY": ":1"})[1] == "/tmp/.X11-unix/X1"
    assert qtplatform.display_socket("xcb", {"DISPLAY": "unix:2.0"})[1] == "/tmp/.X11-unix/X2"
    assert qtplatform.display_socket("xcb", {"DISPLAY": "localhost:10.0"})[1] == ("localhost", 6010)
    assert qtplatform.display_socket("xcb", {"DISPLAY": "nonsense"})[0] == "bad"
    assert qtplatform.display_socket("xcb", {}) is None
    assert qtplatform.display_socket("wayland", {"XDG_RUNTIME_DIR": "/run/u"})[1] == "/run/u/wayland-0"
    path = str(tmp_path / "sock")
    assert "No such file" in qtplatform.socket_connect(socket.AF_UNIX, path)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen(1)
        assert qtplatform.socket_connect(socket.AF_UNIX, path) is None


# ----- the host --------------------------------------------------------------------------------------
def test_host_stops_before_qt_with_one_line(tmp_path, capsys, monkeypatch):
    song = tmp_path / "a.wav"
    sf.write(str(song), music_like(800, 32000).T, 32000)
    real = syslibs.system_finder()
    monkeypatch.setattr(syslibs, "system_finder", lambda *a, **k: (lambda n: None if n == "libxcb-cursor.so.0"
                                                                   else real(n)))
    monkeypatch.setattr(qtplatform, "socket_connect", REACHABLE)
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: "/usr/bin/apt-get" if name == "apt-get" else None)
    monkeypatch.setitem(sys.modules, "gui.app", None)  # Qt must not even be reached
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("XDG_SESSION_TYPE", raising=False)
    qt_real()
    assert host.main([str(song)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: the desktop host cannot open a window: ")
    assert "libxcb-cursor.so.0" in err and err.strip().endswith("install: sudo apt-get install libxcb-cursor0")


def test_host_stops_on_an_unreachable_x_display(tmp_path):
    song = tmp_path / "a.wav"
    sf.write(str(song), music_like(800, 32000).T, 32000)
    qt_real()
    env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY", "XDG_SESSION_TYPE")}
    env.update(QT_QPA_PLATFORM="xcb", DISPLAY=":59999")
    r = subprocess.run([sys.executable, "-m", "plugin.host", str(song)], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith("error: the desktop host cannot open a window: ") and "DISPLAY=:59999" in r.stderr


def test_quit_after_must_be_positive(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "gui.app", None)
    assert host.main(["--quit-after", "0"]) == 2
    assert "--quit-after" in capsys.readouterr().err
    monkeypatch.setenv("SEPBOARD_QUIT_AFTER", "soon")
    assert host.main([]) == 2
    assert "SEPBOARD_QUIT_AFTER" in capsys.readouterr().err


HIDE = r"""
set -e
lib=$(readlink -f "$1"); dir=$(dirname "$lib"); shift
mkdir -p "$WORK/up" "$WORK/work"
for f in "$dir"/libxcb-cursor.so*; do mknod "$WORK/up/$(basename "$f")" c 0 0; done
mount -t overlay overlay -o "lowerdir=$dir,upperdir=$WORK/up,workdir=$WORK/work" "$dir"
set +e
exec "$@"
"""


def _hidden_run(tmp_path, cmd):
    """Run ``cmd`` under xvfb-run where libxcb-cursor does not exist (overlay whiteouts in a private
    mount namespace: nothing changes for any other process)."""
    lib = syslibs.system_finder()("libxcb-cursor.so.0")
    if lib is None:
        pytest.skip("libxcb-cursor is not installed here, nothing to hide")
    script = tmp_path / "hide.sh"
    script.write_text(HIDE)
    env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY", "XDG_SESSION_TYPE", "DISPLAY")}
    work = tempfile.mkdtemp(dir=tmp_path)  # overlay folders, new for each run
    env.update(QT_QPA_PLATFORM="xcb", WORK=work, SEPBOARD_RECOVERY_DIR=str(tmp_path / "rec"))
    return subprocess.run(["unshare", "--mount", "bash", str(script), lib, "xvfb-run", "-a", *cmd], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=180)


@pytest.mark.xvfb
def test_fresh_machine_without_libxcb_cursor_gets_our_message_not_a_core_dump(tmp_path):
    """This machine with libxcb-cursor really gone: Qt alone aborts (the issue), the host says why."""
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("xvfb-run"):
        pytest.skip("needs root, unshare and xvfb-run to hide a system library in a private mount namespace")
    probe = _hidden_run(tmp_path, [sys.executable, "-c", "from PyQt6.QtWidgets import QApplication; QApplication([])"])
    if "mount" in probe.stderr and probe.returncode not in (134, -6):
        pytest.skip(f"overlay mounts are not allowed here: {probe.stderr.strip()[-300:]}")
    assert probe.returncode in (134, -6), probe.stdout + probe.stderr  # Qt's abort, as in the issue
    assert "xcb-cursor" in probe.stderr
    song = ROOT / "plugin" / "demo" / "demo_song.flac"
    r = _hidden_run(tmp_path, [sys.executable, "-m", "plugin.host", str(song), "--quit-after", "3"])
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.strip().splitlines() == [
        "error: the desktop host cannot open a window: Qt's xcb platform needs libxcb-cursor.so.0, which is not "
        f"installed; install: {syslibs.install_hint(['libxcb-cursor.so.0'])}"]
