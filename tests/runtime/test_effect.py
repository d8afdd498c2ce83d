import numpy as np
import pedalboard as pb
import pytest

from plugin import Chain, Separator
from plugin.effect import SeparationEffect, resampler_holdback
from plugin.errors import AudioError, SepBoardError


def band_limited(n, sr, channels=2, seed=0):
    """Tones + low-passed noise: nothing near Nyquist, which the separator always zeroes."""
    r = np.random.default_rng(seed)
    t = np.arange(n) / sr
    out = []
    for c in range(channels):
        x = 0.2 * np.sin(2 * np.pi * (110 + 55 * c) * t) + 0.1 * np.sin(2 * np.pi * 1234 * t + c)
        box = np.ones(64) / 64  # twice a boxcar: a null at Nyquist and a steep low-pass before it
        noise = np.convolve(np.convolve(r.standard_normal(n), box, mode="same"), box, mode="same") * 4
        out.append(x + 0.05 * noise)
    fade = min(n, int(0.02 * sr))
    out = np.asarray(out)
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(fade) / fade)
    out[:, :fade] *= ramp  # no clicks (broadband) where the signal starts or stops
    out[:, n - fade :] *= ramp[::-1]
    return out.astype(np.float32)


def stream(fx, x, sr, rng, lo=1, hi=65536):
    outs, i = [], 0
    while i < x.shape[-1]:
        n = int(rng.integers(lo, hi + 1))
        outs.append(fx(x[:, i : i + n], sr, reset=False))
        i += n
    return np.concatenate(outs, axis=-1)


@pytest.fixture(scope="module")
def ident(identity_bundle):
    return Separator.load(identity_bundle)


@pytest.fixture(scope="module")
def tiny(embedding_bundle):
    return Separator.load(embedding_bundle)


EMB = np.ones(16, np.float32) / 4


def test_identity_model_gives_an_exact_delay_at_the_model_rate(ident):
    fx = ident.effect(embedding=EMB, block_seconds=1.0, context_seconds=0.25)
    sr = ident.sample_rate
    x = band_limited(3 * sr + 123, sr)
    y = stream(fx, x, sr, np.random.default_rng(0), 1, 20000)
    lat = fx.latency_samples
    assert lat == fx.plan.centre + fx.plan.right
    assert y.shape == x.shape
    assert np.max(np.abs(y[:, :lat])) == 0.0  # nothing before the latency
    assert np.max(np.abs(y[:, lat:] - x[:, :-lat])) <= 1e-5
    # one call (pedalboard's reset=True convention) is the same signal, aligned
    whole = fx(x, sr)
    assert np.max(np.abs(whole - x)) <= 1e-5


@pytest.mark.parametrize("sr", [44100, 48000, 22050])
def test_streaming_equals_one_call_delayed_by_latency(ident, sr):
    fx = ident.effect(embedding=EMB, block_seconds=1.0, context_seconds=0.25)
    x = band_limited(int(2.5 * sr), sr, seed=1)
    whole = fx(x, sr)
    y = stream(fx, x, sr, np.random.default_rng(sr))
    lat = fx.latency_samples
    assert lat == fx.latency_at(sr) and isinstance(lat, int)
    assert np.max(np.abs(y[:, lat:] - whole[:, : x.shape[-1] - lat])) <= 1e-5
    # and the identity model reproduces the (band-limited) input through both resamplers
    assert np.max(np.abs(whole[:, 2000:-2000] - x[:, 2000:-2000])) <= 2e-3


@pytest.mark.parametrize("sr", [32000, 44100])
def test_effect_equals_offline_blockwise_separation(tiny, sr):
    kw = dict(block_seconds=1.0, context_seconds=0.25)
    x = band_limited(int(2.2 * sr), sr, seed=11)
    fx = tiny.effect(embedding=EMB, **kw)
    assert np.max(np.abs(fx(x, sr) - tiny.separate(x, sr, embedding=EMB, **kw))) <= 1e-5


