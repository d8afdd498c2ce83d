"""Text embeddings from laion-clap itself, offline, on deterministic random weights.

Runs in the isolated environment made by ``setup.sh`` (never in SepBoard's own venv):

    /tmp/clapref/bin/python scripts/clap_reference/reference.py --out tests/golden/clap_text_reference.npz

What it takes to run laion-clap 1.1.7 without the hub (see README.md beside this file):
1. HF_HUB_OFFLINE=1 / TRANSFORMERS_OFFLINE=1, so nothing tries the network;
2. ``{Bert,Roberta,Bart}Tokenizer.from_pretrained`` patched before laion_clap is imported: its
   training/data.py loads three tokenizers from the hub at import time; RoBERTa's returns the
   stand-in (tests/golden/clap_tokenizer, loaded with the ordinary ``RobertaTokenizer(vocab, merges)``),
   the other two a placeholder (unused on the text path);
3. torchvision stubbed in ``sys.modules`` (after transformers is imported): laion-clap imports
   ``torchvision.ops.misc``, ``torchvision.transforms`` and ``torchvision.datasets`` but never
   uses them for text, and PyPI's torchvision does not load beside CPU torch;
4. ``clap_module.model.RobertaModel`` (the top-level ``clap_module`` that laion_clap puts on
   sys.path; ``laion_clap.clap_module`` is a second, unused copy) replaced so that
   ``RobertaModel.from_pretrained('roberta-base')`` builds a random RoBERTa of
   ``clap_weights.REFERENCE_CONFIG`` instead of downloading roberta-base.

Then ``CLAP_Module(enable_fusion=False, amodel='HTSAT-base')`` -- AudioSep's configuration -- is
built, its text tower is filled with ``clap_weights.clap_text_tensor`` and we record
* laion-clap's ``CLAP_Module.get_text_embedding(texts)`` (its tokenizer: max_length=77), and
* AudioSep's recipe (``models/clap_encoder.py``): the same RobertaTokenizer with
  ``padding='max_length', truncation=True, max_length=512``, then ``CLAP.get_text_embedding``,
with the token ids of both, the tensor names/shapes of the text tower and the package versions.
"""
from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import os
import sys
import types
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("WANDB_MODE", "disabled")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
GOLDEN = ROOT / "tests" / "golden"
sys.path.insert(0, str(GOLDEN))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402  (before the torchvision stubs: transformers probes torchvision itself)

from clap_weights import REFERENCE_CONFIG, REFERENCE_SEED, fill  # noqa: E402

TEXTS = [
    "acoustic guitar",
    "bass",
    "Someone playing a funky slap bass line!",
    "the violins, not the cellos",
    "drums and percussion in the background",
    "naïve café ünïcode — église 100%",
    "a <mask> solo",
    # between 77 and 512 tokens: laion-clap (77) and AudioSep (512) truncate differently
    " ".join(["loud electric guitar with distortion and a soft piano playing quietly in the background"] * 9),
]


