"""Hostile bundles: files outside the bundle folder, malformed manifest values, ONNX Runtime telemetry.

Every bundle here is refused with one BundleError before anything outside its folder is opened,
and before any graph runs; what a refusal says does not depend on whether an outside file exists.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from plugin.bundle import Bundle, read_manifest
from plugin.errors import BundleError
from plugin.manifest import MANIFEST, write_manifest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bundle(text_bundle, tmp_path):
    dst = tmp_path / "b"
    shutil.copytree(text_bundle, dst)
    return dst


def edit(folder, change, rehash=False):
    m = json.loads((folder / MANIFEST).read_text())
    change(m)
    if rehash:
        write_manifest(folder, m)
    else:
        (folder / MANIFEST).write_text(json.dumps(m))
    return folder


def opened_files(monkeypatch):
    """Record every path given to open() while a bundle loads."""
    seen = []
    real = open

    def spy(file, *a, **k):
        seen.append(str(file))
        return real(file, *a, **k)

    monkeypatch.setattr("builtins.open", spy)
    return seen


@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlink", "symlink-missing"])
def test_files_outside_the_bundle_are_refused_unread(bundle, tmp_path, monkeypatch, how):
    secret = tmp_path / "outside" / "secret.onnx"
    secret.parent.mkdir()
    if how != "symlink-missing":
        shutil.copy(bundle / "separator.onnx", secret)
    digest = "0" * 64
    if how == "absolute":
        name = str(secret)
    elif how == "dotdot":
        name = "../outside/secret.onnx"
    else:
        name = "linked.onnx"
        os.symlink(secret, bundle / name)

    def change(m):
        m["files"][name] = digest
        m["separator"]["file"] = name

    edit(bundle, change)
    seen = opened_files(monkeypatch)
    with pytest.raises(BundleError, match="outside the bundle folder") as err:
        Bundle(bundle)
    assert not [f for f in seen if "secret" in f or "linked" in f]
    # the message is the same whether or not the outside file exists
    assert "missing" not in str(err.value) and "checksum" not in str(err.value)


def test_outside_file_message_does_not_reveal_existence(bundle, tmp_path):
    msgs = []
    for target in (tmp_path / "exists.onnx", tmp_path / "absent.onnx"):
        if target.name == "exists.onnx":
            target.write_bytes(b"x")
        edit(bundle, lambda m: m["files"].__setitem__("../" + target.name, "0" * 64))
        with pytest.raises(BundleError) as err:
            read_manifest(bundle)
        msgs.append(str(err.value).replace(target.name, "NAME"))
        edit(bundle, lambda m: m["files"].pop("../" + target.name))
    assert msgs[0] == msgs[1]


def test_manifest_itself_linked_outside_is_refused(bundle, tmp_path):
    real = tmp_path / "elsewhere.json"
    shutil.move(bundle / MANIFEST, real)
    os.symlink(real, bundle / MANIFEST)
    with pytest.raises(BundleError, match="outside the bundle folder"):
        Bundle(bundle)


def test_a_link_that_stays_inside_is_fine(bundle):
    os.rename(bundle / "separator.onnx", bundle / "real.onnx")
    os.symlink("real.onnx", bundle / "separator.onnx")
    assert Bundle(bundle).manifest.separator_file == "separator.onnx"


BAD_VALUES = [
    ("time_multiple", "abc", "time_multiple"),
    ("time_multiple", 0, "time_multiple"),
    ("n_fft", 2 ** 30, "n_fft"),
    ("n_fft", 1023, "n_fft"),
    ("hop", 1, "hop"),
    ("hop", 1000, "hop"),
    ("sample_rate", 1e9, "sample_rate"),
    ("condition_dim", True, "condition_dim"),
    ("condition_dim", -4, "condition_dim"),
    ("name", ["x"], "name"),
]


@pytest.mark.parametrize("field,value,named", BAD_VALUES)
def test_malformed_top_level_values_are_one_bundle_error(bundle, field, value, named):
    edit(bundle, lambda m: m.__setitem__(field, value))
    with pytest.raises(BundleError, match=named):
        Bundle(bundle)


@pytest.mark.parametrize("field,value,named", [
    ("max_tokens", "lots", "max_tokens"),
    ("max_tokens", 10 ** 9, "max_tokens"),
    ("input_names", "input_ids", "input_names"),
    ("input_names", ["a", "b", "c"], "input_names"),
    ("normalize", "yes", "normalize"),
    ("pad_id", -1, "pad_id"),
    ("file", "../x.onnx", "x.onnx"),
])
def test_malformed_text_encoder_values(bundle, field, value, named):
    edit(bundle, lambda m: m["text_encoder"].__setitem__(field, value))
    with pytest.raises(BundleError, match=named):
        Bundle(bundle)


def test_text_encoder_names_that_do_not_match_the_graph(bundle):
    edit(bundle, lambda m: m["text_encoder"].__setitem__("input_names", ["ids", "mask"]))
    from plugin import Separator

    with pytest.raises(BundleError, match="input_names|names inputs"):
        Separator.load(bundle).embed("drums")


def test_condition_dim_that_does_not_match_the_graph(bundle):
    edit(bundle, lambda m: m.__setitem__("condition_dim", 24))
    from plugin import Separator

    sep = Separator.load(bundle)
    with pytest.raises(BundleError, match="condition_dim"):
        sep.separate(np.full(8000, 0.1, np.float32), 32000, embedding=np.ones(24, np.float32))
    sep = Separator.load(bundle, specialise=False)
    with pytest.raises(BundleError, match="condition_dim"):
        sep.separate(np.full(8000, 0.1, np.float32), 32000, embedding=np.ones(24, np.float32))


@pytest.mark.parametrize("change,named", [
    (lambda m: m["separator"].__setitem__("families", "drums"), "families"),
    (lambda m: m["separator"].__setitem__("families", ["drums", ""]), "families"),
    (lambda m: m.__setitem__("vocabulary", [1, 2]), "vocabulary"),
    (lambda m: m["separator"].__setitem__("outputs", [3]), "outputs"),
    (lambda m: m["separator"].__setitem__("architecture", {"widths": "wide"}), "architecture"),
    (lambda m: m["files"].__setitem__("separator.onnx", "not a digest"), "sha256"),
])
def test_malformed_optional_fields(bundle, change, named):
    edit(bundle, change)
    with pytest.raises(BundleError, match=named):
        Bundle(bundle)


def test_future_optional_fields_are_accepted(bundle):
    def change(m):
        m["separator"]["families"] = ["drums", "bass"]
        m["separator"]["outputs"] = dict(m["separator"]["outputs"], family_re=[1], family_im=[1], routes=[1])
        m["vocabulary"] = ["kick drum", "snare"]
        m["some_future_field"] = {"anything": 1}

    edit(bundle, change)
    assert Bundle(bundle).manifest.name == "tiny-text-test"


def test_deeply_nested_manifest(bundle):
    (bundle / MANIFEST).write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(BundleError):
        Bundle(bundle)


def test_onnx_runtime_writes_no_telemetry(tmp_path):
    """ONNX Runtime would create ~/.cache/Microsoft/DeveloperTools/.onnxruntime/onnxruntime.db."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("ORT_DISABLE_TELEMETRY", "XDG_CACHE_HOME")}
    env.update(HOME=str(home), PYTHONPATH=str(ROOT))
    code = ("import numpy as np; from plugin import Separator; "
            f"s = Separator.load({str(ROOT / 'tests' / 'bundles' / 'identity')!r}); "
            "s.separate(np.full(4000, 0.1, np.float32), 32000, embedding=np.ones(16, np.float32))")
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=str(tmp_path))
    assert not list(home.rglob("*")), list(home.rglob("*"))


def test_export_without_onnx_is_one_clear_error(tmp_path, monkeypatch, capsys):
    from export.audiosep import main

    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx -> ImportError, as when it is not installed
    rc = main(["--checkpoint", str(tmp_path / "x.ckpt"), "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert rc == 2 and "onnx" in err and "sepboard[export]" in err and "Traceback" not in err
    assert not (tmp_path / "b").exists()