@pytest.mark.parametrize("sr", [44100, 22050])
def test_the_file_ends_as_in_the_whole_clip(tiny, sr):
    """The last segment is cut at the input's end (model_length at the model rate), so it reflects
    there like the whole clip instead of seeing the flushing silence: the last half second of a
    stream ended with flush(), of a whole-buffer call and of the whole clip agree to -60 dB re the
    tail's peak (without the cut they differ far more). The context (0.5 s, two strides) covers the
    test model's receptive field, as the offline plan's does."""
    kw = dict(embedding=EMB, block_seconds=1.0, context_seconds=0.5)
    x = band_limited(int(3.3 * sr) + 333, sr, seed=8)
    clip = tiny.separate(x, sr, embedding=EMB, block_seconds=None)
    fx = tiny.effect(**kw)
    whole = fx(x, sr)
    streamed = np.concatenate([stream(fx, x, sr, np.random.default_rng(3)), fx.flush()], axis=-1)[:, fx.latency_at(sr):]
    assert streamed.shape == x.shape and np.max(np.abs(streamed - whole)) <= 1e-5
    tail = slice(x.shape[-1] - sr // 2, None)
    assert np.max(np.abs(whole[:, tail] - clip[:, tail])) <= 1e-3 * np.max(np.abs(clip[:, tail]))


def test_chunk_sizes_from_1_to_65536(ident):
    sr = 44100
    fx = ident.effect(embedding=EMB, block_seconds=1.0, context_seconds=0.25)
    x = band_limited(sr, sr, channels=1, seed=2)
    whole = fx(x, sr)
    sizes = [1, 2, 3, 65536] + [1] * 500 + [7, 1000]
    outs, i, k = [], 0, 0
    while i < x.shape[-1]:
        n = sizes[k % len(sizes)]
        outs.append(fx(x[:, i : i + n], sr, reset=False))
        i, k = i + n, k + 1
    y = np.concatenate(outs, axis=-1)
    lat = fx.latency_samples
    assert np.max(np.abs(y[:, lat:] - whole[:, : sr - lat])) <= 1e-5


def test_reset_behaves_as_new(tiny):
    sr = 48000
    fx = tiny.effect(embedding=EMB, block_seconds=1.0, context_seconds=0.25)
    x = band_limited(sr, sr, seed=3)
    first = stream(fx, x, sr, np.random.default_rng(1))
    fx(np.ones((2, 5000), np.float32) * 0.5, sr, reset=False)  # garbage in the state
    fx.reset()
    again = stream(fx, x, sr, np.random.default_rng(2))
    assert np.max(np.abs(first - again)) <= 1e-5


@pytest.mark.parametrize("sr", [32000, 44100])
def test_stem_plus_residual_nulls_the_input(tiny, sr):
    kw = dict(embedding=EMB, block_seconds=1.0, context_seconds=0.25)
    stem_fx, res_fx = tiny.effect(**kw), tiny.effect(residual=True, **kw)
    x = band_limited(2 * sr, sr, seed=4)
    rng = np.random.default_rng(5)
    stem = stream(stem_fx, x, sr, rng, 1, 9000)
    res = stream(res_fx, x, sr, np.random.default_rng(6), 1, 9000)
    lat = stem_fx.latency_samples
    assert res_fx.latency_samples == lat
    assert np.max(np.abs(stem)) > 1e-3
    assert np.max(np.abs((stem + res)[:, lat:] - x[:, :-lat])) <= 1e-6
    whole_stem, whole_res = stem_fx(x, sr), res_fx(x, sr)
    assert np.max(np.abs(whole_stem + whole_res - x)) <= 1e-6


def test_stream_format_change_needs_reset(tiny):
    fx = tiny.effect(embedding=EMB, block_seconds=1.0, context_seconds=0.25)
    fx(np.zeros((2, 100), np.float32), 44100, reset=False)
    with pytest.raises(AudioError, match="reset"):
        fx(np.zeros((1, 100), np.float32), 44100, reset=False)
    with pytest.raises(AudioError, match="reset"):
        fx(np.zeros((2, 100), np.float32), 48000, reset=False)


def test_latency_needs_a_rate(tiny):
    fx = tiny.effect(embedding=EMB)
    with pytest.raises(SepBoardError, match="latency_at"):
        _ = fx.latency_samples
    assert fx.latency_at(32000) == fx.plan.latency


def test_resampler_holdback_is_positive_and_cached():
    a = resampler_holdback(44100, 32000)
    assert 16 < a < 5000 and resampler_holdback(44100, 32000) == a


def make_chain(fx):
    return Chain([pb.HighpassFilter(40), fx, pb.Compressor(threshold_db=-20, ratio=3), pb.Gain(-3)])


def test_chain_whole_buffer_is_aligned_and_matches_manual_processing(tiny):
    sr = 44100
    fx = tiny.effect(embedding=EMB, block_seconds=1.0, context_seconds=0.25)
    chain = make_chain(fx)
    x = band_limited(2 * sr, sr, seed=7)
    y = chain(x, sr)
    assert y.shape == x.shape
    manual = pb.Pedalboard([pb.HighpassFilter(40)])(x, sr)
    manual = fx(manual, sr)
    manual = pb.Pedalboard([pb.Compressor(threshold_db=-20, ratio=3), pb.Gain(-3)])(manual, sr)
    assert np.max(np.abs(y - manual)) <= 1e-5
    assert len(chain) == 4 and isinstance(chain[1], SeparationEffect)


def test_chain_streamed_through_audiofile(tiny, tmp_path):
    from pedalboard.io import AudioFile

    sr = 44100
    x = band_limited(3 * sr, sr, seed=8)
    src = tmp_path / "in.wav"
    with AudioFile(str(src), "w", sr, 2, bit_depth=32) as f:
        f.write(x)
    fx = tiny.effect(embedding=EMB, block_seconds=1.0, context_seconds=0.25)
    chain = make_chain(fx)
    whole = chain(x, sr)
    outs = []
    with AudioFile(str(src)) as f:
        while f.tell() < f.frames:
            outs.append(chain(f.read(3000), f.samplerate, reset=False))
    y = np.concatenate(outs, axis=-1)
    lat = chain.latency_samples
    assert lat == fx.latency_at(sr)  # these pedalboard plugins add no latency
    assert np.max(np.abs(y[:, lat:] - whole[:, :-lat])) <= 1e-5


def test_chain_holdback_streams_plugins_that_hold_back_samples(tiny):
    sr = 48000
    fx = tiny.effect(embedding=EMB, block_seconds=1.0, context_seconds=0.25)
    chain = Chain([pb.Resample(16000), fx], holdback=300)  # Resample holds back 257 samples at 48 kHz
    x = band_limited(2 * sr, sr, seed=9)
    whole = chain(x, sr)
    y = np.concatenate([chain(x[:, i : i + 4096], sr, reset=False) for i in range(0, x.shape[-1], 4096)], axis=-1)
    lat = chain.latency_samples
    assert lat == fx.latency_at(sr) + 300
    assert np.max(np.abs(y[:, lat:] - whole[:, :-lat])) <= 1e-5


def test_chain_without_enough_holdback_warns_and_keeps_length(tiny, caplog):
    sr = 48000
    chain = Chain([pb.Resample(16000), pb.Gain(1)])
    x = band_limited(sr, sr, seed=10)
    with caplog.at_level("WARNING", logger="sepboard"):
        y = np.concatenate([chain(x[:, i : i + 4096], sr, reset=False) for i in range(0, sr, 4096)], axis=-1)
    assert y.shape == x.shape
    assert chain.latency_samples == 257
    assert "held back 257 samples" in caplog.text


def reverb_chain(tiny, sr):
    """A chain with the effect between a highpass + reverb and a peak filter, a 1.7 s signal, and the
    chain's output for the whole buffer: (chain, x, whole)."""
    fx = tiny.effect(embedding=EMB, block_seconds=1.0, context_seconds=0.25)
    chain = Chain([pb.HighpassFilter(60), pb.Reverb(room_size=0.5), fx, pb.PeakFilter(3000, 2.5, 0.8)])
    x = band_limited(int(1.7 * sr), sr, seed=12)
    return chain, x, chain(x, sr)


def test_chain_flush_completes_the_stream_exactly(tiny):
    sr = 44100
    chain, x, whole = reverb_chain(tiny, sr)
    outs = [chain(x[:, i : i + 5000], sr, reset=False) for i in range(0, x.shape[-1], 5000)]
    lat = chain.latency_samples
    outs.append(chain.flush())
    y = np.concatenate(outs, axis=-1)[:, lat:]
    assert y.shape == x.shape
    assert np.max(np.abs(y - whole)) <= 1e-5  # upstream reverb tail is cut, as in the whole-buffer call


def test_chain_process_chunks_equals_the_whole_buffer_and_reports_progress(tiny):
    from plugin.errors import Cancelled

    sr = 44100
    chain, x, whole = reverb_chain(tiny, sr)
    seen = []
    y = chain.process_chunks(x, sr, chunk_seconds=0.3, progress=seen.append)
    assert y.shape == x.shape and np.max(np.abs(y - whole)) <= 1e-5
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) == 6
    assert chain.process_chunks(x[0], sr).shape == (x.shape[-1],)  # mono in, mono out
    plain = Chain([pb.Gain(-6)])  # no latency: nothing to flush
    assert np.max(np.abs(plain.process_chunks(x, sr, chunk_seconds=0.1) - plain(x, sr))) == 0.0
    with pytest.raises(Cancelled):
        chain.process_chunks(x, sr, cancel=lambda: True)


