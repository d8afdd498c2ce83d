"""The host's Qt-free parts: waveform peaks, the live mixer, effect chains, session files, export names."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from conftest import music_like
from gui import project as P
from gui.project import store
from gui.peaks import BASE, PeakPyramid
from gui.playback import FakeBackend, Mixer, audible
from gui.tracks import EffectError, Track, build_chain, new_effect, process_effects, validate_effects


# ------------------------------------------------------------------------------------------------
# peaks
# ------------------------------------------------------------------------------------------------
def _true_range(x, a, b):
    a, b = max(0, int(a)), min(x.shape[-1], int(b))
    if b <= a:
        return None
    return x[:, a:b].min(axis=1), x[:, a:b].max(axis=1)


@pytest.mark.parametrize("start, spp", [(0.0, 0.25), (0.0, 3.7), (1234.5, 20.0), (0.0, 100.0), (5000.0, 731.0),
                                        (-300.0, 4096.0), (0.0, 99999.0)])
def test_peak_columns_bound_the_true_min_max_of_every_pixel(start, spp):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((2, 200_003)) * np.linspace(0.01, 1, 200_003)).astype(np.float32)
    pyr = PeakPyramid(x)
    width = 500
    lo, hi, first = pyr.columns(start, spp, width, connect=False)
    assert lo.shape == hi.shape and lo.shape[0] == 2 and first + lo.shape[1] <= width
    lvl = pyr.level_for(spp)
    unit = 1 if lvl < 0 else pyr.sizes[lvl]
    assert unit <= max(spp, 1)  # never coarser than a pixel
    assert lvl == len(pyr.sizes) - 1 or pyr.sizes[lvl + 1] > spp  # the coarsest level that fits
    checked = 0
    for i in range(lo.shape[1]):
        c = first + i
        e0, e1 = start + c * spp, start + (c + 1) * spp
        wide = _true_range(x, np.floor(e0) - unit, np.ceil(e1) + unit)
        assert np.all(lo[:, i] >= wide[0] - 1e-7) and np.all(hi[:, i] <= wide[1] + 1e-7)
        narrow = _true_range(x, np.ceil(e0) + unit, np.floor(e1) - unit)
        if narrow is not None:  # the column contains everything strictly inside its pixel
            assert np.all(lo[:, i] <= narrow[0] + 1e-7) and np.all(hi[:, i] >= narrow[1] - 1e-7)
            checked += 1
    if spp > 4 * unit:
        assert checked > 0


def test_peaks_at_one_sample_per_pixel_are_the_samples():
    x = np.arange(-50, 50, dtype=np.float32)[None] / 50
    lo, hi, first = PeakPyramid(x).columns(10.0, 1.0, 20, connect=False)
    assert first == 0
    np.testing.assert_array_equal(lo[0], x[0, 10:30])
    np.testing.assert_array_equal(hi[0], x[0, 10:30])
    # connected: each column reaches its neighbour, so the line has no gaps
    lo, hi, _ = PeakPyramid(x).columns(10.0, 1.0, 20)
    assert np.all(lo[0, 1:] <= hi[0, :-1]) and np.all(hi[0, 1:] >= lo[0, :-1])


def test_peak_pyramid_is_small_and_many_channels_fold_into_one_row():
    x = np.zeros((2, 10 * 60 * 44100), np.float32)
    pyr = PeakPyramid(x)
    assert pyr.nbytes < x.nbytes / 10 and pyr.levels[-1][0].shape[-1] <= 64 * 4 and pyr.sizes[0] == BASE
    six = music_like(5000, 32000, 6)
    p6 = PeakPyramid(six)
    assert p6.channels == 1
    lo, hi, _ = p6.columns(0, 5000 / 10, 10, connect=False)
    assert np.isclose(lo.min(), six.min()) and np.isclose(hi.max(), six.max())


def test_view_beyond_the_audio_has_no_columns():
    pyr = PeakPyramid(np.ones((1, 1000), np.float32))
    lo, hi, first = pyr.columns(2000.0, 10.0, 100)
    assert lo.shape[1] == 0
    lo, hi, first = pyr.columns(-500.0, 10.0, 100)  # audio starts at column 50
    assert first == 50 and lo.shape[1] == 50


# ------------------------------------------------------------------------------------------------
# mixer
# ------------------------------------------------------------------------------------------------
def T(audio, **kw):
    return Track(name=kw.pop("name", "t"), audio=np.asarray(audio, np.float32), **kw)


def test_solo_and_mute_decide_what_is_audible():
    a, b, c = T(np.zeros((1, 4)), name="a"), T(np.zeros((1, 4)), name="b"), T(np.zeros((1, 4)), name="c")
    assert audible([a, b, c]) == [a, b, c]
    b.mute = True
    assert audible([a, b, c]) == [a, c]
    c.solo = True
    assert audible([a, b, c]) == [c]
    b.solo = True  # muted beats soloed
    assert audible([a, b, c]) == [c]


def test_mixer_mixes_gain_mono_and_multichannel_and_stops_at_the_end():
    mono = T(np.full((1, 10), 0.1), gain_db=20 * np.log10(2))
    stereo = T(np.stack([np.full(6, 0.01), np.full(6, 0.02)]))
    quad = T(np.full((4, 10), 0.1))
    m = Mixer(out_channels=2)
    m.set_tracks([mono, stereo, quad])
    out = m.render(8)
    assert out.shape == (8, 2)
    np.testing.assert_allclose(out[:6], [[0.2 + 0.01 + 0.1, 0.2 + 0.02 + 0.1]] * 6, atol=1e-6)
    np.testing.assert_allclose(out[6:], [[0.3, 0.3]] * 2, atol=1e-6)
    assert m.position == 8 and not m.finished
    out = m.render(8)
    assert m.position == 10 and m.finished and not out[2:].any()
    loud = T(np.full((1, 4), 0.9))
    m.set_tracks([loud, loud])
    m.seek(0)
    assert m.render(4).max() == 1.0  # clipped to full scale, never wrapped


def test_mixer_plays_the_processed_audio_and_stops_at_the_selection_end():
    t = T(np.ones((1, 100)) * 0.5, effects=[{"type": "Gain", "params": {"gain_db": -6.0}}])
    t.processed, t.processed_key = np.full((1, 100), 0.25, np.float32), t.effects_key
    m = Mixer()
    m.set_tracks([t])
    m.seek(10)
    m.end = 20
    out = m.render(16)
    np.testing.assert_allclose(out[:10], 0.25)
    assert not out[10:].any() and m.position == 20 and m.finished


def test_fake_backend_records_blocks():
    m = Mixer()
    m.set_tracks([T(np.arange(10, dtype=np.float32)[None] / 10)])
    be = FakeBackend(blocksize=4)
    be.start(48000, 2, m.render)
    be.pump()
    be.pump(3)
    np.testing.assert_allclose(be.mixed()[0], np.arange(7) / 10, atol=1e-6)
    be.stop()
    assert be.pump() is None and be.started == [(48000, 2)]


# ------------------------------------------------------------------------------------------------
# effects
# ------------------------------------------------------------------------------------------------
def test_chunked_effects_match_the_whole_buffer_chain():
    x = music_like(20000, 44100, 2, seed=3)
    fx = [new_effect("HighpassFilter"), new_effect("PeakFilter"), new_effect("Compressor"), new_effect("Limiter"),
          {"type": "Gain", "params": {"gain_db": 4.0}}]
    fx[1]["params"]["gain_db"] = 6.0
    ref = build_chain(fx)(x, 44100)
    seen = []
    y = process_effects(x, 44100, fx, progress=seen.append, chunk_seconds=0.01)
    assert y.shape == x.shape
    np.testing.assert_allclose(y, ref, atol=1e-6)
    assert seen[-1] == 1.0 and len(seen) > 10


def test_effect_validation_rejects_unknown_things_and_clamps_values():
    with pytest.raises(EffectError, match="unknown effect 'Reverb2'"):
        validate_effects([{"type": "Reverb2"}])
    with pytest.raises(EffectError, match="unknown parameter"):
        validate_effects([{"type": "Gain", "params": {"gain": 1}}])
    with pytest.raises(EffectError, match="must be a number"):
        validate_effects([{"type": "Gain", "params": {"gain_db": "loud"}}])
    (e,) = validate_effects([{"type": "HighpassFilter", "params": {"cutoff_frequency_hz": 1e9}}])
    assert e["params"]["cutoff_frequency_hz"] == 20000.0


def test_bypassed_effects_do_not_change_the_audio():
    t = T(music_like(1000, 32000), effects=[dict(new_effect("Gain"), bypass=True)])
    assert not t.has_active_effects and t.playable() is t.audio
    assert process_effects(t.audio, 32000, t.effects) is not None


# ------------------------------------------------------------------------------------------------
# session files and export names
# ------------------------------------------------------------------------------------------------
def test_session_round_trip_and_validation(tmp_path):
    mix = T(music_like(5000, 32000, 2), name="Mix", kind="mix", source=str(tmp_path / "song.wav"))
    stem = T(music_like(5000, 32000, 2, seed=1), name="bass", kind="stem", query="bass", region=(10, 4000),
             effects=[new_effect("Compressor")], gain_db=-3.0)
    st = P.SessionState(32000, [mix, stem], song="song", history=["bass"])
    f = P.save_session(tmp_path / "s", st)
    doc = json.loads(f.read_text())
    assert doc["format_version"] == P.FORMAT_VERSION and doc["tracks"][0]["file"] == f"audio/{mix.uid}.wav"
    assert doc["tracks"][0]["source"] == "../song.wav"
    back, folder = P.load_session(tmp_path / "s" / "session.json")
    assert folder == tmp_path / "s"
    assert [(t.name, t.kind, t.region, t.gain_db, t.effects) for t in back.tracks] == \
           [(t.name, t.kind, t.region, t.gain_db, t.effects) for t in (mix, stem)]
    np.testing.assert_array_equal(back.tracks[1].audio, stem.audio)

    def broken(**changes):
        d = json.loads(f.read_text())
        d.update(changes)
        g = tmp_path / "x" / "session.json"
        g.parent.mkdir(exist_ok=True)
        g.write_text(json.dumps(d))
        return g

    with pytest.raises(P.SessionError, match="sample_rate"):
        P.read_doc(broken(sample_rate="fast"))
    with pytest.raises(P.SessionError, match="relative"):
        P.read_doc(broken(tracks=[{"name": "a", "file": "/etc/passwd"}]))
    with pytest.raises(P.SessionError, match="unknown effect"):
        P.read_doc(broken(tracks=[{"name": "a", "file": "a.wav", "effects": [{"type": "Nope"}]}]))
    with pytest.raises(P.SessionError, match="newer"):
        P.read_doc(broken(format_version=2))


def test_save_is_atomic_when_writing_fails(tmp_path, monkeypatch):
    st = P.SessionState(32000, [T(music_like(100, 32000), name="a", kind="mix")])
    P.save_session(tmp_path / "s", st)
    before = (tmp_path / "s" / "session.json").read_bytes()
    st.tracks.append(T(music_like(100, 32000), name="b"))

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store.os, "replace", boom)
    with pytest.raises(P.OutputError, match="No space left"):
        P.save_session(tmp_path / "s", st)
    assert (tmp_path / "s" / "session.json").read_bytes() == before
    left = [p.name for p in (tmp_path / "s").rglob("*") if p.name.startswith(".")]
    assert left == []  # no temp files left behind
    monkeypatch.undo()
    monkeypatch.setattr(store, "atomic_write_text", lambda *a: boom())  # the audio is written, the JSON fails
    with pytest.raises(P.OutputError, match="previous file is unchanged"):
        P.save_session(tmp_path / "s", st)
    assert (tmp_path / "s" / "session.json").read_bytes() == before


def test_export_names_follow_plugin_naming(tmp_path):
    from plugin.naming import song_name, stem_path

    song = tmp_path / "In: The Mix?.flac"
    s1 = T(np.zeros((1, 4)), name="Bass Guitar", kind="stem", query="Bass Guitar")
    r1 = T(np.zeros((1, 4)), name="Bass Guitar (residual)", kind="residual", query="Bass Guitar")
    s2 = T(np.zeros((1, 4)), name="bass guitar", kind="stem", query="bass guitar")  # same slug
    other = T(np.zeros((1, 4)), name="My Take", kind="audio")
    plan = P.export_plan([s1, r1, s2, other], tmp_path / "out", song, "flac")
    paths = [p for _, p in plan]
    assert paths[0] == stem_path(tmp_path / "out", song, "Bass Guitar", "flac")
    assert paths[1] == stem_path(tmp_path / "out", song, "Bass Guitar", "flac", residual=True)
    assert [p.name for p in paths] == ["bass-guitar.flac", "bass-guitar-residual.flac", "bass-guitar-2.flac",
                                       "my-take.flac"]
    assert paths[0].parent.name == "In_ The Mix_"
    # the host keeps the song's name ("Live 2.0" from "Live 2.0.wav"); the folder is the batch renderer's
    (_, p), = P.export_plan([s1], tmp_path, song_name(tmp_path / "Live 2.0.wav"), "wav")
    assert p == stem_path(tmp_path, tmp_path / "Live 2.0.wav", "Bass Guitar", "wav")


def test_truncated_wav_opens_with_a_note(tmp_path):
    p = tmp_path / "cut.wav"
    sf.write(str(p), music_like(20000, 32000).T, 32000, subtype="PCM_16")
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    la = P.load_audio_file(p)
    assert la.notes and "truncated" in la.notes[0]  # opened, with a note the host shows
    assert la.audio[:, :9000].any() and not la.audio[:, 10500:].any()  # the missing part is silence
