import numpy as np
import pytest

from plugin import Separator
from plugin.errors import AudioError, QueryError

from conftest import music_like


@pytest.fixture(scope="module")
def sep(embedding_bundle):
    return Separator.load(embedding_bundle)


@pytest.fixture(scope="module")
def emb():
    e = np.random.default_rng(5).standard_normal(16).astype(np.float32)
    return e / np.linalg.norm(e)


def test_runtime_whole_clip_matches_torch_model(tiny_bundle, emb):
    """Parity (c): numpy STFT + ONNX + numpy ISTFT vs the torch model on a 3 s stereo clip."""
    torch = pytest.importorskip("torch")
    from export.resunet import separate_waveform

    path, model = tiny_bundle
    sep = Separator.load(path)
    x = music_like(96000, channels=2, seed=1)
    y = sep.separate(x, 32000, embedding=emb, block_seconds=None)
    with torch.no_grad():
        ref = separate_waveform(model, torch.from_numpy(x), torch.from_numpy(np.stack([emb, emb]))).numpy()
    assert y.shape == x.shape and y.dtype == np.float32
    assert np.max(np.abs(ref)) > 1e-3  # the model does something
    assert np.max(np.abs(y - ref)) <= 1e-4


@pytest.mark.parametrize("shape", [(32000,), (1, 32000), (2, 32000), (8, 20000)])
def test_shape_is_preserved(sep, emb, shape):
    x = np.random.default_rng(0).uniform(-0.5, 0.5, shape).astype(np.float32)
    for block in (None, 2.0):
        y = sep.separate(x, 32000, embedding=emb, block_seconds=block)
        assert y.shape == x.shape and y.dtype == np.float32


@pytest.mark.parametrize("sr", [8000, 22050, 44100, 48000, 96000, 192000, 44056])
def test_any_sample_rate_returns_input_length(sep, emb, sr):
    x = music_like(int(0.8 * sr), sr=sr, channels=2)
    y = sep.separate(x, sr, embedding=emb, block_seconds=None)
    assert y.shape == x.shape
    assert np.all(np.isfinite(y))


@pytest.mark.parametrize("n", [1, 2, 100, 1023, 1025, 4000])
def test_tiny_clips(sep, emb, n):
    x = np.random.default_rng(n).uniform(-0.3, 0.3, (2, n)).astype(np.float32)
    for block in (None, 6.0):
        y = sep.separate(x, 44100, embedding=emb, block_seconds=block)
        assert y.shape == (2, n) and np.all(np.isfinite(y))


def test_residual_nulls_the_input(sep, emb):
    x = music_like(50000, sr=44100, channels=2)
    stem = sep.separate(x, 44100, embedding=emb)
    res = sep.separate(x, 44100, embedding=emb, residual=True)
    assert np.max(np.abs(stem + res - x)) <= 1e-6
    assert np.max(np.abs(stem)) > 1e-3


def test_mono_1d_in_1d_out(sep, emb):
    x = music_like(16000)[0]
    assert sep.separate(x, 32000, embedding=emb).shape == (16000,)


def test_integer_pcm_is_scaled(sep, emb):
    x = (music_like(8000)[0] * 32767).astype(np.int16)
    y = sep.separate(x, 32000, embedding=emb, block_seconds=None)
    yf = sep.separate(x.astype(np.float32) / 32767, 32000, embedding=emb, block_seconds=None)
    assert np.max(np.abs(y - yf)) < 1e-4


@pytest.mark.parametrize("bad,msg", [
    (np.zeros((2, 0), np.float32), "empty"),
    (np.zeros(0, np.float32), "empty"),
    (np.array([0.1, np.nan, 0.2], np.float32), "non-finite"),
    (np.array([[0.1, np.inf]], np.float32), "non-finite"),
    (np.zeros((2, 3, 4), np.float32), "shape"),
    (np.zeros((1000, 2), np.float32), r"audio\.T"),
    (np.array(["a", "b"]), "dtype"),
])
def test_bad_audio(sep, emb, bad, msg):
    with pytest.raises(AudioError, match=msg):
        sep.separate(bad, 32000, embedding=emb)


