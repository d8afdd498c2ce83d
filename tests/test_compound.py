"""Negative / compound queries (plugin.compound): parsing, the Wiener combination, and one-pass separation."""
import numpy as np
import pytest

from plugin.compound import combine_stems, parse_query, separate_compound
from plugin.errors import QueryError

from conftest import music_like


@pytest.mark.parametrize("query, expected", [
    ("guitar, not the bass", ("guitar", ["the bass"])),
    ("guitar not bass", ("guitar", ["bass"])),
    ("Acoustic guitar but not the bass, not the drums", ("Acoustic guitar", ["the bass", "the drums"])),
    ("vocals without reverb", ("vocals", ["reverb"])),
    ("piano, no drums", ("piano", ["drums"])),
    ("piano except for the left hand", ("piano", ["the left hand"])),
    ("strings minus violins nor cellos", ("strings", ["violins", "cellos"])),
    ("guitar, not bass or drums", ("guitar", ["bass", "drums"])),
    ("guitar; not bass; no drums", ("guitar", ["bass", "drums"])),
    ("guitar without drums and bass", ("guitar", ["drums and bass"])),  # 'and' joins one sound
    ("guitar, not bass, not Bass", ("guitar", ["bass"])),
    ("  bass   guitar  ", ("bass guitar", [])),
    ("the notes of the piano", ("the notes of the piano", [])),  # 'not' only as a word
    ("knot and nothing", ("knot and nothing", [])),
    ('"guitar not bass"', ("guitar not bass", [])),  # quoted: literal
])
def test_parse_query(query, expected):
    assert parse_query(query) == expected


@pytest.mark.parametrize("query, msg", [
    ("not the drums", "only says what to leave out"),
    ("without bass", "only says what to leave out"),
    ("guitar, not", "names nothing to exclude"),
    ("piano, without", "names nothing to exclude"),
])
def test_parse_query_errors(query, msg):
    with pytest.raises(QueryError, match=msg):
        parse_query(query)


def tones(freqs, n=32000, sr=32000, amp=0.2):
    t = np.arange(n) / sr
    return sum(amp * np.sin(2 * np.pi * f * t) for f in freqs).astype(np.float32)


def band_level(x, f, sr=32000):
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    k = int(round(f * len(x) / sr))
    return spec[k - 3 : k + 4].max()


def test_silent_negative_leaves_the_stem_unchanged():
    pos = music_like(20000, channels=2, seed=1)
    out = combine_stems(pos, [np.zeros_like(pos)], 32000)
    assert out.shape == pos.shape and out.dtype == np.float32
    assert np.abs(out - pos).max() <= 1e-5


def test_negative_removes_its_part_and_keeps_the_rest():
    a, b = tones([440.0]), tones([110.0])
    pos = a + 0.3 * b  # the positive stem with bleed of the excluded sound, 10 dB below its own stem
    out = combine_stems(pos, [b], 32000)
    assert band_level(out, 110) < 0.1 * band_level(pos, 110)  # bleed reduced by more than 20 dB
    assert band_level(out, 440) > 0.95 * band_level(pos, 440)
    # where both claim a bin equally the positive keeps 1 / (1 + strength) of it
    for strength in (1.0, 4.0):
        tie = combine_stems(b, [b], 32000, strength=strength)
        assert np.abs(tie - b / (1 + strength)).max() <= 1e-5
    # plain subtraction would inject an inverted copy of whatever the negative has that the positive lacks
    c = tones([1500.0])
    out2 = combine_stems(a, [c], 32000)
    assert band_level(out2, 1500) < 1e-3 * band_level(c, 1500)
    assert np.abs(out2 - a)[1024:-1024].max() < 1e-4  # (the first/last half frame see the edges' splatter)


def test_gain_never_adds_energy_and_mono_and_short_inputs_work():
    rng = np.random.default_rng(0)
    pos = rng.standard_normal(5000).astype(np.float32) * 0.1
    neg = rng.standard_normal(5000).astype(np.float32) * 0.1
    out = combine_stems(pos, [neg, 0.5 * neg], 44100)
    assert out.shape == pos.shape and np.sum(out ** 2) < np.sum(pos ** 2)
    short = combine_stems(pos[:300], [neg[:300]], 44100)  # shorter than half a frame
    assert short.shape == (300,) and np.all(np.isfinite(short))
    assert np.array_equal(combine_stems(pos, [], 44100), pos)


def test_separate_compound_runs_one_pass_and_matches_the_parts(text_bundle):
    from plugin import Separator

    sep = Separator.load(text_bundle)
    x = music_like(24000, channels=2, seed=3)
    calls = []
    orig = sep.separate_many

    def spy(*a, **k):
        calls.append(a[2])
        return orig(*a, **k)

    sep.separate_many = spy
    stem = separate_compound(sep, x, 32000, "bass guitar, not the drums", block_seconds=None)
    assert calls == [["bass guitar", "the drums"]]  # both queries in one pass
    pos = sep.separate(x, 32000, "bass guitar", block_seconds=None)
    neg = sep.separate(x, 32000, "the drums", block_seconds=None)
    assert np.abs(stem - combine_stems(pos, [neg], 32000)).max() <= 1e-5
    assert stem.shape == x.shape and np.sum(stem ** 2) <= np.sum(pos ** 2)
    res = separate_compound(sep, x, 32000, "bass guitar, not the drums", residual=True, block_seconds=None)
    assert np.abs(res + stem - x).max() <= 1e-6  # stem + residual = input


def test_separate_compound_without_exclusion_is_plain_separate(text_bundle):
    from plugin import Separator

    sep = Separator.load(text_bundle)
    x = music_like(16000, seed=5)[0]
    a = separate_compound(sep, x, 32000, "piano")
    b = sep.separate(x, 32000, "piano")
    assert a.shape == x.shape and np.array_equal(a, b)
    c = separate_compound(sep, x, 32000, "piano not drums", negatives=["violin"], block_seconds=None)
    d = combine_stems(sep.separate(x, 32000, "piano not drums", block_seconds=None),
                      [sep.separate(x, 32000, "violin", block_seconds=None)], 32000)
    assert np.abs(c - d).max() <= 1e-5  # explicit negatives: the query is taken as is
