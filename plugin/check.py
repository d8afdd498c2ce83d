"""``python -m plugin.check``: what this machine will use to run SepBoard and why, in a few lines.

For users and bug reports (paste its output). One line each for: the model bundle (name, files,
sha256 check), ONNX Runtime (package, the execution provider that actually runs and, when CUDA was
wanted but cannot load, the library that is missing), a short test separation, the audio file
libraries (pedalboard, soundfile, soxr), the Qt platform and whether a window opens (checked in a
child process, so a Qt abort cannot take this one down), the audio output device or why playback
is off, and Ray. The exit status says whether the main job can run, separation with audio files
in and out (:data:`CORE`): 0 yes, 1 no (2 for a bad argument). Window and audio problems are
reported but do not fail the check: the batch renderer and the API do not need them.

Every probe takes its environment as arguments (a fake ``sounddevice``, a fake library finder), so
tests can stand in for machines this one is not.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Sequence

import numpy as np

from . import __version__, qtplatform, syslibs
from .errors import SepBoardError

CUDA_PROVIDER_LIB = "libonnxruntime_providers_cuda.so"
CORE = ("model", "runtime", "separate", "files")  # the lines that must be ok for separation to run

# opens a real window in a child process and says how it went (a Qt abort only ends the child)
_WINDOW_PROBE = r"""
import sys
from PyQt6.QtCore import QElapsedTimer
from PyQt6.QtWidgets import QApplication, QWidget
app = QApplication(sys.argv[:1])
w = QWidget()
w.resize(240, 120)
w.show()
t = QElapsedTimer()
t.start()
while t.elapsed() < 3000 and not (w.windowHandle() and w.windowHandle().isExposed()):
    app.processEvents()
exposed = bool(w.windowHandle() and w.windowHandle().isExposed())
print("probe", app.platformName(), int(w.isVisible()), int(exposed), flush=True)
"""


@dataclass
class Line:
    """One finding: ``ok`` True (works), False (does not), None (information only)."""

    topic: str
    ok: Optional[bool]
    text: str

    def render(self) -> str:
        mark = {True: "ok", False: "NO", None: "--"}[self.ok]
        return f"  {self.topic:<9} {mark:<3} {self.text}"


def _dist_version(name: str) -> Optional[str]:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def system_line() -> str:
    """SepBoard, Python and the operating system, for the first line of a report."""
    try:
        osname = platform.freedesktop_os_release().get("PRETTY_NAME", "")
    except (OSError, AttributeError):
        osname = ""
    osname = osname or f"{platform.system()} {platform.release()}"
    return (f"SepBoard {__version__} ({Path(__file__).resolve().parent}) · Python {platform.python_version()} · "
            f"{osname} · {platform.machine()} · {os.cpu_count()} CPU threads")


# ----- ONNX Runtime ---------------------------------------------------------------------------------
def onnxruntime_packages() -> List[str]:
    """Installed distributions that provide the ``onnxruntime`` import folder, as 'name version'."""
    out = []
    for name in ("onnxruntime", "onnxruntime-gpu", "onnxruntime-directml", "onnxruntime-openvino"):
        v = _dist_version(name)
        if v:
            out.append(f"{name} {v}")
    return out


def cuda_problem(ort_dir: Path, find: Optional[syslibs.Finder] = None,
                 read: Callable = syslibs.read_elf) -> Optional[str]:
    """Why ONNX Runtime's CUDA provider in ``ort_dir`` cannot run, or None if its libraries are all
    there: the CUDA/cuDNN libraries its provider library needs that cannot be found, or a missing
    NVIDIA driver (``libcuda.so.1``). Nothing is loaded; ``find``/``read`` default to this machine."""
    find = syslibs.system_finder() if find is None else find
    lib = Path(ort_dir) / "capi" / CUDA_PROVIDER_LIB
    if not lib.is_file():
        return f"this onnxruntime has no CUDA provider ({lib.name} is not in {lib.parent})"
    closure = syslibs.dependency_closure([lib], find, read=read)
    if closure.missing:
        names = sorted(closure.missing)
        return (f"its CUDA provider needs {', '.join(names)}, which {'is' if len(names) == 1 else 'are'} not "
                "found (install the CUDA and cuDNN versions this onnxruntime-gpu was built for, or put their "
                "folders on LD_LIBRARY_PATH)")
    if find("libcuda.so.1") is None:
        return "libcuda.so.1 is not found: the NVIDIA driver is not installed"
    return None


def check_runtime(sep) -> Line:
    """The ONNX Runtime package and the execution provider the loaded separator really uses."""
    import onnxruntime as ort

    from .bundle import choose_providers

    pkgs = onnxruntime_packages()
    wanted = choose_providers()
    used = sep.provider
    text = (f"{', '.join(pkgs) or 'onnxruntime ' + ort.__version__}: runs on {used} "
            f"(available: {', '.join(ort.get_available_providers())})")
    if len(pkgs) > 1:
        text += f"; warning: {len(pkgs)} ONNX Runtime packages share one import folder, keep one (setup.sh does)"
    if wanted and wanted[0] == "CUDAExecutionProvider" and used != "CUDAExecutionProvider":
        ort_dir = Path(ort.__file__).resolve().parent
        why = cuda_problem(ort_dir) or "its libraries are all there, but no GPU is usable (see nvidia-smi)"
        text += f"; CUDA was wanted but ONNX Runtime fell back to the CPU: {why}"
    return Line("runtime", True, text)


def check_separation(sep) -> Line:
    """Separate half a second of noise, as the renderer would."""
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal((2, 22050))).astype(np.float32)
    t = time.perf_counter()
    if sep.has_text_encoder:
        stem = sep.separate(audio, 44100, "bass guitar")
    else:
        stem = sep.separate(audio, 44100, embedding=np.full(sep.condition_dim, sep.condition_dim ** -0.5))
    dt = time.perf_counter() - t
    if stem.shape != audio.shape or not np.all(np.isfinite(stem)):
        return Line("separate", False, f"the test separation returned shape {stem.shape} with non-finite values")
    what = "'bass guitar' from" if sep.has_text_encoder else "an embedding query from"
    return Line("separate", True, f"{what} 0.5 s of test audio in {dt:.2f} s")


def check_model(path: Optional[str]):
    """(model line, loaded Separator or None). Loading verifies every file's sha256."""
    from . import Separator
    from .bundle import DEFAULT_BUNDLE

    where = Path(path).expanduser() if path else DEFAULT_BUNDLE
    try:
        sep = Separator.load(str(where))
    except SepBoardError as exc:
        return Line("model", False, str(exc)), None
    m = sep.bundle.manifest
    weights = m.files.get(m.separator_file, "")[:12]
    steps = (m.raw.get("training") or {}).get("steps") if isinstance(m.raw.get("training"), dict) else None
    text = (f"{m.name}{f' (step {steps})' if steps else ''} at {where}: {len(m.files)} files, sha256 verified "
            f"({m.separator_file} {weights}); bundle format {m.format_version}, {m.sample_rate} Hz, "
            f"text queries {'yes' if sep.has_text_encoder else 'no (embeddings only)'}")
    return Line("model", True, text), sep


