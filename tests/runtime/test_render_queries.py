"""The batch renderer speaks the query language, says each problem once per song, and its progress
follows the work: `python -m plugin.render` end to end with the tiny test bundle."""
import re

import numpy as np
import pytest
import soundfile as sf

from plugin.render import main

from conftest import ROOT, music_like


def write(path, x, sr):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x.T, sr, subtype="FLOAT")
    return path


def run(args, capsys):
    rc = main(list(map(str, args)) + ["--quiet"])
    return rc, capsys.readouterr().err


def read(path):
    return sf.read(str(path), dtype="float32", always_2d=True)[0].T


def test_negative_union_and_rest_queries_write_what_they_say(tmp_path, text_bundle, capsys):
    x = music_like(2 * 44100, 44100, 2, seed=1)
    src = write(tmp_path / "in" / "song.wav", x, 44100)
    out = tmp_path / "out"
    rc, err = run([src, "-q", "drums", "-q", "bass", "-q", "not drums", "-q", "bass and drums",
                   "-q", "everything but bass and drums", "-q", "bass, not the drums", "--residual", "-o", out,
                   "--bundle", text_bundle, "--bit-depth", "32f"], capsys)
    assert rc == 0, err
    song = out / "song"
    drums, bass = read(song / "drums.wav"), read(song / "bass.wav")
    rest = read(song / "everything-but-drums.wav")  # "not drums" is the rest, named so
    assert np.abs(rest - (x - drums)).max() <= 1e-6
    assert np.abs(read(song / "everything-but-drums-residual.wav") - drums).max() <= 1e-6
    union = read(song / "bass-and-drums.wav")
    assert np.abs(union - (bass + drums)).max() <= 1e-6
    assert np.abs(read(song / "everything-but-bass-and-drums.wav") - (x - union)).max() <= 1e-6
    excl = read(song / "bass-not-the-drums.wav")
    assert excl.shape == x.shape and np.sum(excl ** 2) <= np.sum(bass ** 2)
    assert np.abs(read(song / "bass-not-the-drums-residual.wav") + excl - x).max() <= 1e-6
    assert "summary: 12 done" in err


@pytest.mark.parametrize("query, words", [("everything", "needs something to leave out"),
                                          ("drums and the rest", "whole input"),
                                          ("guitar, not", "names nothing after it")])
def test_a_query_that_cannot_be_honoured_stops_before_the_model_loads(tmp_path, text_bundle, capsys, monkeypatch,
                                                                     query, words):
    from plugin.separator import Separator

    def no_load(*a, **k):
        raise AssertionError("the model was loaded for a query that cannot be honoured")

    monkeypatch.setattr(Separator, "load", no_load)
    src = write(tmp_path / "song.wav", music_like(8000, 8000, 1), 8000)
    rc, err = run([src, "-q", "drums", "-q", query, "-o", tmp_path / "out", "--bundle", text_bundle], capsys)
    assert rc == 2 and words in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_a_typo_gets_a_note_with_suggestions_before_separating(tmp_path, text_bundle, capsys, monkeypatch):
    import plugin.vocabulary as V

    from conftest import fake_embed

    monkeypatch.setattr(V, "vocabulary_of", lambda sep: V.Vocabulary(V.DEFAULT_VOCABULARY, fake_embed))
    src = write(tmp_path / "song.wav", music_like(8000, 8000, 1), 8000)
    main([str(src), "-q", "drmus", "-q", "bass", "-o", str(tmp_path / "out"), "--bundle", str(text_bundle)])
    err = capsys.readouterr().err
    notes = [ln for ln in err.splitlines() if "far from every wording" in ln]
    assert len(notes) == 1 and notes[0].startswith("note: “drmus”") and "did you mean “drums”" in notes[0]
    assert err.index(notes[0]) < err.index("summary:")
    assert (tmp_path / "out" / "song" / "drmus.wav").exists()  # a warning, not a refusal


def test_a_bad_file_is_reported_once_however_many_outputs_it_has(tmp_path, text_bundle, capsys, caplog):
    d = tmp_path / "in"
    write(d / "good.wav", music_like(8000, 8000, 1), 8000)
    (d / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" + bytes(300))
    with caplog.at_level("INFO", logger="sepboard"):
        rc, err = run([d, "-q", "bass", "-q", "drums", "-q", "piano", "--residual", "-o", tmp_path / "out",
                       "--bundle", text_bundle], capsys)
    assert rc == 1
    lines = [ln for ln in (err + caplog.text).splitlines() if "corrupt.wav" in ln]
    assert len(lines) == 1 and lines[0].startswith("  failed: corrupt.wav: cannot read"), lines


def test_file_progress_follows_the_outputs_written_not_the_decoding(tmp_path, text_bundle, monkeypatch):
    from plugin import Separator
    from plugin.audiowrite import AtomicAudioWriter
    from plugin.render import render

    sr = 32000
    src = write(tmp_path / "song.wav", music_like(6 * sr, sr, 1, seed=3), sr)
    written = {"n": 0}
    real = AtomicAudioWriter.write

    def counting(self, block):
        if self.path.name == "bass.wav":
            written["n"] += block.shape[-1]
        return real(self, block)

    monkeypatch.setattr(AtomicAudioWriter, "write", counting)
    monkeypatch.setattr("plugin.audiofile.READ_SECONDS", 0.5)
    seen = []

    def progress(f, file_done, file_total, done, total):
        seen.append((file_done, written["n"] / sr, file_total))

    rep = render([src], ["bass"], tmp_path / "out", separator=Separator.load(text_bundle), block_seconds=1.0,
                 context_seconds=0.5, progress=progress)
    assert rep.ok and len(seen) > 3
    for file_done, written_s, total in seen:
        assert file_done <= written_s + 1e-6 and file_done <= total + 1e-6
    assert [s[0] for s in seen] == sorted(s[0] for s in seen) and seen[-1][0] == pytest.approx(6.0)


def test_readme_synopsis_lists_every_option_and_the_same_block_length_as_help():
    import subprocess
    import sys

    help_text = subprocess.run([sys.executable, "-m", "plugin.render", "--help"], cwd=ROOT, capture_output=True,
                               text=True, timeout=300).stdout
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Batch rendering"):readme.index("## Python API")]
    synopsis = section[section.index("```bash"):section.index("```", section.index("```bash") + 3)]
    ray = readme[readme.index("## Catalog-scale rendering on Ray"):]
    ray_synopsis = ray[ray.index("python -m plugin.render --ray"):]
    ray_synopsis = ray_synopsis[:ray_synopsis.index("```")]
    options = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]+", help_text)) - {"--help", "--query", "--out"}
    ray_options = {"--ray", "--workers", "--gpus-per-worker"}

    def listed(o, text):
        return re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", text)

    missing = sorted(o for o in options - ray_options if not listed(o, synopsis))
    missing += sorted(o for o in ray_options if not listed(o, ray_synopsis))
    assert not missing and listed("-q", synopsis) and listed("-o", synopsis), f"README's synopses lack {missing}"
    limits = set(re.findall(r"at most (\d+) s", " ".join(help_text.split())))
    assert limits and all(f"at most {s} s" in " ".join(section.split()) for s in limits)
