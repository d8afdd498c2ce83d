"""Hostile input to the batch renderer: clashing names, damaged files, absurd values, odd inputs.

Each test names the failure it guards against; all of them failed before the fix they test."""
import csv
import os
import struct
import time

import numpy as np
import pytest
import soundfile as sf

from plugin import Separator, atomic
from plugin.audiofile import FileInfo
from plugin.audiowrite import AtomicAudioWriter
from plugin.errors import AudioError, OutputError, QueryError
from plugin.render import main

from conftest import music_like


def write(path, x, sr, subtype="FLOAT", **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x.T, sr, subtype=subtype, **kw)
    return path


def run(args, capsys):
    rc = main(list(map(str, args)) + ["--quiet"])
    return rc, capsys.readouterr().err


@pytest.fixture(scope="module")
def sep(text_bundle):
    return Separator.load(text_bundle)


@pytest.fixture
def song(tmp_path):
    return write(tmp_path / "in" / "song.wav", music_like(32000, 32000, 1), 32000)


# --- names that clash --------------------------------------------------------------------------
@pytest.mark.parametrize("queries,residual", [
    (["bass guitar", "Bass-Guitar"], False),
    (["🎸", "🥁"], False),
    (["drums", "drums residual"], True),
    (["a" * 60 + " one", "a" * 60 + " two"], False),
])
def test_queries_that_would_write_one_file_are_refused(song, tmp_path, text_bundle, capsys, queries, residual):
    args = [song, "-o", tmp_path / "out", "--bundle", text_bundle] + (["--residual"] if residual else [])
    for q in queries:
        args += ["-q", q]
    rc, err = run(args, capsys)
    assert rc == 2 and "would both be written to" in err, err
    assert not (tmp_path / "out").exists()


def test_the_same_query_twice_is_rendered_once(song, tmp_path, text_bundle, capsys):
    rc, err = run([song, "-q", "drums", "-q", " drums ", "-o", tmp_path / "out", "--bundle", text_bundle], capsys)
    assert rc == 0 and "summary: 1 done" in err


@pytest.mark.parametrize("queries,residual", [
    (["bass guitar", '"bass guitar"'], False),  # a plain and a quoted (literal) query: one slug
    (["bass + drums", "bass-and-drums"], False),  # named from the normalised wording "bass and drums"
    (["everything but drums", "no drums residual"], True),  # the residual of one is the other's name
])
def test_queries_whose_normalised_names_collide_are_refused_before_loading(song, tmp_path, text_bundle, capsys,
                                                                          monkeypatch, queries, residual):
    from plugin.separator import Separator

    def no_load(*a, **k):
        raise AssertionError("the model was loaded for queries that would write one file")

    monkeypatch.setattr(Separator, "load", no_load)
    args = [song, "-o", tmp_path / "out", "--bundle", text_bundle] + (["--residual"] if residual else [])
    for q in queries:
        args += ["-q", q]
    rc, err = run(args, capsys)
    assert rc == 2 and "would both be written to" in err and "Traceback" not in err, err
    assert not (tmp_path / "out").exists()


def test_one_query_in_two_wordings_is_rendered_once(sep, song, tmp_path, text_bundle, capsys):
    from plugin.batch import render

    rep = render([song], ["no drums", "not drums", "Everything but drums"], tmp_path / "out", separator=sep)
    assert [(r.query, r.status) for r in rep.results] == [("everything but drums", "done")]
    assert [p.name for p in (tmp_path / "out" / "song").iterdir()] == ["everything-but-drums.wav"]


def test_same_song_name_in_two_subfolders_is_mirrored(tmp_path, text_bundle, capsys):
    a = write(tmp_path / "in" / "a" / "song.wav", music_like(16000, 32000, 1, seed=1), 32000)
    b = write(tmp_path / "in" / "b" / "song.wav", music_like(16000, 32000, 1, seed=2), 32000)
    out = tmp_path / "out"
    for extra in ([], ["--overwrite"]):
        rc, err = run([tmp_path / "in", "-q", "bass", "-o", out, "--bundle", text_bundle] + extra, capsys)
        assert rc == 0 and "2 done" in err, err
    ya, _ = sf.read(str(out / "a" / "song" / "bass.wav"))
    yb, _ = sf.read(str(out / "b" / "song" / "bass.wav"))
    assert not np.array_equal(ya, yb)