def check_files(importer: Callable = importlib.import_module) -> Line:
    """The libraries the renderer reads, resamples and writes audio with; a missing system library
    they link (pedalboard needs libatomic.so.1) is named with its install command."""
    versions = []
    for name in ("pedalboard", "soundfile", "soxr"):
        try:
            mod = importer(name)
        except (ImportError, OSError) as exc:
            m = re.search(r"(lib[\w.+-]*\.so[\w.]*): cannot open shared object file", str(exc))
            if m:
                return Line("files", False, f"{name} cannot load: {m.group(1)} is not installed; install: "
                                            f"{syslibs.install_hint([m.group(1)])}")
            return Line("files", False, f"{name} cannot be imported ({type(exc).__name__}: {exc}); "
                                        "re-run scripts/setup.sh")
        versions.append(f"{name} {getattr(mod, '__version__', '?')}")
    return Line("files", True, "audio files are read and written with " + ", ".join(versions))


# ----- window --------------------------------------------------------------------------------------
def check_window(env=None, probe: bool = True, timeout: float = 30.0, **diagnose_kw) -> Line:
    """Which Qt platform the host will use and whether a window opens there."""
    env = dict(os.environ if env is None else env)
    qt = _dist_version("PyQt6-Qt6") or _dist_version("PyQt6")
    if not sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return Line("window", None, f"Qt {qt}: not checked on {sys.platform}")
    if not (env.get("QT_QPA_PLATFORM") or env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")):
        return Line("window", False, "no display (DISPLAY and WAYLAND_DISPLAY are not set): the desktop host needs a "
                                     "desktop session, ssh -X or xvfb-run")
    d = qtplatform.diagnose(env, **diagnose_kw)
    if not d.ok:
        return Line("window", False, f"Qt {qt}: {d.message()}")
    name = d.platform
    where = {"xcb": f" on DISPLAY={env.get('DISPLAY', '')}",
             "wayland": f" on WAYLAND_DISPLAY={env.get('WAYLAND_DISPLAY', 'wayland-0')}"}.get(
        "wayland" if name.startswith("wayland") else name, "")
    head = f"Qt {qt}, platform {name}{where}: libraries present"
    if name in ("offscreen", "minimal"):
        return Line("window", None, f"{head}; the {name} platform draws off screen, nobody sees the window")
    if not probe:
        return Line("window", True, head)
    try:
        r = subprocess.run([sys.executable, "-c", _WINDOW_PROBE], env=env, capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return Line("window", False, f"{head}, but a test window did not open within {timeout:g} s")
    out = [ln for ln in r.stdout.splitlines() if ln.startswith("probe ")]
    if r.returncode != 0 or not out:
        last = (r.stderr.strip().splitlines() or ["no message"])[-1]
        return Line("window", False, f"{head}, but Qt failed to open a test window (exit {r.returncode}): {last}")
    _, used, visible, exposed = out[-1].split()
    if visible == "1":
        return Line("window", True, f"Qt {qt}, platform {used}{where}: a test window opened"
                                    f"{'' if exposed == '1' else ' (not yet exposed)'}")
    return Line("window", False, f"{head}, but the test window did not become visible")


# ----- audio ---------------------------------------------------------------------------------------
def check_audio(sd=None, importer: Callable = importlib.import_module) -> Line:
    """The output device playback would use, or why there is none. ``sd`` stands in for sounddevice,
    ``importer`` for the import that loads it (PortAudio itself)."""
    if sd is None:
        try:
            sd = importer("sounddevice")
        except OSError as exc:  # the PortAudio library itself is missing
            hint = syslibs.install_hint(["libportaudio.so.2"])
            return Line("audio", False, f"PortAudio is not installed ({exc}); playback is off. Install: {hint}")
        except ImportError as exc:
            return Line("audio", False, f"sounddevice is not installed ({exc}); playback is off")
    try:
        version = str(sd.get_portaudio_version()[1]).split(",")[0]
    except Exception:
        version = "PortAudio"
    try:
        dev = sd.query_devices(kind="output")
        api = sd.query_hostapis(dev["hostapi"])["name"]
        return Line("audio", True, f"output '{dev['name']}' ({api}, {dev['max_output_channels']} channels, "
                                   f"{dev['default_samplerate']:.0f} Hz; {version})")
    except Exception as exc:
        try:
            apis = ", ".join(a["name"] for a in sd.query_hostapis()) or "none"
        except Exception:
            apis = "unknown"
        return Line("audio", False, f"no audio output device ({type(exc).__name__}: {exc}; {version}, host APIs: "
                                    f"{apis}): the host's playback is off, everything else works")


def check_ray() -> Line:
    v = _dist_version("ray")
    if v is None:
        return Line("ray", None, "not installed (scripts/setup.sh --ray for catalog rendering)")
    where = os.environ.get("RAY_ADDRESS")
    return Line("ray", None, f"ray {v} installed (python -m plugin.render --ray{' ' + where if where else ''})")


# ----- command -------------------------------------------------------------------------------------
def run_checks(bundle: Optional[str] = None, window_probe: bool = True) -> List[Line]:
    lines: List[Line] = []
    model, sep = check_model(bundle)
    lines.append(model)
    if sep is not None:
        for step in (check_runtime, check_separation):
            try:
                lines.append(step(sep))
            except Exception as exc:  # a check reports, it never crashes
                lines.append(Line(step.__name__[6:], False, f"{type(exc).__name__}: {exc}"))
    lines.append(check_files())
    lines.append(check_window(probe=window_probe))
    lines.append(check_audio())
    lines.append(check_ray())
    return lines


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m plugin.check",
                                description="Say what this machine will use to run SepBoard (model, ONNX Runtime "
                                            "provider, window, audio, Ray) and why. Exit 0 when separation works.")
    p.add_argument("--bundle", metavar="PATH", help="check this model bundle (default: the embedded default model)")
    p.add_argument("--no-window-probe", action="store_true",
                   help="only check the Qt platform's libraries and display, do not open a test window")
    args = p.parse_args(argv)
    print(system_line(), flush=True)
    lines = run_checks(args.bundle, window_probe=not args.no_window_probe)
    for line in lines:
        print(line.render(), flush=True)
    core = [ln for ln in lines if ln.topic in CORE]
    can_run = len(core) == len(CORE) and all(ln.ok for ln in core)
    print(f"separation can run: {'yes' if can_run else 'no'}", flush=True)
    return 0 if can_run else 1


if __name__ == "__main__":
    sys.exit(main())
