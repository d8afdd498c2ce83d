"""Catalog rendering on Ray Data: a local 2-worker instance gives the same stems as local mode."""
import csv

import numpy as np
import pytest
import soundfile as sf

ray = pytest.importorskip("ray")

from plugin.distributed import render_ray
from plugin.render import main as render_main
from plugin.render import render

from conftest import music_like

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    d = tmp_path_factory.mktemp("catalog")
    for i in range(5):
        sr = [44100, 48000, 32000][i % 3]
        x = music_like(int(sr * (1.0 + 0.3 * i)), sr, 1 + i % 2, seed=10 + i)
        sf.write(str(d / f"song{i}.wav"), x.T, sr, subtype="FLOAT")
    (d / "broken.wav").write_bytes(b"RIFF....WAVEnot really audio")
    return d


def test_ray_two_workers_match_local_mode_and_report_failures(catalog, tmp_path, text_bundle):
    local = render([catalog], ["bass", "drums"], tmp_path / "local", bundle=text_bundle, bit_depth="32f")
    rep = render_ray([catalog], ["bass", "drums"], tmp_path / "ray", workers=2, bundle=text_bundle, bit_depth="32f",
                     progress=False)
    assert len(rep.workers) == 2  # two actors, each with its own loaded model
    status = {(r.file.split("/")[-1], r.query): r.status for r in rep.results}
    assert status[("broken.wav", "bass")] == "failed"
    assert sum(s == "done" for s in status.values()) == 10
    for i in range(5):
        for q in ("bass", "drums"):
            a, _ = sf.read(str(tmp_path / "local" / f"song{i}" / f"{q}.wav"))
            b, _ = sf.read(str(tmp_path / "ray" / f"song{i}" / f"{q}.wav"))
            assert np.array_equal(a, b)
    assert [r.status for r in local.results if "broken" in r.file] == ["failed", "failed"]


def test_ray_rerun_resumes_and_cli_writes_results_table(catalog, tmp_path, text_bundle, capsys):
    out = tmp_path / "out"
    first = render_ray([catalog], ["bass"], out, workers=2, bundle=text_bundle, progress=False)
    assert sum(r.status == "done" for r in first.results) == 5
    done_file = out / "song0" / "bass.wav"
    stamp = done_file.stat().st_mtime_ns
    (out / "song3" / "bass.wav").unlink()  # as if the job had crashed before this file
    rc = render_main([str(catalog), "-q", "bass", "-o", str(out), "--bundle", str(text_bundle), "--ray",
                      "--workers", "2", "--results", str(tmp_path / "results.csv"), "--quiet"])
    assert rc == 1  # broken.wav still fails; everything else is fine
    rows = {r["file"].split("/")[-1]: r for r in csv.DictReader(open(tmp_path / "results.csv"))}
    assert rows["song3.wav"]["status"] == "done"
    assert rows["song0.wav"]["status"] == "skipped" and done_file.stat().st_mtime_ns == stamp
    assert rows["broken.wav"]["status"] == "failed" and rows["broken.wav"]["error"]


def test_ray_cancel_stops_the_job_and_leaves_no_temp_files(catalog, tmp_path, text_bundle):
    import threading

    cancel = threading.Event()
    cancel.set()  # as if Ctrl-C came while the first file was rendering
    rep = render_ray([catalog], ["bass"], tmp_path / "out", workers=2, bundle=text_bundle, progress=False,
                     cancel=cancel)
    status = [r.status for r in rep.results]
    assert len(status) == 6 and status.count("cancelled") >= 4  # it stopped after the first result
    assert not ray.is_initialized()  # the local instance (and its actors) is gone
    assert not list((tmp_path / "out").rglob("*.part"))
