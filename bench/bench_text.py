"""Text-encoder latency and bundle size of a full-size official-layout bundle (random weights, CPU).

    python bench/bench_text.py [--layers 12] [--threads N] [--keep DIR]

Builds AudioSep's architecture at full size with random weights -- ResUNet30 (official widths,
condition 512) and the LAION-CLAP text tower (RoBERTa-base: 12 layers, hidden 768, 12 heads,
vocabulary 50265, 514 positions; projection 768 -> 512 -> 512) -- writes them in the official
Lightning layout, runs ``python -m export.audiosep`` on it, and measures with the runtime
(``plugin.text.TextEncoder``, ONNX Runtime CPU):

* bundle size per file, and the export time;
* the first query (opens the ONNX session), a new query (tokenize + encoder run), a cached query,
  and a batch of 8 new queries.

The stand-in tokenizer (tests/golden/clap_tokenizer) replaces roberta-base's, which cannot be
downloaded here; the ids are drawn from a 600-token vocabulary, which does not change the
encoder's cost (these queries are 3-14 tokens long here; roberta-base splits them into fewer).
Prints a markdown table.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

QUERIES = ["acoustic guitar", "bass guitar", "drums", "female vocals", "piano", "synth pad", "violin", "the trumpet solo",
           "a funky slap bass line", "church organ", "electric guitar with distortion", "someone singing softly"]


def build_checkpoint(path: Path, layers: int) -> None:
    import torch
    import transformers

    from export.resunet import ResUNet30, ResUNetConfig

    torch.manual_seed(0)
    sep = ResUNet30(ResUNetConfig()).eval()
    cfg = transformers.RobertaConfig(vocab_size=50265, hidden_size=768, num_hidden_layers=layers, num_attention_heads=12,
                                     intermediate_size=3072, max_position_embeddings=514, type_vocab_size=1,
                                     layer_norm_eps=1e-5, pad_token_id=1)
    roberta = transformers.RobertaModel(cfg)
    proj = torch.nn.Sequential(torch.nn.Linear(768, 512), torch.nn.ReLU(), torch.nn.Linear(512, 512))
    sd = {"ss_model." + k: v for k, v in sep.state_dict().items()}
    sd.update({"query_encoder.model.text_branch." + k: v for k, v in roberta.state_dict().items()})
    sd.update({"query_encoder.model.text_projection." + k: v for k, v in proj.state_dict().items()})
    torch.save({"state_dict": sd, "global_step": 0}, path)


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.1f} µs"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=12, help="RoBERTa layers (12 = roberta-base)")
    ap.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads (default: all cores)")
    ap.add_argument("--keep", default=None, help="keep the bundle in this folder")
    args = ap.parse_args(argv)

    import logging

    logging.basicConfig(level=logging.WARNING)
    from export.audiosep import build_bundle
    from plugin.bundle import Bundle
    from plugin.text import TextEncoder

    work = Path(tempfile.mkdtemp(prefix="bench_text."))
    try:
        ckpt = work / "audiosep_random.ckpt"
        build_checkpoint(ckpt, args.layers)
        ckpt_mb = ckpt.stat().st_size / 1e6
        t = time.perf_counter()
        out = build_bundle(ckpt, Path(args.keep) if args.keep else work / "bundle", name="audiosep-random",
                           tokenizer=ROOT / "tests" / "golden" / "clap_tokenizer")
        export_s = time.perf_counter() - t
        ckpt.unlink()
        sizes = {p.name: p.stat().st_size for p in sorted(out.iterdir()) if p.is_file()}

        bundle = Bundle(out, threads=args.threads)
        enc = TextEncoder(bundle)
        t = time.perf_counter()
        enc.encode([QUERIES[0]])
        first = time.perf_counter() - t
        new = []
        for q in QUERIES[1:]:
            t = time.perf_counter()
            enc.encode([q])
            new.append(time.perf_counter() - t)
        cached = []
        for _ in range(5):
            for q in QUERIES:
                t = time.perf_counter()
                enc.encode([q])
                cached.append(time.perf_counter() - t)
        batch = [f"{q} number {i}" for i, q in enumerate(QUERIES[:8])]
        t = time.perf_counter()
        enc.encode(batch)
        batch_s = time.perf_counter() - t
        ntok = [len(e.ids) for e in bundle.tokenizer.encode_batch(QUERIES)]
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    import onnxruntime

    print(f"\n### CLAP text encoder (RoBERTa {args.layers} layers, hidden 768) on CPU\n")
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, onnxruntime {onnxruntime.__version__}, "
          f"threads {args.threads or 'default'}; queries of {min(ntok)}-{max(ntok)} tokens\n")
    print("| measurement | value |\n|---|---|")
    print(f"| first query (opens the session) | {ms(first)} |")
    print(f"| new query, median of {len(new)} (tokenize + encoder) | {ms(statistics.median(new))} |")
    print(f"| new query, max | {ms(max(new))} |")
    print(f"| cached query, median of {len(cached)} | {ms(statistics.median(cached))} |")
    print(f"| batch of 8 new queries | {ms(batch_s)} ({ms(batch_s / 8)} per query) |")
    print(f"| export time (checkpoint -> bundle, with parity checks) | {export_s:.1f} s |")
    print(f"| official-layout checkpoint (random weights) | {ckpt_mb:.1f} MB |")
    for name, b in sizes.items():
        print(f"| bundle: {name} | {b / 1e6:.1f} MB |")
    print(f"| bundle total | {sum(sizes.values()) / 1e6:.1f} MB |")
    print(f"\nReproduce: `nice -n 5 python bench/bench_text.py --layers {args.layers}"
          + (f" --threads {args.threads}" if args.threads else "") + "`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
