"""Fetch the official AudioSep checkpoint and roberta-base's tokenizer files (``--download``).

    python -m export.audiosep --download --out bundles/audiosep [--cache DIR] [--sha256 HEX]

Files land in the cache folder (``$SEPBOARD_CACHE``, else ``$XDG_CACHE_HOME/sepboard``, else
``~/.cache/sepboard``)::

    audiosep_base_4M_steps.ckpt      AudioSep's release (Lightning checkpoint, about 1.2 GB)
    roberta-base/vocab.json          RoBERTa's BPE vocabulary (50265 tokens)
    roberta-base/merges.txt          RoBERTa's BPE merges (50000)

Downloads show a tqdm bar, go to ``NAME.part`` and resume from it with an HTTP ``Range`` request
when run again, but only when the part can be checked (a known sha256, or the server's ETag /
Last-Modified kept in ``NAME.part.json`` and sent as ``If-Range``); otherwise it starts again. A file
is moved into place only once complete (its size as the server announced) and verified: a sha256
the user passes (``--sha256``), else the sha256 Hugging Face advertises for LFS files
(``X-Linked-Etag``), else the digest is printed so it can be pinned next time and recorded in
``NAME.sha256`` to re-check the file on later runs. An HTML answer is never taken for a file; the
checkpoint must start like a torch file and the tokenizer files are checked for RoBERTa's structure. A checksum mismatch deletes the bad file. Without network the
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


class _Part:
    """The ``.part`` file of a download and what is known of it: the URL it came from and the
    server's validators (ETag / Last-Modified) and total size, kept in ``NAME.part.json``. A part
    without them cannot be resumed safely (it may hold another version of the file)."""

    def __init__(self, dest: Path, url: str):
        self.path = dest.with_name(dest.name + ".part")
        self.meta_path = dest.with_name(dest.name + ".part.json")
        self.url = url
        try:
            meta = json.loads(self.meta_path.read_text(encoding="utf-8"))
            self.meta = meta if isinstance(meta, dict) and meta.get("url") == url else {}
        except (OSError, ValueError):
            self.meta = {}

    @property
    def size(self) -> int:
        return self.path.stat().st_size if self.path.is_file() else 0

    def validator(self) -> Optional[str]:
        return self.meta.get("etag") or self.meta.get("last_modified")

    def restart(self, why: str) -> None:
        log.info("%s: %s; downloading it again from the start", self.path.name, why)
        try:
            self.path.unlink()
        except OSError:
            pass
        self.forget()

    def forget(self) -> None:
        """Drop the validators (the part became the file)."""
        try:
            self.meta_path.unlink()
        except OSError:
            pass

    def remember(self, headers, total: Optional[int]) -> None:
        self.meta = {"url": self.url, "etag": headers.get("ETag"), "last_modified": headers.get("Last-Modified"),
                     "total": total}
        self.meta_path.write_text(json.dumps(self.meta), encoding="utf-8")


def _record_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".sha256")  # the digest of what this module downloaded and verified


def _existing(dest: Path, expected: Optional[str], validate) -> Path:
    """An existing ``dest``, checked against ``expected``, else against the digest recorded when it was
    downloaded; a file placed by hand is checked for its structure and reported as not verified."""
    try:
        recorded = _record_path(dest).read_text(encoding="utf-8").strip()
    except OSError:
        recorded = None
    want = expected or recorded
    if want and sha256_file(dest) != want:
        raise DownloadError(f"{dest} exists but its sha256 is not {want}: delete it (or point --cache elsewhere) "
                            "and download again")
    if validate:
        validate(dest)
    if want:
        log.info("%s: already downloaded (sha256 verified)", dest)
    else:
        log.warning("%s: using the file found there; its sha256 is not known, so it is not verified (pass --sha256 "
                    "to check it)", dest)
    return dest


def _request(url: str, part: _Part, expected: Optional[str], timeout: float, redirects: "_Redirects", dest: Path):
    """The server's response for the rest of ``part`` (or all of it); None when a 416 confirms that the
    part is complete. A part that cannot be verified or resumed is restarted."""
    if part.size and not (expected or part.validator()):
        part.restart("the partial download cannot be verified (no checksum, no server validator)")
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if part.size:
        headers["Range"] = f"bytes={part.size}-"
        if part.validator():
            headers["If-Range"] = part.validator()  # the server sends the whole file if it changed
    opener = urllib.request.build_opener(redirects)
    try:
        return opener.open(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and part.size:
            total = re.match(r"bytes \*/(\d+)", exc.headers.get("Content-Range", "") or "")
            known = expected or part.meta.get("total") == part.size
            if total and int(total.group(1)) == part.size and known:
                return None  # the .part already holds everything
            part.restart("the server cannot resume it")
            return _request(url, part, expected, timeout, redirects, dest)
        if exc.code in (401, 403, 404):
            raise DownloadError(f"{url} answered HTTP {exc.code} {exc.reason}: the file moved or needs a login. Download "
                                f"it by hand and put it at {dest}") from exc
        raise DownloadError(_offline_message(url, dest, f"HTTP {exc.code} {exc.reason}")) from exc
    except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, OSError,
            http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(_offline_message(url, dest, f"network unreachable: {reason}")) from exc


def _total(resp, part: _Part, url: str) -> Optional[int]:
    """The whole file's size from the response; a resumed part that does not fit is restarted."""
    status = getattr(resp, "status", 200)
    if part.size and status != 206:
        part.restart("the server ignored the resume request")
    if part.size:
        m = re.match(r"bytes (\d+)-\d*/(\d+|\*)", resp.headers.get("Content-Range", ""))
        if not m or int(m.group(1)) != part.size:
            raise DownloadError(f"{url}: the server resumed at the wrong position "
                                f"({resp.headers.get('Content-Range')!r}); delete {part.path} and try again")
        total = int(m.group(2)) if m.group(2) != "*" else None
        if part.meta.get("total") and total and total != part.meta["total"]:
            raise DownloadError(f"{url} changed size since {part.path} was started; delete it and try again")
        return total
    length = resp.headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None


