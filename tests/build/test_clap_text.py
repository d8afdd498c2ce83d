"""The official model's text path end to end, on a tiny CLAP-shaped model (random weights, no network).

A RoBERTa (hidden 64, 2 layers) + Linear-ReLU-Linear projection (64 -> 32 -> 16) is built with
transformers, written with a tiny ResUNet (condition 16) in AudioSep's Lightning layout, turned
into a bundle by ``python -m export.audiosep --tokenizer``, and every link is checked against an
independent reference: text -> ids (transformers' RobertaTokenizer on the same vocab/merges,
truncation included) -> embedding (the torch modules) -> stem (export.resunet in torch).
"""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from conftest import GOLDEN, music_like, tiny_model  # noqa: E402

TOKDIR = GOLDEN / "clap_tokenizer"
MAX_POS = 40  # -> max_tokens = 40 - pad_id(1) - 1 = 38
MAX_TOKENS = MAX_POS - 2
COND = 16
TEXTS = ["acoustic guitar", "bass", "Someone playing a funky slap bass line!", "the violins, not the cellos",
         "naïve café ünïcode — église 100%", "a <mask> solo", "Extract flute from the mix!"]
LONG = " ".join(["loud electric guitar with distortion and soft piano"] * 6)  # > 38 tokens


def hf_tokenizer():
    # <mask> strips the space on its left in roberta-base's own tokenizer files and in transformers 4's
    # RobertaTokenizer (what AudioSep ran); transformers 5 built from vocab/merges alone forgets that.
    from tokenizers import AddedToken

    return transformers.RobertaTokenizer(str(TOKDIR / "vocab.json"), str(TOKDIR / "merges.txt"),
                                         mask_token=AddedToken("<mask>", lstrip=True, rstrip=False))


class TorchClap(torch.nn.Module):
    """The reference: laion-clap's text path written directly with transformers (not export.clap_text)."""

    def __init__(self, seed=0, hidden=64, layers=2, heads=1, max_pos=MAX_POS, proj=(32, COND), vocab=600):
        super().__init__()
        torch.manual_seed(seed)
        cfg = transformers.RobertaConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers,
                                         num_attention_heads=heads, intermediate_size=2 * hidden,
                                         max_position_embeddings=max_pos, type_vocab_size=1, pad_token_id=1)
        self.text_branch = transformers.RobertaModel(cfg)
        self.text_projection = torch.nn.Sequential(torch.nn.Linear(hidden, proj[0]), torch.nn.ReLU(),
                                                   torch.nn.Linear(proj[0], proj[1]))
        with torch.no_grad():  # non-trivial LayerNorms and pooler
            for n, p in self.named_parameters():
                if "LayerNorm.weight" in n:
                    p.uniform_(0.7, 1.3)
                elif n.endswith("bias"):
                    p.normal_(0, 0.05)
                elif "embeddings" in n:
                    p.normal_(0, 0.5)
                else:
                    p.normal_(0, 1.0 / np.sqrt(p.shape[-1]))
        self.eval()

    @torch.no_grad()
    def embed(self, texts, max_length=MAX_TOKENS, padding="longest"):
        enc = hf_tokenizer()(list(texts), padding=padding, truncation=True, max_length=max_length, return_tensors="pt")
        pooled = self.text_branch(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).pooler_output
        return torch.nn.functional.normalize(self.text_projection(pooled), dim=-1).numpy()


