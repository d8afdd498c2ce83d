"""The query language (plugin.query) and how a query becomes audio (plugin.compound): unions,
exclusions, "the rest", residuals, whole and streamed."""
import numpy as np
import pytest

from plugin.compound import QueryMix, combine_stems, evaluate_query, separate_compound
from plugin.errors import QueryError
from plugin.naming import slugify
from plugin.query import Query, parse, parse_all

from conftest import music_like


@pytest.mark.parametrize("text, terms, negatives, rest", [
    ("bass guitar", ["bass guitar"], [], False),
    ("  bass   guitar  ", ["bass guitar"], [], False),
    ("bass and drums", ["bass", "drums"], [], False),  # a union, not one sound
    ("bass, drums + piano & organ", ["bass", "drums", "piano", "organ"], [], False),
    ("guitar, not the bass", ["guitar"], ["the bass"], False),
    ("guitar not bass", ["guitar"], ["bass"], False),
    ("Acoustic guitar but not the bass, not the drums", ["Acoustic guitar"], ["the bass", "the drums"], False),
    ("piano, no drums", ["piano"], ["drums"], False),
    ("piano except for the left hand", ["piano"], ["the left hand"], False),
    ("strings minus violins nor cellos", ["strings"], ["violins", "cellos"], False),
    ("guitar, not bass or drums", ["guitar"], ["bass", "drums"], False),
    ("guitar; not bass; no drums", ["guitar"], ["bass", "drums"], False),
    ("guitar without drums and bass", ["guitar"], ["drums", "bass"], False),
    ("guitar - bass", ["guitar"], ["bass"], False),
    ("bass and drums, not the kick", ["bass", "drums"], ["the kick"], False),
    ("guitar, not bass, not Bass", ["guitar"], ["bass"], False),
    ("everything but the drums", [], ["the drums"], True),
    ("all except vocals", [], ["vocals"], True),
    ("no drums", [], ["drums"], True),
    ("not drums", [], ["drums"], True),
    ("without bass", [], ["bass"], True),
    ("the rest, not vocals", [], ["vocals"], True),
    ("backing track without vocals", [], ["vocals"], True),
    ("everything except the drums and bass", [], ["the drums", "bass"], True),
    ("anything other than drums", [], ["drums"], True),
    ("the notes of the piano", ["the notes of the piano"], [], False),  # 'not' only as a word
    ("a bright but warm piano", ["a bright but warm piano"], [], False),  # 'but' only after everything/all
    ("hi-hat", ["hi-hat"], [], False),
    ("bass,", ["bass"], [], False),
    ('"drum and bass not jungle"', ["drum and bass not jungle"], [], False),  # quoted: literal
])
def test_parse(text, terms, negatives, rest):
    q = parse(text)
    assert (list(q.terms), list(q.negatives), q.rest) == (terms, negatives, rest)
    again = parse(q.normalised)  # the normalised wording names files and parses back to the same query
    assert (again.terms, again.negatives, again.rest, again.literal) == (q.terms, q.negatives, q.rest, q.literal)


@pytest.mark.parametrize("text, words", [
    ("everything", "needs something to leave out"),
    ("the rest", "needs something to leave out"),
    ("backing track", "needs something to leave out"),
    ("guitar, not", "names nothing after it"),
    ("piano, without", "names nothing after it"),
    ("bass and", "names nothing after it"),
    ("everything but", "names nothing after it"),
    ("drums and the rest", "whole input"),
    ("guitar, not guitar", "both keeps and leaves out"),
    ("guitar, not everything", "leaves out everything"),
    ('""', "quotes hold nothing"),
    ("   ", "empty query"),
])
def test_queries_that_cannot_be_honoured_say_so(text, words):
    with pytest.raises(QueryError, match=words):
        parse(text)


def test_normalised_wording_names_the_output():
    assert [slugify(parse(t).normalised) for t in ("Bass Guitar", "not drums", "bass and drums", "guitar, not the bass")] \
        == ["bass-guitar", "everything-but-drums", "bass-and-drums", "guitar-not-the-bass"]
    assert [q.normalised for q in parse_all(["no drums", "everything but drums", "drums"])] == \
        ["everything but drums", "drums"]  # the same query twice is rendered once
    assert parse("no vocals").describe() == "everything except “vocals”"


class FakeSeparator:
    """Each description's 'stem' is a fixed, distinct share of the input (sin/cos weighted in time)."""

    def __init__(self):
        self.calls = []

    def _stem(self, x, text):
        k = sum(map(ord, text)) % 7 + 1
        t = np.linspace(0, 1, x.shape[-1], dtype=np.float32)
        return (0.1 * k * x * (1 + np.sin(2 * np.pi * k * t)) / 2).astype(np.float32)

    def separate_many(self, audio, sr, queries, **kw):
        self.calls.append(list(queries))
        return [self._stem(np.asarray(audio, np.float32), q) for q in queries]

    def separate(self, audio, sr, query, residual=False, **kw):
        self.calls.append([query])
        s = self._stem(np.asarray(audio, np.float32), query)
        return np.asarray(audio, np.float32) - s if residual else s


