"""README.md as written: every ```bash and ```python block runs, every command's options exist, and
no command hides outside a tested block.

Blocks are extracted with pytest-codeblocks (its ``<!--pytest.mark.skip(reason="...")-->`` comment on
the line before a block skips it, with the reason shown). They run in README order, in a temporary
folder that looks like a fresh clone: the repository's files are linked in, and where the real thing
is too slow or needs the network a stand-in takes its place. Every stand-in is listed in
:data:`STAND_INS` with its reason; a new block that names a file none of them provides fails, which
is the point: README must only show what works.
"""
from __future__ import annotations

import functools
import os
import re
import select
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pytest_codeblocks import extract_from_file

from conftest import ROOT

README = ROOT / "README.md"
DEMO = ROOT / "plugin" / "demo" / "demo_song.flac"
RUN_LANGS = ("bash", "python")
BLOCKS = [b for b in extract_from_file(README) if b.syntax in RUN_LANGS]
QUIT_AFTER_SECONDS = 5

STAND_INS = {
    "scripts/setup.sh": "runs with --dry-run: it parses the same options and lists what it would install; the "
                        "real install (apt, PyPI, minutes) is what .ci/run does from a fresh clone",
    ".venv/bin/python and python": "the interpreter that runs these tests (in CI, the .venv setup.sh --test made)",
    "python -m pytest": "only collects (PYTEST_ADDOPTS=--collect-only): running the suite inside one of its own "
                        "tests would recurse; .ci/run runs it",
    "python -m plugin.host": "on this test's own Xvfb display with QT_QPA_PLATFORM=xcb and SEPBOARD_QUIT_AFTER, "
                             "so it quits by itself and prints the windows it showed",
    "bundles/audiosep, path/to/bundle": "a tiny bundle of the same layout and contract (the official model is a "
                                        "1.2 GB download, too slow on CPU for a test)",
    "songs/, song.wav, My Song.flac": "3-second cuts of the demo song",
    "My Song-session": "a session folder written by python -m gui.demo",
}


def _param(block):
    marks = [eval(m, {"pytest": pytest, "sys": sys}) for m in block.marks]  # noqa: S307 - README's own marks
    return pytest.param(block, marks=marks, id=f"line{block.lineno}-{block.syntax}")


# ----- the temporary clone -------------------------------------------------------------------------
def _executable(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, text_bundle):
    """A folder like a fresh clone plus the stand-ins of STAND_INS."""
    import soundfile as sf

    ws = tmp_path_factory.mktemp("readme")
    for entry in ROOT.iterdir():
        if entry.name in (".git", ".venv", "scripts", "stems", "runs", "cache", "work") or \
                entry.name.startswith(".pytest") or entry.name.endswith(".egg-info"):
            continue
        (ws / entry.name).symlink_to(entry)
    for entry in (ROOT / "scripts").iterdir():
        if entry.name != "setup.sh":
            (ws / "scripts").mkdir(exist_ok=True)
            (ws / "scripts" / entry.name).symlink_to(entry)
    _executable(ws / "scripts" / "setup.sh",
                f'#!/bin/sh\nexec {shlex.quote(str(ROOT / "scripts" / "setup.sh"))} --dry-run "$@"\n')
    python = f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n'
    _executable(ws / ".venv" / "bin" / "python", python)
    _executable(ws / "bin" / "python", python)

    audio, sr = sf.read(str(DEMO), dtype="float32", always_2d=True)
    cut = [audio[k * 3 * sr:(k + 1) * 3 * sr] for k in range(4)]
    (ws / "songs").mkdir()
    for k, part in enumerate(cut):
        sf.write(str(ws / "songs" / f"song {k + 1}.flac"), part, sr)
    sf.write(str(ws / "song.wav"), cut[0], sr)
    sf.write(str(ws / "My Song.flac"), cut[1], sr)
    shutil.copytree(text_bundle, ws / "bundles" / "audiosep")
    shutil.copytree(text_bundle, ws / "path" / "to" / "bundle")
    r = subprocess.run([sys.executable, "-m", "gui.demo", str(ws / "My Song-session"), "--seconds", "3"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))
    assert r.returncode == 0, r.stdout + r.stderr
    return ws


