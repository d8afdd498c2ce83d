"""roberta-base's tokenizer for AudioSep's query encoder: locate its files, read them, tokenize like transformers.

AudioSep tokenizes a query with ``RobertaTokenizer.from_pretrained("roberta-base")`` (see
``export.clap_text``); :func:`load_tokenizer` builds a ``tokenizers.Tokenizer`` that gives the same ids
from the same vocab.json + merges.txt (or a tokenizer.json), and that is what the bundle ships as
``tokenizer.json`` for the runtime (``plugin.text``). :func:`find_tokenizer` looks for the files offline.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from plugin.errors import SepBoardError

log = logging.getLogger("export.clap_tokenizer")

ROBERTA_PAD_ID = 1  # RobertaEmbeddings' padding_idx: position ids start at pad_id + 1
SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
HF_REPOS = ("FacebookAI/roberta-base", "roberta-base")


class TokenizerError(SepBoardError):
    """The RoBERTa tokenizer files are missing, unreadable or do not fit the text encoder."""


def tokenizer_files(folder) -> Dict[str, Path]:
    """{'vocab', 'merges'} or {'json'} in ``folder`` (vocab.json + merges.txt preferred: they are what
    AudioSep's RobertaTokenizer reads). Raises TokenizerError saying what is missing."""
    folder = Path(folder).expanduser()
    if not folder.exists():
        raise TokenizerError(f"tokenizer folder not found: {folder}. Give the folder that holds roberta-base's "
                             "vocab.json and merges.txt (or tokenizer.json); python -m export.audiosep --download "
                             "fetches them")
    if folder.is_file():
        if folder.name.endswith(".json") and folder.name != "vocab.json":
            return {"json": folder}
        folder = folder.parent
    vocab, merges, tj = folder / "vocab.json", folder / "merges.txt", folder / "tokenizer.json"
    if vocab.is_file() and merges.is_file():
        return {"vocab": vocab, "merges": merges}
    if tj.is_file():
        return {"json": tj}
    have = sorted(p.name for p in folder.iterdir())[:10] if folder.is_dir() else []
    missing = [p.name for p in (vocab, merges) if not p.is_file()]
    raise TokenizerError(
        f"{folder} has no RoBERTa tokenizer: missing {' and '.join(missing)} (and no tokenizer.json); it holds "
        f"{have or 'nothing'}. Download vocab.json and merges.txt of FacebookAI/roberta-base into it, or run "
        "python -m export.audiosep --download")


def _check_roberta_vocab(vocab: Dict[str, int], where) -> Dict[str, int]:
    ids = {}
    for s in ("<s>", "<pad>", "</s>"):
        if s not in vocab:
            raise TokenizerError(f"{where} is not a RoBERTa vocabulary: it has no {s} token")
        ids[s] = int(vocab[s])
    return ids


def roberta_tokenizer(vocab_file, merges_file):
    """A ``tokenizers.Tokenizer`` that tokenizes exactly like transformers' ``RobertaTokenizer(vocab, merges)``:
    byte-level BPE without prefix space, ``<s> ... </s>``, special tokens matched before BPE, ``<mask>``
    eating the space on its left. No padding; truncation is set by the caller."""
    from tokenizers import AddedToken, Tokenizer, decoders, pre_tokenizers, processors
    from tokenizers.models import BPE

    try:
        vocab = json.loads(Path(vocab_file).read_text(encoding="utf-8"))
        if not isinstance(vocab, dict):
            raise ValueError("not a JSON object")
        model = BPE.from_file(str(vocab_file), str(merges_file), dropout=None, continuing_subword_prefix="",
                              end_of_word_suffix="", fuse_unk=False)
    except Exception as exc:  # tokenizers raises plain Exceptions
        raise TokenizerError(f"cannot read the RoBERTa tokenizer files {vocab_file} / {merges_file}: {exc}") from exc
    ids = _check_roberta_vocab(vocab, vocab_file)
    tok = Tokenizer(model)
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.RobertaProcessing(("</s>", ids["</s>"]), ("<s>", ids["<s>"]),
                                                      trim_offsets=True, add_prefix_space=False)
    specials = [AddedToken(s, special=True, lstrip=(s == "<mask>"), normalized=False) for s in SPECIALS if s in vocab]
    tok.add_special_tokens(specials)
    return tok


def load_tokenizer(folder, max_tokens: Optional[int] = None):
    """The RoBERTa tokenizer in ``folder`` (vocab.json + merges.txt, or tokenizer.json), unpadded,
    truncated to ``max_tokens`` (specials included) when given."""
    from tokenizers import Tokenizer

    files = tokenizer_files(folder)
    if "vocab" in files:
        tok = roberta_tokenizer(files["vocab"], files["merges"])
    else:
        try:
            tok = Tokenizer.from_file(str(files["json"]))
        except Exception as exc:
            raise TokenizerError(f"{files['json']} is not a valid tokenizer.json: {exc}") from exc
        _check_roberta_vocab(tok.get_vocab(with_added_tokens=True), files["json"])
        enc = tok.encode("a")
        v = tok.get_vocab(with_added_tokens=True)
        if not enc.ids or enc.ids[0] != v["<s>"] or enc.ids[-1] != v["</s>"]:
            raise TokenizerError(f"{files['json']} does not add <s> ... </s> around a text; it is not RoBERTa's "
                                 "tokenizer. Use roberta-base's vocab.json + merges.txt")
    tok.no_padding()
    if max_tokens:
        tok.enable_truncation(int(max_tokens))
    else:
        tok.no_truncation()
    return tok


def encode(tok, texts: Sequence[str], pad_id: int = ROBERTA_PAD_ID) -> Tuple[np.ndarray, np.ndarray]:
    """ids, attention mask [B, longest] (int64), padded with ``pad_id`` like the runtime does."""
    from plugin.tokens import tokenize

    return tokenize(tok, texts, pad_id)


def _hf_hub_dirs() -> List[Path]:
    roots = []
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            roots.append(Path(os.environ[var]))
    if os.environ.get("HF_HOME"):
        roots.append(Path(os.environ["HF_HOME"]) / "hub")
    xdg = os.environ.get("XDG_CACHE_HOME")
    roots.append((Path(xdg) if xdg else Path.home() / ".cache") / "huggingface" / "hub")
    out = []
    for root in dict.fromkeys(roots):
        for repo in HF_REPOS:
            snaps = root / ("models--" + repo.replace("/", "--")) / "snapshots"
            if snaps.is_dir():
                out += sorted((p for p in snaps.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    return out


def tokenizer_candidates() -> List[Path]:
    """Where :func:`find_tokenizer` looks, in order."""
    c = []
    if os.environ.get("SEPBOARD_ROBERTA_TOKENIZER"):
        c.append(Path(os.environ["SEPBOARD_ROBERTA_TOKENIZER"]).expanduser())
    try:
        from .download import default_cache, TOKENIZER_SUBDIR

        c.append(default_cache() / TOKENIZER_SUBDIR)
    except ImportError:  # pragma: no cover
        pass
    c += _hf_hub_dirs()
    return c


def find_tokenizer() -> Optional[Path]:
    """A folder with roberta-base's tokenizer files found offline (never downloads), or None.

    Looks at $SEPBOARD_ROBERTA_TOKENIZER, the ``--download`` cache, and the Hugging Face cache
    (``$HF_HUB_CACHE``, ``$HF_HOME/hub``, ``~/.cache/huggingface/hub``) for FacebookAI/roberta-base."""
    for folder in tokenizer_candidates():
        try:
            tokenizer_files(folder)
        except TokenizerError:
            continue
        log.info("using the RoBERTa tokenizer in %s", folder)
        return folder
    return None
