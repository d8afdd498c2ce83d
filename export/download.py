"""Fetch the official AudioSep checkpoint and roberta-base's tokenizer files (``--download``).

    python -m export.audiosep --download --out bundles/audiosep [--cache DIR] [--sha256 HEX]

Files land in the cache folder (``$SEPBOARD_CACHE``, else ``$XDG_CACHE_HOME/sepboard``, else
``~/.cache/sepboard``)::

    audiosep_base_4M_steps.ckpt      AudioSep's release (Lightning checkpoint, about 1.2 GB)
    roberta-base/vocab.json          RoBERTa's BPE vocabulary (50265 tokens)
    roberta-base/merges.txt          RoBERTa's BPE merges (50000)

Downloads show a tqdm bar, go to ``NAME.part`` and resume from it with an HTTP ``Range`` request
when run again; a file is moved into place only once complete and verified. Verification: a
sha256 the user passes (``--sha256``), else the sha256 Hugging Face advertises for LFS files
(``X-Linked-Etag``), else the digest is printed so it can be pinned next time; the tokenizer files
are checked for RoBERTa's structure. A checksum mismatch deletes the bad file. Without network the
first connection fails within ``timeout`` seconds, without retries, and the message says which
files to fetch by hand and where to put them.
"""
from __future__ import annotations

import http.client
import json
import logging
import os
import re
import socket
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Tuple

from plugin.errors import SepBoardError
from plugin.hashing import sha256_file

log = logging.getLogger("export.download")

CHECKPOINT_NAME = "audiosep_base_4M_steps.ckpt"
# The official release: AudioSep's README links the "checkpoint" folder of the Audio-AGI/AudioSep Space.
CHECKPOINT_URL = "https://huggingface.co/spaces/Audio-AGI/AudioSep/resolve/main/checkpoint/" + CHECKPOINT_NAME
CHECKPOINT_SHA256: Optional[str] = None  # not published upstream; Hugging Face's X-Linked-Etag is used instead
TOKENIZER_SUBDIR = "roberta-base"
TOKENIZER_BASE_URL = "https://huggingface.co/FacebookAI/roberta-base/resolve/main/"
TOKENIZER_FILES = ("vocab.json", "merges.txt")
TIMEOUT = 10.0
CHUNK = 1 << 20
USER_AGENT = "sepboard-export/0.1 (+python urllib)"


class DownloadError(SepBoardError):
    """A download failed (offline, HTTP error, interrupted, checksum mismatch)."""


