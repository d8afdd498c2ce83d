import numpy as np
import pytest

from plugin import stft as S
from plugin.errors import AudioError

from conftest import music_like


def _torch():
    return pytest.importorskip("torch")  # the reference transform; the runtime itself needs no torch


def torch_stft(x, n_fft, hop, dtype=None):
    torch = _torch()
    dtype = torch.float32 if dtype is None else dtype
    return torch.stft(torch.from_numpy(x).to(dtype), n_fft, hop, window=torch.hann_window(n_fft, dtype=dtype), center=True,
                      pad_mode="reflect", return_complex=True).transpose(-1, -2).numpy()


@pytest.mark.parametrize("n", [1025, 5000, 32000 * 3, 32000 * 3 + 17])
@pytest.mark.parametrize("n_fft,hop", [(2048, 320), (1024, 320), (1024, 256)])
def test_stft_matches_torch(n, n_fft, hop):
    if n <= n_fft // 2:
        pytest.skip("too short for reflect padding")
    torch = _torch()
    x = music_like(n, channels=2)
    ours = S.stft(x, n_fft, hop)
    ref = torch_stft(x, n_fft, hop)
    ref64 = torch_stft(x, n_fft, hop, torch.float64)
    assert ours.shape == ref.shape == (2, S.num_frames(n, hop), n_fft // 2 + 1)
    # ours is computed in float64 and rounded once: within 1e-5 of torch's exact (float64) transform ...
    assert np.max(np.abs(ours - ref64)) <= 1e-5
    # ... and within torch's own float32 rounding of its float32 result (bins reach ~100 here)
    assert np.max(np.abs(ours - ref)) <= 1e-5 * max(1.0, float(np.max(np.abs(ref64))) / 10)


@pytest.mark.parametrize("n", [1025, 32000 * 3 + 17])
def test_istft_matches_torch_and_inverts(n):
    torch = _torch()
    x = music_like(n, channels=2, seed=3)
    spec = torch_stft(x, 2048, 320)
    ref = torch.istft(torch.from_numpy(spec).transpose(-1, -2), 2048, 320, window=torch.hann_window(2048),
                      center=True, length=n).numpy()
    ours = S.istft(spec, 2048, 320, n)
    assert ours.dtype == np.float32 and ours.shape == x.shape
    assert np.max(np.abs(ours - ref)) <= 1e-5
    assert np.max(np.abs(S.istft(S.stft(x, 2048, 320), 2048, 320, n) - x)) <= 1e-6


def test_istft_pads_to_requested_length():
    x = music_like(4000)[0]
    y = S.istft(S.stft(x, 1024, 256), 1024, 256, 4000 + 700)
    assert y.shape == (4700,)
    assert np.all(y[4000 + 512:] == 0)


def test_periodic_hann_matches_torch():
    torch = _torch()
    assert np.allclose(S.hann_window(2048), torch.hann_window(2048, periodic=True, dtype=torch.float64).numpy(), atol=1e-12)


def test_too_short_for_reflect_padding_is_a_clear_error():
    with pytest.raises(AudioError, match="too short"):
        S.stft(np.zeros(1024, np.float32), 2048, 320)
