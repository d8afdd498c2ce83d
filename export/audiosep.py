"""Official AudioSep checkpoint -> SepBoard bundle.

    python -m export.audiosep --checkpoint audiosep_base_4M_steps.ckpt --out bundles/audiosep [--name NAME]
                              [--tokenizer DIR] [--no-text] [--download [--cache DIR] [--sha256 HEX]]
                              [--int8 [--calibration-audio FILE]]

Reads the Lightning checkpoint with ``torch.load(weights_only=True)``, loads the ResUNet30 strictly
(missing/unexpected/mis-shaped tensors are listed), exports ``separator.onnx`` and verifies it
against torch, and — when the checkpoint carries the CLAP text tower (``query_encoder.model.*``)
and a RoBERTa tokenizer is given — exports ``text_encoder.onnx`` + ``tokenizer.json`` too (see
``export.clap_text``). ``--int8`` also writes an int8 form of the query-specialised core
(``export.quantize``: calibrated on the demo song, or FILE, with CLAP embeddings of typical queries;
the runtime uses it with ``precision="int8"`` / ``plugin.render --int8``). The bundle is written
atomically; on any error nothing is left behind.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from plugin.errors import SepBoardError

log = logging.getLogger("export.audiosep")


def build_bundle(checkpoint, out, name: str = "audiosep-base", tokenizer=None, text: bool = True,
                 int8: bool = False, calibration_audio=None) -> Path:
    from .bundle_writer import write_bundle
    from .checkpoint import import_official

    model, text_sd, report = import_official(checkpoint)
    text_fn = None
    note = None
    if text and text_sd:
        if tokenizer is None:
            from .clap_text import find_tokenizer

            tokenizer = find_tokenizer()
        if tokenizer is not None:
            from .clap_text import text_encoder_writer

            text_fn = text_encoder_writer(text_sd, tokenizer)
        else:
            note = ("the checkpoint has a CLAP text encoder but no RoBERTa tokenizer was given (--tokenizer DIR with "
                    "vocab.json + merges.txt or tokenizer.json); the bundle separates from embeddings only")
    elif text and not text_sd:
        note = "the checkpoint has no query_encoder weights; the bundle separates from embeddings only"
    if note:
        log.warning(note)
    int8_args = None
    if int8:
        from .quantize import calibration_set

        embed = None
        if text_fn is not None:
            embed = _clap_embedder(text_sd, tokenizer)
        else:
            log.warning("no text encoder: the int8 core is calibrated with random conditions")
        int8_args = calibration_set(model, embed, calibration_audio)
    extra = {"import": {"checkpoint": Path(checkpoint).name, **report, "note": note}}
    return write_bundle(
        Path(out), model, name=name,
        source="AudioSep (Audio-AGI/AudioSep), official checkpoint imported by export.audiosep",
        license="MIT (AudioSep code and weights); LAION-CLAP text encoder: CC0-1.0/MIT (see upstream)",
        text_encoder=text_fn, extra=extra, int8=int8_args,
    )


def _clap_embedder(text_sd, tokenizer):
    """texts -> CLAP text embeddings [N, D] in torch (what the exported text encoder computes)."""
    import numpy as np
    import torch

    from .clap_text import build_text_encoder, encode, load_tokenizer

    model = build_text_encoder(text_sd)
    tok = load_tokenizer(tokenizer)

    def embed(texts):
        ids, mask = encode(tok, texts)
        with torch.no_grad():
            return model(torch.from_numpy(ids), torch.from_numpy(mask)).numpy().astype(np.float32)

    return embed


BUILD_PACKAGES = ("torch", "onnx", "onnxscript")  # what the import needs beyond the runtime (extra [export])


def check_build_packages() -> None:
    """A SepBoardError naming the missing build-time packages and how to install them."""
    import importlib

    missing = []
    for name in BUILD_PACKAGES:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise SepBoardError(f"python -m export.audiosep needs {', '.join(missing)} (build-time packages, not part of "
                            "the runtime): pip install 'sepboard[export]' (or scripts/setup.sh --train)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m export.audiosep", description="Import the official AudioSep checkpoint as a SepBoard bundle.")
    p.add_argument("--checkpoint", help="AudioSep Lightning checkpoint (.ckpt)")
    p.add_argument("--out", required=True, help="bundle folder to write")
    p.add_argument("--name", default="audiosep-base", help="bundle name shown in the host")
    p.add_argument("--tokenizer", help="folder with the RoBERTa tokenizer (vocab.json + merges.txt, or tokenizer.json)")
    p.add_argument("--no-text", action="store_true", help="do not export the text encoder")
    p.add_argument("--download", action="store_true", help="fetch the official checkpoint and tokenizer first")
    p.add_argument("--cache", default=None, help="download folder (default: the user cache)")
    p.add_argument("--sha256", default=None, help="expected sha256 of the downloaded checkpoint (with --download)")
    p.add_argument("--int8", action="store_true", help="also write the int8 core (faster CPU separation, approximate)")
    p.add_argument("--calibration-audio", default=None, help="music to calibrate the int8 core with (default: demo song)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        check_build_packages()
        ckpt, tok = args.checkpoint, args.tokenizer
        if args.download:
            from .download import fetch_official

            ckpt, tok_dl = fetch_official(args.cache, checkpoint_sha256=args.sha256)
            tok = tok or tok_dl
        if not ckpt:
            p.error("--checkpoint is required (or --download)")
        out = build_bundle(ckpt, args.out, name=args.name, tokenizer=tok, text=not args.no_text, int8=args.int8,
                           calibration_audio=args.calibration_audio)
    except SepBoardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:  # a build-time package that check_build_packages does not list
        print(f"error: {exc.name or exc} is not installed: pip install 'sepboard[export]'", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cancelled; nothing was written", file=sys.stderr)
        return 130
    print(f"bundle written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