def _receive(resp, part: _Part, url: str, dest: Path, progress: bool) -> None:
    """Stream the response into the .part; checks its type and its final size."""
    kind = (resp.headers.get("Content-Type") or "").lower()
    if kind.startswith("text/html"):
        raise DownloadError(f"{url} answered with an HTML page (an error or login page?) instead of the file; "
                            f"download it by hand and put it at {dest}")
    total = _total(resp, part, url)
    offset = part.size
    if not offset:
        part.remember(resp.headers, total)
    bar = _progress_bar(total, offset, dest.name, progress)
    try:
        with open(part.path, "ab" if offset else "wb") as f:
            for block in iter(lambda: resp.read(CHUNK), b""):
                f.write(block)
                bar.update(len(block))
    except (socket.timeout, TimeoutError, ConnectionError, OSError, http.client.HTTPException) as exc:
        raise DownloadError(f"download of {url} was interrupted ({exc}); {part.size} bytes are kept "
                            "in the .part file: run the same command again to resume") from exc
    finally:
        bar.close()
    if total is not None and part.size < total:
        raise DownloadError(f"download of {url} stopped at {part.size} of {total} bytes; run the same command again "
                            "to resume")
    if total is not None and part.size > total:
        part.restart(f"it holds {part.size} bytes, more than the {total} of the file")
        raise DownloadError(f"download of {url} was damaged (too long); it was deleted, run the command again")


def download(url: str, dest, sha256: Optional[str] = None, timeout: float = TIMEOUT, progress: bool = True,
             validate: Optional[Callable[[Path], None]] = None) -> Path:
    """Download ``url`` to ``dest`` through ``dest.part`` (resumed with HTTP Range) and verify it.

    ``sha256``: expected digest (else the server's X-Linked-Etag when it has one). ``validate``: a
    structural check that raises DownloadError. A part is resumed only when it can be checked (a
    known sha256, or the server's ETag / Last-Modified through If-Range); an HTML answer, a short or
    long file, or a 416 for a part of unknown size are never taken for the file. An existing
    ``dest`` is kept when it matches ``sha256`` or the digest recorded when it was downloaded.
    """
    dest = Path(dest)
    expected = sha256.lower() if sha256 else None
    if expected and not _HEX64.match(expected):
        raise DownloadError(f"--sha256 must be 64 hexadecimal digits, got {sha256!r}")
    if dest.is_file():
        return _existing(dest, expected, validate)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = _Part(dest, url)
    redirects = _Redirects()
    resp = _request(url, part, expected, timeout, redirects, dest)
    if resp is not None:
        with resp:
            _receive(resp, part, url, dest, progress)
    want = expected or redirects.linked_sha256
    got = sha256_file(part.path)
    if want and got != want:
        part.restart("its checksum is wrong")
        raise DownloadError(f"checksum mismatch for {dest.name}: sha256 {got}, expected {want}; the damaged download was "
                            "deleted, run the command again")
    if validate:
        try:
            validate(part.path)
        except DownloadError:
            part.restart("it is not the expected file")
            raise
    os.replace(part.path, dest)
    _record_path(dest).write_text(got + "\n", encoding="utf-8")
    part.forget()
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


def check_checkpoint(path: Path) -> None:
    """A torch checkpoint starts with a zip header (torch >= 1.6) or a pickle opcode (older files)."""
    with open(path, "rb") as f:
        head = f.read(4)
    if not (head.startswith(b"PK\x03\x04") or head.startswith(b"\x80")):
        what = "an HTML page (an error or login page?)" if head.lstrip().startswith(b"<") else "not a torch checkpoint"
        raise DownloadError(f"{path} is {what}, not AudioSep's checkpoint; the download is damaged")


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
        Asset(checkpoint_url, cache / CHECKPOINT_NAME, sha256=checkpoint_sha256 or CHECKPOINT_SHA256,
              validate=check_checkpoint),
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