def test_same_song_name_given_as_files_is_refused_not_overwritten(tmp_path, text_bundle, capsys):
    a = write(tmp_path / "a" / "song.wav", music_like(16000, 32000, 1, seed=1), 32000)
    b = write(tmp_path / "b" / "Song.flac", music_like(16000, 32000, 1, seed=2), 32000, "PCM_24")
    rc, err = run([a, b, "-q", "bass", "-o", tmp_path / "out", "--bundle", text_bundle, "--overwrite"], capsys)
    assert rc == 1 and "would share the output folder" in err
    assert not list((tmp_path / "out").rglob("*.wav"))


# --- damaged and absurd files -----------------------------------------------------------------
def truncate(path, keep):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def test_truncated_flac_renders_what_exists_with_a_note(tmp_path, text_bundle, capsys):
    x = music_like(32000 * 4, 32000, 1)
    src = truncate(write(tmp_path / "in" / "cut.flac", x, 32000, "PCM_16"), 0.5)
    info = FileInfo.read(src)
    assert 0 < info.frames < x.shape[-1] and "is truncated" in info.truncation
    rc, err = run([src, "-q", "bass", "-o", tmp_path / "out", "--bundle", text_bundle,
                   "--results", tmp_path / "r.csv"], capsys)
    assert rc == 0 and "cut.flac is truncated" in err
    y, _ = sf.read(str(tmp_path / "out" / "cut" / "bass.wav"), always_2d=True)
    assert y.shape[0] == info.frames
    assert np.abs(y[-3200:]).max() > 1e-3  # the end that exists is not silence
    assert "is truncated" in list(csv.DictReader(open(tmp_path / "r.csv")))[0]["note"]


def test_truncated_flac_in_the_host_says_so(tmp_path):
    from gui.project import load_audio_file

    x = music_like(32000 * 3, 32000, 1)
    src = truncate(write(tmp_path / "cut.flac", x, 32000, "PCM_16"), 0.5)
    loaded = load_audio_file(src)
    assert loaded.audio.shape[-1] < x.shape[-1] and np.abs(loaded.audio).max() > 0.05
    assert any("is truncated" in n for n in loaded.notes)


