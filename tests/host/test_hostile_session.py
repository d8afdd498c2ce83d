"""Hostile session folders: malformed fields, repeated ids, links out of the folder, killed saves.

A session or autosave file that is not what this version writes gives one SessionError (the host
shows it; it never aborts), and saving never deletes or overwrites a track's audio."""
import json
import os
import time

import numpy as np
import pytest

from conftest import music_like
from gui import project as P
from gui.tracks import Track


def T(audio, **kw):
    return Track(audio=audio, **kw)


@pytest.fixture
def saved(tmp_path):
    a = T(music_like(4000, 32000, 1, seed=1), name="a", kind="mix")
    b = T(music_like(4000, 32000, 1, seed=2), name="b", kind="stem", query="bass")
    f = P.save_session(tmp_path / "s", P.SessionState(32000, [a, b]))
    return f, a, b


def rewrite(f, change):
    d = json.loads(f.read_text())
    change(d)
    f.write_text(json.dumps(d))
    return f


@pytest.mark.parametrize("change", [
    lambda d: d.update(saved_at="x"),
    lambda d: d.update(saved_at=[1]),
    lambda d: d.update(history=5),
    lambda d: d.update(song={"a": 1}),
    lambda d: d.update(source=7),
    lambda d: d["tracks"][0].update(query=5, source=[1]),
])
def test_malformed_optional_fields_are_ignored(saved, change):
    f = rewrite(saved[0], change)
    doc = P.read_doc(f)
    assert isinstance(doc.saved_at, float) and isinstance(doc.history, list) and isinstance(doc.song, str)
    assert doc.source is None or isinstance(doc.source, str)
    state, _ = P.load_session(f)
    assert len(state.tracks) == 2


@pytest.mark.parametrize("change,named", [
    (lambda d: d["tracks"][0].update(gain_db=float("nan")), "gain_db"),
    (lambda d: d["tracks"][0].update(gain_db="loud"), "gain_db"),
    (lambda d: d["tracks"][0].update(region=[True, 5]), "region"),
    (lambda d: d["tracks"][0].update(effects=[{"type": "Gain", "params": {"gain_db": 10 ** 400}}]), "gain_db"),
])
def test_malformed_track_values_are_one_session_error(saved, change, named):
    f = rewrite(saved[0], change)
    with pytest.raises(P.SessionError, match=named):
        P.read_doc(f)


def test_nan_gain_does_not_load_as_plus_24_db(saved):
    f = rewrite(saved[0], lambda d: d["tracks"][1].update(gain_db=float("nan")))
    with pytest.raises(P.SessionError, match="gain_db"):
        P.load_session(f)


def test_deeply_nested_session_file(tmp_path):
    f = tmp_path / "session.json"
    f.write_text('{"format": "sepboard-session", "view": ' + "[" * 100000 + "]" * 100000 + "}")
    with pytest.raises(P.SessionError, match="nested too deeply"):
        P.read_doc(f)


def test_malformed_autosave_neither_crashes_recovery_nor_blocks_saving(saved):
    f, a, b = saved
    folder = f.parent
    auto = folder / P.AUTOSAVE_FILE
    auto.write_text(f.read_text())
    rewrite(auto, lambda d: d.update(saved_at="x", history=5))
    assert P.recovery_candidate(folder) in (None, auto)
    rewrite(f, lambda d: d.update(saved_at="x"))
    P.check_writable(folder)  # readable, so it may be replaced
    P.save_session(folder, P.SessionState(32000, [a, b]))


def test_two_tracks_with_one_id_keep_both_audios(saved):
    f, a, b = saved
    rewrite(f, lambda d: d["tracks"][1].update(id=d["tracks"][0]["id"]))
    state, folder = P.load_session(f)
    assert len({t.uid for t in state.tracks}) == 2
    P.save_session(folder, state)  # in place
    back, _ = P.load_session(folder)
    np.testing.assert_array_equal(back.tracks[0].audio, a.audio)
    np.testing.assert_array_equal(back.tracks[1].audio, b.audio)


def test_audio_linked_outside_the_session_folder_is_refused(saved, tmp_path):
    f, a, b = saved
    outside = tmp_path / "private.wav"
    os.replace(f.parent / "audio" / f"{b.uid}.wav", outside)
    os.symlink(outside, f.parent / "audio" / f"{b.uid}.wav")
    with pytest.raises(P.SessionError, match="outside the session folder"):
        P.load_session(f)


def test_a_killed_save_leaves_temp_files_that_the_next_save_removes(saved):
    f, a, b = saved
    old = time.time() - 3600
    junk = [f.parent / ".session.json.a1b2c3d4.tmp", f.parent / "audio" / f".{a.uid}.wav.999999999-a1b2c3d4.part"]
    for p in junk:
        p.write_bytes(b"half")
        os.utime(p, (old, old))
    P.save_session(f.parent, P.SessionState(32000, [a, b]))
    assert not any(p.exists() for p in junk)
    assert not [p for p in f.parent.rglob(".*") if p.name != P.AUTOSAVE_FILE]
