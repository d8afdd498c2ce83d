"""MODEL_CARD.md of a multi-source bundle, from its manifest and export.assess results.

    python -m export.ms_card --bundle DIR --valid runs/assess/valid.json --real runs/assess/real.json \
        --freepats runs/assess/freepats.json [--speed bench.json]

The evaluations are also stored in the manifest (``evaluation``), so the runtime can show them.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Dict, Optional

from .assess import markdown

TARGETS = (("synthetic held-out (freepats): mean SI-SDRi", ">= 8 dB, no family below 3 dB"),
           ("absent instrument", "<= -20 dB re the mix"),
           ("answer closest to the asked part", ">= 90 % of mixtures"),
           ("one query RTF / 14-family split RTF (2 threads)", "<= 0.05 / <= 0.10"),
           ("bundle size", "<= 50 MB"))


def section(title: str, res: Optional[Dict], what: str) -> str:
    if not res:
        return f"## {title}\n\nNot measured.\n"
    s = res["summary"]
    lines = [f"## {title}", "", what, "", markdown(res), "",
             f"Mean over families: SI-SDRi {s['si_sdri']:.2f} ± {s['si_sdri_ci95']:.2f} dB (95 % interval), "
             f"{s['below_0db']:.0%} of mixtures below 0 dB, answer closest to the asked part in {s['closest_ok']:.0%}, "
             f"absent query {s['absent_db']:.1f} dB re the mix; {res['mixtures']} mixtures."]
    if "split" in res:
        sp = res["split"]
        lines.append(f"Split into stems: {sp['recall']:.0%} of the parts present came back as their family, "
                     f"{sp['false_per_mixture']:.2f} families per mixture came back that were not there, returned "
                     f"stems' SI-SDRi {sp['si_sdri']:.2f} dB.")
    if res.get("command"):
        lines.append(f"Reproduce: `{res['command']}`")
    return "\n".join(lines) + "\n"


def model_card(manifest: Dict, valid: Optional[Dict], real: Optional[Dict], freepats: Optional[Dict],
               speed: Optional[Dict] = None) -> str:
    sep = manifest["separator"]
    arch = sep["architecture"]
    training = manifest.get("training") or {}
    cfg = training.get("config") or {}
    router = training.get("router") or {}
    fams = ", ".join(sep["families"])
    parts = [
        f"# {manifest['name']}: the embedded default model", "",
        "A **multi-source** separator: one pass estimates a complex mask for every instrument family at once "
        f"({fams}; plus \"other\"), and a text query is a weighting of those families chosen by a small router "
        "on the all-MiniLM-L6-v2 sentence embedding of the query (\"bass and drums\" weights both; a query that "
        "names no family weights none). The bundle keeps SepBoard's contract (magnitude + condition -> mask, "
        "cos, sin); `Separator.split` and `python -m plugin.render --split` use the family masks directly.", "",
        "## Model", "",
        f"* STFT {manifest['n_fft']}/{manifest['hop']} at {manifest['sample_rate']} Hz, mono per channel; "
        f"U-Net trunk widths {arch['widths']} on {arch['patch']}x{arch['patch']} spectrogram tiles; "
        f"{sep['parameters']:,} parameters; softmax magnitudes over the {arch['sources']} sources, a phase per source.",
        f"* Router: MLP 384 -> {arch['router_hidden']} -> {len(sep['families'])} sigmoids, trained on "
        f"{router.get('phrases', '?')} phrasings; held-out phrasings routed to their family: "
        f"{router.get('heldout', {}).get('named', float('nan')):.0%}.",
        f"* Training: {training.get('steps', '?')} steps of {cfg.get('batch', '?')} mixtures x {cfg.get('seconds', '?')} s "
        f"({training.get('hardware', 'see BENCHMARKS.md')}); loss: L1 of every source's magnitude and complex "
        "spectrum (absent families toward silence), a thresholded SNR term faded in from step 1000.",
        "* Data (export.data.stems): every family drawn from General MIDI soundfonts (FluidR3, TimGM6mb, csound GM "
        "bank, FluidR3Mono, MuseScore General), avldrums' two recorded kits, lmms-common's recorded one-shots and "
        "loops, hydrogen-data's kits, festival and espeak-ng voices speaking and sung on melodies (WORLD vocoder), "
        "with random EQ, rooms, distortion, chorus and bus compression; an \"other\" stem of sounds outside the "
        "families. Sources reserved for evaluation (freepats, timidity patches, hydrogen-drumkits, sonic-pi-samples, "
        "flite and festival's kal/slt voices, npm @audio-samples pianos) are never read in training "
        "(export.data.sources checks every file).", "",
        section("Validation (for choosing models)", valid,
                 "The pool's valid split: training sources, renders never trained on, 4 s mixtures at 32 kHz."),
        section("Held-out: real recordings", real,
                 "export.heldout 'real': the npm @audio-samples grand piano, hydrogen-drumkits' kits (less those that "
                 "repeat training recordings), Sonic Pi's bass hits, guitar phrases, drum loops and drones, flite "
                 "voices speaking and singing; 2-4 musically related parts, 44.1 kHz stereo, panned."),
        section("Held-out: another soundfont (freepats)", freepats,
                 "export.heldout 'freepats': every family through timidity with Debian's freepats patches, voice "
                 "also as flite speaking and singing; 2-4 related parts, 44.1 kHz stereo."),
    ]
    if speed:
        b = speed.get("bundle", {})
        parts += ["## Speed", "", f"One query RTF {b.get('one_query_rtf', float('nan')):.4f}, split into stems RTF "
                  f"{b.get('split_rtf', float('nan')):.4f} on 2 threads (bench/bench_split.py; BENCHMARKS.md).", ""]
    parts += ["## Targets (issue: the default model redesigned)", "", "| target | wanted |", "|---|---|"]
    parts += [f"| {t} | {w} |" for t, w in TARGETS]
    parts += ["", "What is met and what is not is stated with the numbers above and in BENCHMARKS.md §3.", ""]
    return "\n".join(parts)


def main(argv=None) -> int:
    from .bundle_writer import update_manifest

    p = argparse.ArgumentParser(prog="python -m export.ms_card", description=__doc__.split("\n\n")[0])
    p.add_argument("--bundle", required=True)
    for name in ("valid", "real", "freepats", "speed"):
        p.add_argument(f"--{name}", help=f"export.assess (or bench) JSON for {name}")
    a = p.parse_args(argv)
    load = lambda f: json.loads(Path(f).read_text()) if f else None
    res = {k: load(getattr(a, k)) for k in ("valid", "real", "freepats", "speed")}
    keep = lambda r: {k: r[k] for k in ("summary", "families", "mixtures", "command", "split") if k in r} if r else None
    manifest = update_manifest(Path(a.bundle), {"evaluation": {k: keep(v) for k, v in res.items() if k != "speed"}})
    (Path(a.bundle) / "MODEL_CARD.md").write_text(model_card(manifest, **res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