def test_truncated_wav_reports_the_length_that_exists(tmp_path, text_bundle, capsys):
    x = music_like(32000 * 2, 32000, 2)
    src = truncate(write(tmp_path / "cut.wav", x, 32000, "PCM_16"), 0.5)
    info = FileInfo.read(src)
    assert abs(info.frames - x.shape[-1] // 2) < 32 and info.seconds < 1.01
    rc, err = run([src, "-q", "bass", "-o", tmp_path / "out", "--bundle", text_bundle], capsys)
    y, _ = sf.read(str(tmp_path / "out" / "cut" / "bass.wav"), always_2d=True)
    assert rc == 0 and y.shape[0] == info.frames


def test_wav_header_claiming_4_gb_is_not_trusted(tmp_path, text_bundle, capsys):
    src = write(tmp_path / "liar.wav", music_like(16000, 32000, 1), 32000, "PCM_16")
    data = bytearray(src.read_bytes())
    i = data.find(b"data")
    data[i + 4:i + 8] = struct.pack("<I", 0xFFFFFFF0)
    data[4:8] = struct.pack("<I", 0xFFFFFFF8)
    src.write_bytes(bytes(data))
    assert FileInfo.read(src).frames == 16000
    rc, err = run([src, "-q", "bass", "-o", tmp_path / "out", "--bundle", text_bundle], capsys)
    assert rc == 0 and "is truncated" in err
    assert (tmp_path / "out" / "liar" / "bass.wav").stat().st_size < 200_000


def test_wav_outputs_past_4_gib_become_rf64_or_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr("plugin.audiowrite.WAV_MAX_BYTES", 4000)
    x = np.zeros((1, 2000), np.float32)
    w = AtomicAudioWriter(tmp_path / "big.wav", 8000, 1, "wav", "24", frames=2000)
    w.write(x)
    assert w.commit().read_bytes()[:4] == b"RF64"
    assert sf.read(str(tmp_path / "big.wav"))[0].shape == (2000,)
    w = AtomicAudioWriter(tmp_path / "unknown.wav", 8000, 1, "wav", "24")  # length not known ahead
    with pytest.raises(OutputError, match="more than a WAV file holds"):
        w.write(x)
    assert not list(tmp_path.glob(".*part")) and not (tmp_path / "unknown.wav").exists()


def test_failed_residual_replaces_no_stem(song, tmp_path, text_bundle, capsys, monkeypatch):
    out = tmp_path / "out"
    assert run([song, "-q", "drums", "--residual", "-o", out, "--bundle", text_bundle], capsys)[0] == 0
    before = {p.name: p.read_bytes() for p in (out / "song").iterdir()}
    real = AtomicAudioWriter.finish

    def failing(self):
        if "residual" in self.path.name:
            self.abort()
            raise OutputError(f"cannot finish {self.path}: disk full")
        return real(self)

    monkeypatch.setattr(AtomicAudioWriter, "finish", failing)
    rc, err = run([song, "-q", "drums", "--residual", "--overwrite", "-o", out, "--bundle", text_bundle,
                   "--bit-depth", "16"], capsys)
    assert rc == 1 and "disk full" in err
    assert {p.name: p.read_bytes() for p in (out / "song").iterdir()} == before


def test_failed_or_cancelled_file_leaves_no_empty_song_folder(sep, song, tmp_path, text_bundle, capsys,
                                                              monkeypatch):
    import threading

    from plugin.batch import render

    real = sf.SoundFile.write

    def full(self, data):
        if "bass" in self.name:  # the first of the file's writers: the one that made the song folder
            raise OSError(28, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(sf.SoundFile, "write", full)
    out = tmp_path / "out"
    rc, err = run([song, "-q", "bass", "-q", "drums", "-o", out, "--bundle", text_bundle], capsys)
    assert rc == 1 and "No space left" in err and not (out / "song").exists()
    monkeypatch.setattr(sf.SoundFile, "write", real)
    cancel = threading.Event()
    monkeypatch.setattr("plugin.audiofile.READ_SECONDS", 0.25)
    rep = render([song], ["bass", "drums"], out, separator=sep, cancel=cancel,
                 progress=lambda f, fd, ft, d, t: cancel.set())  # Ctrl-C after the first block
    assert {r.status for r in rep.results} == {"cancelled"} and not (out / "song").exists()


def test_huge_samples_and_embeddings_are_refused(sep, tmp_path, text_bundle, capsys):
    x = music_like(16000, 32000, 1)
    with pytest.raises(AudioError, match="beyond full scale"):
        sep.separate(x * 1e30, 32000, "drums")
    with pytest.raises(QueryError, match="embedding has values"):
        sep.separate(x, 32000, embedding=np.full(16, 1e30, np.float32))
    src = write(tmp_path / "loud.wav", x * 1e30, 32000)
    rc, err = run([src, "-q", "drums", "-o", tmp_path / "out", "--bundle", text_bundle], capsys)
    assert rc == 1 and "beyond full scale" in err and not (tmp_path / "out" / "loud").exists()
    w = AtomicAudioWriter(tmp_path / "nan.wav", 8000, 1)
    with pytest.raises(OutputError, match="NaN/inf"):
        w.write(np.full((1, 10), np.nan, np.float32))
    assert not list(tmp_path.glob(".nan.wav*"))


# --- stale temp files ----------------------------------------------------------------------------
def test_stale_temp_files_of_a_killed_run_are_removed(song, tmp_path, text_bundle, capsys):
    folder = tmp_path / "out" / "song"
    folder.mkdir(parents=True)
    old = time.time() - 3600
    stale = [folder / ".bass.wav.999999999-abcd1234.part", folder / ".bass.wav.k2j3h4g5.part"]
    live = folder / f".bass.wav.{os.getpid()}-live1234.part"  # a process that is still running
    fresh = folder / ".drums.wav.999999999-fresh123.part"  # touched a moment ago
    other = folder / ".notes.txt"
    for p in stale + [live, other]:
        p.write_bytes(b"x")
        os.utime(p, (old, old))
    fresh.write_bytes(b"x")
    rc, err = run([song, "-q", "bass", "-o", tmp_path / "out", "--bundle", text_bundle], capsys)
    assert rc == 0
    assert not any(p.exists() for p in stale)
    assert live.exists() and fresh.exists() and other.exists()
    assert atomic.TEMP_PATTERN.match(atomic.temp_path(tmp_path / "x.wav").name)


# --- absurd arguments ---------------------------------------------------------------------------
@pytest.mark.parametrize("flag,value", [("--block-seconds", "1e6"), ("--context-seconds", "1e6"),
                                        ("--block-seconds", "nan"), ("--block-seconds", "-1")])
def test_absurd_block_settings_are_a_usage_error(song, tmp_path, text_bundle, capsys, flag, value):
    rc, err = run([song, "-q", "bass", "-o", tmp_path / "out", "--bundle", text_bundle, flag, value], capsys)
    assert rc == 2 and "seconds" in err and "Traceback" not in err


def test_block_seconds_of_the_wrong_type(sep):
    with pytest.raises(AudioError, match="block_seconds"):
        sep.separate(music_like(8000, 32000, 1), 32000, "bass", block_seconds="abc")


@pytest.mark.parametrize("name", ["r.parquet", "missing-dir-is-a-file/r.csv"])
def test_results_table_that_cannot_be_written_keeps_the_summary(song, tmp_path, text_bundle, capsys, monkeypatch,
                                                                 name):
    import builtins

    real = builtins.__import__

    def no_pyarrow(mod, *a, **k):
        if mod.startswith("pyarrow"):
            raise ImportError("No module named 'pyarrow'")
        return real(mod, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    (tmp_path / "missing-dir-is-a-file").write_text("x")
    rc, err = run([song, "-q", "bass", "-o", tmp_path / "out", "--bundle", text_bundle,
                   "--results", tmp_path / name], capsys)
    assert rc == 1 and "summary: 1 done" in err and "cannot write" in err and "Traceback" not in err


# --- messages that used to mislead --------------------------------------------------------------
def test_permission_denied_is_not_called_corrupt(song, tmp_path, text_bundle, capsys, monkeypatch):
    import builtins

    real = builtins.open

    def denied(file, *a, **k):
        if str(file) == str(song):
            raise PermissionError(13, "Permission denied", str(file))
        return real(file, *a, **k)

    monkeypatch.setattr(builtins, "open", denied)
    rc, err = run([song, "-q", "bass", "-o", tmp_path / "out", "--bundle", text_bundle], capsys)
    assert rc == 1 and "permission denied" in err and "corrupt" not in err


def test_unreadable_subfolder_is_reported(tmp_path, text_bundle, capsys, monkeypatch):
    write(tmp_path / "in" / "ok.wav", music_like(8000, 32000, 1), 32000)
    locked = tmp_path / "in" / "locked"
    write(locked / "hidden.wav", music_like(8000, 32000, 1), 32000)
    real = os.scandir

    def scandir(path="."):
        if os.fspath(path) == str(locked):
            raise PermissionError(13, "Permission denied", str(locked))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    rc, err = run([tmp_path / "in", "-q", "bass", "-o", tmp_path / "out", "--bundle", text_bundle], capsys)
    assert rc == 1 and "cannot read folder" in err and "locked" in err and "1 done" in err


def test_input_folder_that_is_the_output_folder(song, text_bundle, capsys):
    rc, err = run([song.parent, "-q", "bass", "-o", song.parent, "--bundle", text_bundle], capsys)
    assert rc == 1 and "is the output folder" in err and "no audio files" not in err


def test_devices_and_fifos_are_not_called_missing(tmp_path, text_bundle, capsys):
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    rc, err = run(["/dev/zero", fifo, "-q", "bass", "-o", tmp_path / "out", "--bundle", text_bundle], capsys)
    assert rc == 1 and err.count("not a regular file") == 2 and "not found" not in err
    with pytest.raises(AudioError, match="not a regular file"):
        FileInfo.read(fifo)  # and never blocks opening it
