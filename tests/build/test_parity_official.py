"""Parity (d): our torch ResUNet30 and the runtime vs AudioSep's own code.

tests/golden/official_resunet30.npz was made once by tests/golden/make_official_golden.py from
AudioSep's source with deterministic weights (tests/golden/weights.py); here the same weights go
through *our* checkpoint importer in the official Lightning layout, so the importer is checked too.
"""
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # build-time test: compares with / builds torch models

from export.checkpoint import import_official
from export.resunet import ResUNet30, separate_waveform
from golden.weights import golden_tensor, is_random_weight

from conftest import GOLDEN

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def golden():
    return np.load(GOLDEN / "official_resunet30.npz")


def official_keys(golden):
    return json.loads(str(golden["keys"]))


def write_official_checkpoint(path, golden, seed, with_text=False):
    sd = {}
    for k, shape in official_keys(golden).items():
        if is_random_weight(k):
            t = torch.from_numpy(golden_tensor(k, shape, seed))
        elif k.endswith("num_batches_tracked"):
            t = torch.tensor(0)
        else:  # torchlibrosa STFT kernels: present in the real file, ignored by the importer
            t = torch.zeros(shape)
        sd["ss_model." + k] = t
    if with_text:
        sd["query_encoder.model.text_branch.embeddings.word_embeddings.weight"] = torch.zeros(10, 4)
    torch.save({"state_dict": sd, "global_step": 4000000, "pytorch-lightning_version": "2.0.0"}, path)
    return path


def test_state_dict_names_and_shapes_match_official(golden):
    ours = {k: tuple(v.shape) for k, v in ResUNet30().state_dict().items() if not k.endswith("num_batches_tracked")}
    theirs = {k: tuple(v) for k, v in official_keys(golden).items() if is_random_weight(k)}
    assert ours == theirs
    assert len([k for k in theirs if k.startswith("film.") and k.endswith(".weight")]) == 38


def weight_seed(golden, seed):
    """The seed of the weights of golden case ``seed`` (cases 4 and 5 reuse case 2's model)."""
    seeds = list(golden["seeds"])
    return int(golden["weight_seeds"][seeds.index(seed)]) if "weight_seeds" in golden.files else seed


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_torch_model_matches_official_code(golden, tmp_path, seed):
    ckpt = write_official_checkpoint(tmp_path / "audiosep.ckpt", golden, weight_seed(golden, seed))
    model, text, report = import_official(ckpt)
    assert report["global_step"] == 4000000 and text == {}
    x, cond, ref = golden[f"x_{seed}"], golden[f"cond_{seed}"], golden[f"y_{seed}"]
    with torch.no_grad():
        y = separate_waveform(model, torch.from_numpy(x)[None], torch.from_numpy(cond)[None])[0].numpy()
    assert y.shape == ref.shape
    assert np.max(np.abs(y - ref)) <= 1e-4, np.max(np.abs(y - ref))


def test_runtime_bundle_matches_official_code(golden, tmp_path):
    """Checkpoint -> python -m export.audiosep -> Separator (ONNX Runtime, numpy STFT) vs AudioSep, on a
    clip that is not a whole number of strides and on clips shorter than n_fft (1234 and 1025 samples:
    the official code reflect-pads any clip longer than n_fft / 2 itself)."""
    from export.audiosep import main
    from plugin import Separator

    seed = 2
    ckpt = write_official_checkpoint(tmp_path / "audiosep.ckpt", golden, seed)
    assert main(["--checkpoint", str(ckpt), "--out", str(tmp_path / "bundle"), "--name", "golden"]) == 0
    sep = Separator.load(tmp_path / "bundle")
    assert sep.name == "golden" and sep.sample_rate == 32000 and sep.condition_dim == 512
    for case in (2, 4, 5):
        assert weight_seed(golden, case) == seed
        x, cond, ref = golden[f"x_{case}"], golden[f"cond_{case}"], golden[f"y_{case}"]
        y = sep.separate(x, 32000, embedding=cond, block_seconds=None)
        assert y.shape == ref.shape
        assert np.max(np.abs(y - ref)) <= 1e-4, (case, np.max(np.abs(y - ref)))
