"""AudioSep's query encoder (the LAION-CLAP text tower) -> ``text_encoder.onnx`` + ``tokenizer.json``.

Build time only (torch + transformers); the runtime needs neither (``plugin.text``: ``tokenizers`` +
ONNX Runtime).

What AudioSep computes for a text query (checked in its vendored CLAP code,
``models/CLAP/open_clip/model.py`` and ``models/clap_encoder.py``; identical in laion-clap 1.1.7):

* tokens: ``RobertaTokenizer.from_pretrained("roberta-base")(texts, padding="max_length",
  truncation=True, max_length=512)`` (laion-clap's own ``CLAP_Module.tokenizer`` uses 77);
* ``CLAP.encode_text`` for ``tmodel="roberta"``:
  ``text_branch(input_ids, attention_mask)["pooler_output"]`` -- RobertaModel's pooler, i.e.
  ``tanh(Linear(h[:, 0]))`` on the ``<s>`` token, not a mean -- then ``text_projection`` =
  ``Sequential(Linear(768, 512), ReLU(), Linear(512, 512))``;
* ``CLAP.get_text_embedding``: ``F.normalize(x, dim=-1)``. ``text_transform`` (an MLP) is only
  used in training's contrastive loss, not on this path.

In the official checkpoint those tensors are ``query_encoder.model.text_branch.*`` and
``query_encoder.model.text_projection.{0,2}.*`` (``export.checkpoint.text_keys`` strips the prefix).
The RoBERTa configuration is read from tensor shapes (vocabulary, hidden size, layers, feed-forward
size, positions, token types); the number of attention heads is not visible in any shape, so it is
``hidden / 64`` (every RoBERTa: base 768/12, large 1024/16) unless given.

Padding: with a correct attention mask, RoBERTa's pooled output does not depend on how many pad
tokens follow (padded keys get exactly zero attention weight; position ids of real tokens do not
change; measured max difference 3e-8), so the runtime pads a batch only to its longest query
instead of to 512. Truncation does matter and is reproduced exactly: the bundle's ``max_tokens`` is
AudioSep's 512 (or what the position table allows), counted with ``<s>`` and ``</s>`` like transformers.

This module builds the text tower and exports it; the tokenizer (finding and reading roberta-base's
files) is ``export.clap_tokenizer``, whose public names are importable from here too.
"""
from __future__ import annotations

import logging
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np

from plugin.atomic import atomic_path
from plugin.errors import CheckpointError

from .clap_tokenizer import (HF_REPOS, ROBERTA_PAD_ID, SPECIALS, TokenizerError, encode, find_tokenizer, load_tokenizer,
                             roberta_tokenizer, tokenizer_candidates, tokenizer_files)

__all__ = [  # this module's own names and those of export.clap_tokenizer
    "AUDIOSEP_MAX_TOKENS", "LAION_CLAP_MAX_TOKENS", "HEAD_DIM", "LAYER_NORM_EPS", "KIND", "INPUT_NAMES",
    "OUTPUT_NAME", "PARITY_TOL", "PROBE_TEXTS", "ClapTextConfig", "infer_text_config", "build_text_encoder",
    "export_onnx", "text_encoder_writer",
    "HF_REPOS", "ROBERTA_PAD_ID", "SPECIALS", "TokenizerError", "encode", "find_tokenizer", "load_tokenizer",
    "roberta_tokenizer", "tokenizer_candidates", "tokenizer_files",
]

log = logging.getLogger("export.clap_text")

AUDIOSEP_MAX_TOKENS = 512  # models/clap_encoder.py: CLAP_Encoder.tokenizer(max_length=512)
LAION_CLAP_MAX_TOKENS = 77  # laion_clap.hook.CLAP_Module.tokenizer(max_length=77)
HEAD_DIM = 64
LAYER_NORM_EPS = 1e-5  # RoBERTa's; not visible in the weights
KIND = "laion-clap-roberta"
INPUT_NAMES = ["input_ids", "attention_mask"]
OUTPUT_NAME = "embedding"
PARITY_TOL = 1e-4
PROBE_TEXTS = (
    "acoustic guitar", "bass", "a funky slap bass line with some drums in the background",
    "female vocals", "The violins, not the cellos!", "synth pad", "église — naïve café ünïcode",
)


# --------------------------------------------------------------------------------------------
# model
# --------------------------------------------------------------------------------------------
@dataclass
class ClapTextConfig:
    vocab_size: int
    hidden: int
    layers: int
    heads: int
    intermediate: int
    max_positions: int
    type_vocab: int
    projection: Tuple[int, int]  # (Linear 1 out, Linear 2 out)

    def roberta(self, attn: str = "eager"):
        from transformers import RobertaConfig

        return RobertaConfig(
            vocab_size=self.vocab_size, hidden_size=self.hidden, num_hidden_layers=self.layers,
            num_attention_heads=self.heads, intermediate_size=self.intermediate, hidden_act="gelu",
            max_position_embeddings=self.max_positions, type_vocab_size=self.type_vocab,
            layer_norm_eps=LAYER_NORM_EPS, pad_token_id=ROBERTA_PAD_ID, bos_token_id=0, eos_token_id=2,
            hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, attn_implementation=attn,
        )

    @property
    def max_tokens(self) -> int:
        """Longest sequence the position table holds (RoBERTa positions start at pad_id + 1), capped at AudioSep's 512."""
        return min(AUDIOSEP_MAX_TOKENS, self.max_positions - ROBERTA_PAD_ID - 1)


