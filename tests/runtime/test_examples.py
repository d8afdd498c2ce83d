"""The example scripts a musician copies must keep working."""
import importlib.util
from pathlib import Path

import numpy as np
import soundfile as sf

from plugin import Chain, Separator

from conftest import ROOT, music_like


def load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_batch_stems_example(tmp_path, text_bundle):
    songs = tmp_path / "songs"
    songs.mkdir()
    x = music_like(30000, 44100, 2, seed=3)
    sf.write(str(songs / "tune.wav"), x.T, 44100, subtype="FLOAT")
    load("batch_stems").main([str(songs), str(tmp_path / "stems"), "--query", "bass", "--query", "drums",
                              "--bundle", str(text_bundle)])
    parts = [sf.read(str(tmp_path / "stems" / "tune" / f"{q}.wav"), always_2d=True)[0] for q in ("bass", "drums", "rest")]
    assert all(p.shape == x.T.shape for p in parts)
    assert np.max(np.abs(sum(parts) - x.T)) < 1e-4  # 24-bit files: the parts add back up to the song


def test_chain_example_lines_up_with_the_whole_buffer_chain(tmp_path, text_bundle):
    x = music_like(3 * 44100 + 77, 44100, 2, seed=4)
    src = tmp_path / "in.wav"
    sf.write(str(src), x.T, 44100, subtype="FLOAT")
    load("chain_eq_compressor").main([str(src), str(tmp_path / "out.wav"), "--query", "vocals", "--bundle",
                                      str(text_bundle), "--block-seconds", "1.5"])
    y, sr = sf.read(str(tmp_path / "out.wav"), always_2d=True)
    assert sr == 44100 and y.shape == x.T.shape
    mod = load("chain_eq_compressor")
    import pedalboard

    sep = Separator.load(text_bundle)
    chain = Chain([pedalboard.HighpassFilter(cutoff_frequency_hz=60),
                   sep.effect("vocals", block_seconds=1.5, context_seconds=0.5),
                   pedalboard.PeakFilter(cutoff_frequency_hz=3000, gain_db=2.5, q=0.8),
                   pedalboard.Compressor(threshold_db=-18, ratio=3, attack_ms=5, release_ms=120),
                   pedalboard.Gain(gain_db=1.5)])
    whole = chain(x, 44100)
    assert np.max(np.abs(y.T - np.clip(whole, -1, 1))) < 1e-4  # streamed file == whole buffer, aligned


def test_batch_stems_example_skips_a_corrupt_file_in_one_line(tmp_path, text_bundle, capsys):
    songs = tmp_path / "songs"
    songs.mkdir()
    sf.write(str(songs / "good.wav"), music_like(20000, 44100, 2).T, 44100, subtype="FLOAT")
    (songs / "bad.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" + bytes(300))
    rc = load("batch_stems").main([str(songs), str(tmp_path / "stems"), "--query", "bass", "--bundle",
                                   str(text_bundle)])
    err = capsys.readouterr().err
    assert rc == 1 and len(err.splitlines()) == 1 and err.startswith("bad.wav: skipped: ") and "Traceback" not in err
    assert (tmp_path / "stems" / "good" / "bass.wav").exists() and not (tmp_path / "stems" / "bad").exists()