def long_text(n_chars: int = 1900, seed: int = 3) -> str:
    """Over 512 tokens in the stand-in vocabulary yet under the runtime's 2000-character limit."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("bcdfgjkmpqvwxzyh"))
    words = []
    while sum(len(w) + 1 for w in words) < n_chars:
        words.append("".join(rng.choice(letters, rng.integers(3, 9))))
    return " ".join(words)[:n_chars].strip()


class _Placeholder:
    def __init__(self, *a, **k):
        pass

    def __call__(self, *a, **k):
        raise RuntimeError("torchvision is stubbed in the CLAP reference environment")


def stub_torchvision():
    class Stub(types.ModuleType):
        def __getattr__(self, name):
            if name.startswith("__"):
                raise AttributeError(name)
            return _Placeholder

    for name in ("torchvision", "torchvision.ops", "torchvision.ops.misc", "torchvision.transforms",
                 "torchvision.datasets"):
        mod = Stub(name)
        mod.__path__ = []  # a package, so submodule imports resolve to the stubs
        sys.modules[name] = mod
    sys.modules["torchvision"].ops = sys.modules["torchvision.ops"]
    sys.modules["torchvision"].transforms = sys.modules["torchvision.transforms"]
    sys.modules["torchvision"].datasets = sys.modules["torchvision.datasets"]
    sys.modules["torchvision.ops"].misc = sys.modules["torchvision.ops.misc"]


def standin_tokenizer(folder: Path):
    tok = transformers.RobertaTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"))
    assert tok.pad_token_id == 1 and tok.bos_token_id == 0 and tok.eos_token_id == 2
    return tok


def patch_tokenizers(folder: Path):
    roberta = standin_tokenizer(folder)
    for cls_name in ("BertTokenizer", "RobertaTokenizer", "BartTokenizer"):
        cls = getattr(transformers, cls_name)

        def fake(cls_, *a, _name=cls_name, **k):
            return roberta if _name == "RobertaTokenizer" else None

        cls.from_pretrained = classmethod(fake)
    return roberta


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer", default=str(GOLDEN / "clap_tokenizer"))
    ap.add_argument("--out", default=str(GOLDEN / "clap_text_reference.npz"))
    args = ap.parse_args()
    tok_dir = Path(args.tokenizer)

    roberta_tok = patch_tokenizers(tok_dir)
    stub_torchvision()
    import laion_clap  # noqa: F401  (puts its folder on sys.path: top-level clap_module)
    import clap_module.model as clap_model

    config = transformers.RobertaConfig(vocab_size=len(roberta_tok), **REFERENCE_CONFIG)

    class OfflineRoberta(transformers.RobertaModel):
        @classmethod
        def from_pretrained(cls, *a, **k):
            return transformers.RobertaModel(config)

    clap_model.RobertaModel = OfflineRoberta
    torch.manual_seed(0)
    clap = laion_clap.CLAP_Module(enable_fusion=False, amodel="HTSAT-base", device="cpu")
    assert clap.tokenize is roberta_tok
    model = clap.model.eval()
    assert model.text_branch_type == "roberta"

    sd = model.state_dict()
    text_shapes = {k: tuple(v.shape) for k, v in sd.items() if k.startswith(("text_branch.", "text_projection."))}
    new = {k: torch.from_numpy(v) for k, v in fill(text_shapes, REFERENCE_SEED).items()}
    missing, unexpected = model.load_state_dict(new, strict=False)
    assert not unexpected
    assert not [k for k in new if k in missing]

    texts = TEXTS + [long_text()]
    with torch.no_grad():
        emb77 = clap.get_text_embedding(texts)  # laion-clap's own path: tokenizer(max_length=77)
        enc77 = clap.tokenizer(texts)
        # AudioSep's models/clap_encoder.py: CLAP_Encoder.tokenizer + CLAP.get_text_embedding
        enc512 = roberta_tok(texts, padding="max_length", truncation=True, max_length=512, return_tensors="pt")
        emb512 = model.get_text_embedding({k: v.clone() for k, v in enc512.items()}).numpy()
    lengths = {n: [int(m.sum()) for m in enc["attention_mask"]] for n, enc in (("77", enc77), ("512", enc512))}
    print("token counts (77 / 512):", list(zip(lengths["77"], lengths["512"])))
    versions = {p: md.version(p) for p in ("laion-clap", "torch", "transformers", "tokenizers", "numpy")}
    out = Path(args.out)
    np.savez_compressed(
        out,
        texts=np.array(json.dumps(texts)),
        ids77=enc77["input_ids"].numpy().astype(np.int32), mask77=enc77["attention_mask"].numpy().astype(np.int8),
        emb77=np.asarray(emb77, np.float32),
        ids512=enc512["input_ids"].numpy().astype(np.int32), mask512=enc512["attention_mask"].numpy().astype(np.int8),
        emb512=emb512.astype(np.float32),
        config=np.array(json.dumps({**REFERENCE_CONFIG, "vocab_size": len(roberta_tok), "seed": REFERENCE_SEED,
                                    "projection": [int(sd["text_projection.0.weight"].shape[0]),
                                                   int(sd["text_projection.2.weight"].shape[0])]})),
        keys=np.array(json.dumps({k: list(v) for k, v in text_shapes.items()})),
        versions=np.array(json.dumps(versions)),
    )
    print(f"wrote {out} ({out.stat().st_size} bytes) with {versions}")


if __name__ == "__main__":
    main()
