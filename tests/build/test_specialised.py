"""Query specialisation: film.onnx + separator_core.onnx reproduce the generic separator.

The runtime runs the FiLM part once per query and writes its outputs over placeholder initializers of
the core graph (plugin.bundle.patch_core); these tests hold that path to the torch model and to the
generic graph, and check the cache and the bad-bundle errors.
"""
import json
import shutil

import numpy as np
import pytest

from conftest import music_like, tiny_model


def _conds(q, d=16, seed=1):
    c = np.random.default_rng(seed).standard_normal((q, d)).astype(np.float32)
    return c / np.linalg.norm(c, axis=1, keepdims=True)


@pytest.mark.parametrize("film", ["beta", "scale_shift"])
def test_specialised_core_matches_the_model_in_torch(film):
    torch = pytest.importorskip("torch")
    from export.resunet import SpecialisedCore

    model = tiny_model(3, film=film)
    if film == "scale_shift":  # γ starts at zero: give it weights so the scale term is exercised
        with torch.no_grad():
            for name, m in model.film.named_children():
                if "gamma" in name:
                    m.weight.normal_(0, 0.3)
    cond = torch.from_numpy(_conds(1))
    mag = torch.rand(2, 1, 45, model.cfg.freq_bins) * 2
    with torch.no_grad():
        ref = model.forward_masks(mag, cond.expand(2, -1))
        core = SpecialisedCore(model).eval().set_condition(cond)
        got = core(mag)
    assert core.kinds.count("folded") > 0 and core.kinds.count("site") > 0
    assert float((ref[0] - got[0]).abs().max()) < 1e-5
    # changing the condition changes the masks: the sites really carry the query
    with torch.no_grad():
        other = core.set_condition(torch.from_numpy(_conds(1, seed=9)))(mag)[0]
    assert float((other - got[0]).abs().max()) > 1e-3


def test_bundle_has_the_specialised_form(embedding_bundle):
    from plugin.bundle import Bundle

    path = embedding_bundle
    b = Bundle(path)
    special = b.manifest.specialised
    assert special and special["film"] in b.manifest.files and special["core"] in b.manifest.files
    assert {p["op"] for p in special["patches"]} == {"replace", "scale"}
    assert b.specialised and not Bundle(path, specialise=False).specialised


@pytest.mark.parametrize("block", [None, 1.0])
def test_specialised_and_generic_separation_agree(embedding_bundle, block):
    from plugin import Separator

    path = embedding_bundle
    x = music_like(32000 * 3, channels=2, seed=4)
    conds = _conds(2)
    a = Separator.load(path).separate_many(x, 32000, embeddings=conds, block_seconds=block)
    b = Separator.load(path, specialise=False).separate_many(x, 32000, embeddings=conds, block_seconds=block)
    for sa, sb in zip(a, b):
        assert np.max(np.abs(sa - sb)) < 1e-5
    assert np.max(np.abs(a[0] - a[1])) > 1e-4  # two queries, two different stems


def test_runtime_output_matches_torch_through_the_specialised_path(tiny_bundle):
    """Parity (c) of the foundation issue, on the path the runtime takes by default."""
    torch = pytest.importorskip("torch")
    from export.resunet import separate_waveform
    from plugin import Separator

    path, model = tiny_bundle
    x = music_like(32000 * 3, seed=5)
    cond = _conds(1)[0]
    sep = Separator.load(path)
    assert sep.bundle.specialised
    got = sep.separate(x, 32000, embedding=cond, block_seconds=None)
    with torch.no_grad():
        ref = separate_waveform(model, torch.from_numpy(x), torch.from_numpy(cond)[None]).numpy()
    assert np.max(np.abs(ref)) > 1e-3 and np.max(np.abs(got - ref)) < 1e-4


def test_sessions_are_cached_per_query_and_evicted(embedding_bundle, monkeypatch):
    import plugin.bundle as pb

    path = embedding_bundle
    b = pb.Bundle(path)
    c1, c2 = _conds(2)
    s1 = b.session_for(c1)
    assert b.session_for(c1.copy()) is s1  # same query, same session
    monkeypatch.setattr(pb, "SPECIALISED_CACHE_BYTES", 1)  # room for one
    assert b.specialised_capacity == 1
    s2 = b.session_for(c2)
    assert s2 is not s1 and len(b._special) == 1
    assert b.session_for(c1) is not s1  # evicted, rebuilt