_BUFFERS = ("text_branch.embeddings.position_ids", "text_branch.embeddings.token_type_ids")


def _text_tensors(text_sd: Dict) -> Dict:
    return {k: v for k, v in text_sd.items() if k.startswith(("text_branch.", "text_projection."))}


def infer_text_config(text_sd: Dict, heads: Optional[int] = None) -> ClapTextConfig:
    """RoBERTa + projection sizes from the tensors under ``text_branch.`` / ``text_projection.``."""
    sd = _text_tensors(text_sd)
    if not sd:
        kinds = sorted({k.split(".")[0] for k in text_sd})[:8]
        raise CheckpointError(f"the checkpoint's query encoder has no text tower (no 'text_branch.*' / "
                              f"'text_projection.*' tensors; it has {kinds}); is it an AudioSep checkpoint?")
    if "text_branch.shared.weight" in sd or "token_embedding.weight" in text_sd:
        raise CheckpointError("the checkpoint's CLAP text tower is not RoBERTa (BART or CLIP transformer); only the "
                              "RoBERTa tower AudioSep uses is supported")
    need = ["text_branch.embeddings.word_embeddings.weight", "text_branch.embeddings.position_embeddings.weight",
            "text_branch.embeddings.token_type_embeddings.weight", "text_branch.encoder.layer.0.intermediate.dense.weight",
            "text_projection.0.weight", "text_projection.2.weight"]
    missing = [k for k in need if k not in sd]
    if missing:
        raise CheckpointError(f"the checkpoint's CLAP text tower is incomplete: {len(missing)} missing: "
                              + ", ".join("query_encoder.model." + k for k in missing))
    vocab, hidden = (int(s) for s in sd["text_branch.embeddings.word_embeddings.weight"].shape)
    layers = 1 + max(int(m.group(1)) for k in sd if (m := re.match(r"text_branch\.encoder\.layer\.(\d+)\.", k)))
    if heads is None:
        if hidden % HEAD_DIM:
            raise CheckpointError(f"text tower hidden size {hidden} is not a multiple of {HEAD_DIM}: the number of "
                                  "attention heads cannot be inferred; pass heads=...")
        heads = hidden // HEAD_DIM
    if hidden % heads:
        raise CheckpointError(f"text tower hidden size {hidden} is not divisible by {heads} heads")
    p1 = int(sd["text_projection.0.weight"].shape[0])
    p2 = int(sd["text_projection.2.weight"].shape[0])
    return ClapTextConfig(
        vocab_size=vocab, hidden=hidden, layers=layers, heads=int(heads),
        intermediate=int(sd["text_branch.encoder.layer.0.intermediate.dense.weight"].shape[0]),
        max_positions=int(sd["text_branch.embeddings.position_embeddings.weight"].shape[0]),
        type_vocab=int(sd["text_branch.embeddings.token_type_embeddings.weight"].shape[0]),
        projection=(p1, p2),
    )


def _module_class():
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class ClapTextEncoder(nn.Module):
        """RobertaModel pooler output -> Linear-ReLU-Linear -> L2 normalisation (CLAP.get_text_embedding)."""

        def __init__(self, cfg: ClapTextConfig, attn: str = "eager"):
            super().__init__()
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from transformers import RobertaModel

            self.cfg = cfg
            self.text_branch = RobertaModel(cfg.roberta(attn), add_pooling_layer=True)
            self.text_projection = nn.Sequential(nn.Linear(cfg.hidden, cfg.projection[0]), nn.ReLU(),
                                                 nn.Linear(cfg.projection[0], cfg.projection[1]))

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            pooled = self.text_branch(input_ids=input_ids, attention_mask=attention_mask).pooler_output
            return F.normalize(self.text_projection(pooled), dim=-1)

    return ClapTextEncoder


def build_text_encoder(text_sd: Dict, heads: Optional[int] = None, attn: str = "eager"):
    """The torch text encoder with the checkpoint's weights loaded strictly (eval mode).

    Missing, unexpected or mis-shaped text tensors raise one CheckpointError that lists them."""
    import torch

    cfg = infer_text_config(text_sd, heads)
    model = _module_class()(cfg, attn)
    sd = {k: v for k, v in _text_tensors(text_sd).items() if k not in _BUFFERS}
    own = {k: v for k, v in model.state_dict().items() if k not in _BUFFERS}
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    shapes = sorted(f"{k}: checkpoint {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}"
                    for k in set(own) & set(sd) if tuple(sd[k].shape) != tuple(own[k].shape))
    problems = []
    for what, items in (("missing", missing), ("unexpected", unexpected), ("shape mismatches", shapes)):
        if items:
            problems.append(f"{len(items)} {what}: " + ", ".join(items[:12]) + (" ..." if len(items) > 12 else ""))
    if problems:
        raise CheckpointError("the checkpoint's CLAP text tower (query_encoder.model.*) does not fit a RoBERTa text "
                              "encoder: " + " | ".join(problems))
    for k, v in sd.items():
        if not torch.isfinite(v).all():
            raise CheckpointError(f"text encoder tensor query_encoder.model.{k} contains NaN/inf; the checkpoint is damaged")
    model.load_state_dict({k: v.float() for k, v in sd.items()}, strict=False)
    return model.eval()


