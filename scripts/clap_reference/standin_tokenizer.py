"""Train the small RoBERTa-style byte-level BPE that stands in for roberta-base's tokenizer offline.

The real ``roberta-base`` vocab.json/merges.txt live on the Hugging Face hub, which neither tests nor
CI can reach. This script trains a tokenizer of the same *kind* (byte-level BPE, no prefix space,
RoBERTa's special tokens ``<s>=0 <pad>=1 </s>=2 <unk>=3 <mask>=4``) on a few hundred music-query
sentences and writes ``vocab.json`` + ``merges.txt`` -- the two files transformers'
``RobertaTokenizer(vocab_file, merges_file)`` reads, and the two files ``export.clap_text`` turns
into the bundle's ``tokenizer.json``. The output is committed (tests/golden/clap_tokenizer/), so
tests never depend on the trainer being bit-for-bit deterministic across ``tokenizers`` releases.

    python scripts/clap_reference/standin_tokenizer.py [--out tests/golden/clap_tokenizer] [--vocab-size 600]
"""
from __future__ import annotations

import argparse
import itertools
from pathlib import Path

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]

INSTRUMENTS = [
    "acoustic guitar", "electric guitar", "bass guitar", "slap bass", "upright bass", "drums", "snare drum",
    "kick drum", "hi-hat", "cymbals", "percussion", "piano", "grand piano", "electric piano", "organ",
    "synthesizer", "synth pad", "synth lead", "strings", "violin", "viola", "cello", "double bass", "harp",
    "flute", "clarinet", "oboe", "bassoon", "saxophone", "trumpet", "trombone", "french horn", "tuba",
    "brass section", "choir", "female vocals", "male vocals", "singing voice", "speech", "rap vocals",
    "banjo", "mandolin", "ukulele", "accordion", "harmonica", "marimba", "xylophone", "glockenspiel",
    "dog barking", "rain", "applause", "crowd noise", "birds chirping", "church bells", "sirens",
]
TEMPLATES = [
    "{x}", "the {x}", "a {x}", "the sound of {x}", "someone playing {x}", "{x} solo", "isolate the {x}",
    "only the {x}", "a recording of {x}", "{x} in the background", "loud {x}", "soft {x} playing quietly",
    "The {x} part, not the drums", "{x}, not the bass", "Extract {x} from the mix!", "{x} (live)",
]


def corpus():
    for t, x in itertools.product(TEMPLATES, INSTRUMENTS):
        yield t.format(x=x)
    yield "Hello world. It's 2024: 100% new, naïve café, über-loud — ok?"


def train(out: Path, vocab_size: int = 600) -> Path:
    from tokenizers import ByteLevelBPETokenizer

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tok = ByteLevelBPETokenizer()  # add_prefix_space=False, like roberta-base
    tok.train_from_iterator(list(corpus()), vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIALS,
                            show_progress=False)
    tok.save_model(str(out))
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[2] / "tests" / "golden" / "clap_tokenizer"))
    ap.add_argument("--vocab-size", type=int, default=600)
    a = ap.parse_args()
    print(train(Path(a.out), a.vocab_size))