@pytest.mark.parametrize("sr", [0, -44100, 10, 1e9, float("nan"), float("inf"), "fast", None])
def test_bad_sample_rate(sep, emb, sr):
    with pytest.raises(AudioError, match="sample rate|Hz"):
        sep.separate(np.zeros(100, np.float32), sr, embedding=emb)


@pytest.mark.parametrize("bad,msg", [
    (np.zeros(15, np.float32), r"\[16\]"),
    (np.zeros((2, 3), np.float32), r"\[16\]"),
    (np.full(16, np.nan, np.float32), "NaN"),
    (np.array(["x"] * 16), "numeric"),
])
def test_bad_embedding(sep, bad, msg):
    with pytest.raises(QueryError, match=msg):
        sep.separate(np.zeros(100, np.float32), 32000, embedding=bad)


def test_text_query_without_text_encoder(sep):
    with pytest.raises(QueryError, match="no text encoder"):
        sep.separate(np.zeros(100, np.float32), 32000, "bass")


def test_neither_query_nor_embedding(sep):
    with pytest.raises(QueryError, match="pass a text query"):
        sep.separate(np.zeros(100, np.float32), 32000)


def test_several_embeddings_in_one_pass_match_single_calls(sep, emb):
    x = music_like(40000, channels=2, seed=4)
    e2 = np.roll(emb, 3)
    both = sep.separate_many(x, 32000, embeddings=np.stack([emb, e2]))
    one = sep.separate(x, 32000, embedding=emb)
    two = sep.separate(x, 32000, embedding=e2)
    assert np.max(np.abs(both[0] - one)) < 1e-5 and np.max(np.abs(both[1] - two)) < 1e-5
    assert np.max(np.abs(one - two)) > 1e-4  # the condition matters


@pytest.mark.parametrize("block, context", [(2.0, 0.5), (3.0, 1.0)])
def test_block_wise_reproduces_the_whole_clip(sep, emb, block, context):
    """Segments start on the model's 32-frame pooling grid and segment 0 starts at the first sample
    like the whole clip, and the segment that reaches the end is cut there, so its STFT reflects at
    the last sample like the whole clip's: block-wise output equals whole-clip output up to ONNX
    Runtime's rounding (-60 dB here; before the grid alignment it was -11 dB), the last second
    included (while the last segment saw the flushing silence the last half second differed by -4.5 dB re its peak)."""
    from export.metrics import si_sdr

    x = music_like(10 * 32000 + 777, sr=32000, channels=2, seed=5)  # the end off the hop grid
    whole = sep.separate(x, 32000, embedding=emb, block_seconds=None)
    blocks = sep.separate(x, 32000, embedding=emb, block_seconds=block, context_seconds=context)
    assert np.max(np.abs(whole - blocks)) <= 1e-3 * np.max(np.abs(whole))  # -60 dB: ORT rounding
    tail = slice(x.shape[-1] - 16000, None)
    assert np.max(np.abs(whole[:, tail] - blocks[:, tail])) <= 1e-3 * np.max(np.abs(whole[:, tail]))
    assert min(si_sdr(whole[c], blocks[c]) for c in range(2)) >= 50.0
    plan = sep.plan(block, context)
    grid = 32 * sep.bundle.manifest.hop
    assert plan.centre % grid == 0 and plan.left % grid == 0 and (plan.window + sep.bundle.manifest.hop) % grid == 0


