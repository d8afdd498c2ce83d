"""Fault injection: kill a render and a session save at random points (SIGKILL), stop a render with
SIGTERM, and check that nothing is lost or half-written and that a re-run completes.

Every output present after a kill is complete and equal to an undisturbed run's; a session folder
always reloads; temp files a killed run leaves are removed by a later run."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import BUNDLES, ROOT, music_like

pytestmark = pytest.mark.slow


def env():
    return dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")


@pytest.fixture(scope="module")
def songs(tmp_path_factory):
    d = tmp_path_factory.mktemp("songs")
    for i in range(4):
        sf.write(str(d / f"song{i}.wav"), music_like(32000 * 3, 32000, 2, seed=i).T, 32000, subtype="FLOAT")
    return d


def render_cmd(songs, out):
    return [sys.executable, "-m", "plugin.render", str(songs), "-q", "bass", "-q", "drums", "--residual",
            "-o", str(out), "--bundle", str(BUNDLES / "text"), "--quiet", "--bit-depth", "32f"]


def outputs(out: Path):
    return {p.relative_to(out).as_posix(): sf.read(str(p), dtype="float32")[0]
            for p in out.rglob("*.wav") if not p.name.startswith(".")}


@pytest.fixture(scope="module")
def reference(songs, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref")
    t0 = time.monotonic()
    subprocess.run(render_cmd(songs, out), env=env(), check=True, cwd=ROOT)
    return outputs(out), time.monotonic() - t0


def age_temp_files(out: Path, seconds: float = 120.0) -> list:
    """Make the temp files a killed run left look as old as a later run would find them."""
    parts = [p for p in out.rglob(".*.part")]
    then = time.time() - seconds
    for p in parts:
        os.utime(p, (then, then))
    return parts


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_render_killed_at_a_random_point_loses_nothing_and_resumes(songs, reference, tmp_path, seed):
    ref, duration = reference
    out = tmp_path / "out"
    proc = subprocess.Popen(render_cmd(songs, out), env=env(), cwd=ROOT, stderr=subprocess.DEVNULL)
    time.sleep(np.random.default_rng(seed).uniform(0.3, max(0.5, duration)))
    proc.kill()
    proc.wait()
    for name, y in outputs(out).items():  # whatever exists is whole and right
        assert np.array_equal(y, ref[name]), name
    age_temp_files(out)
    rerun = subprocess.run(render_cmd(songs, out), env=env(), cwd=ROOT, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    got = outputs(out)
    assert got.keys() == ref.keys() and all(np.array_equal(got[k], ref[k]) for k in ref)
    assert not list(out.rglob("*.part"))


def test_sigterm_stops_cleanly_like_ctrl_c(songs, reference, tmp_path):
    ref, _ = reference
    out = tmp_path / "out"
    proc = subprocess.Popen(render_cmd(songs, out), env=env(), cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not list(out.rglob(".*.part")) and time.monotonic() < deadline:  # wait until it is writing
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "stopping" in err and "Traceback" not in err
    assert not list(out.rglob("*.part"))
    for name, y in outputs(out).items():
        assert np.array_equal(y, ref[name]), name
    assert subprocess.run(render_cmd(songs, out), env=env(), cwd=ROOT, capture_output=True).returncode == 0
    assert outputs(out).keys() == ref.keys()


SAVER = """
import sys, numpy as np
from gui import project as P
from gui.tracks import Track
folder = sys.argv[1]
state, _ = P.load_session(folder)
for i in range(1000):
    state.tracks.append(Track(audio=np.full((1, 20000), (i + 1) / 1000, np.float32), name=f"t{i}", kind="stem"))
    P.save_session(folder, state)
    print(i, flush=True)
"""


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_session_save_killed_at_a_random_point_always_reloads(tmp_path, seed):
    from gui import project as P
    from gui.tracks import Track

    folder = tmp_path / "s"
    mix = music_like(20000, 32000, 1)
    P.save_session(folder, P.SessionState(32000, [Track(audio=mix, name="mix", kind="mix")]))
    proc = subprocess.Popen([sys.executable, "-c", SAVER, str(folder)], env=env(), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    proc.stdout.readline()  # it has saved once: imports are done, saving is under way
    time.sleep(np.random.default_rng(seed).uniform(0.0, 0.5))
    proc.kill()
    proc.wait()
    state, _ = P.load_session(folder)  # always reloadable, with whole audio
    np.testing.assert_array_equal(state.tracks[0].audio, mix)
    for i, t in enumerate(state.tracks[1:]):
        assert t.name == f"t{i}" and np.all(t.audio == np.float32((i + 1) / 1000))
    for p in folder.rglob(".*"):
        if p.name.endswith((".part", ".tmp")):
            then = time.time() - 120
            os.utime(p, (then, then))
    P.save_session(folder, state)  # a new save completes and cleans up after the killed one
    assert not [p for p in folder.rglob(".*") if p.name.endswith((".part", ".tmp"))]
    assert len(P.load_session(folder)[0].tracks) == len(state.tracks)