def official_checkpoint(path, sep_model, clap=None, drop=(), extra=None):
    sd = {"ss_model." + k: v for k, v in sep_model.state_dict().items()}
    if clap is not None:
        for k, v in clap.state_dict().items():
            if not any(k.startswith(d) for d in drop):
                sd["query_encoder.model." + k] = v.clone()
        n = clap.text_branch.config.max_position_embeddings
        sd["query_encoder.model.text_branch.embeddings.position_ids"] = torch.arange(n)[None]  # as transformers 4.28 saved
        sd["query_encoder.model.audio_branch.spectrogram_extractor.stft.conv_real.weight"] = torch.zeros(3, 1, 4)
        sd["query_encoder.model.logit_scale_a"] = torch.tensor(1.0)
        sd["query_encoder.model.text_transform.sequential.0.weight"] = torch.zeros(4, 4)
    sd.update(extra or {})
    torch.save({"state_dict": sd, "global_step": 11}, path)
    return Path(path)


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """(bundle path, torch ResUNet, torch CLAP) built once through python -m export.audiosep."""
    from export.audiosep import main

    d = tmp_path_factory.mktemp("clap")
    sep_model = tiny_model(5, cond=COND, n_fft=1024, hop=320, widths=(4, 4, 8, 8, 8), downsamples=((2, 2),) * 5)
    clap = TorchClap(seed=1)
    ckpt = official_checkpoint(d / "audiosep.ckpt", sep_model, clap)
    out = d / "bundle"
    assert main(["--checkpoint", str(ckpt), "--out", str(out), "--tokenizer", str(TOKDIR), "--name", "clap-tiny"]) == 0
    return out, sep_model, clap


@pytest.fixture(scope="module")
def sep(chain):
    from plugin import Separator

    return Separator.load(chain[0])


def test_manifest_describes_the_clap_text_encoder(chain):
    from plugin.bundle import Bundle

    b = Bundle(chain[0])
    te = b.manifest.text_encoder
    assert te.kind == "laion-clap-roberta" and te.pooling == "pooler" and te.normalize and not te.lowercase
    assert te.max_tokens == MAX_TOKENS and te.pad_id == 1
    assert te.input_names == ["input_ids", "attention_mask"] and te.output_name == "embedding"
    assert set(b.manifest.files) == {"separator.onnx", "film.onnx", "separator_core.onnx", "text_encoder.onnx",
                                     "tokenizer.json"}
    assert b.manifest.condition_dim == COND and b.manifest.raw["import"]["note"] is None
    ins = {i.name: i.shape for i in b.text_session.get_inputs()}
    assert all(isinstance(s[0], str) and isinstance(s[1], str) for s in ins.values())  # dynamic batch and tokens


def test_token_ids_match_transformers_roberta_tokenizer(sep):
    from plugin.text import TextEncoder

    texts = TEXTS + [LONG]
    ids, mask = TextEncoder(sep.bundle).tokenize(texts)
    ref = hf_tokenizer()(texts, padding="longest", truncation=True, max_length=MAX_TOKENS, return_tensors="np")
    assert ids.tolist() == ref["input_ids"].tolist()
    assert mask.tolist() == ref["attention_mask"].tolist()
    assert ids[0, 0] == 0 and ids[0, int(mask[0].sum()) - 1] == 2  # <s> ... </s>
    assert int(mask[-1].sum()) == MAX_TOKENS and ids[-1, -1] == 2  # truncated, </s> kept


def test_embeddings_match_torch(sep, chain):
    got = sep.embed(TEXTS + [LONG])
    ref = chain[2].embed(TEXTS + [LONG])
    assert got.shape == (len(TEXTS) + 1, COND)
    assert np.abs(got - ref).max() <= 1e-4
    assert np.min(np.sum(got * ref, -1)) >= 0.9999
    assert np.allclose(np.linalg.norm(got, axis=-1), 1.0, atol=1e-5)


def test_padding_to_max_length_does_not_change_the_embedding(sep, chain):
    """AudioSep pads every query to max_length; with the attention mask that is a no-op, so the runtime pads
    a batch only to its longest query. Checked in torch (padded to max vs not) and in ONNX (batch vs single)."""
    clap = chain[2]
    padded = clap.embed(TEXTS, padding="max_length")
    longest = clap.embed(TEXTS, padding="longest")
    single = np.concatenate([clap.embed([t]) for t in TEXTS])
    assert np.abs(padded - single).max() <= 1e-6 and np.abs(longest - single).max() <= 1e-6
    from plugin import Separator

    fresh = Separator.load(chain[0])
    one_by_one = np.stack([fresh.embed(t) for t in TEXTS])
    assert np.abs(sep.embed(TEXTS) - one_by_one).max() <= 1e-5