def default_cache() -> Path:
    if os.environ.get("SEPBOARD_CACHE"):
        return Path(os.environ["SEPBOARD_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "sepboard"


_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects like urllib does, remembering Hugging Face's ``X-Linked-Etag`` (the sha256 of LFS files)."""

    def __init__(self):
        super().__init__()
        self.linked_sha256: Optional[str] = None

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        tag = (headers.get("X-Linked-Etag") or "").strip().strip('"').lower()
        if _HEX64.match(tag):
            self.linked_sha256 = tag
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _offline_message(url: str, dest: Path, reason) -> str:
    return (f"cannot download {url} ({reason}). Without network, download it on another machine and put it at "
            f"{dest}, then run the same command again (or pass --checkpoint FILE / --tokenizer DIR)")


def download(url: str, dest, sha256: Optional[str] = None, timeout: float = TIMEOUT, progress: bool = True,
             validate: Optional[Callable[[Path], None]] = None) -> Path:
    """Download ``url`` to ``dest`` through ``dest.part`` (resumed with HTTP Range) and verify it.

    ``sha256``: expected digest (else the server's X-Linked-Etag when it has one). ``validate``: a
    structural check that raises DownloadError. An existing ``dest`` is kept when it passes the checks.
    """
    dest = Path(dest)
    expected = sha256.lower() if sha256 else None
    if expected and not _HEX64.match(expected):
        raise DownloadError(f"--sha256 must be 64 hexadecimal digits, got {sha256!r}")
    if dest.is_file():
        if expected and sha256_file(dest) != expected:
            raise DownloadError(f"{dest} exists but its sha256 is not {expected}: delete it (or point --cache elsewhere) "
                                "and download again")
        if validate:
            validate(dest)
        log.info("%s: already downloaded", dest)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.is_file() else 0
    redirects = _Redirects()
    opener = urllib.request.build_opener(redirects)
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        resp = opener.open(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # the .part already holds everything
            resp = None
        elif exc.code in (401, 403, 404):
            raise DownloadError(f"{url} answered HTTP {exc.code} {exc.reason}: the file moved or needs a login. Download "
                                f"it by hand and put it at {dest}") from exc
        else:
            raise DownloadError(_offline_message(url, dest, f"HTTP {exc.code} {exc.reason}")) from exc
    except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, OSError,
            http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(_offline_message(url, dest, f"network unreachable: {reason}")) from exc
    if resp is not None:
        with resp:
            status = getattr(resp, "status", 200)
            if offset and status != 206:
                log.info("%s: the server ignored the resume request; starting again", dest.name)
                offset = 0
            elif offset:
                m = re.match(r"bytes (\d+)-", resp.headers.get("Content-Range", ""))
                if not m or int(m.group(1)) != offset:
                    raise DownloadError(f"{url}: the server resumed at the wrong position "
                                        f"({resp.headers.get('Content-Range')!r}); delete {part} and try again")
            length = resp.headers.get("Content-Length")
            total = offset + int(length) if length and length.isdigit() else None
            bar = _progress_bar(total, offset, dest.name, progress)
            try:
                with open(part, "ab" if offset else "wb") as f:
                    while True:
                        block = resp.read(CHUNK)
                        if not block:
                            break
                        f.write(block)
                        bar.update(len(block))
            except (socket.timeout, TimeoutError, ConnectionError, OSError, http.client.HTTPException) as exc:
                raise DownloadError(f"download of {url} was interrupted ({exc}); {part.stat().st_size} bytes are kept "
                                    "in the .part file: run the same command again to resume") from exc
            finally:
                bar.close()
            size = part.stat().st_size
            if total is not None and size < total:
                raise DownloadError(f"download of {url} stopped at {size} of {total} bytes; run the same command again "
                                    "to resume")
    want = expected or redirects.linked_sha256
    got = sha256_file(part)
    if want and got != want:
        part.unlink()
        raise DownloadError(f"checksum mismatch for {dest.name}: sha256 {got}, expected {want}; the damaged download was "
                            "deleted, run the command again")
    if validate:
        try:
            validate(part)
        except DownloadError:
            part.unlink()
            raise
    os.replace(part, dest)
    if want:
        log.info("%s: sha256 verified (%s)", dest.name, want)
    else:
        log.info("%s: downloaded, sha256 %s (pass --sha256 %s to pin it)", dest.name, got, got)
    return dest


def _progress_bar(total, initial, name, enabled):
    try:
        from tqdm import tqdm

        return tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
                    disable=not enabled, file=sys.stderr, leave=False)
    except ImportError:  # pragma: no cover
        class _Null:
            def update(self, n):
                pass

            def close(self):
                pass

        return _Null()


def check_vocab(path: Path) -> None:
    try:
        vocab = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DownloadError(f"{path} is not a JSON vocabulary ({exc}); the download is damaged") from exc
    if not isinstance(vocab, dict) or vocab.get("<s>") != 0 or vocab.get("<pad>") != 1 or vocab.get("</s>") != 2:
        raise DownloadError(f"{path} is not RoBERTa's vocabulary (<s>=0, <pad>=1, </s>=2 missing)")


def check_merges(path: Path) -> None:
    with open(path, encoding="utf-8", errors="strict") as f:
        try:
            first = f.readline()
            second = f.readline()
        except UnicodeDecodeError as exc:
            raise DownloadError(f"{path} is not a BPE merges file ({exc})") from exc
    if not first.startswith("#version") or len(second.split()) != 2:
        raise DownloadError(f"{path} is not a BPE merges file (expected '#version' then 'a b' pairs)")


@dataclass
class Asset:
    url: str
    dest: Path
    sha256: Optional[str] = None
    validate: Optional[Callable[[Path], None]] = None


def official_assets(cache: Path, checkpoint_sha256: Optional[str] = None, checkpoint_url: Optional[str] = None,
                    tokenizer_base_url: Optional[str] = None) -> List[Asset]:
    tok = cache / TOKENIZER_SUBDIR
    checkpoint_url = checkpoint_url or CHECKPOINT_URL
    tokenizer_base_url = tokenizer_base_url or TOKENIZER_BASE_URL
    return [
        Asset(tokenizer_base_url + "vocab.json", tok / "vocab.json", validate=check_vocab),
        Asset(tokenizer_base_url + "merges.txt", tok / "merges.txt", validate=check_merges),
        Asset(checkpoint_url, cache / CHECKPOINT_NAME, sha256=checkpoint_sha256 or CHECKPOINT_SHA256),
    ]


def fetch_official(cache_dir=None, checkpoint_sha256: Optional[str] = None, timeout: float = TIMEOUT,
                   progress: bool = True, checkpoint_url: Optional[str] = None,
                   tokenizer_base_url: Optional[str] = None) -> Tuple[Path, Path]:
    """(checkpoint path, tokenizer folder), downloading what the cache lacks.

    The small tokenizer files come first, so an offline machine fails within ``timeout`` seconds;
    the message then lists every file still missing and where it goes."""
    cache = Path(cache_dir).expanduser() if cache_dir else default_cache()
    assets = official_assets(cache, checkpoint_sha256, checkpoint_url, tokenizer_base_url)
    for i, a in enumerate(assets):
        try:
            download(a.url, a.dest, sha256=a.sha256, timeout=timeout, progress=progress, validate=a.validate)
        except DownloadError as exc:
            todo = [b for b in assets[i:] if not b.dest.is_file()]
            if len(todo) > 1 and "cannot download" in str(exc):
                listing = "; ".join(f"{b.url} -> {b.dest}" for b in todo)
                raise DownloadError(f"{exc}. All files still missing: {listing}") from exc
            raise
    return assets[2].dest, cache / TOKENIZER_SUBDIR
