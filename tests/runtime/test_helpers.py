"""The runtime's shared helpers, one per idea: atomic writes, progress + cancel, hashing, tokenising,
the file header read once, block decoding, output formats and the FIFO buffer."""
from __future__ import annotations

import hashlib
import os
import stat
import threading

import numpy as np
import pytest
import soundfile as sf

from plugin import atomic
from plugin.audiofile import FileInfo, iter_blocks
from plugin.errors import AudioError, Cancelled, OutputError
from plugin.fifo import FifoBuffer
from plugin.formats import check_output, output_problem
from plugin.hashing import sha256_file
from plugin.progress import is_cancelled, raise_if_cancelled
from plugin.tokens import pad_batch, pad_id_of, tokenize


def test_atomic_write_replaces_whole_files_with_normal_permissions(tmp_path):
    target = tmp_path / "sub" / "out.json"
    atomic.write_text(target, "first", fsync=True)
    atomic.write_text(target, "second")
    assert target.read_text() == "second"
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~atomic.UMASK
    assert os.listdir(target.parent) == ["out.json"]


def test_atomic_path_leaves_the_target_untouched_on_error(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(target) as tmp:
            assert tmp.parent == tmp_path and tmp.name.startswith(".table.csv.") and tmp.name.endswith(".part")
            tmp.write_text("half")
            raise RuntimeError("disk full")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["table.csv"]


def test_cancel_accepts_an_event_a_callable_or_none():
    ev = threading.Event()
    assert not is_cancelled(None) and not is_cancelled(ev) and not is_cancelled(lambda: False)
    ev.set()
    assert is_cancelled(ev) and is_cancelled(lambda: True)
    with pytest.raises(Cancelled, match="stopped"):
        raise_if_cancelled(ev, "stopped")
    raise_if_cancelled(None)


def test_sha256_file_is_the_digest_of_the_bytes(tmp_path):
    p = tmp_path / "blob"
    data = np.random.default_rng(0).bytes(3 * 1000 + 7)
    p.write_bytes(data)
    assert sha256_file(p, chunk=1000) == hashlib.sha256(data).hexdigest()


def test_tokenize_pads_with_the_pad_id_and_masks_the_padding():
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    tok = Tokenizer(WordLevel({"<unk>": 0, "<pad>": 1, "bass": 2, "slap": 3}, unk_token="<unk>"))
    tok.pre_tokenizer = Whitespace()
    assert pad_id_of(tok) == 1
    ids, mask = tokenize(tok, ["slap bass", "bass"], pad_id_of(tok))
    assert ids.tolist() == [[3, 2], [2, 1]] and mask.tolist() == [[1, 1], [1, 0]]
    assert ids.dtype == mask.dtype == np.int64
    assert pad_batch(tok.encode_batch(["bass"]), 7)[0].tolist() == [[2]]


def test_file_info_and_block_decoding(tmp_path):
    sr = 8000
    x = np.random.default_rng(1).uniform(-0.5, 0.5, (2, 25000)).astype(np.float32)
    p = tmp_path / "a.wav"
    sf.write(str(p), x.T, sr, subtype="FLOAT")
    info = FileInfo.read(p)
    assert (info.sample_rate, info.channels, info.frames, info.truncation) == (sr, 2, 25000, "")
    assert info.seconds == 25000 / sr
    blocks = list(iter_blocks(info, seconds=1.0))
    assert [b.shape[-1] for b in blocks] == [8000, 8000, 8000, 1000]
    assert np.array_equal(np.concatenate(blocks, axis=-1), x)
    with pytest.raises(Cancelled):
        list(iter_blocks(info, cancel=lambda: True))
    with pytest.raises(AudioError, match="not found"):
        FileInfo.read(tmp_path / "missing.wav")


def test_a_truncated_wav_is_noted_once_in_its_info(tmp_path):
    p = tmp_path / "cut.wav"
    sf.write(str(p), np.zeros((4000, 1), np.float32), 8000, subtype="PCM_16")
    data = p.read_bytes()
    p.write_bytes(data[: len(data) - 2000])
    assert "cut.wav is truncated" in FileInfo.read(p).truncation


def test_output_format_rules():
    assert output_problem("wav", "32f") is None and output_problem("flac", "24") is None
    assert "FLAC cannot store 32-bit float" in output_problem("flac", "32f")
    assert "bit depth" in output_problem("wav", "8") and "format" in output_problem("mp3", "16")
    with pytest.raises(OutputError):
        check_output("flac", "32f")


def test_fifo_buffer_grows_and_pops_in_order():
    fifo = FifoBuffer(2, capacity=4)
    data = np.arange(40, dtype=np.float32).reshape(2, 20)
    for i in range(0, 20, 3):
        fifo.append(data[:, i : i + 3])
    fifo.extend_zeros(2)
    assert len(fifo) == 22
    assert np.array_equal(fifo.pop(5), data[:, :5])
    assert np.array_equal(fifo.view(0, 15), data[:, 5:])
    fifo.drop(100)
    assert len(fifo) == 0
