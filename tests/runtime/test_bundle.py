import json
import logging
import shutil
import sys

import numpy as np
import pytest

from plugin import Separator
from plugin.bundle import Bundle, choose_providers, import_onnxruntime
from plugin.errors import BundleError, RuntimeMissingError


@pytest.fixture
def bundle_copy(embedding_bundle, tmp_path):
    src = embedding_bundle
    dst = tmp_path / "b"
    shutil.copytree(src, dst)
    return dst


def test_valid_bundle_loads_and_reports_provider(embedding_bundle):
    b = Bundle(embedding_bundle)
    assert b.manifest.name == "tiny-embedding-test"
    assert b.provider == "CPUExecutionProvider"  # no GPU here: CPU is chosen (and logged)
    assert b.device_label == "CPU"
    assert not b.has_text_encoder


def test_missing_bundle_folder(tmp_path):
    with pytest.raises(BundleError, match="not found"):
        Bundle(tmp_path / "nope")


def test_missing_manifest(bundle_copy):
    (bundle_copy / "manifest.json").unlink()
    with pytest.raises(BundleError, match="no manifest.json"):
        Bundle(bundle_copy)


def test_manifest_not_json(bundle_copy):
    (bundle_copy / "manifest.json").write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        Bundle(bundle_copy)


def test_missing_file(bundle_copy):
    (bundle_copy / "separator.onnx").unlink()
    with pytest.raises(BundleError, match="missing separator.onnx"):
        Bundle(bundle_copy)


def test_bad_checksum(bundle_copy):
    p = bundle_copy / "separator.onnx"
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF
    p.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="checksum mismatch"):
        Bundle(bundle_copy)


@pytest.mark.parametrize("version,msg", [(99, "newer than this SepBoard"), (0, "not valid"), ("1", "no integer")])
def test_wrong_format_version(bundle_copy, version, msg):
    m = json.loads((bundle_copy / "manifest.json").read_text())
    m["format_version"] = version
    (bundle_copy / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match=msg):
        Bundle(bundle_copy)


def test_manifest_missing_field(bundle_copy):
    m = json.loads((bundle_copy / "manifest.json").read_text())
    del m["sample_rate"]
    (bundle_copy / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="'sample_rate'"):
        Bundle(bundle_copy)


def test_manifest_condition_dim_must_match_graph(bundle_copy):
    m = json.loads((bundle_copy / "manifest.json").read_text())
    m["condition_dim"] = 99
    (bundle_copy / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="condition input has size 16"):
        _ = Bundle(bundle_copy).separator_session


def test_providers_prefer_cuda_then_cpu(monkeypatch):
    ort = import_onnxruntime()
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider", "CUDAExecutionProvider"])
    assert choose_providers() == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    assert choose_providers() == ["CPUExecutionProvider"]


def test_requested_unavailable_provider_falls_back_to_cpu(embedding_bundle, caplog):
    path = embedding_bundle
    with caplog.at_level(logging.WARNING, logger="sepboard"):
        b = Bundle(path, providers=["CUDAExecutionProvider"])
        assert b.provider == "CPUExecutionProvider"
    assert "not available" in caplog.text


def test_missing_onnxruntime_is_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(RuntimeMissingError, match=r"scripts/setup\.sh .*pip install -e '\.\[cpu\]'"):
        import_onnxruntime()


def test_separator_load_of_non_bundle_folder(tmp_path):
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(BundleError, match="not a SepBoard model bundle"):
        Separator.load(tmp_path)
