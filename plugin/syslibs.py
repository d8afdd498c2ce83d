"""System shared libraries, found without loading them: ELF dependencies, the linker's search path, install hints.

Used before a native library is loaded (the Qt platform plugin, ONNX Runtime's CUDA provider) to say
which system libraries are missing and how to install them, instead of letting the loader abort.

* :func:`read_elf` reads an ELF file's ``DT_NEEDED`` names and its ``RPATH``/``RUNPATH``
  (``$ORIGIN`` expanded) from the program headers, in pure Python.
* :func:`system_finder` returns a ``find(soname) -> path or None`` callable that looks where
  glibc's dynamic linker looks: ``LD_LIBRARY_PATH``, the folders of ``/etc/ld.so.conf`` and the
  default ones. Every function that searches takes such a callable, so tests can fake a machine.
* :func:`dependency_closure` walks the dependencies of some ELF files and reports which sonames
  cannot be found and who needs them.
* :func:`install_hint` turns missing sonames into one install command for this system's package
  manager (Debian/Ubuntu package names from :data:`DEBIAN_PACKAGES`; other systems get the sonames).

Nothing here loads a library, so a missing one can never crash the caller.
"""
from __future__ import annotations

import glob
import os
import shutil
import struct
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

Finder = Callable[[str], Optional[str]]
"""``find(soname)`` -> the path the dynamic linker would load, or None when it would fail."""

# Debian/Ubuntu packages that ship each library (the same names on Debian 11-13 and Ubuntu 20.04-24.04;
# apt resolves Ubuntu 24.04's t64 renames, e.g. libglib2.0-0 -> libglib2.0-0t64).
DEBIAN_PACKAGES: Dict[str, str] = {
    "libxcb.so.1": "libxcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-glx.so.0": "libxcb-glx0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libXau.so.6": "libxau6",
    "libXdmcp.so.6": "libxdmcp6",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libGLX.so.0": "libglx0",
    "libOpenGL.so.0": "libopengl0",
    "libGLdispatch.so.0": "libglvnd0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libz.so.1": "zlib1g",
    "libzstd.so.1": "libzstd1",
    "libpng16.so.16": "libpng16-16",
    "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-egl.so.1": "libwayland-egl1",
    "libportaudio.so.2": "libportaudio2",
    "libatomic.so.1": "libatomic1",
    "libsndfile.so.1": "libsndfile1",
    "libstdc++.so.6": "libstdc++6",
    "libgcc_s.so.1": "libgcc-s1",
}

# package managers we can name a command for, in the order we look for them
_PACKAGE_MANAGERS = ("apt-get", "dnf", "yum", "zypper", "pacman", "apk")

_PT_LOAD, _PT_DYNAMIC = 1, 2
_DT_NULL, _DT_NEEDED, _DT_STRTAB, _DT_STRSZ, _DT_RPATH, _DT_RUNPATH = 0, 1, 5, 10, 15, 29


@dataclass(frozen=True)
class ElfInfo:
    """What the dynamic linker needs to know about one ELF file."""

    path: str
    elf_class: int  # 1 = 32-bit, 2 = 64-bit
    machine: int  # e_machine (62 = x86-64, 183 = aarch64, ...)
    needed: Tuple[str, ...]
    search_path: Tuple[str, ...]  # RPATH or RUNPATH folders, $ORIGIN expanded


def elf_header(path) -> Optional[Tuple[int, int]]:
    """(elf_class, machine) of an ELF file, or None when ``path`` is not a readable ELF file."""
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError:
        return None
    if len(head) < 20 or head[:4] != b"\x7fELF" or head[4] not in (1, 2) or head[5] not in (1, 2):
        return None
    end = "<" if head[5] == 1 else ">"
    return head[4], struct.unpack(end + "H", head[18:20])[0]


def read_elf(path) -> Optional[ElfInfo]:
    """The ``DT_NEEDED`` entries and library search path of an ELF file; None if it is not one."""
    try:
        with open(path, "rb") as f:
            return _read_elf(f, str(path))
    except (OSError, struct.error, ValueError):
        return None