# --------------------------------------------------------------------------------------------
# ONNX
# --------------------------------------------------------------------------------------------
def export_onnx(model, tok, path, probe: Sequence[str] = PROBE_TEXTS, tol: float = PARITY_TOL) -> Dict:
    """Export ``model`` with dynamic batch and token axes and check ORT against torch on ``probe``
    (tokenized by ``tok``, padded batch and one by one). Raises ExportError above ``tol``."""
    import onnx
    import torch

    from plugin.bundle import make_session

    from .onnx_export import ExportError

    model = model.eval()
    path = Path(path)
    ids, mask = encode(tok, ["a funky slap bass", "drums"])  # padded example, so the mask path is traced
    with atomic_path(path) as tmp:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model, (torch.from_numpy(ids), torch.from_numpy(mask)), str(tmp),
                input_names=INPUT_NAMES, output_names=[OUTPUT_NAME],
                dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                              OUTPUT_NAME: {0: "batch"}},
                opset_version=18, do_constant_folding=True, dynamo=False,
            )
        model.eval()  # export restores the training flag of the wrapper it was given
        try:
            onnx.checker.check_model(str(tmp))
        except Exception as exc:
            raise ExportError(f"onnx.checker rejected the text encoder graph: {exc}") from exc
        sess = make_session(str(tmp), providers=["CPUExecutionProvider"])
        pid, pmask = encode(tok, probe)
        with torch.no_grad():
            ref = model(torch.from_numpy(pid), torch.from_numpy(pmask)).numpy()
        got = sess.run([OUTPUT_NAME], {"input_ids": pid, "attention_mask": pmask})[0]
        one = np.concatenate([sess.run([OUTPUT_NAME], dict(zip(INPUT_NAMES, encode(tok, [t]))))[0] for t in probe[:3]])
        err = float(max(np.abs(got - ref).max(), np.abs(one - ref[:3]).max()))
        cos = float(np.min(np.sum(got * ref, -1) / (np.linalg.norm(got, axis=-1) * np.linalg.norm(ref, axis=-1))))
        if not err <= tol:
            raise ExportError(f"text encoder ONNX export does not match torch: max abs difference {err:.3g} > {tol:g}")
    report = {"max_abs": err, "min_cosine": cos, "bytes": path.stat().st_size}
    log.info("text_encoder.onnx: %.1f MB, max |torch-ORT| %.2e, min cosine %.7f", report["bytes"] / 1e6, err, cos)
    return report


def text_encoder_writer(text_sd: Dict, tokenizer_path, max_tokens: Optional[int] = None, heads: Optional[int] = None
                        ) -> Callable[[Path], Dict]:
    """Validate the text tensors and the tokenizer now (before the slow separator export), and return
    ``fn(stage_folder) -> manifest text_encoder entry`` that writes text_encoder.onnx + tokenizer.json."""
    model = build_text_encoder(text_sd, heads)
    cfg = model.cfg
    limit = cfg.max_tokens
    if max_tokens is None:
        max_tokens = limit
    if not 3 <= int(max_tokens) <= cfg.max_positions - ROBERTA_PAD_ID - 1:
        raise CheckpointError(f"max_tokens={max_tokens} does not fit the text encoder's {cfg.max_positions} positions "
                              f"(at most {cfg.max_positions - ROBERTA_PAD_ID - 1})")
    tok = load_tokenizer(tokenizer_path, int(max_tokens))
    vocab = tok.get_vocab(with_added_tokens=True)
    top = max(vocab.values())
    if top >= cfg.vocab_size:
        raise TokenizerError(f"the tokenizer in {tokenizer_path} has token ids up to {top} but the checkpoint's text "
                             f"encoder knows {cfg.vocab_size} tokens: it is not the tokenizer this model was trained "
                             "with (AudioSep uses roberta-base)")
    pad_id = int(vocab["<pad>"]) if "<pad>" in vocab else ROBERTA_PAD_ID

    def write(stage: Path) -> Dict:
        stage = Path(stage)
        export_onnx(model, tok, stage / "text_encoder.onnx")
        tok.save(str(stage / "tokenizer.json"))
        return {"file": "text_encoder.onnx", "tokenizer": "tokenizer.json", "kind": KIND,
                "max_tokens": int(max_tokens), "pooling": "pooler", "normalize": True,
                "input_names": list(INPUT_NAMES), "output_name": OUTPUT_NAME, "pad_id": pad_id, "lowercase": False}

    write.model = model  # for tests and reports
    write.tokenizer = tok
    return write