def test_unions_the_rest_and_exclusions_from_the_stems_of_one_pass():
    sep = FakeSeparator()
    x = music_like(20000, 32000, 2, seed=1)
    bass, drums, kick = (sep._stem(x, t) for t in ("bass", "drums", "the kick"))
    union = evaluate_query(sep, x, 32000, "bass and drums")
    assert sep.calls[-1] == ["bass", "drums"] and np.allclose(union, bass + drums, atol=1e-6)
    rest = evaluate_query(sep, x, 32000, "everything but drums")
    assert np.allclose(rest, x - drums, atol=1e-6) and np.allclose(rest + drums, x, atol=1e-6)
    assert np.allclose(evaluate_query(sep, x, 32000, "no drums", residual=True), drums, atol=1e-6)
    both = evaluate_query(sep, x, 32000, "bass and drums, not the kick")
    assert sep.calls[-1] == ["bass", "drums", "the kick"]  # every description in one pass
    assert np.abs(both - combine_stems(bass + drums, [kick], 32000)).max() <= 1e-6
    res = evaluate_query(sep, x, 32000, "bass and drums, not the kick", residual=True)
    assert np.abs(res + both - x).max() <= 1e-6
    mono = evaluate_query(sep, x[0], 32000, "bass and drums")
    assert mono.shape == x[0].shape
    assert np.array_equal(evaluate_query(sep, x, 32000, "bass"), bass)  # plain: exactly separate()
    c = separate_compound(sep, x, 32000, "piano not drums", negatives=["violin"])
    assert sep.calls[-1] == ["piano not drums", "violin"]  # explicit negatives: the query is taken as is
    assert c.shape == x.shape


@pytest.mark.parametrize("text, residual", [("bass, not the drums", False), ("bass, not the drums", True),
                                            ("no drums", False), ("bass and organ", True)])
def test_a_query_streamed_in_chunks_equals_the_whole(text, residual):
    sep = FakeSeparator()
    x = music_like(30000, 44100, 2, seed=4)
    q = parse(text)
    whole = evaluate_query(sep, x, 44100, q, residual=residual)
    stems = np.stack(sep.separate_many(x, 44100, q.texts))
    mix, outs = QueryMix(q, q.texts, 2, 44100, residual=residual), []
    for i in range(0, x.shape[-1], 777):
        outs.append(mix.push(stems[..., i:i + 777], x[:, i:i + 777]))
    outs.append(mix.finish())
    streamed = np.concatenate([o for o in outs if o.size], axis=-1)
    assert streamed.shape == whole.shape and np.abs(streamed - whole).max() <= 1e-6


def test_fixed_delay_mix_returns_what_it_was_given_delayed_exactly():
    sep = FakeSeparator()
    x = music_like(20000, 32000, 1, seed=5)
    q = Query(("bass",), ("drums",))
    stems = np.stack(sep.separate_many(x, 32000, q.texts))
    mix = QueryMix(q, q.texts, 1, 32000, fixed_delay=True)
    outs = [mix.push(stems[..., i:i + 500]) for i in range(0, 20000, 500)]
    assert all(o.shape == (1, 500) for o in outs)
    out = np.concatenate(outs, axis=-1)
    ref = combine_stems(stems[0], [stems[1]], 32000)
    d = mix.delay
    assert np.all(out[:, :d] == 0)
    np.testing.assert_allclose(out[:, d:], ref[:, : 20000 - d], atol=1e-6)


@pytest.fixture(scope="module")
def text_sep(text_bundle):
    from plugin import Separator

    return Separator.load(text_bundle)


def test_the_effect_speaks_the_query_language(text_sep):
    sep, sr = text_sep, text_sep.sample_rate
    kw = dict(block_seconds=1.0, context_seconds=0.25)
    x = music_like(int(2.5 * sr), sr, 2, seed=6)
    stems = {t: sep.separate(x, sr, t, **kw) for t in ("bass", "drums", "piano")}
    union = sep.effect("bass and drums", **kw)(x, sr)
    assert np.abs(union - (stems["bass"] + stems["drums"])).max() <= 1e-5
    rest = sep.effect("everything but the piano", **kw)
    assert rest.residual and np.abs(rest(x, sr) - (x - sep.separate(x, sr, "the piano", **kw))).max() <= 1e-5
    fx = sep.effect("bass, not the drums", **kw)
    assert fx.latency_at(sr) == sep.effect("bass", **kw).latency_at(sr) + fx.mix_delay > fx.mix_delay > 0
    whole = fx(x, sr)
    ref = combine_stems(stems["bass"], [sep.separate(x, sr, "the drums", **kw)], sr)
    assert whole.shape == x.shape and np.abs(whole - ref).max() <= 1e-4
    # streamed: the same samples, delayed by exactly the (larger) latency
    outs = [fx(x[:, i:i + 3000], sr, reset=False) for i in range(0, x.shape[-1], 3000)]
    lat = fx.latency_samples
    y = np.concatenate(outs, axis=-1)
    assert np.abs(y[:, lat:] - whole[:, : x.shape[-1] - lat]).max() <= 1e-5 and not np.any(y[:, :lat])


def test_latency_is_defined_after_a_whole_buffer_call(text_sep):
    fx = text_sep.effect("bass")
    x = music_like(8000, 44100, 2)
    fx(x, 44100)
    assert fx.latency_samples == fx.latency_at(44100)
    from plugin import Chain

    chain = Chain([fx])
    chain(x, 44100)
    assert chain.latency_samples == fx.latency_at(44100)


def test_the_effect_at_another_rate_is_close_to_the_offline_exclusion(text_sep):
    sep, sr = text_sep, 44100
    kw = dict(block_seconds=1.0, context_seconds=0.25)
    x = music_like(int(2.0 * sr), sr, 1, seed=8)
    whole = sep.effect("bass, not the drums", **kw)(x, sr)
    ref = evaluate_query(sep, x, sr, "bass, not the drums", **kw)
    err = np.sqrt(np.mean((whole - ref) ** 2) / np.mean(ref ** 2))
    assert whole.shape == x.shape and err < 0.15  # the same exclusion, at the model rate (misaligned: ~1)