def _read_elf(f, path: str) -> Optional[ElfInfo]:
    ident = f.read(64)
    if len(ident) < 52 or ident[:4] != b"\x7fELF":
        return None
    cls, data = ident[4], ident[5]
    end = "<" if data == 1 else ">"
    machine = struct.unpack(end + "H", ident[18:20])[0]
    if cls == 2:
        phoff, = struct.unpack(end + "Q", ident[32:40])
        phentsize, phnum = struct.unpack(end + "HH", ident[54:58])
        ph_fmt, dyn_fmt = end + "IIQQQQQQ", end + "qQ"
    elif cls == 1:
        phoff, = struct.unpack(end + "I", ident[28:32])
        phentsize, phnum = struct.unpack(end + "HH", ident[42:46])
        ph_fmt, dyn_fmt = end + "IIIIIIII", end + "iI"
    else:
        return None
    loads: List[Tuple[int, int, int]] = []  # (vaddr, offset, filesz)
    dynamic: Optional[Tuple[int, int]] = None  # (offset, filesz)
    f.seek(phoff)
    table = f.read(phentsize * phnum)
    for i in range(phnum):
        raw = struct.unpack_from(ph_fmt, table, i * phentsize)
        if cls == 2:
            p_type, _flags, offset, vaddr, _paddr, filesz = raw[:6]
        else:
            p_type, offset, vaddr, _paddr, filesz = raw[:5]
        if p_type == _PT_LOAD:
            loads.append((vaddr, offset, filesz))
        elif p_type == _PT_DYNAMIC:
            dynamic = (offset, filesz)
    if dynamic is None:  # a static executable: needs nothing
        return ElfInfo(path, cls, machine, (), ())
    f.seek(dynamic[0])
    blob = f.read(dynamic[1])
    step = struct.calcsize(dyn_fmt)
    entries = [struct.unpack_from(dyn_fmt, blob, o) for o in range(0, len(blob) - step + 1, step)]
    tags: Dict[int, List[int]] = {}
    for tag, val in entries:
        if tag == _DT_NULL:
            break
        tags.setdefault(tag, []).append(val)
    if _DT_STRTAB not in tags:
        return ElfInfo(path, cls, machine, (), ())
    strtab_vaddr = tags[_DT_STRTAB][0]
    strtab_off = next((off + strtab_vaddr - va for va, off, size in loads if va <= strtab_vaddr < va + size), None)
    if strtab_off is None:
        return None
    f.seek(strtab_off)
    strtab = f.read(tags.get(_DT_STRSZ, [1 << 20])[0])

    def string(at: int) -> str:
        stop = strtab.find(b"\0", at)
        return strtab[at:stop if stop >= 0 else None].decode("utf-8", "replace")

    needed = tuple(string(v) for v in tags.get(_DT_NEEDED, []))
    origin = os.path.dirname(os.path.abspath(path))
    raw_path = [string(v) for v in tags.get(_DT_RUNPATH, tags.get(_DT_RPATH, []))]
    search = tuple(os.path.normpath(d.replace("${ORIGIN}", origin).replace("$ORIGIN", origin))
                   for p in raw_path for d in p.split(":") if d)
    return ElfInfo(path, cls, machine, needed, search)


def _ld_so_conf(path: str = "/etc/ld.so.conf", seen: Optional[Set[str]] = None) -> List[str]:
    """Folders listed in ld.so.conf and the files it includes."""
    seen = set() if seen is None else seen
    if path in seen:
        return []
    seen.add(path)
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    out: List[str] = []
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("include"):
            pattern = line.split(None, 1)[1] if len(line.split(None, 1)) > 1 else ""
            if not os.path.isabs(pattern):
                pattern = os.path.join(os.path.dirname(path), pattern)
            for inc in sorted(glob.glob(pattern)):
                out += _ld_so_conf(inc, seen)
        elif line.startswith("hwcap"):
            continue
        else:
            out.append(line)
    return out


def linker_dirs(env: Optional[Mapping[str, str]] = None) -> List[str]:
    """Where glibc's dynamic linker looks for a library that no RUNPATH names, in its order."""
    env = os.environ if env is None else env
    dirs = [d for d in env.get("LD_LIBRARY_PATH", "").split(":") if d]
    dirs += _ld_so_conf()
    arch = sysconfig.get_config_var("MULTIARCH") or ""
    if arch:
        dirs += [f"/lib/{arch}", f"/usr/lib/{arch}"]
    dirs += ["/lib64", "/usr/lib64", "/lib", "/usr/lib"]
    seen: Set[str] = set()
    return [d for d in dirs if not (d in seen or seen.add(d))]