def test_stem_matches_torch_resunet_with_torch_embedding(sep, chain):
    from export.resunet import separate_waveform

    _, sep_model, clap = chain
    x = music_like(32000 + 1234, seed=4)[0]
    query = "Someone playing a funky slap bass line!"
    y = sep.separate(x, 32000, query, block_seconds=None)
    cond = torch.from_numpy(clap.embed([query]))
    with torch.no_grad():
        ref = separate_waveform(sep_model, torch.from_numpy(x)[None], cond)[0].numpy()
    assert y.shape == x.shape
    assert np.abs(y - ref).max() <= 1e-4
    other = sep.separate(x, 32000, "acoustic guitar", block_seconds=None)
    assert np.abs(other - y).max() > 1e-4  # the query matters


def test_long_query_is_truncated_with_a_warning(sep, chain, caplog):
    from plugin import Separator

    fresh = Separator.load(chain[0])
    with caplog.at_level(logging.WARNING, logger="sepboard"):
        got = fresh.embed(LONG)
    assert any("longer than" in r.getMessage() and str(MAX_TOKENS) in r.getMessage() for r in caplog.records)
    ref = chain[2].embed([LONG])[0]  # transformers truncation=True, max_length=38
    assert np.abs(got - ref).max() <= 1e-4
    longer = LONG + " and a lot more words at the end that are cut away"
    assert np.abs(fresh.embed(longer) - got).max() <= 1e-6  # only the first 38 tokens count


def test_query_embeddings_are_cached(chain):
    from plugin import Separator

    s = Separator.load(chain[0])
    a = s.embed("bass")
    enc = s._text
    hits = enc.hits
    b = s.embed("bass")
    assert enc.hits == hits + 1 and np.array_equal(a, b)


def test_find_tokenizer_reads_the_hugging_face_cache_layout(tmp_path, monkeypatch):
    from export import clap_text

    for var in ("SEPBOARD_ROBERTA_TOKENIZER", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SEPBOARD_CACHE", str(tmp_path / "sepcache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert clap_text.find_tokenizer() is None
    snap = tmp_path / "hub" / "models--FacebookAI--roberta-base" / "snapshots" / "0123abc"
    snap.mkdir(parents=True)
    for f in ("vocab.json", "merges.txt"):
        shutil.copy(TOKDIR / f, snap / f)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert clap_text.find_tokenizer() == snap
    monkeypatch.setenv("SEPBOARD_ROBERTA_TOKENIZER", str(TOKDIR))
    assert clap_text.find_tokenizer() == TOKDIR


def test_tokenizer_json_only_folder_gives_the_same_ids(tmp_path):
    from export.clap_text import load_tokenizer

    only_json = tmp_path / "tj"
    only_json.mkdir()
    hf_tokenizer().backend_tokenizer.save(str(only_json / "tokenizer.json"))  # what the hub's tokenizer.json holds
    a = load_tokenizer(only_json, MAX_TOKENS)
    b = load_tokenizer(TOKDIR, MAX_TOKENS)
    for t in TEXTS + [LONG]:
        assert a.encode(t).ids == b.encode(t).ids


def test_missing_tokenizer_files_are_one_clear_error(chain, tmp_path, capsys):
    from export.audiosep import main

    ckpt = tmp_path / "c.ckpt"
    official_checkpoint(ckpt, chain[1], chain[2])
    empty = tmp_path / "tok"
    empty.mkdir()
    shutil.copy(TOKDIR / "vocab.json", empty / "vocab.json")
    out = tmp_path / "b"
    assert main(["--checkpoint", str(ckpt), "--out", str(out), "--tokenizer", str(empty)]) == 2
    err = capsys.readouterr().err
    assert "missing merges.txt" in err and "roberta-base" in err and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob(".b.*"))
    assert main(["--checkpoint", str(ckpt), "--out", str(out), "--tokenizer", str(tmp_path / "nowhere")]) == 2
    assert "tokenizer folder not found" in capsys.readouterr().err


