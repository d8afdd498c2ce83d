import csv
import os
import tempfile
import threading

import numpy as np
import pytest
import soundfile as sf

from plugin import Separator
from plugin.render import main, render
from plugin.audio import encode_for_subtype, AtomicAudioWriter

from conftest import music_like


@pytest.fixture(scope="module")
def sep(text_bundle):
    return Separator.load(text_bundle)


def write(path, x, sr, subtype="FLOAT"):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x.T, sr, subtype=subtype)
    return path


def run(args, capsys=None):
    rc = main(list(map(str, args)) + ["--quiet"])
    err = capsys.readouterr().err if capsys else ""
    return rc, err


@pytest.fixture
def songs(tmp_path):
    a = write(tmp_path / "in" / "a song.wav", music_like(44100 * 2, 44100, 2, seed=1), 44100)
    b = write(tmp_path / "in" / "sub" / "b.flac", music_like(48000, 48000, 1, seed=2), 48000, "PCM_24")
    return tmp_path / "in", a, b


def test_folder_two_queries_and_residual(sep, songs, tmp_path, text_bundle, capsys):
    folder, a, b = songs
    out = tmp_path / "out"
    rc, err = run([folder, "-q", "bass guitar", "-q", "drums", "--residual", "-o", out, "--bundle", text_bundle,
                   "--bit-depth", "32f", "--results", tmp_path / "r.csv"], capsys)
    assert rc == 0, err
    assert "summary: 8 done" in err
    for song, src in (("a song", a), ("sub/b", b)):  # subfolders of an input folder are mirrored
        x, sr = sf.read(str(src), dtype="float32", always_2d=True)
        for q in ("bass-guitar", "drums"):
            y, sr2 = sf.read(str(out / song / f"{q}.wav"), dtype="float32", always_2d=True)
            r, _ = sf.read(str(out / song / f"{q}-residual.wav"), dtype="float32", always_2d=True)
            assert sr2 == sr and y.shape == x.shape
            assert np.max(np.abs(y + r - x)) <= 1e-6
        ref = sep.separate(x.T, sr, "drums")
        got, _ = sf.read(str(out / song / "drums.wav"), dtype="float32", always_2d=True)
        assert np.max(np.abs(got.T - ref)) <= 1e-6  # CLI == Python API
    rows = list(csv.DictReader(open(tmp_path / "r.csv")))
    assert len(rows) == 8 and {r["status"] for r in rows} == {"done"}
    assert not list(out.rglob("*.part"))


def test_existing_outputs_are_skipped_unless_overwrite(songs, tmp_path, text_bundle, capsys):
    folder, a, _ = songs
    out = tmp_path / "out"
    assert run([a, "-q", "bass", "-o", out, "--bundle", text_bundle], capsys)[0] == 0
    target = out / "a song" / "bass.wav"
    target.write_bytes(b"sentinel")
    rc, err = run([a, "-q", "bass", "-o", out, "--bundle", text_bundle], capsys)
    assert rc == 0 and "1 skipped" in err and target.read_bytes() == b"sentinel"
    rc, err = run([a, "-q", "bass", "-o", out, "--bundle", text_bundle, "--overwrite"], capsys)
    assert rc == 0 and "1 done" in err and target.read_bytes() != b"sentinel"


def test_output_folder_inside_the_input_folder_is_not_rendered_again(songs, text_bundle, capsys):
    folder, a, b = songs
    out = folder / "stems"
    for _ in range(2):  # the second run finds the stems of the first inside the input folder
        rc, err = run([folder, "-q", "bass", "-o", out, "--bundle", text_bundle], capsys)
        assert rc == 0, err
    assert "2 skipped" in err and "done" not in err.split("summary:")[-1]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.wav")) == ["a song/bass.wav", "sub/b/bass.wav"]