@pytest.fixture(scope="module")
def xvfb():
    """A private Xvfb display (":N", a free number Xvfb picks itself), or None without Xvfb."""
    exe = shutil.which("Xvfb")
    if not exe:
        yield None
        return
    rfd, wfd = os.pipe()
    proc = subprocess.Popen([exe, "-displayfd", str(wfd), "-screen", "0", "1400x900x24", "-nolisten", "tcp"],
                            pass_fds=(wfd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(wfd)
    number = b""
    while not number.endswith(b"\n") and select.select([rfd], [], [], 30)[0]:
        chunk = os.read(rfd, 16)
        if not chunk:
            break
        number += chunk
    os.close(rfd)
    if not number.strip().isdigit():
        proc.kill()
        pytest.fail(f"Xvfb did not start (it printed {number!r} on -displayfd)")
    yield f":{number.strip().decode()}"
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def _env(ws: Path, display):
    env = dict(os.environ)
    env.pop("WAYLAND_DISPLAY", None)
    env.update(PATH=f"{ws / 'bin'}{os.pathsep}{env.get('PATH', '')}",
               PYTEST_ADDOPTS="--collect-only -q -p no:cacheprovider",
               SEPBOARD_QUIT_AFTER=str(QUIT_AFTER_SECONDS),
               SEPBOARD_RECOVERY_DIR=str(ws / ".recovery"),
               XDG_CONFIG_HOME=str(ws / ".config"),
               QT_QPA_PLATFORM="xcb" if display else "offscreen")
    if display:
        env["DISPLAY"] = display
    else:
        env.pop("DISPLAY", None)
    return env


HOST_CALL = re.compile(r"^[^#\n]*-m plugin\.host\b", re.M)


@pytest.mark.parametrize("block", [_param(b) for b in BLOCKS])
def test_readme_block_runs(block, workspace, xvfb):
    launches = len(HOST_CALL.findall(block.code))
    if launches and xvfb is None:
        pytest.skip("the desktop host needs an X server and Xvfb is not installed (scripts/setup.sh --test installs it)")
    name = f"readme_line{block.lineno}.{'py' if block.syntax == 'python' else 'sh'}"
    (workspace / name).write_text(block.code if block.syntax == "python" else "set -e -o pipefail\n" + block.code)
    cmd = [str(workspace / ".venv" / "bin" / "python"), name] if block.syntax == "python" else ["bash", name]
    r = subprocess.run(cmd, cwd=workspace, env=_env(workspace, xvfb), capture_output=True, text=True, timeout=900)
    out = r.stdout + r.stderr
    assert r.returncode == 0, (f"README.md line {block.lineno} failed (exit {r.returncode}):\n{block.code}\n"
                               f"--- output ---\n{out[-6000:]}")
    assert "Traceback (most recent call last)" not in out, out[-6000:]
    if launches:  # each host call showed its main window on X11 and quit by itself
        shown = re.findall(r"^quit-after .*platform xcb, windows shown: .+$", r.stdout, re.M)
        assert len(shown) == launches, out[-6000:]


# ----- options of skipped and run commands alike ---------------------------------------------------
def commands(code: str):
    """(program, args) of each command of a shell block: continuation lines joined, comments dropped,
    split at && || ; |."""
    for line in code.replace("\\\n", " ").splitlines():
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError:
            tokens = line.split()
        cmd = []
        for t in tokens + ["&&"]:
            if t in ("&&", "||", ";", "|"):
                if cmd:
                    yield cmd
                cmd = []
            else:
                cmd.append(t)


def documented_options(cmd):
    """(help command, options) for a SepBoard command, or None for other programs (pip, pytest, .ci/run)."""
    prog, args = cmd[0], cmd[1:]
    if (prog in ("python", "python3") or prog.endswith("/python")) and len(args) >= 2 and args[0] == "-m":
        module, args = args[1], args[2:]
        if module.split(".")[0] not in ("plugin", "gui", "export", "bench"):
            return None
        help_cmd = (sys.executable, "-m", module, "--help")
    elif prog.startswith("scripts/") and prog.endswith(".sh"):
        help_cmd = (str(ROOT / prog), "--help")
    else:
        return None
    options = []
    for a in args:
        a = a.strip("[]")
        if a.startswith("-") and len(a) > 1 and not re.fullmatch(r"-[\d.]+", a):
            options.append(a.split("=", 1)[0])
    return help_cmd, options


@functools.lru_cache(maxsize=None)
def _help(help_cmd):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    r = subprocess.run(list(help_cmd), cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, f"{' '.join(help_cmd)} failed:\n{r.stdout}{r.stderr}"
    return r.stdout


@pytest.mark.parametrize("block", [pytest.param(b, id=f"line{b.lineno}") for b in BLOCKS if b.syntax == "bash"])
def test_readme_commands_use_existing_options(block):
    ours = [found for found in map(documented_options, commands(block.code)) if found]
    if not ours:
        pytest.skip("no SepBoard command in this block")
    for help_cmd, options in ours:
        text = _help(help_cmd)
        for opt in options:
            assert re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", text), \
                f"README.md line {block.lineno}: `{' '.join(help_cmd[:-1])}` has no option {opt}"


# ----- nothing escapes these tests -----------------------------------------------------------------
def test_every_readme_code_block_is_fenced_tagged_and_collected():
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").parse(README.read_text(encoding="utf-8"))
    indented = [t.map[0] + 1 for t in tokens if t.type == "code_block"]
    assert not indented, f"README.md has indented code blocks at lines {indented}: fence them as ```bash, ```python " \
                         "or ```text so that they are tested"
    fences = [(t.map[0] + 1, (t.info.split() or [""])[0], t.content) for t in tokens if t.type == "fence"]
    untagged = [(line, lang) for line, lang, _ in fences if lang not in RUN_LANGS + ("text",)]
    assert not untagged, f"README.md code blocks need the language bash, python or text: {untagged}"
    assert {line for line, lang, _ in fences if lang in RUN_LANGS} == {b.lineno for b in BLOCKS}
    command = re.compile(r"^\s*(\$ |python3? |\.venv/|scripts/|pip |sudo |\.ci/)", re.M)
    hidden = [line for line, lang, content in fences if lang == "text" and command.search(content)]
    assert not hidden, f"README.md ```text blocks at lines {hidden} hold commands: make them ```bash"


def test_readme_skips_say_why():
    for b in BLOCKS:
        for mark in b.marks:
            assert re.fullmatch(r'pytest\.mark\.skip\(reason="[^"]{20,}"\)', mark.strip()), \
                f"README.md line {b.lineno}: skip a block only with a reason: {mark}"


def test_readme_keeps_its_two_commands_first():
    first = BLOCKS[0]
    assert first.syntax == "bash" and first.lineno < 20
    lines = [ln for ln in first.code.splitlines() if ln and not ln.startswith("#")]
    assert lines[0].startswith("scripts/setup.sh && .venv/bin/python -m plugin.render plugin/demo/demo_song.flac")
    assert lines[1] == "scripts/setup.sh --test && .venv/bin/python -m pytest"


def test_ci_runs_readme_commands_as_written():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for line in (ln for ln in BLOCKS[0].code.splitlines() if ln and not ln.startswith("#")):
        assert line in ci, f".ci/run no longer runs README's command: {line}"
