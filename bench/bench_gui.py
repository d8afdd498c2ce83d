"""Desktop host: launch-to-first-paint with a 10-minute file, and UI responsiveness during long work.

    python bench/bench_gui.py                      # tiny text bundle (built once into a temp folder)
    python bench/bench_gui.py --bundle PATH        # or a real model bundle (default: plugin/bundles/default if present)

1. Launch -> first paint: `python -m plugin.host song.wav --exit-after-paint` in a fresh process
   (offscreen Qt), from process start until the first waveform lane has been painted, with a
   10-minute stereo 44.1 kHz WAV generated into a temp folder. Reference, measured in the same run:
   a fresh process that only decodes the same file (plugin.audio.read_audio).
2. Event-loop latency: a 10 ms QTimer inside the running host measures how late each tick is
   while (a) the host is idle (reference), (b) the 10-minute file is being opened (decode + peaks in
   a worker thread), (c) a separation runs in the worker thread. Max and p99 lateness in ms.

Prints a markdown table and the command that reproduces it. Timing is only reported, never asserted.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402


def machine() -> str:
    try:
        from _common import machine as m

        return m()
    except Exception:
        import platform

        return f"{platform.processor()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def make_song(path: Path, seconds: float, sr: int = 44100) -> Path:
    """Stereo test music (tones, pulses, noise), written block by block as 16-bit WAV."""
    import soundfile as sf

    rng = np.random.default_rng(0)
    block = sr * 10
    with sf.SoundFile(str(path), "w", samplerate=sr, channels=2, subtype="PCM_16") as f:
        for i in range(0, int(seconds * sr), block):
            n = min(block, int(seconds * sr) - i)
            t = (i + np.arange(n)) / sr
            x = np.stack([0.2 * np.sin(2 * np.pi * (110 + 20 * c) * t) + 0.1 * np.sin(2 * np.pi * 660 * t + c)
                          + 0.15 * (np.sin(2 * np.pi * 2 * t) > 0.9) * rng.standard_normal(n)
                          + 0.02 * rng.standard_normal(n) for c in range(2)])
            f.write(x.T.astype(np.float32))
    return path


def text_bundle(folder: Path) -> Path:
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import make_text_bundle

    return make_text_bundle(folder / "text", n_fft=1024, hop=320, widths=(4, 4, 8, 8, 8), downsamples=((2, 2),) * 5)


# ------------------------------------------------------------------------------------------------
# 1. launch -> first paint
# ------------------------------------------------------------------------------------------------
def first_paint(song: Path, bundle: Path, repeats: int):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT),
               SEPBOARD_RECOVERY_DIR=str(song.parent / "recovery"))
    host, ref = [], []
    for _ in range(repeats):
        t0 = time.time()
        r = subprocess.run([sys.executable, "-m", "plugin.host", str(song), "--bundle", str(bundle),
                            "--autosave", "0", "--exit-after-paint"], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=600)
        line = [l for l in r.stdout.splitlines() if l.startswith("first-paint-epoch")]
        if r.returncode != 0 or not line:
            raise RuntimeError(f"host failed ({r.returncode}):\n{r.stdout}\n{r.stderr[-3000:]}")
        host.append(float(line[0].split()[1]) - t0)
        t0 = time.time()
        subprocess.run([sys.executable, "-c", f"from plugin.audio import read_audio; read_audio({str(song)!r})"],
                       cwd=ROOT, env=env, check=True, timeout=600)
        ref.append(time.time() - t0)
    return host, ref


def breakdown(song: Path):
    """In-process: decode, peak pyramid, one repaint of a full-width lane from the peaks."""
    from gui.peaks import PeakPyramid
    from gui.project import load_audio_file

    t = time.perf_counter()
    la = load_audio_file(song)
    t_dec = time.perf_counter() - t
    t = time.perf_counter()
    pyr = PeakPyramid(la.audio)
    t_peaks = time.perf_counter() - t
    ts = []
    for spp in (la.audio.shape[-1] / 1000, 4096.0, 300.0, 20.0, 0.5):
        t = time.perf_counter()
        pyr.columns(123.0, spp, 1000)
        ts.append(time.perf_counter() - t)
    return t_dec, t_peaks, max(ts), pyr.nbytes / la.audio.nbytes


# ------------------------------------------------------------------------------------------------
# 2. event-loop latency
# ------------------------------------------------------------------------------------------------
class Probe:
    """A 10 ms timer recording how late each tick arrives."""

    def __init__(self, interval_ms: int = 10):
        from PyQt6.QtCore import Qt, QTimer

        self.interval = interval_ms / 1000.0
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        self.last = None
        self.late = []

    def _tick(self):
        now = time.perf_counter()
        if self.last is not None:
            self.late.append(max(0.0, now - self.last - self.interval) * 1000.0)
        self.last = now

    def start(self):
        self.last = None
        self.late = []
        self.timer.start()

    def stop(self):
        self.timer.stop()
        return list(self.late)


def latency(song: Path, sep_song: Path, bundle: Path, idle_seconds: float):
    from PyQt6.QtWidgets import QApplication

    from gui.dialogs import AutoPrompter
    from gui.playback import FakeBackend
    from gui.window import MainWindow
    from plugin import Separator

    from PyQt6.QtCore import qInstallMessageHandler

    from gui.app import _qt_messages

    qInstallMessageHandler(_qt_messages)  # no offscreen-platform noise in the table
    app = QApplication.instance() or QApplication([])
    sep = Separator.load(bundle)
    win = MainWindow(separator=sep, backend=FakeBackend(), prompter=AutoPrompter(), autosave_seconds=0)
    win.resize(1280, 760)
    win.show()
    probe = Probe()

    def run_until(cond, limit=1800.0):
        t = time.perf_counter()
        while not cond():
            app.processEvents()
            time.sleep(0.0005)
            if time.perf_counter() - t > limit:
                raise RuntimeError("timed out")

    # (a) idle
    probe.start()
    end = time.perf_counter() + idle_seconds
    run_until(lambda: time.perf_counter() > end)
    idle = probe.stop()
    # (b) opening the 10-minute file
    loaded = []
    win.sessionLoaded.connect(lambda: loaded.append(1))
    probe.start()
    t = time.perf_counter()
    win.documents.open_path(song)
    run_until(lambda: loaded and not win.tasks.tasks)
    t_open = time.perf_counter() - t
    opening = probe.stop()
    errors = list(win.prompter.errors)
    # (c) separation of a shorter file (the tiny model is fast; a real one is slower but the GUI thread
    # does the same work: it only receives progress signals)
    loaded.clear()
    win.documents.open_path(sep_song)
    run_until(lambda: loaded and not win.tasks.tasks)
    done = []
    win.separationFinished.connect(lambda uids: done.append(uids))
    probe.start()
    t = time.perf_counter()
    task = win.separation.separate("bass guitar", residual=True)
    if task is None:
        raise RuntimeError(f"separation did not start: {win.statusBar().currentMessage()}")
    run_until(lambda: done and not win.tasks.tasks)
    t_sep = time.perf_counter() - t
    separating = probe.stop()
    errors += win.prompter.errors
    win.shutdown()
    return idle, (opening, t_open), (separating, t_sep), sep, errors


def stats(ms):
    if not ms:
        return float("nan"), float("nan"), float("nan"), 0
    a = np.asarray(ms)
    return float(np.median(a)), float(np.percentile(a, 99)), float(a.max()), len(a)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python bench/bench_gui.py")
    ap.add_argument("--bundle", help="model bundle (default: plugin/bundles/default if present, else a tiny "
                                     "random-weight text bundle built into a temp folder)")
    ap.add_argument("--minutes", type=float, default=10.0, help="length of the generated file (default 10)")
    ap.add_argument("--sep-seconds", type=float, default=60.0, help="length of the file separated in (2c)")
    ap.add_argument("--repeats", type=int, default=3, help="launches for (1)")
    ap.add_argument("--idle-seconds", type=float, default=3.0)
    a = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="sb-bench-gui-"))
    os.environ["SEPBOARD_RECOVERY_DIR"] = str(tmp / "recovery")
    try:
        return _run(a, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run(a, tmp: Path) -> int:
    from plugin.bundle import DEFAULT_BUNDLE

    if a.bundle:
        bundle = Path(a.bundle)
    elif (DEFAULT_BUNDLE / "manifest.json").exists():
        bundle = DEFAULT_BUNDLE
    else:
        print("building the tiny text bundle…", file=sys.stderr)
        bundle = text_bundle(tmp)
    print(f"generating a {a.minutes:g}-minute stereo 44.1 kHz file…", file=sys.stderr)
    song = make_song(tmp / "ten minutes.wav", a.minutes * 60)
    sep_song = make_song(tmp / "separate me.wav", a.sep_seconds)

    print("launch -> first paint…", file=sys.stderr)
    host, ref = first_paint(song, bundle, a.repeats)
    t_dec, t_peaks, t_cols, peak_ratio = breakdown(song)
    print("event-loop latency…", file=sys.stderr)
    idle, (opening, t_open), (separating, t_sep), sep, errors = latency(song, sep_song, bundle, a.idle_seconds)

    cmd = "python bench/bench_gui.py" + " ".join(
        [""] + ([f"--bundle {a.bundle}"] if a.bundle else []) + ([f"--minutes {a.minutes:g}"] if a.minutes != 10 else [])
        + ([f"--sep-seconds {a.sep_seconds:g}"] if a.sep_seconds != 60 else []))
    print(f"\n### Desktop host ({machine()}; load average {os.getloadavg()[0]:.1f})\n")
    print(f"Model: {sep.name} on {sep.bundle.device_label}; file: {a.minutes:g} min stereo 44.1 kHz 16-bit WAV "
          f"({song.stat().st_size / 2 ** 20:.0f} MiB); Qt platform offscreen.\n")
    print("| measurement | median | min | reference | ratio |")
    print("|---|---:|---:|---|---:|")
    mh, mr = statistics.median(host), statistics.median(ref)
    print(f"| launch → first waveform paint ({a.repeats} launches) | {mh:.2f} s | {min(host):.2f} s | "
          f"fresh process that only decodes the file: {mr:.2f} s | {mh / mr:.2f}× |")
    print(f"| of which: decode (in-process) | {t_dec:.2f} s | | | |")
    print(f"| of which: peak pyramid ({100 * peak_ratio:.1f} % of the audio's size) | {t_peaks:.2f} s | | | |")
    print(f"| one lane repaint from peaks, 1000 px (worst zoom level) | {1000 * t_cols:.2f} ms | | | |")
    print()
    print("| 10 ms UI timer lateness while… | median | p99 | max | ticks | wall time |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, ms, wall in (("idle (reference)", idle, a.idle_seconds),
                           (f"opening the {a.minutes:g}-minute file", opening, t_open),
                           (f"separating {a.sep_seconds:g} s (stem + residual)", separating, t_sep)):
        med, p99, mx, n = stats(ms)
        print(f"| {name} | {med:.1f} ms | {p99:.1f} ms | {mx:.1f} ms | {n} | {wall:.1f} s |")
    if errors:
        print("\nerrors during the run: " + "; ".join(errors))
    print(f"\nReproduce: `{cmd}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