def make_bad_inputs(d):
    sr = 44100
    write(d / "good.wav", music_like(sr, sr, 2), sr)
    (d / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" + os.urandom(300))
    full = d / "full.wav"
    write(full, music_like(sr, sr, 2, seed=5), sr, "PCM_16")
    data = full.read_bytes()
    (d / "truncated.wav").write_bytes(data[: len(data) // 3])
    full.unlink()
    write(d / "empty.wav", np.zeros((2, 0), np.float32), sr)
    write(d / "one.wav", np.full((1, 1), 0.25, np.float32), sr)
    write(d / "eight.wav", music_like(20000, sr, 8), sr)
    write(d / "low.wav", music_like(8000, 8000, 1), 8000)
    write(d / "high.wav", music_like(192000 // 2, 192000, 2), 192000)
    nan = music_like(sr, sr, 1)
    nan[0, 1234] = np.nan
    write(d / "nan.wav", nan, sr)
    (d / "zero-bytes.flac").write_bytes(b"")


def test_bad_inputs_fail_alone(tmp_path, text_bundle, capsys):
    d = tmp_path / "in"
    d.mkdir()
    make_bad_inputs(d)
    (tmp_path / "no-audio").mkdir()
    (tmp_path / "no-audio" / "notes.txt").write_text("hi")
    out = tmp_path / "out"
    rc, err = run([d, tmp_path / "missing.wav", tmp_path / "no-audio", "-q", "bass", "-o", out, "--bundle",
                   text_bundle, "--results", tmp_path / "r.csv"], capsys)
    assert rc == 1
    table = list(csv.DictReader(open(tmp_path / "r.csv")))
    status = {os.path.basename(r["file"]): (r["status"], r["error"]) for r in table}
    # a truncated WAV (interrupted copy) is rendered as far as it goes, with a note saying so
    trunc = [r for r in table if r["file"].endswith("truncated.wav")][0]
    assert trunc["status"] == "done" and "is truncated" in trunc["note"] and "is truncated" in err
    for ok in ("good.wav", "one.wav", "eight.wav", "low.wav", "high.wav"):
        assert status[ok][0] == "done", (ok, status[ok])
        x, sr = sf.read(str(d / ok), always_2d=True)
        y, sr2 = sf.read(str(out / ok[:-4] / "bass.wav"), always_2d=True)
        assert y.shape == x.shape and sr2 == sr
    expect = {"corrupt.wav": "cannot read", "empty.wav": "no audio frames",
              "nan.wav": "NaN", "zero-bytes.flac": "empty", "missing.wav": "not found", "no-audio": "no audio files"}
    import re

    for name, pattern in expect.items():
        st, e = status[name]
        assert st == "failed" and re.search(pattern, e), (name, st, e)
        assert "Traceback" not in e
    assert "Traceback" not in err
    assert not (out / "corrupt").exists() and not (out / "nan").exists()
    assert not list(out.rglob("*.part"))


def test_output_equal_to_input_is_refused(tmp_path, text_bundle, capsys):
    out = tmp_path / "out"
    src = write(out / "bass" / "bass.wav", music_like(20000, 32000, 1), 32000)
    before = src.read_bytes()
    rc, err = run([src, "-q", "bass", "-o", out, "--bundle", text_bundle, "--overwrite"], capsys)
    assert rc == 1 and "is the input file itself" in err
    assert src.read_bytes() == before


@pytest.mark.parametrize("query,msg", [("   ", "empty query"), ("x" * 3000, "few words")])
def test_bad_query_is_a_usage_error(songs, tmp_path, text_bundle, capsys, query, msg):
    rc, err = run([songs[1], "-q", query, "-o", tmp_path / "out", "--bundle", text_bundle], capsys)
    assert rc == 2 and msg in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_long_query_is_truncated_with_a_warning(songs, tmp_path, text_bundle, capsys, caplog):
    q = " ".join(["bass"] * 100)
    with caplog.at_level("WARNING", logger="sepboard"):
        rc, err = run([songs[1], "-q", q, "-o", tmp_path / "out", "--bundle", text_bundle], capsys)
    assert rc == 0 and "longer than 16 tokens" in caplog.text


def test_unwritable_output(songs, tmp_path, text_bundle, capsys, monkeypatch):
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    rc, err = run([songs[1], "-q", "bass", "-o", blocker, "--bundle", text_bundle], capsys)
    assert rc == 2 and "not a folder" in err

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    rc, err = run([songs[1], "-q", "bass", "-o", tmp_path / "out", "--bundle", text_bundle], capsys)
    assert rc == 1 and "Permission denied" in err


def test_disk_full_mid_file_leaves_nothing_and_others_finish(songs, tmp_path, text_bundle, capsys, monkeypatch):
    folder, a, b = songs
    real = sf.SoundFile.write
    calls = {"n": 0}

    def flaky(self, data):
        calls["n"] += 1
        if "a song" in self.name and calls["n"] >= 2:
            raise OSError(28, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(sf.SoundFile, "write", flaky)
    monkeypatch.setattr("plugin.audiofile.READ_SECONDS", 0.5)
    out = tmp_path / "out"
    rc, err = run([folder, "-q", "bass", "-o", out, "--bundle", text_bundle], capsys)
    assert rc == 1 and "No space left on device" in err
    assert not (out / "a song" / "bass.wav").exists()
    assert (out / "sub" / "b" / "bass.wav").exists()
    assert not list(out.rglob("*.part"))


def test_cancel_leaves_no_partial_files(sep, songs, tmp_path):
    folder, a, b = songs
    cancel = threading.Event()

    def progress(f, fd, ft, d, t):
        if fd > 0:
            cancel.set()  # like Ctrl-C during the first file

    import plugin.audiofile as pr

    pr.READ_SECONDS, old = 0.25, pr.READ_SECONDS
    try:
        rep = render([folder], ["bass"], tmp_path / "out", separator=sep, progress=progress, cancel=cancel)
    finally:
        pr.READ_SECONDS = old
    assert {r.status for r in rep.results} == {"cancelled"}
    assert not list((tmp_path / "out").rglob("*.wav")) and not list((tmp_path / "out").rglob("*.part"))


def test_integer_outputs_clip_instead_of_wrapping(tmp_path):
    x = np.array([[0.5, 1.7, -3.0, 0.9999, -1.0]], np.float32)
    w = AtomicAudioWriter(tmp_path / "c.wav", 8000, 1, "wav", "16")
    w.write(x)
    w.commit()
    y, _ = sf.read(str(tmp_path / "c.wav"), dtype="int16")
    assert list(y) == [16384, 32767, -32768, 32764, -32768]
    assert np.array_equal(encode_for_subtype(x, "32f"), x)
    # the clipping is counted and reported (0.9999 and -1.0 fit in 16 bits; 1.7 and -3.0 do not)
    assert w.clipped == 2 and w.peak == pytest.approx(3.0)
    assert w.clip_note() == "c.wav: 2 sample(s) clipped at full scale (peak +9.5 dBFS); 32-bit float keeps them"
    w = AtomicAudioWriter(tmp_path / "f.wav", 8000, 1, "wav", "32f")
    w.write(x)
    w.commit()
    assert w.clip_note() == ""  # float keeps every peak


def test_clipped_stems_are_reported(songs, tmp_path, text_bundle, capsys):
    # A float file peaking at 3.0: stem + residual = mix, so at least one of them exceeds full scale
    # where the mix peaks; the 16-bit render must say which file clipped and how many samples.
    x = 0.2 * music_like(8000, 8000, 1, seed=3)
    x[0, 4000] = 3.0
    src = write(tmp_path / "hot" / "hot.wav", x, 8000)
    out = tmp_path / "out"
    rc, err = run([src, "-q", "bass", "--residual", "-o", out, "--bundle", text_bundle, "--bit-depth", "32f"], capsys)
    assert rc == 0 and "clipped" not in err
    top = 1 - 2.0 ** -15
    expected = {}
    for name in ("bass.wav", "bass-residual.wav"):
        y, _ = sf.read(str(out / "hot" / name), dtype="float32")
        n = int(np.count_nonzero((y > top) | (y < -1.0)))
        if n:
            expected[name] = (n, 20 * np.log10(np.abs(y).max()))
    assert expected  # the premise of the test
    rc, err = run([src, "-q", "bass", "--residual", "-o", out, "--bundle", text_bundle, "--bit-depth", "16",
                   "--overwrite"], capsys)
    assert rc == 0, err
    line = [ln for ln in err.splitlines() if "clipped at full scale" in ln]
    assert len(line) == 1 and line[0].startswith("  note: hot.wav: clipped at full scale: ")  # once per song
    for name, (n, peak) in expected.items():
        assert f"{name}, {n} sample(s), peak {peak:+.1f} dBFS" in line[0]
    assert "--bit-depth 32f" in line[0]


def test_near_silent_stems_are_reported(songs, tmp_path, text_bundle, capsys, monkeypatch):
    """A stem far below its input gets a note with its level, so nobody has to open a silent file to
    learn that the model did not find the instrument; residuals and louder stems get none."""
    import plugin.report as R

    folder, a, _ = songs
    out = tmp_path / "out"
    rc, err = run([a, "-q", "bass", "-q", "drums", "--residual", "-o", out, "--bundle", text_bundle,
                   "--bit-depth", "32f"], capsys)
    assert rc == 0 and R.NEAR_SILENT not in err
    x, _ = sf.read(str(a), dtype="float64")
    level = {}
    for q in ("bass", "drums"):
        y, _ = sf.read(str(out / "a song" / f"{q}.wav"), dtype="float64")
        level[q] = 10 * np.log10(np.sum(y ** 2) / np.sum(x ** 2))
    # a threshold between the two stems' levels: only the quieter one is reported, with its level
    quiet, loud = sorted(level, key=level.get)
    assert level[loud] - level[quiet] > 0.2  # the premise
    monkeypatch.setattr(R, "NEAR_SILENT_DB", (level[quiet] + level[loud]) / 2)
    rc, err = run([a, "-q", "bass", "-q", "drums", "--residual", "-o", out, "--bundle", text_bundle,
                   "--bit-depth", "32f", "--overwrite"], capsys)
    assert rc == 0, err
    assert f"note: a song.wav: near silent: {quiet}.wav at {level[quiet]:.0f} dB re the input" in err
    assert err.count(R.NEAR_SILENT) == 1


def test_flac_float_is_refused(songs, tmp_path, text_bundle, capsys):
    rc, err = run([songs[1], "-q", "bass", "-o", tmp_path / "o", "--format", "flac", "--bit-depth", "32f",
                   "--bundle", text_bundle], capsys)
    assert rc == 2 and "FLAC cannot store 32-bit float" in err


def test_outputs_get_normal_file_permissions(songs, tmp_path, text_bundle, capsys):
    import stat

    from plugin.audio import UMASK

    out = tmp_path / "out"
    assert run([songs[1], "-q", "bass", "-o", out, "--bundle", text_bundle], capsys)[0] == 0
    mode = stat.S_IMODE((out / "a song" / "bass.wav").stat().st_mode)
    assert mode == 0o666 & ~UMASK