def test_tokenizer_too_big_for_the_model_is_refused(tmp_path):
    from export.checkpoint import text_keys
    from export.clap_text import TokenizerError, text_encoder_writer

    small = TorchClap(seed=2, vocab=300)
    sd = text_keys({"query_encoder.model." + k: v for k, v in small.state_dict().items()})
    with pytest.raises(TokenizerError, match="token ids up to 599 .* 300 tokens"):
        text_encoder_writer(sd, TOKDIR)


def test_missing_text_keys_are_listed(chain, tmp_path, capsys):
    from export.audiosep import main

    ckpt = official_checkpoint(tmp_path / "c.ckpt", chain[1], chain[2], drop=("text_projection.2.", "text_branch.pooler."))
    assert main(["--checkpoint", str(ckpt), "--out", str(tmp_path / "b"), "--tokenizer", str(TOKDIR)]) == 2
    err = capsys.readouterr().err
    assert "query_encoder.model.text_projection.2.weight" in err
    ckpt = official_checkpoint(tmp_path / "d.ckpt", chain[1], chain[2], drop=("text_branch.encoder.layer.1.output.",))
    assert main(["--checkpoint", str(ckpt), "--out", str(tmp_path / "b"), "--tokenizer", str(TOKDIR)]) == 2
    err = capsys.readouterr().err
    assert "missing: text_branch.encoder.layer.1.output.LayerNorm.bias" in err and not (tmp_path / "b").exists()


def test_heads_cannot_be_guessed_for_odd_widths():
    from export.checkpoint import text_keys
    from export.clap_text import build_text_encoder
    from plugin.errors import CheckpointError

    odd = TorchClap(seed=3, hidden=48, heads=2)
    sd = text_keys({"query_encoder.model." + k: v for k, v in odd.state_dict().items()})
    with pytest.raises(CheckpointError, match="attention heads cannot be inferred"):
        build_text_encoder(sd)
    m = build_text_encoder(sd, heads=2)
    ids = torch.tensor([[0, 50, 60, 2]])
    with torch.no_grad():
        ref = torch.nn.functional.normalize(odd.text_projection(odd.text_branch(input_ids=ids).pooler_output), dim=-1)
        assert torch.allclose(m(ids, torch.ones_like(ids)), ref, atol=1e-6)


def test_checkpoint_without_text_tower_still_makes_an_embedding_bundle(chain, tmp_path):
    from export.audiosep import main
    from plugin.bundle import Bundle

    ckpt = official_checkpoint(tmp_path / "c.ckpt", chain[1])
    assert main(["--checkpoint", str(ckpt), "--out", str(tmp_path / "b"), "--tokenizer", str(TOKDIR)]) == 0
    b = Bundle(tmp_path / "b")
    assert b.manifest.text_encoder is None and "no query_encoder weights" in b.manifest.raw["import"]["note"]


def test_no_tokenizer_found_gives_an_embedding_bundle_with_a_note(chain, tmp_path, monkeypatch):
    from export.audiosep import main
    from plugin.bundle import Bundle

    for var in ("SEPBOARD_ROBERTA_TOKENIZER", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        monkeypatch.delenv(var, raising=False)
    for var in ("SEPBOARD_CACHE", "XDG_CACHE_HOME", "HF_HOME"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    ckpt = official_checkpoint(tmp_path / "c.ckpt", chain[1], chain[2])
    assert main(["--checkpoint", str(ckpt), "--out", str(tmp_path / "b")]) == 0
    b = Bundle(tmp_path / "b")
    assert b.manifest.text_encoder is None and "no RoBERTa tokenizer" in b.manifest.raw["import"]["note"]
