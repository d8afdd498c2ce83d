"""Exclusions from a sound: the Wiener combination (plugin.wiener), whole and streamed, and one-pass
separation of a compound query (plugin.compound). The query language itself: tests/runtime/test_query.py."""
import numpy as np
import pytest

from plugin.compound import combine_stems, separate_compound
from plugin.wiener import WienerStream

from conftest import music_like


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


def test_streamed_combination_equals_the_whole_and_lags_by_at_most_its_delay():
    rng = np.random.default_rng(7)
    n, sr = 3 * 48000 + 11, 48000
    pos = music_like(n, sr, 2, seed=2)
    negs = [0.5 * music_like(n, sr, 2, seed=3), rng.standard_normal((2, n)).astype(np.float32) * 0.05]
    whole = combine_stems(pos, negs, sr)
    stream, outs, given = WienerStream(2, sr, 2), [], 0
    while given < n:
        k = int(rng.integers(1, 5000))
        outs.append(stream.push(pos[:, given:given + k], [a[:, given:given + k] for a in negs]))
        given = min(n, given + k)
        assert given - sum(o.shape[-1] for o in outs) <= stream.delay
    outs.append(stream.finish())
    streamed = np.concatenate(outs, axis=-1)
    assert streamed.shape == whole.shape and np.abs(streamed - whole).max() <= 1e-6
