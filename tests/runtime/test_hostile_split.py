"""Split into stems (``--split``) under the renderer's guarantees: song folders as the batch renderer
names them (subfolders mirrored, clashing names refused), every output finished before any is
published, nothing left behind by a failure or a cancel; and publishing several writers together."""
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from plugin import atomic
from plugin.audiowrite import AtomicAudioWriter, commit_all
from plugin.errors import OutputError
from plugin.render import main

from conftest import music_like

MS = Path(__file__).resolve().parents[1] / "bundles" / "multisource"


def write(path, x, sr=44100, subtype="FLOAT"):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x.T, sr, subtype=subtype)
    return path


def split(args, capsys):
    rc = main(list(map(str, args)) + ["--split", "--bundle", str(MS), "--quiet"])
    return rc, capsys.readouterr().err


def contents(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.fixture
def song(tmp_path):
    return write(tmp_path / "in" / "song.wav", music_like(44100, 44100, 2))


def test_split_mirrors_the_subfolders_of_an_input_folder(tmp_path, capsys):
    write(tmp_path / "in" / "a" / "song.wav", music_like(44100, 44100, 2, seed=1))
    write(tmp_path / "in" / "b" / "song.wav", music_like(44100, 44100, 2, seed=2))
    out = tmp_path / "out"
    rc, err = split([tmp_path / "in", "-o", out], capsys)
    assert rc == 0 and "skipped" not in err, err
    a, b = sf.read(str(out / "a" / "song" / "other.wav"))[0], sf.read(str(out / "b" / "song" / "other.wav"))[0]
    assert not np.array_equal(a, b)
    assert not (out / "song").exists()


def test_split_of_files_given_with_one_song_name_is_refused(tmp_path, capsys):
    a = write(tmp_path / "a" / "song.wav", music_like(22050, 44100, 1, seed=1))
    b = write(tmp_path / "b" / "Song.flac", music_like(22050, 44100, 1, seed=2), subtype="PCM_24")
    rc, err = split([a, b, "-o", tmp_path / "out", "--overwrite"], capsys)
    assert rc == 1 and "would share the output folder" in err
    assert not list((tmp_path / "out").rglob("*.wav"))


def test_a_failed_split_replaces_no_stem(song, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    assert split([song, "-o", out], capsys)[0] == 0
    before = contents(out / "song")
    assert len(before) >= 2  # at least one family and "other"
    real = AtomicAudioWriter.finish

    def failing(self):
        if self.path.name == "other.wav":
            self.abort()
            raise OutputError(f"cannot finish {self.path}: disk full")
        return real(self)

    monkeypatch.setattr(AtomicAudioWriter, "finish", failing)
    rc, err = split([song, "-o", out, "--overwrite", "--bit-depth", "16"], capsys)
    assert rc == 1 and "disk full" in err
    assert contents(out / "song") == before  # no family replaced, no temp or scratch file left


@pytest.mark.parametrize("where", ["0.wav", ".part"])  # a scratch file of pass 1, an output of pass 2
def test_a_failed_split_leaves_no_song_folder(song, tmp_path, capsys, monkeypatch, where):
    real = sf.SoundFile.write

    def full(self, data):
        if str(self.name).endswith(where):
            raise OSError(28, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(sf.SoundFile, "write", full)
    out = tmp_path / "out"
    rc, err = split([song, "-o", out], capsys)
    assert rc == 1 and "No space left" in err and "Traceback" not in err, err
    assert not (out / "song").exists()


def test_a_cancelled_split_leaves_no_song_folder(song, tmp_path, monkeypatch):
    from plugin import Separator
    from plugin.batch import render

    cancel = threading.Event()
    monkeypatch.setattr("plugin.audiofile.READ_SECONDS", 0.25)
    rep = render([song], [], tmp_path / "out", separator=Separator.load(MS, threads=1), split=True, cancel=cancel,
                 progress=lambda f, fd, ft, d, t: cancel.set())  # Ctrl-C after the first block
    assert [r.status for r in rep.results] == ["cancelled"] and not (tmp_path / "out" / "song").exists()


def test_split_removes_the_temp_files_of_a_killed_run(song, tmp_path, capsys):
    folder = tmp_path / "out" / "song"
    folder.mkdir(parents=True)
    stale_file = folder / ".other.wav.999999999-abcd1234.part"
    stale_dir = folder / ".other.wav.999999999-efgh5678.part"  # a scratch folder of pass 1
    stale_file.write_bytes(b"x")
    stale_dir.mkdir()
    (stale_dir / "0.wav").write_bytes(b"x")
    old = time.time() - 3600
    for p in (stale_file, stale_dir):
        os.utime(p, (old, old))
    rc, err = split([song, "-o", tmp_path / "out"], capsys)
    assert rc == 0, err
    assert not stale_file.exists() and not stale_dir.exists() and (folder / "other.wav").exists()


def test_commit_all_discards_the_rest_when_one_cannot_be_published(tmp_path, monkeypatch):
    writers = [AtomicAudioWriter(tmp_path / f"{n}.wav", 8000, 1) for n in ("a", "b", "c")]
    for w in writers:
        w.write(np.zeros((1, 100), np.float32))
        w.finish()
    real = atomic.commit

    def refuse_b(tmp, target, directory=False):
        if Path(target).name == "b.wav":
            raise PermissionError(13, "Permission denied", str(target))
        return real(tmp, target, directory)

    monkeypatch.setattr(atomic, "commit", refuse_b)
    with pytest.raises(OutputError, match="b.wav"):
        commit_all(writers)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav"]  # no temp file of b or c is left