def test_patch_core_replace_and_scale():
    from plugin.bundle import patch_core
    from plugin.errors import BundleError

    data = np.arange(10, dtype="<f4")
    core = b"head" + data.tobytes() + b"tail"
    patches = [{"value": "w", "op": "scale", "offset": 4, "count": 6},
               {"value": "b", "op": "replace", "offset": 4 + 24, "count": 4}]
    out = patch_core(core, patches, {"w": np.array([2.0, -1.0], np.float32), "b": np.full(4, 7.0, np.float32)})
    assert out[:4] == b"head" and out[-4:] == b"tail" and len(out) == len(core)
    got = np.frombuffer(out, "<f4", 10, 4)
    np.testing.assert_array_equal(got, [0, 2, 4, -3, -4, -5, 7, 7, 7, 7])
    with pytest.raises(BundleError, match="does not fit"):
        patch_core(core, patches, {"w": np.ones(4, np.float32), "b": np.ones(4, np.float32)})
    with pytest.raises(BundleError, match="gives no"):
        patch_core(core, patches, {"w": np.ones(2, np.float32)})


def _rewrite_manifest(folder, edit):
    from plugin.bundle import write_manifest

    m = json.loads((folder / "manifest.json").read_text())
    edit(m)
    write_manifest(folder, m)  # checksums recomputed: only the edit is wrong


def test_bad_specialised_entries_are_clear_errors(embedding_bundle, tmp_path):
    from plugin.bundle import Bundle
    from plugin.errors import BundleError

    path = embedding_bundle
    bad = tmp_path / "bad"
    shutil.copytree(path, bad)
    _rewrite_manifest(bad, lambda m: m["separator"]["specialised"].update(patches=[{"value": "x", "op": "melt"}]))
    with pytest.raises(BundleError, match="patches"):
        Bundle(bad)

    def far(m):
        m["separator"]["specialised"]["patches"][0]["offset"] = 10 ** 9
    shutil.rmtree(bad)
    shutil.copytree(path, bad)
    _rewrite_manifest(bad, far)
    with pytest.raises(BundleError, match="does not fit"):
        Bundle(bad).session_for(_conds(1)[0])

    shutil.rmtree(bad)
    shutil.copytree(path, bad)
    (bad / "film.onnx").unlink()
    with pytest.raises(BundleError, match="missing film.onnx"):
        Bundle(bad)


def test_the_effect_opens_its_query_session_when_it_is_made(embedding_bundle):
    """A streaming effect must not spend its first audio callback opening an ONNX session."""
    from plugin import Separator

    path = embedding_bundle
    sep = Separator.load(path)
    assert len(sep.bundle._special) == 0
    cond = _conds(1)[0]
    fx = sep.effect(embedding=cond)
    assert len(sep.bundle._special) == 1
    session = sep.bundle.session_for(cond)
    fx(music_like(32000, channels=2), 32000, reset=False)
    assert sep.bundle.session_for(cond) is session and len(sep.bundle._special) == 1


def test_export_refuses_a_specialised_pair_that_does_not_match_torch(monkeypatch, tmp_path):
    pytest.importorskip("torch")
    import export.onnx_export as ox
    from export.resunet import FilmSites

    orig = FilmSites.forward

    def off_by_a_bit(self, condition):  # film.onnx would give the first site a wrong bias
        out = list(orig(self, condition))
        out[1] = out[1] + 0.5
        return tuple(out)

    monkeypatch.setattr(FilmSites, "forward", off_by_a_bit)
    with pytest.raises(ox.ExportError, match="specialised export does not match torch"):
        ox.export_specialised(tiny_model(0), tmp_path / "film.onnx", tmp_path / "core.onnx")
    assert not (tmp_path / "film.onnx").exists() and not (tmp_path / "core.onnx").exists()
