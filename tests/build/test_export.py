import numpy as np
import pytest

pytest.importorskip("torch")  # build-time test: exports torch models
onnx = pytest.importorskip("onnx")

import export.onnx_export as ox  # noqa: E402
from export.bundle_writer import write_bundle
from export.resunet import SeparatorCore
from plugin.bundle import make_session

from conftest import tiny_model


def test_export_is_valid_dynamic_and_matches_torch(tmp_path):
    model = tiny_model(4)
    path = tmp_path / "sep.onnx"
    data = ox.export_separator(model, path, check_frames=(1, 31, 33, 64))
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    dims = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in proto.graph.input}
    assert dims["magnitude"][0] and isinstance(dims["magnitude"][0], str)  # dynamic batch
    assert isinstance(dims["magnitude"][2], str)  # dynamic time
    sess = make_session(data)
    for b, t in [(1, 5), (3, 77)]:
        out = sess.run(None, {"magnitude": np.ones((b, 1, t, 1024), np.float32),
                              "condition": np.ones((b, 16), np.float32) / 4})
        assert all(o.shape == (b, 1, t, 1024) for o in out)


def test_parity_check_rejects_a_graph_that_differs():
    a, b = tiny_model(5), tiny_model(6)
    bytes_b = ox._export_to_bytes(SeparatorCore(b).eval(), _example(b))
    with pytest.raises(ox.ExportError, match="does not match torch"):
        ox.check_parity(SeparatorCore(a).eval(), bytes_b, a.cfg.freq_bins, a.cfg.condition_dim)


def _example(model):
    import torch

    return (torch.rand(1, 1, 40, model.cfg.freq_bins), torch.randn(1, model.cfg.condition_dim))


def test_failed_export_writes_no_bundle(tmp_path, monkeypatch):
    monkeypatch.setattr(ox, "PARITY_TOL", -1.0)
    out = tmp_path / "bundle"
    with pytest.raises(ox.ExportError):
        write_bundle(out, tiny_model(7), name="x", source="t", license="MIT")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_failed_export_keeps_the_previous_bundle(tmp_path, monkeypatch):
    out = tmp_path / "bundle"
    write_bundle(out, tiny_model(7), name="good", source="t", license="MIT")
    before = (out / "manifest.json").read_text()
    monkeypatch.setattr(ox, "PARITY_TOL", -1.0)
    with pytest.raises(ox.ExportError):
        write_bundle(out, tiny_model(8), name="bad", source="t", license="MIT")
    assert (out / "manifest.json").read_text() == before
