"""Before Qt is imported: which Qt platform the host will use, and why it could not open a window.

Qt aborts the process (a core dump, exit 134) when its platform plugin cannot load: a missing
system library such as ``libxcb-cursor.so.0``, or no display to connect to. :func:`diagnose` finds
that out beforehand, in pure Python and without loading anything:

* the platforms Qt will try, in Qt 6's order (``QT_QPA_PLATFORM`` if set, else Wayland when
  ``WAYLAND_DISPLAY`` is set or ``XDG_SESSION_TYPE=wayland``, then xcb), trying the next when one fails;
* for each, the libraries its plugin (``PyQt6/Qt6/plugins/platforms/libq<name>.so``) and the host's
  PyQt6 modules load, plus those Qt opens at run time (:data:`RUNTIME_LIBS`), looked up with a
  ``find(soname)`` callable (:func:`plugin.syslibs.system_finder` unless given);
* for xcb and Wayland, whether the display server's socket accepts a connection.

:func:`startup_problem` gives the host its one-line message (with the install command), or None.
Non-Linux systems are not checked (their platform plugins need no extra system libraries).
"""
from __future__ import annotations

import importlib.util
import os
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence

from . import syslibs

# Libraries a platform plugin opens at run time, beyond its ELF dependencies. Qt >= 6.5 refuses to
# load the xcb plugin without libxcb-cursor ("From 6.5.0, xcb-cursor0 or libxcb-cursor0 is needed").
RUNTIME_LIBS: Dict[str, Dict[str, str]] = {
    "xcb": {"libxcb-cursor.so.0": "Qt >= 6.5 (opened at run time)"},
}
# the PyQt6 extension modules the host imports (their Qt libraries load before any platform plugin)
HOST_MODULES = ("QtCore", "QtGui", "QtWidgets")
# platforms that need a display server and the environment variable that names it
_DISPLAY_VARS = {"xcb": "DISPLAY", "wayland": "WAYLAND_DISPLAY"}

@dataclass
class PlatformCheck:
    """One platform plugin Qt may try."""

    name: str  # as Qt names it: "xcb", "wayland", "offscreen", ...
    plugin: Optional[Path] = None
    missing: Dict[str, List[str]] = field(default_factory=dict)  # soname -> who needs it
    problem: Optional[str] = None  # None: Qt can start this platform

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass
class Diagnosis:
    """What :func:`diagnose` found: the platforms in Qt's order and the first one that can start."""

    checks: List[PlatformCheck]
    qt_dir: Optional[Path]

    @property
    def platform(self) -> Optional[str]:
        """The platform Qt will end up with, or None when none can start."""
        return next((c.name for c in self.checks if c.ok), None)

    @property
    def ok(self) -> bool:
        return self.platform is not None

    @property
    def missing(self) -> Dict[str, List[str]]:
        out: Dict[str, List[str]] = {}
        for c in self.checks:
            for k, v in c.missing.items():
                out.setdefault(k, []).extend(w for w in v if w not in out.get(k, []))
        return out

    def message(self) -> Optional[str]:
        """One line naming what is wrong with every platform Qt would try, or None if one works."""
        if self.ok:
            return None
        parts = [c.problem for c in self.checks] or ["there is no Qt platform to try"]
        return "the desktop host cannot open a window: " + "; ".join(parts)


def qt_dir() -> Optional[Path]:
    """PyQt6's bundled Qt folder (``.../PyQt6/Qt6``), found without importing PyQt6."""
    try:
        spec = importlib.util.find_spec("PyQt6")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(list(spec.submodule_search_locations)[0]) / "Qt6"
    return d if d.is_dir() else None


def candidates(env: Mapping[str, str]) -> List[str]:
    """The platform plugins Qt 6 tries, in order (it moves on to the next when one fails to start)."""
    forced = env.get("QT_QPA_PLATFORM", "")
    if forced:
        names = [p.split(":", 1)[0].strip() for p in forced.split(";")]
        return [n for n in names if n]
    order: List[str] = []
    if env.get("WAYLAND_DISPLAY") is not None or env.get("XDG_SESSION_TYPE") == "wayland":
        order.append("wayland")
    order.append("xcb")  # Qt's default on Linux, also tried when DISPLAY is unset
    return order


def plugin_file(name: str, qt: Path, env: Mapping[str, str]) -> Optional[Path]:
    """The shared object Qt loads for platform ``name`` (wayland-egl & co. live in libqwayland.so)."""
    folders = [Path(d) for d in env.get("QT_QPA_PLATFORM_PLUGIN_PATH", "").split(":") if d]
    folders.append(qt / "plugins" / "platforms")
    stems = [f"libq{name}.so"] + (["libqwayland.so"] if name.startswith("wayland") else [])
    for folder in folders:
        for stem in stems:
            if (folder / stem).is_file():
                return folder / stem
    return None