def system_finder(dirs: Optional[Sequence[str]] = None, elf_class: Optional[int] = None,
                  machine: Optional[int] = None) -> Finder:
    """A ``find(soname)`` over ``dirs`` (default :func:`linker_dirs`) that only accepts ELF files of
    this interpreter's class and machine, as the dynamic linker does (32-bit copies are skipped)."""
    folders = list(linker_dirs() if dirs is None else dirs)
    if elf_class is None or machine is None:
        me = elf_header(sys.executable) or elf_header(os.path.realpath(sys.executable)) or (None, None)
        elf_class = me[0] if elf_class is None else elf_class
        machine = me[1] if machine is None else machine
    cache: Dict[str, Optional[str]] = {}

    def find(soname: str) -> Optional[str]:
        if soname not in cache:
            cache[soname] = None
            for d in folders:
                p = os.path.join(d, soname)
                h = elf_header(p) if os.path.isfile(p) else None
                if h and (elf_class is None or h[0] == elf_class) and (machine is None or h[1] == machine):
                    cache[soname] = p
                    break
        return cache[soname]

    return find


@dataclass
class Closure:
    """Result of :func:`dependency_closure`: every library found, and every one missing with who needs it."""

    found: Dict[str, str] = field(default_factory=dict)  # soname -> path
    missing: Dict[str, List[str]] = field(default_factory=dict)  # soname -> names of the files that need it

    @property
    def ok(self) -> bool:
        return not self.missing


def dependency_closure(roots: Iterable, find: Finder, extra: Optional[Mapping[str, str]] = None,
                       read: Callable[[str], Optional[ElfInfo]] = read_elf) -> Closure:
    """All libraries that loading ``roots`` (ELF files) pulls in, looked up like the dynamic linker does:
    first in the needing file's RPATH/RUNPATH folders (how bundled libraries such as PyQt6's Qt are
    found), then with ``find``. ``extra`` maps sonames that are opened at run time (``dlopen``) to who
    opens them; they are checked (and walked) too. Libraries that are found are walked in turn."""
    result = Closure()
    queue: List[str] = []
    for r in roots:
        queue.append(str(r))
    for soname, who in (extra or {}).items():
        path = find(soname)
        if path is None:
            result.missing.setdefault(soname, []).append(who)
        else:
            result.found[soname] = path
            queue.append(path)
    walked: Set[str] = set()
    while queue:
        path = queue.pop()
        if path in walked:
            continue
        walked.add(path)
        info = read(path)
        if info is None:
            continue
        for soname in info.needed:
            if soname in result.found:
                continue
            hit = next((os.path.join(d, soname) for d in info.search_path
                        if os.path.isfile(os.path.join(d, soname))), None) or find(soname)
            if hit is None:
                who = os.path.basename(path)
                if who not in result.missing.setdefault(soname, []):
                    result.missing[soname].append(who)
            else:
                result.found[soname] = hit
                queue.append(hit)
    return result


def package_manager(which: Optional[Callable[[str], Optional[str]]] = None) -> Optional[str]:
    """The first package manager found by ``which`` (default: on PATH): apt-get, dnf, yum, zypper, pacman, apk."""
    which = shutil.which if which is None else which
    return next((pm for pm in _PACKAGE_MANAGERS if which(pm)), None)


def debian_packages(sonames: Iterable[str]) -> Tuple[List[str], List[str]]:
    """(Debian packages for the sonames we know, sonames we do not know), each sorted and unique."""
    names = sorted(set(sonames))
    pkgs = sorted({DEBIAN_PACKAGES[s] for s in names if s in DEBIAN_PACKAGES})
    unknown = [s for s in names if s not in DEBIAN_PACKAGES]
    return pkgs, unknown


def install_hint(sonames: Iterable[str], which: Optional[Callable[[str], Optional[str]]] = None) -> str:
    """One short instruction that installs the libraries ``sonames`` on this system (``which`` finds
    its package manager; default: on PATH)."""
    names = sorted(set(sonames))
    pm = package_manager(which)
    if pm == "apt-get":
        pkgs, unknown = debian_packages(names)
        hint = f"sudo apt-get install {' '.join(pkgs)}" if pkgs else ""
        if unknown:
            more = f"the packages that provide {', '.join(unknown)} (apt-file search NAME finds them)"
            hint = f"{hint} and {more}" if hint else more
        return hint
    listed = ", ".join(names)
    if pm in ("dnf", "yum", "zypper"):
        return f"install the packages that provide {listed} ({pm} provides '*/{names[0]}' finds them)"
    if pm == "pacman":
        return f"install the packages that provide {listed} (pacman -F {names[0]} finds them)"
    if pm == "apk":
        return f"install the packages that provide {listed} (apk search so:{names[0]})"
    return f"install the system packages that provide {listed}"
