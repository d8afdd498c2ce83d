"""``python -m plugin.host [AUDIO | SESSION] [--bundle PATH]``: the SepBoard desktop host.

Arguments, the display and the Qt platform's system libraries are checked here, before Qt is
imported (plugin/ never imports Qt at import time; :mod:`plugin.qtplatform` does the platform
check without loading anything). The window lives in the ``gui`` package, imported only by
:func:`main` once the checks pass. A bad argument or a machine that cannot open a window gives one
line on stderr and exit code 2, never a traceback or a core dump.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Optional, Sequence

SESSION_FILES = ("session.json", ".autosave.json")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m plugin.host",
        description="SepBoard desktop host: open a song, type what to extract (\"bass guitar\"), get time-aligned "
                    "stems on a timeline; play, solo/mute, add effects, save sessions, export stems.")
    p.add_argument("path", nargs="?", metavar="AUDIO|SESSION",
                   help="an audio file (becomes the mix of a new session) or a session folder / its session.json; "
                        "without it the host starts empty and shows an open dialog")
    p.add_argument("--bundle", metavar="PATH", help="model bundle folder (default: the embedded default model)")
    p.add_argument("--autosave", type=float, default=30.0, metavar="SECONDS",
                   help="autosave unsaved changes this often for crash recovery (0 = off; default 30)")
    p.add_argument("--screenshot", metavar="PNG",
                   help="save a picture of the window once the file is loaded and drawn, then quit (docs/tests)")
    p.add_argument("--window-size", default="1280x760", metavar="WxH", help="initial window size (default 1280x760)")
    p.add_argument("--quit-after", type=float, metavar="SECONDS",
                   default=_env_seconds(os.environ.get("SEPBOARD_QUIT_AFTER")),
                   help="quit this many seconds after the window opened, saying what was on screen (smoke tests; "
                        "default: $SEPBOARD_QUIT_AFTER, else never)")
    p.add_argument("--exit-after-paint", action="store_true", help=argparse.SUPPRESS)
    return p


def _env_seconds(value: Optional[str]):
    try:
        return float(value) if value else None
    except ValueError:
        return float("nan")  # reported by check_args


def check_args(args) -> Optional[str]:
    """One clear sentence for the first bad argument, or None."""
    from .audiofile import AUDIO_EXTENSIONS

    if args.path:
        p = Path(args.path).expanduser()
        if not p.exists():
            return f"no such file or folder: {p}"
        if p.is_dir():
            if not any((p / f).is_file() for f in SESSION_FILES):
                return f"{p} is a folder but not a SepBoard session (it has no session.json)"
        elif p.name not in SESSION_FILES and p.suffix.lower() not in AUDIO_EXTENSIONS:
            return (f"{p.name} is neither an audio file ({', '.join(AUDIO_EXTENSIONS)}) nor a session "
                    "(a folder with session.json)")
        elif p.stat().st_size == 0:
            return f"{p} is empty (0 bytes)"
    if args.bundle:
        b = Path(args.bundle).expanduser()
        if not b.exists():
            return f"model bundle not found: {b}"
        if not b.is_dir() or not (b / "manifest.json").is_file():
            return f"{b} is not a model bundle (expected a folder with manifest.json)"
    if not (args.autosave >= 0):
        return f"--autosave must be 0 (off) or a number of seconds, got {args.autosave}"
    m = re.fullmatch(r"(\d{3,5})x(\d{3,5})", args.window_size or "")
    if not m:
        return f"--window-size must look like 1280x760, got {args.window_size!r}"
    if args.screenshot and not args.screenshot.lower().endswith((".png", ".jpg", ".jpeg")):
        return f"--screenshot needs a .png or .jpg file name, got {args.screenshot}"
    if args.quit_after is not None and not (args.quit_after > 0):
        return f"--quit-after (or SEPBOARD_QUIT_AFTER) must be a number of seconds > 0, got {args.quit_after}"
    return None


def check_display() -> Optional[str]:
    """On Linux/BSD without a display Qt would abort with a core dump; say so clearly instead."""
    if not sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return None
    if os.environ.get("QT_QPA_PLATFORM") or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return ("no display: DISPLAY and WAYLAND_DISPLAY are not set. Start the host from a desktop session "
            "(or over ssh -X); for screenshots without a screen use QT_QPA_PLATFORM=offscreen or xvfb-run.")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    problem = check_args(args) or check_display()
    if not problem:
        from plugin.qtplatform import startup_problem

        problem = startup_problem()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        from gui.app import run
    except ImportError as exc:
        print(f"error: the desktop host needs PyQt6 ({exc}); install it with: pip install PyQt6", file=sys.stderr)
        return 2
    path = str(Path(args.path).expanduser()) if args.path else None
    bundle = str(Path(args.bundle).expanduser()) if args.bundle else None
    size = tuple(int(v) for v in args.window_size.split("x"))
    if args.quit_after:
        from gui.app import quit_later

        quit_later(args.quit_after)
    return run(path, bundle=bundle, autosave_seconds=args.autosave, screenshot=args.screenshot,
               exit_after_paint=args.exit_after_paint, size=size)


if __name__ == "__main__":
    sys.exit(main())
