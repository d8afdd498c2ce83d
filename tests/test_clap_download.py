"""export.download against a local HTTP server on 127.0.0.1 (no other network): resume, checksums, offline."""
from __future__ import annotations

import hashlib
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from export import download as D
from export.download import DownloadError, download, fetch_official

from conftest import GOLDEN


class Server:
    """Serves ``files`` (path -> bytes) with HTTP Range; knobs: truncate once, ignore Range, redirect with X-Linked-Etag."""

    def __init__(self):
        self.files = {}
        self.truncate_once = {}  # path -> bytes to send before dropping the connection (first request only)
        self.redirects = {}  # path -> (target path, X-Linked-Etag value)
        self.ranges = True
        self.log = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                outer.log.append((self.path, self.headers.get("Range")))
                if self.path in outer.redirects:
                    target, tag = outer.redirects[self.path]
                    self.send_response(302)
                    self.send_header("Location", target)
                    self.send_header("X-Linked-Etag", f'"{tag}"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = outer.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                rng = self.headers.get("Range")
                if rng and outer.ranges:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                cut = outer.truncate_once.pop(self.path, None)
                if cut is not None:
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture
def payload():
    return np.random.default_rng(0).bytes(3 * D.CHUNK + 12345)


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_plain_download_with_checksum(server, payload, tmp_path):
    server.files["/m.ckpt"] = payload
    out = download(server.url + "/m.ckpt", tmp_path / "m.ckpt", sha256=sha(payload), progress=True)
    assert out.read_bytes() == payload and not (tmp_path / "m.ckpt.part").exists()
    n = len(server.log)
    download(server.url + "/m.ckpt", tmp_path / "m.ckpt", sha256=sha(payload))  # already there: no request
    assert len(server.log) == n


def test_resume_from_a_truncated_part_file(server, payload, tmp_path):
    server.files["/m.ckpt"] = payload
    half = len(payload) // 2 + 7
    (tmp_path / "m.ckpt.part").write_bytes(payload[:half])
    download(server.url + "/m.ckpt", tmp_path / "m.ckpt", sha256=sha(payload), progress=False)
    assert server.log == [("/m.ckpt", f"bytes={half}-")]
    assert (tmp_path / "m.ckpt").read_bytes() == payload


def test_interrupted_download_keeps_the_part_and_resumes(server, payload, tmp_path):
    server.files["/m.ckpt"] = payload
    server.truncate_once["/m.ckpt"] = D.CHUNK + 1000
    with pytest.raises(DownloadError, match="run the same command again"):
        download(server.url + "/m.ckpt", tmp_path / "m.ckpt", sha256=sha(payload), progress=False)
    part = tmp_path / "m.ckpt.part"
    assert 0 < part.stat().st_size < len(payload) and not (tmp_path / "m.ckpt").exists()
    kept = part.stat().st_size
    download(server.url + "/m.ckpt", tmp_path / "m.ckpt", sha256=sha(payload), progress=False)
    assert server.log[-1] == ("/m.ckpt", f"bytes={kept}-")
    assert (tmp_path / "m.ckpt").read_bytes() == payload


def test_complete_part_file_is_accepted_after_416(server, payload, tmp_path):
    server.files["/m.ckpt"] = payload
    (tmp_path / "m.ckpt.part").write_bytes(payload)
    download(server.url + "/m.ckpt", tmp_path / "m.ckpt", sha256=sha(payload), progress=False)
    assert (tmp_path / "m.ckpt").read_bytes() == payload


def test_server_without_range_support_restarts_cleanly(server, payload, tmp_path):
    server.files["/m.ckpt"] = payload
    server.ranges = False
    (tmp_path / "m.ckpt.part").write_bytes(payload[:1000])
    download(server.url + "/m.ckpt", tmp_path / "m.ckpt", sha256=sha(payload), progress=False)
    assert (tmp_path / "m.ckpt").read_bytes() == payload


def test_checksum_mismatch_is_a_clear_error_and_the_bad_file_is_deleted(server, payload, tmp_path):
    server.files["/m.ckpt"] = payload[:-1] + b"\x00"
    with pytest.raises(DownloadError, match="checksum mismatch for m.ckpt.*deleted"):
        download(server.url + "/m.ckpt", tmp_path / "m.ckpt", sha256=sha(payload), progress=False)
    assert list(tmp_path.iterdir()) == []


def test_hugging_face_linked_etag_is_verified(server, payload, tmp_path):
    server.files["/cdn/m.ckpt"] = payload
    server.redirects["/resolve/m.ckpt"] = ("/cdn/m.ckpt", sha(payload))
    download(server.url + "/resolve/m.ckpt", tmp_path / "good.ckpt", progress=False)
    assert (tmp_path / "good.ckpt").read_bytes() == payload
    server.redirects["/resolve/bad.ckpt"] = ("/cdn/m.ckpt", sha(b"something else"))
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download(server.url + "/resolve/bad.ckpt", tmp_path / "bad.ckpt", progress=False)
    assert not (tmp_path / "bad.ckpt").exists() and not (tmp_path / "bad.ckpt.part").exists()


def test_bad_sha256_argument_and_existing_file_mismatch(server, payload, tmp_path):
    with pytest.raises(DownloadError, match="64 hexadecimal"):
        download(server.url + "/x", tmp_path / "x", sha256="abc")
    (tmp_path / "x").write_bytes(b"old")
    with pytest.raises(DownloadError, match="exists but its sha256"):
        download(server.url + "/x", tmp_path / "x", sha256=sha(payload))


def test_http_404_names_the_file(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404.*put it at"):
        download(server.url + "/missing.ckpt", tmp_path / "m.ckpt", progress=False)


def test_unreachable_host_fails_fast_with_instructions(tmp_path):
    t = time.monotonic()
    with pytest.raises(DownloadError) as e:
        download(f"http://127.0.0.1:{closed_port()}/m.ckpt", tmp_path / "m.ckpt", timeout=2)
    assert time.monotonic() - t < 2
    msg = str(e.value)
    assert "network unreachable" in msg and str(tmp_path / "m.ckpt") in msg and "--checkpoint" in msg


def test_silent_server_times_out_without_retries(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)  # accepts the TCP handshake, never answers
    try:
        t = time.monotonic()
        with pytest.raises(DownloadError, match="cannot download"):
            download(f"http://127.0.0.1:{listener.getsockname()[1]}/m.ckpt", tmp_path / "m.ckpt", timeout=0.5)
        assert time.monotonic() - t < 3
    finally:
        listener.close()


def serve_official(server, ckpt: bytes):
    server.files["/roberta/vocab.json"] = (GOLDEN / "clap_tokenizer" / "vocab.json").read_bytes()
    server.files["/roberta/merges.txt"] = (GOLDEN / "clap_tokenizer" / "merges.txt").read_bytes()
    server.files["/ckpt/audiosep_base_4M_steps.ckpt"] = ckpt
    return dict(checkpoint_url=server.url + "/ckpt/audiosep_base_4M_steps.ckpt",
                tokenizer_base_url=server.url + "/roberta/")


def test_fetch_official_fills_the_cache_once(server, payload, tmp_path):
    urls = serve_official(server, payload)
    ckpt, tok = fetch_official(tmp_path / "cache", checkpoint_sha256=sha(payload), progress=False, **urls)
    assert ckpt == tmp_path / "cache" / "audiosep_base_4M_steps.ckpt" and ckpt.read_bytes() == payload
    assert tok == tmp_path / "cache" / "roberta-base"
    from export.clap_text import tokenizer_files

    assert set(tokenizer_files(tok)) == {"vocab", "merges"}
    n = len(server.log)
    fetch_official(tmp_path / "cache", progress=False, **urls)
    assert len(server.log) == n


def test_fetched_vocab_is_checked_for_roberta_structure(server, payload, tmp_path):
    urls = serve_official(server, payload)
    server.files["/roberta/vocab.json"] = b'{"[PAD]": 0, "[UNK]": 1}'
    with pytest.raises(DownloadError, match="not RoBERTa's vocabulary"):
        fetch_official(tmp_path / "cache", progress=False, **urls)
    assert not (tmp_path / "cache" / "roberta-base" / "vocab.json").exists()


def test_fetch_official_offline_lists_every_missing_file(tmp_path):
    base = f"http://127.0.0.1:{closed_port()}"
    t = time.monotonic()
    with pytest.raises(DownloadError) as e:
        fetch_official(tmp_path / "cache", checkpoint_url=base + "/c.ckpt", tokenizer_base_url=base + "/r/", timeout=2)
    assert time.monotonic() - t < 3
    msg = str(e.value)
    for f in ("vocab.json", "merges.txt", "audiosep_base_4M_steps.ckpt"):
        assert f in msg
    assert str(tmp_path / "cache" / "roberta-base") in msg


def test_cli_download_offline_is_one_message(tmp_path, monkeypatch, capsys):
    from export.audiosep import main

    base = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setattr(D, "CHECKPOINT_URL", base + "/c.ckpt")
    monkeypatch.setattr(D, "TOKENIZER_BASE_URL", base + "/r/")
    out = tmp_path / "bundle"
    assert main(["--download", "--cache", str(tmp_path / "cache"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot download") and "Traceback" not in err and not out.exists()
