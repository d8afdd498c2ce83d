"""Property-based tests (hypothesis): whatever a manifest, a session file or the render CLI's
arguments hold, the answer is a result or one SepBoard error with a message, never a traceback,
a hang or a partial file. These are the tools that find the next hostile input."""
from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from conftest import BUNDLES, music_like  # noqa: E402
from plugin.errors import BundleError, SepBoardError  # noqa: E402
from plugin.manifest import (CONDITION_DIMS, N_FFT_RANGE, SAMPLE_RATES, TIME_MULTIPLES, parse_manifest)  # noqa: E402

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# any JSON value, with the numbers and strings that break parsers most often
scalars = (st.none() | st.booleans() | st.integers(-2 ** 64, 2 ** 64)
           | st.sampled_from([0, 1, -1, 2 ** 30, 2 ** 31, 1e30, -1e30, 0.5, 1e-300])
           | st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=False)  # ORT may set flush-to-zero
           | st.text(max_size=12) | st.sampled_from(["", "..", "/etc/passwd", "../x", "abc", "hann", "NaN"]))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


def paths_of(value, prefix=()):
    """Every key path inside a nested dict/list structure."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from paths_of(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from paths_of(v, prefix + (i,))


def mutate(doc, data, values=json_values, depth=3):
    """``doc`` with 1-3 values (up to ``depth`` keys deep) replaced by arbitrary JSON, or deleted."""
    doc = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(1, 3))):
        paths = [p for p in paths_of(doc) if 0 < len(p) <= depth]
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        if isinstance(parent, dict) and data.draw(st.booleans()) and data.draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(values)
    return doc


MANIFEST = json.loads((BUNDLES / "text" / "manifest.json").read_text())


@settings(max_examples=300, **SETTINGS)
@given(st.data())
def test_any_manifest_is_parsed_or_refused_with_a_bundle_error(data):
    raw = mutate(MANIFEST, data)
    try:
        m = parse_manifest(raw, Path("manifest.json"))
    except BundleError as exc:
        assert str(exc)
        return
    assert SAMPLE_RATES[0] <= m.sample_rate <= SAMPLE_RATES[1]
    assert N_FFT_RANGE[0] <= m.n_fft <= N_FFT_RANGE[1] and m.n_fft % 2 == 0 and 0 < m.hop <= m.n_fft // 2
    assert CONDITION_DIMS[0] <= m.condition_dim <= CONDITION_DIMS[1]
    assert TIME_MULTIPLES[0] <= m.time_multiple <= TIME_MULTIPLES[1]
    for name in m.files:
        assert not Path(name).is_absolute() and ".." not in Path(name).parts
    if m.text_encoder is not None:
        assert isinstance(m.text_encoder.max_tokens, int) and isinstance(m.text_encoder.input_names, list)


@pytest.fixture(scope="module")
def session_file(tmp_path_factory):
    from gui import project as P
    from gui.tracks import Track, new_effect

    folder = tmp_path_factory.mktemp("session") / "s"
    tracks = [Track(audio=music_like(2000, 32000, 1), name="mix", kind="mix"),
              Track(audio=music_like(2000, 32000, 2, seed=1), name="bass", kind="stem", query="bass",
                    effects=[new_effect("Compressor")], region=(10, 1500), gain_db=-3.0)]
    return P.save_session(folder, P.SessionState(32000, tracks, history=["bass"]))


@settings(max_examples=200, **SETTINGS)
@given(data=st.data())
def test_any_session_file_is_read_or_refused_with_a_session_error(session_file, data, tmp_path_factory):
    from gui import project as P

    original = json.loads(session_file.read_text())
    doc = mutate(original, data)
    folder = tmp_path_factory.mktemp("copy")
    (folder / "audio").symlink_to(session_file.parent / "audio")
    f = folder / "session.json"
    f.write_text(json.dumps(doc))
    try:
        read = P.read_doc(f)
    except P.SessionError as exc:
        assert str(exc)
        with pytest.raises(P.SessionError):  # and a save never replaces what it cannot read
            P.check_writable(folder)
        return
    assert isinstance(read.saved_at, float) and math.isfinite(read.saved_at)
    assert all(isinstance(h, str) for h in read.history) and isinstance(read.song, str)
    for t in read.tracks:
        assert math.isfinite(t["gain_db"]) and -60 <= t["gain_db"] <= 24
    try:
        P.load_session(f)
    except P.SessionError as exc:
        assert str(exc)


BLOCK_VALUES = ["0", "-1", "nan", "inf", "-inf", "1e6", "1e300", "abc", "0.01", "2", "1e-9", ""]


@pytest.fixture(scope="module")
def cli_song(tmp_path_factory):
    import soundfile as sf

    p = tmp_path_factory.mktemp("cli") / "song.wav"
    sf.write(str(p), music_like(8000, 32000, 1).T, 32000, subtype="FLOAT")
    return p


@settings(max_examples=40, **SETTINGS)
@given(queries=st.lists(st.text(max_size=20) | st.sampled_from(["bass", "Bass", "drums residual", "🎸"]),
                        min_size=0, max_size=3),
       residual=st.booleans(), fmt=st.sampled_from(["wav", "flac", "mp3"]),
       depth=st.sampled_from(["16", "24", "32f", "8"]),
       block=st.none() | st.sampled_from(BLOCK_VALUES), context=st.none() | st.sampled_from(BLOCK_VALUES),
       overwrite=st.booleans())
def test_any_cli_arguments_give_an_exit_code_and_no_partial_file(cli_song, tmp_path_factory, capsys, queries,
                                                                 residual, fmt, depth, block, context, overwrite):
    from plugin.render import main

    out = tmp_path_factory.mktemp("out")
    args = [str(cli_song), "-o", str(out), "--bundle", str(BUNDLES / "text"), "--quiet", "--format", fmt,
            "--bit-depth", depth]
    for q in queries:
        args += ["-q", q]
    args += ["--residual"] * residual + ["--overwrite"] * overwrite
    args += ["--block-seconds", block] if block is not None else []
    args += ["--context-seconds", context] if context is not None else []
    try:
        rc = main(args)
    except SystemExit as exc:  # argparse: a usage error
        rc = exc.code
    err = capsys.readouterr().err
    assert rc in (0, 1, 2), (rc, err)
    assert "Traceback" not in err
    assert not list(out.rglob("*.part"))
    written = [f for f in out.rglob("*") if f.is_file()]
    done = re.search(r"summary: (\d+) done", err)
    assert len(written) == (int(done.group(1)) if done else 0), err  # one file per result: none overwritten
    for f in written:
        import soundfile as sf

        assert sf.info(str(f)).frames == 8000