def test_chain_rejects_other_objects():
    with pytest.raises(TypeError, match="pedalboard plugins and SepBoard effects"):
        Chain([lambda x, sr: x])


def test_silent_segments_are_skipped_exactly(tiny):
    sr = 32000
    x = band_limited(5 * sr, sr, seed=13)
    x[:, int(1.2 * sr) : int(3.8 * sr)] = 0.0  # digital silence inside the file
    kw = dict(embedding=EMB, block_seconds=1.0, context_seconds=0.25)
    fx = tiny.effect(**kw)
    y = fx(x, sr)
    from plugin.blocks import BlockEngine

    plan = tiny.plan(1.0, 0.25)
    full = BlockEngine(tiny.core, EMB[None], 2, plan)
    full._silent = lambda k: False  # the reference computes every segment

    def run(eng):  # the signal ends after x (as the effect marks it), then silence flushes the latency
        head = eng.push(x)
        eng.end_signal()
        return np.concatenate([head, eng.push(np.zeros((2, plan.latency), np.float32))], axis=-1)[0][:, plan.latency:]

    ref = run(full)
    eng = BlockEngine(tiny.core, EMB[None], 2, plan)
    got = run(eng)
    assert eng.segments_skipped >= 2 and full.segments_skipped == 0
    assert np.array_equal(got, ref)
    assert np.max(np.abs(y - ref)) == 0.0
