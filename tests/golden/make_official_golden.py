"""Make tests/golden/official_resunet30.npz from AudioSep's own code (run once, by hand).

Needs AudioSep's source (github:Audio-AGI/AudioSep; its models/ folder and utils.py) and an
environment with torch, torchlibrosa and librosa -- none of which the tests need:

    python -m venv /tmp/ref && /tmp/ref/bin/pip install torch==2.13.0 torchlibrosa librosa
    /tmp/ref/bin/python tests/golden/make_official_golden.py --audiosep /path/to/AudioSep

For each case it builds AudioSep's ``ResUNet30(input_channels=1, output_channels=1,
condition_size=512)``, fills every tensor (BatchNorm statistics included, STFT kernels excluded)
with ``weights.golden_tensor(name, shape, weight seed)``, runs the official forward pass in eval mode on a
deterministic mixture and condition, and stores input, condition and output, plus the official
state-dict names and shapes (to check that ours loads it).
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from weights import golden_tensor, is_random_weight  # noqa: E402

CASES = [  # (seed, samples, seed of the weights)
    (1, 32000, 1),
    (2, 23360, 2),  # 74 frames: not a multiple of the 32-frame stride
    (3, 96000, 3),
    (4, 1234, 2),  # shorter than n_fft: the official code reflect-pads the clip itself
    (5, 1025, 2),  # the shortest clip its reflect padding accepts (n_fft / 2 + 1)
]


def mixture(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 100)
    t = np.arange(n) / 32000.0
    x = 0.2 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 1.5 * t)) / 2
    x += 0.1 * np.sign(np.sin(2 * np.pi * 110 * t))
    x += 0.05 * rng.standard_normal(n)
    return x.astype(np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--audiosep", required=True, help="folder with AudioSep's models/ and utils.py")
    ap.add_argument("--out", default=str(HERE / "official_resunet30.npz"))
    args = ap.parse_args()
    sys.path.insert(0, args.audiosep)
    from models.resunet import ResUNet30  # AudioSep's own code

    data = {}
    keys = None
    for seed, n, weight_seed in CASES:
        model = ResUNet30(input_channels=1, output_channels=1, condition_size=512)
        sd = model.state_dict()
        new = {k: (torch.from_numpy(golden_tensor(k, v.shape, weight_seed)) if is_random_weight(k) else v) for k, v in sd.items()}
        model.load_state_dict(new)
        model.eval()
        keys = {k: list(v.shape) for k, v in sd.items()}
        x = mixture(seed, n)
        rng = np.random.default_rng(seed + 200)
        cond = rng.standard_normal(512).astype(np.float32)
        cond /= np.linalg.norm(cond)
        with torch.no_grad():
            y = model({"mixture": torch.from_numpy(x)[None, None], "condition": torch.from_numpy(cond)[None]})["waveform"]
        y = y.numpy()[0, 0].astype(np.float32)
        print(f"seed {seed}: {n} samples, output rms {np.sqrt(np.mean(y ** 2)):.4f}, input rms {np.sqrt(np.mean(x ** 2)):.4f}")
        data[f"x_{seed}"] = x
        data[f"cond_{seed}"] = cond
        data[f"y_{seed}"] = y
    data["seeds"] = np.array([s for s, _, _ in CASES])
    data["weight_seeds"] = np.array([w for _, _, w in CASES])
    data["keys"] = np.array(json.dumps(keys))
    data["torch_version"] = np.array(torch.__version__)
    np.savez_compressed(args.out, **data)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
