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
        self.content_type = None  # Content-Type header to send, if any
        self.etag = None  # ETag to send; a Range request with a stale If-Range gets the whole file
        self.if_range = []
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
                outer.if_range.append(self.headers.get("If-Range"))
                if self.headers.get("If-Range") and self.headers.get("If-Range") != outer.etag:
                    rng = None
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
                if outer.content_type:
                    self.send_header("Content-Type", outer.content_type)
                if outer.etag:
                    self.send_header("ETag", outer.etag)
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
    payload = b"PK\x03\x04" + payload  # a checkpoint starts like a zip file
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


# --- downloads without a known sha256 -------------------------------------------------------------
def test_an_html_answer_is_not_taken_for_the_file(server, tmp_path):
    page = b"<!DOCTYPE html><html><body>Please log in</body></html>"
    server.files["/m.bin"] = page
    server.content_type = "text/html; charset=utf-8"
    with pytest.raises(DownloadError, match="HTML page"):
        download(server.url + "/m.bin", tmp_path / "m.bin", progress=False)
    assert not (tmp_path / "m.bin").exists()
    server.content_type = None  # a page served without its type: the checkpoint's own check refuses it
    server.files["/ckpt/audiosep_base_4M_steps.ckpt"] = page
    with pytest.raises(DownloadError, match="HTML page"):
        download(server.url + "/ckpt/audiosep_base_4M_steps.ckpt", tmp_path / "c.ckpt", progress=False,
                 validate=D.check_checkpoint)
    assert not (tmp_path / "c.ckpt").exists()


def test_a_stale_part_without_validators_is_not_resumed(server, payload, tmp_path):
    server.files["/m.bin"] = payload
    (tmp_path / "m.bin.part").write_bytes(b"an older version of the file" * 1000)
    download(server.url + "/m.bin", tmp_path / "m.bin", progress=False)
    assert server.log == [("/m.bin", None)]  # started again, no Range
    assert (tmp_path / "m.bin").read_bytes() == payload


def test_a_part_is_resumed_only_while_the_file_is_unchanged(server, payload, tmp_path):
    server.files["/m.bin"] = payload
    server.etag = '"v1"'
    server.truncate_once["/m.bin"] = D.CHUNK + 1000
    with pytest.raises(DownloadError, match="run the same command again"):
        download(server.url + "/m.bin", tmp_path / "m.bin", progress=False)
    kept = (tmp_path / "m.bin.part").stat().st_size
    download(server.url + "/m.bin", tmp_path / "m.bin", progress=False)  # same ETag: resumed
    assert server.log[-1] == ("/m.bin", f"bytes={kept}-") and server.if_range[-1] == '"v1"'
    assert (tmp_path / "m.bin").read_bytes() == payload
    # a new version on the server: If-Range makes it send the whole file, which replaces the part
    server.files["/n.bin"] = payload
    server.truncate_once["/n.bin"] = D.CHUNK + 1000
    with pytest.raises(DownloadError):
        download(server.url + "/n.bin", tmp_path / "n.bin", progress=False)
    server.files["/n.bin"] = payload[::-1]
    server.etag = '"v2"'
    download(server.url + "/n.bin", tmp_path / "n.bin", progress=False)
    assert (tmp_path / "n.bin").read_bytes() == payload[::-1]


def test_416_for_a_part_of_unknown_size_restarts(server, payload, tmp_path):
    import json

    server.files["/m.bin"] = payload
    server.etag = '"v1"'
    for part in (payload + b"junk", payload):  # longer than the file, or as long: 416 either way
        (tmp_path / "m.bin.part").write_bytes(part)
        meta = {"url": server.url + "/m.bin", "etag": '"v1"', "total": None}
        (tmp_path / "m.bin.part.json").write_text(json.dumps(meta))
        download(server.url + "/m.bin", tmp_path / "m.bin", progress=False)
        assert (tmp_path / "m.bin").read_bytes() == payload
        assert server.log[-1] == ("/m.bin", None)  # the 416 was not taken for "complete": fetched again
        (tmp_path / "m.bin").unlink()


def test_a_file_found_in_the_cache_is_not_called_downloaded_unless_verified(server, payload, tmp_path, caplog):
    server.files["/m.bin"] = payload
    download(server.url + "/m.bin", tmp_path / "m.bin", progress=False)
    with caplog.at_level("INFO", logger="export.download"):
        download(server.url + "/m.bin", tmp_path / "m.bin", progress=False)
    assert "already downloaded (sha256 verified)" in caplog.text
    (tmp_path / "m.bin").write_bytes(payload[:-1] + b"!")  # damaged after the download
    with pytest.raises(DownloadError, match="exists but its sha256"):
        download(server.url + "/m.bin", tmp_path / "m.bin", progress=False)
    (tmp_path / "hand.bin").write_bytes(payload)  # put there by hand, as the offline message says
    caplog.clear()
    with caplog.at_level("INFO", logger="export.download"):
        download(server.url + "/m.bin", tmp_path / "hand.bin", progress=False)
    assert "already downloaded" not in caplog.text and "not verified" in caplog.text
