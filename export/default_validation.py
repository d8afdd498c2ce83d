"""Validation of the FiLM default model: the summary a run appends to curve.jsonl and the score that picks best.pt."""
from __future__ import annotations

from typing import TYPE_CHECKING, Dict

import numpy as np
import torch

from .metrics import energy_db_rel, level_error_db, muted_share, si_sdr

if TYPE_CHECKING:
    from .default_examples import PhraseBank
    from .default_model import DefaultModel

SCORE = "score: SI-SDRi - level and absent penalties"  # how best.pt is chosen (see selection_score)


@torch.no_grad()
def evaluate_model(model: DefaultModel, examples, bank: PhraseBank, batch: int = 8) -> Dict:
    """Validation summary: mean SI-SDRi over present queries, their output level against the stem's
    (median dB, share of muted answers), mean output energy (dB re mix) for absent ones, and the
    selection score (:func:`selection_score`)."""
    model.eval()
    gains, absent, levels = [], [], []
    base_emb = {f: bank.emb[f][0] for f in bank.emb}
    for i in range(0, len(examples), batch):
        chunk = examples[i : i + batch]
        wav = torch.from_numpy(np.stack([e.mixture for e in chunk]))
        emb = torch.from_numpy(np.stack([base_emb[e.family] for e in chunk]))
        est = model(wav, emb).numpy()
        for e, y in zip(chunk, est):
            if np.any(e.target) and e.family in e.present:
                gains.append(si_sdr(e.target, y) - si_sdr(e.target, e.mixture))
                levels.append(level_error_db(e.target, y))
            else:
                absent.append(energy_db_rel(y, e.mixture))
    model.train()
    lv = np.array(levels)
    si = float(np.mean(gains)) if gains else float("nan")
    return {"si_sdri": si, "absent_db": float(np.mean(absent)) if absent else float("nan"), "n": len(examples),
            "level_db": float(np.median(lv)) if levels else float("nan"),
            "muted": muted_share(lv),
            "score": selection_score(si, lv, absent)}


def selection_score(si_sdri: float, level_errors, absent_db) -> float:
    """SI-SDRi less half the mean level error beyond 3 dB and half the absent output above -15 dB re
    the mix (the issue's target): a correctly shaped answer 30 dB too quiet is no answer for a
    musician, and neither is an instrument that is not there."""
    lv = np.asarray(level_errors, np.float64)
    pen = 0.5 * float(np.mean(np.maximum(np.abs(lv) - 3.0, 0.0))) if lv.size else 0.0
    if len(absent_db):
        pen += 0.5 * max(0.0, float(np.mean(absent_db)) + 15.0)
    return si_sdri - pen