def available(qt: Path) -> List[str]:
    folder = qt / "plugins" / "platforms"
    return sorted(p.name[4:-3] for p in folder.glob("libq*.so")) if folder.is_dir() else []


def display_socket(platform: str, env: Mapping[str, str]):
    """(address family, address, label) of the display server for ``platform``, or None if unset."""
    if platform == "xcb":
        disp = env.get("DISPLAY", "")
        if not disp:
            return None
        host, _, rest = disp.rpartition(":")
        number = rest.split(".", 1)[0]
        if not number.isdigit():
            return ("bad", disp, f"DISPLAY={disp}")
        if host in ("", "unix") or host.startswith("/"):
            return (socket.AF_UNIX, f"/tmp/.X11-unix/X{number}", f"DISPLAY={disp}")
        return (socket.AF_INET, (host, 6000 + int(number)), f"DISPLAY={disp}")
    if platform.startswith("wayland"):
        name = env.get("WAYLAND_DISPLAY") or "wayland-0"
        path = name if os.path.isabs(name) else os.path.join(env.get("XDG_RUNTIME_DIR", ""), name)
        return (socket.AF_UNIX, path, f"WAYLAND_DISPLAY={name}")
    return None


def socket_connect(family, address, timeout: float = 2.0) -> Optional[str]:
    """None if a server accepts a connection at ``address``, else why not (never raises)."""
    if family == "bad":
        return "it is not a valid X display name (expected e.g. :0)"
    tries = [address]
    if family == socket.AF_UNIX and sys.platform.startswith("linux"):
        tries.append("\0" + address)  # X servers also listen on the abstract socket of that name
    first = ""
    for a in tries:
        try:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.settimeout(timeout)
                s.connect(a)
            return None
        except OSError as exc:
            first = first or exc.strerror or str(exc)
    where = address if isinstance(address, str) else f"{address[0]}:{address[1]}"
    return f"nothing accepts connections at {where} ({first})"


def diagnose(env: Optional[Mapping[str, str]] = None, qt: Optional[Path] = None,
             find: Optional[syslibs.Finder] = None, connect: Optional[Callable] = None,
             read: Callable = syslibs.read_elf, which: Optional[Callable] = None,
             modules: Sequence[str] = HOST_MODULES) -> Diagnosis:
    """Check every platform Qt would try (see the module docstring). ``find`` answers where a system
    library is (None: missing), ``connect(family, address)`` whether a display server answers (None:
    it does), ``read`` reads an ELF file's dependencies and ``which`` finds the package manager for
    the install hint; all default to the real machine, and tests pass fakes."""
    env = os.environ if env is None else env
    qt = qt_dir() if qt is None else qt
    if qt is None:
        return Diagnosis([PlatformCheck("any", problem="PyQt6 is not installed (pip install PyQt6)")], None)
    find = syslibs.system_finder() if find is None else find
    connect = socket_connect if connect is None else connect
    pyqt = qt.parent
    module_files = [p for m in modules for p in sorted(pyqt.glob(f"{m}.*so"))[:1]]
    checks: List[PlatformCheck] = []
    for name in candidates(env):
        check = PlatformCheck(name, plugin_file(name, qt, env))
        checks.append(check)
        if check.plugin is None:
            check.problem = (f"PyQt6 has no Qt platform plugin {name!r} (QT_QPA_PLATFORM={env.get('QT_QPA_PLATFORM')}; "
                             f"it has {', '.join(available(qt)) or 'none'})")
            continue
        closure = syslibs.dependency_closure([check.plugin, *module_files], find, read=read,
                                             extra=RUNTIME_LIBS.get(name.split("-")[0], {}))
        check.missing = closure.missing
        if closure.missing:
            names = sorted(closure.missing)
            check.problem = (f"Qt's {name} platform needs {', '.join(names)}, which "
                             f"{'is' if len(names) == 1 else 'are'} not installed; install: {syslibs.install_hint(names, which)}")
            continue
        base = "wayland" if name.startswith("wayland") else name
        if base in _DISPLAY_VARS:
            sock = display_socket(base, env)
            if sock is None:
                check.problem = f"Qt's {name} platform needs {_DISPLAY_VARS[base]}, which is not set"
                continue
            why = connect(sock[0], sock[1])
            if why:
                check.problem = f"Qt's {name} platform cannot reach the display server of {sock[2]}: {why}"
    return Diagnosis(checks, qt)


def startup_problem(env: Optional[Mapping[str, str]] = None, **kw) -> Optional[str]:
    """The host's pre-flight: None when Qt can open a window, else one line saying why not and what
    to install or set. Only Linux and the BSDs are checked."""
    if not sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return None
    return diagnose(env, **kw).message()
