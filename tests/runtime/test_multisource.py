"""Multi-source bundles at run time: one pass for every query, routes, and split into stems."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from plugin import Separator
from plugin.split import DEFAULT_QUERIES, keep

BUNDLES = Path(__file__).resolve().parents[1] / "bundles"
FAMILIES = ["bass", "drums", "piano"]


@pytest.fixture(scope="module")
def ms():
    return Separator.load(BUNDLES / "multisource", threads=1)


def music(seconds=2.0, sr=44100, channels=2, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = 0.3 * np.sin(2 * np.pi * 110 * t) + 0.2 * np.sin(2 * np.pi * 660 * t) * (t % 0.5 < 0.1)
    x = x + 0.05 * rng.standard_normal(len(t))
    return np.stack([x * (1 - 0.2 * c) for c in range(channels)]).astype(np.float32)


def test_the_bundle_names_its_families(ms):
    assert ms.families == FAMILIES
    r = ms.route("bass guitar")
    assert list(r) == FAMILIES and all(0.0 <= v <= 1.0 for v in r.values())


def test_one_pass_for_all_queries_matches_the_contract_graph(ms):
    """The family path (trunk once, routed sum in numpy) equals the graph's own mask/cos/sin output."""
    x = music(1.0, 32000, 1)[0]
    core = ms.core
    spec, mag, pad_to = core.analyse(x[None])
    emb = ms.embed(["bass guitar", "piano", "drums"])
    sess = ms.bundle.separator_session
    contract = [sess.run(["mask", "cos", "sin"], {"magnitude": mag, "condition": e[None]}) for e in emb]
    masks = tuple(np.concatenate([c[i] for c in contract]) for i in range(3))
    want = core.synthesise(spec, masks, len(emb), pad_to, x.shape[-1])
    got = core.separate(x[None], ms.conditions(["bass guitar", "piano", "drums"]))
    assert np.max(np.abs(got - want)) < 1e-5 * max(1.0, np.max(np.abs(want)))


def test_split_sums_exactly_to_the_input(ms):
    x = music()
    stems = ms.split(x, 44100, threshold_db=-200.0)
    assert list(stems) == FAMILIES + ["other"]
    assert all(s.shape == x.shape for s in stems.values())
    assert np.max(np.abs(sum(stems.values()) - x)) < 1e-5


def test_split_leaves_quiet_families_in_other(ms):
    x = music()
    stems = ms.split(x, 44100, threshold_db=50.0)  # nothing is 50 dB louder than the mix
    assert list(stems) == ["other"]
    assert np.array_equal(stems["other"], x)


def test_split_of_mono_returns_mono(ms):
    x = music(channels=1)[0]
    stems = ms.split(x, 44100, threshold_db=-200.0)
    assert all(s.ndim == 1 and s.shape == x.shape for s in stems.values())


def test_split_without_a_family_head_runs_queries(text_bundle_path=BUNDLES / "text"):
    sep = Separator.load(text_bundle_path, threads=1)
    assert sep.families == [] and sep.route("bass") == {}
    x = music(1.0)
    stems = sep.split(x, 44100, threshold_db=-200.0)
    assert list(stems) == list(DEFAULT_QUERIES) + ["other"]
    assert np.max(np.abs(sum(stems.values()) - x)) < 1e-5


def test_keep_orders_and_thresholds():
    x = np.ones(100, np.float32)
    loud, quiet = 0.5 * x, 0.01 * x  # -6 dB and -40 dB re the input
    kept = keep(["a", "b"], [loud, quiet], x, threshold_db=-24.0)
    assert list(kept) == ["a", "other"]
    assert np.allclose(kept["other"], 0.5 * x)


def test_block_wise_matches_whole_clip_for_a_multisource_bundle(ms):
    x = music(6.0, 32000, 1)[0]
    whole = ms.separate(x, 32000, "drums", block_seconds=None)
    blocks = ms.separate(x, 32000, "drums", block_seconds=2.0, context_seconds=0.5)
    err = np.sum((whole - blocks) ** 2) / max(np.sum(whole ** 2), 1e-12)
    assert 10 * np.log10(err + 1e-20) < -30


def test_render_split_writes_stems_that_sum_to_the_input(tmp_path):
    import soundfile as sf

    from plugin.render import main

    x = music(3.0, 44100, 2)
    sf.write(tmp_path / "song.wav", x.T, 44100, subtype="FLOAT")
    rc = main([str(tmp_path / "song.wav"), "--split", "-o", str(tmp_path / "out"), "--bundle",
               str(BUNDLES / "multisource"), "--format", "wav", "--bit-depth", "32f", "--quiet"])
    assert rc == 0
    files = sorted((tmp_path / "out" / "song").glob("*.wav"))
    names = [f.stem for f in files]
    assert "other" in names and set(names) <= set(FAMILIES + ["other"])
    total = sum(sf.read(f, dtype="float32")[0] for f in files)
    assert np.max(np.abs(total - x.T)) < 1e-5
    assert not list((tmp_path / "out").rglob("*.part")) and not list((tmp_path / "out" / "song").glob(".*"))
    # a second run skips; --overwrite replaces
    assert main([str(tmp_path / "song.wav"), "--split", "-o", str(tmp_path / "out"), "--bundle",
                 str(BUNDLES / "multisource"), "--quiet"]) == 0


def test_split_refuses_ray_and_residual(tmp_path, capsys):
    from plugin.render import main

    assert main([str(tmp_path), "--split", "--residual", "-o", str(tmp_path / "o"), "--quiet"]) == 2
    assert "--query and --residual do not apply" in capsys.readouterr().err
    assert main([str(tmp_path), "--split", "--ray", "-o", str(tmp_path / "o"), "--quiet"]) == 2
    assert "not available with --ray" in capsys.readouterr().err