@pytest.mark.parametrize("seconds", [0.01, 3.0, 15.0, 60.0, 61.0, 210.0, 3600.0])
def test_offline_plan_fills_the_budget_and_balances_segments(sep, seconds):
    """A light model's offline window is the longest whole number of strides within the activation
    budget (capped), with 0.5 s of context; for a known length the centres shrink to the smallest
    stride multiple that needs no more segments than the longest centre would."""
    from plugin.separator import (ACTIVATION_BUDGET_BYTES, OFFLINE_CONTEXT_SECONDS, OFFLINE_MAX_BLOCK_SECONDS,
                                  BlockPlan)

    core = sep.core
    step = core.time_multiple * core.hop
    longest = sep.offline_plan()
    strides = longest.window // step + 1
    assert core.frame_bytes * strides * core.time_multiple <= ACTIVATION_BUDGET_BYTES
    assert strides * step / core.sr <= OFFLINE_MAX_BLOCK_SECONDS
    # one stride more would break the budget or the cap
    assert (core.frame_bytes * (strides + 1) * core.time_multiple > ACTIVATION_BUDGET_BYTES
            or (strides + 1) * step / core.sr > OFFLINE_MAX_BLOCK_SECONDS)
    assert longest == BlockPlan.make(core, strides * step / core.sr, OFFLINE_CONTEXT_SECONDS)
    n = int(seconds * core.sr)
    plan = sep.offline_plan(n)
    assert (plan.left, plan.right, plan.fade) == (longest.left, longest.right, longest.fade)
    assert plan.centre % step == 0 and step <= plan.centre <= longest.centre
    segments = -(-n // plan.centre)
    assert segments == -(-n // longest.centre)
    assert segments * (plan.centre - step) < n  # one stride shorter would need another segment


def test_offline_plan_of_a_heavy_model_is_the_streaming_plan(sep, monkeypatch):
    """A model whose 12 s window breaks the activation budget keeps 6 s blocks with 1 s context."""
    monkeypatch.setattr(sep.core, "frame_bytes", 1 << 20)  # the full-size ResUNet30's estimate
    assert sep.offline_plan() == sep.plan(6.0, 1.0)
    streaming = sep.plan(6.0, 1.0)  # centre 13 strides (4.16 s)
    plan = sep.offline_plan(int(4.2 * 32000))  # 2 segments either way: 7 strides each suffice
    assert (plan.left, plan.right) == (streaming.left, streaming.right) and plan.centre == 7 * 32 * 320


def test_default_separation_follows_the_offline_plan(sep, emb, monkeypatch):
    """separate() without block_seconds (and the renderer) segment with offline_plan(n): the result
    equals a block-wise run with that plan, and matches the whole clip like any plan."""
    from export.metrics import si_sdr
    from plugin import separator as S

    x = music_like(25 * 32000, sr=32000, channels=2, seed=7)
    seen = []
    real = S.Separator.offline_plan

    def spy(self, n=None, context_seconds=None):
        plan = real(self, n, context_seconds)
        seen.append((n, plan))
        return plan

    monkeypatch.setattr(S.Separator, "offline_plan", spy)
    auto = sep.separate(x, 32000, embedding=emb)
    assert seen and all(n == x.shape[-1] for n, _ in seen)
    plan = seen[-1][1]
    assert plan.centre < sep.offline_plan().centre  # 25 s: balanced, shorter than the longest centre
    monkeypatch.setattr(S.Separator, "plan", lambda self, b, c: plan)
    explicit = sep.separate(x, 32000, embedding=emb, block_seconds=99.0)
    assert np.array_equal(auto, explicit)
    whole = sep.separate(x, 32000, embedding=emb, block_seconds=None)
    assert min(si_sdr(whole[c], auto[c]) for c in range(2)) >= 30.0


def test_model_length_is_what_a_whole_signal_resample_gives():
    """The block path cuts its last segment at model_length(n): it must be the length
    plugin.audio.resample returns (soxr rounds n * ratio half up: 64 kHz, 5 samples -> 3)."""
    from plugin.audio import resample
    from plugin.separator import model_length

    for sr in (8000, 22050, 44100, 48000, 64000, 96000):
        for n in (1, 2, 5, 7, 333, 44101, 96001):
            assert model_length(n, sr, 32000) == resample(np.zeros((1, n), np.float32), sr, 32000).shape[-1], (sr, n)
    assert model_length(12345, 32000, 32000) == 12345
