"""How the tests' tiny bundles are built (torch + export/): random-weight ResUNets and a bag-of-words
text encoder, all from fixed seeds, so a rebuild gives the same bytes.

Two of them are checked in under ``tests/bundles/`` (written by ``tests/make_bundles.py``) so that
runtime tests run without torch; ``tiny_model`` also feeds the torch-built fixtures of the parity
and export tests (conftest.py).
"""
from __future__ import annotations

import warnings
from pathlib import Path

TINY_WIDTHS = (4, 8, 8, 16, 16, 16)
TEXT_WORDS = ("bass guitar drums piano violin vocals voice synth pad lead organ flute trumpet saxophone cello "
              "acoustic electric the a of and sound playing slap funky strings brass keys").split()
TEXT_BUNDLE = dict(n_fft=1024, hop=320, widths=(4, 4, 8, 8, 8), downsamples=((2, 2),) * 5)  # fast to run
IDENTITY_BUNDLE = dict(n_fft=1024, hop=256, widths=(4, 4, 4, 4, 4), downsamples=((2, 2),) * 5)


def randomize_bn(model, seed: int = 0):
    """Give BatchNorm layers non-trivial statistics so parity tests exercise them."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.rand(m.num_features, generator=g) * 0.4 - 0.2)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.rand(m.num_features, generator=g) * 0.4 - 0.2)
    return model


def tiny_model(seed: int = 0, cond: int = 16, **kw):
    import torch

    from export.resunet import ResUNet30, ResUNetConfig

    torch.manual_seed(seed)
    cfg = ResUNetConfig(widths=kw.pop("widths", TINY_WIDTHS), condition_dim=cond, **kw)
    return randomize_bn(ResUNet30(cfg), seed).eval()


def write_tiny_text_encoder(folder, dim: int = 16, seed: int = 0, max_tokens: int = 16):
    """A word-level tokenizer and a bag-of-words ONNX encoder (ids -> masked mean -> L2) in ``folder``.

    Returns the manifest's ``text_encoder`` entry. Distinct words get distinct random vectors, so
    different queries give different conditions."""
    import torch
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.normalizers import Lowercase
    from tokenizers.pre_tokenizers import Whitespace

    vocab = {"[PAD]": 0, "[UNK]": 1}
    for w in TEXT_WORDS:
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = Lowercase()
    tok.pre_tokenizer = Whitespace()
    tok.save(str(Path(folder) / "tokenizer.json"))

    class BagOfWords(torch.nn.Module):
        def __init__(self):
            super().__init__()
            g = torch.Generator().manual_seed(seed)
            self.table = torch.nn.Parameter(torch.randn(len(vocab), dim, generator=g))

        def forward(self, input_ids, attention_mask):
            e = self.table[input_ids] * attention_mask.unsqueeze(-1).float()
            e = e.sum(1) / attention_mask.float().sum(1, keepdim=True).clamp(min=1.0)
            return torch.nn.functional.normalize(e, dim=-1)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(BagOfWords().eval(), (torch.ones(1, 3, dtype=torch.long), torch.ones(1, 3, dtype=torch.long)),
                          str(Path(folder) / "text_encoder.onnx"), input_names=["input_ids", "attention_mask"],
                          output_names=["embedding"], opset_version=18, dynamo=False,
                          dynamic_axes={"input_ids": {0: "b", 1: "t"}, "attention_mask": {0: "b", 1: "t"},
                                        "embedding": {0: "b"}})
    return {"file": "text_encoder.onnx", "tokenizer": "tokenizer.json", "kind": "test-bag-of-words",
            "max_tokens": max_tokens, "pooling": "mean", "normalize": True, "pad_id": 0}


def make_text_bundle(path, seed: int = 2, **model_kw):
    """A tiny bundle *with* a text encoder: Separator.load(path).separate(audio, sr, 'bass') works."""
    from export.bundle_writer import write_bundle

    model = tiny_model(seed, **model_kw)
    write_bundle(path, model, name="tiny-text-test", source="tests", license="MIT",
                 text_encoder=lambda folder: write_tiny_text_encoder(folder, dim=model.cfg.condition_dim))
    return Path(path)


def make_identity_bundle(path):
    """A bundle whose separator passes the input through (mask 1, phase 0): stem == input."""
    import torch

    from export.bundle_writer import write_bundle

    model = tiny_model(1, **IDENTITY_BUNDLE)
    with torch.no_grad():
        ac = model.base.after_conv
        ac.weight.zero_()
        ac.bias.copy_(torch.tensor([40.0, 40.0, 0.0]))  # sigmoid(40) = 1 in float32; angle(tanh 40 + 0j) = 0
    write_bundle(path, model, name="identity-test", source="tests", license="MIT")
    return Path(path)


MULTISOURCE_FAMILIES = ["bass", "drums", "piano"]


def make_multisource_bundle(path, seed: int = 3):
    """A tiny multi-source bundle (three families + other, random weights, the bag-of-words encoder)."""
    import torch

    from export.ms_bundle import write_multisource_bundle
    from export.multisource import MultiSourceConfig, MultiSourceModel

    torch.manual_seed(seed)
    cfg = MultiSourceConfig(n_fft=1024, hop=320, sources=len(MULTISOURCE_FAMILIES) + 1, widths=(4, 4, 8, 8, 8),
                            patch=1, text_dim=16, router_hidden=8)
    model = randomize_bn(MultiSourceModel(cfg), seed).eval()
    write_multisource_bundle(path, model, MULTISOURCE_FAMILIES, name="tiny-multisource-test", source="tests",
                             license="MIT", text_encoder=lambda folder: write_tiny_text_encoder(folder, dim=16),
                             vocabulary=["bass guitar", "drums", "piano"])
    return Path(path)


# the checked-in bundles: folder name -> recipe (tests/make_bundles.py writes them)
CHECKED_IN = {
    "text": lambda path: make_text_bundle(path, **TEXT_BUNDLE),
    "identity": make_identity_bundle,
    "multisource": make_multisource_bundle,
}
