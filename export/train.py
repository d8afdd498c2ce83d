"""Train the embedded default model on CPU (or CUDA when torch sees one).

    python -m export.train --minutes 240 --out runs/default [--resume]

Renders the stem pools first if they are missing (``export.data``), embeds the training phrasings
with MiniLM once, then trains a small ResUNet (same family and bundle contract as the official
model) plus a 384 -> condition_dim projection of the sentence embedding, for a wall-clock budget.

The learning rate follows the run's plan: warm-up, constant until 70 % of the planned minutes,
then a cosine decay to 5 %. ``--resume`` continues from ``<out>/last.pt`` and extends the plan by
``--minutes`` (so an interrupted run picks up where it stopped); ``--init CKPT`` starts a new run
folder from a checkpoint the same way, e.g. to fine-tune with another ``--loss``. Every ``--eval-every`` steps the
validation SI-SDRi, the answers' level against the true stem's and the output energy for absent
instruments are appended to ``<out>/curve.jsonl``; ``best.pt`` keeps the best validation score
(SI-SDRi less penalties for answers at the wrong level and for loud absent-instrument output). Checkpoints hold only tensors
and plain data and are read back with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import signal
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import data as D
from .metrics import energy_db_rel, level_error_db, muted_share, si_sdr
from .resunet import ResUNet30, ResUNetConfig, count_parameters, separate_waveform

log = logging.getLogger("export.train")

DEFAULT_ARCH = ResUNetConfig(
    sample_rate=32000, n_fft=1024, hop=320, condition_dim=256,
    widths=(8, 16, 32, 64, 128), downsamples=((2, 2),) * 5,
    input_transform="log", film="scale_shift", momentum=0.1,
)
TEXT_DIM = 384
SNR_TAU = 1e-3  # soft ceiling of the per-example SNR loss (~30 dB above the target)
ABSENT_TAU = 10 ** (-25 / 10)  # absent queries: penalise output energy above -25 dB re the mixture
ABSENT_WEIGHT = 0.5
ABSENT_P = 0.12  # default share of training examples whose query is absent from the mix
LEVEL_WEIGHT = 1.0  # sisdr_level: dB of loss per dB the output's level misses the stem's
LEVEL_FLOOR = 1e-4  # level error saturates 40 dB below the stem
SCORE = "score: SI-SDRi - level and absent penalties"  # how best.pt is chosen (see selection_score)


class DefaultModel(nn.Module):
    """The separator and the projection from MiniLM's 384-d sentence embedding to its condition."""

    def __init__(self, cfg: ResUNetConfig):
        super().__init__()
        self.sep = ResUNet30(cfg)
        self.projection = nn.Linear(TEXT_DIM, cfg.condition_dim)
        # Start with the phase mask at 0 rad (real part tanh(2) ~ 0.96, imaginary 0): the output is
        # then mask x mixture, and the net learns phase corrections later. With AudioSep's random
        # init every early output has a scrambled phase, and a small model learns very slowly.
        with torch.no_grad():
            ac = self.sep.base.after_conv
            ac.weight[1:3].zero_()
            ac.bias[1] = 2.0
            ac.bias[2] = 0.0

    def condition(self, text_emb: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.projection(text_emb), dim=-1)

    def forward(self, wav: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        return separate_waveform(self.sep, wav, self.condition(text_emb))


def _present(ref: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
    return ref.pow(2).sum(-1) > 1e-8 * mix.pow(2).sum(-1).clamp(min=1e-12)


def _neg_snr(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Per example -SNR in dB, soft-capped at ~30 dB by SNR_TAU."""
    sig = ref.pow(2).sum(-1)
    err = (est - ref).pow(2).sum(-1)
    return 10 * torch.log10(err + SNR_TAU * sig + 1e-10) - 10 * torch.log10(sig + 1e-10)


def _neg_si_sdr(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Per example -SI-SDR in dB (the reference optimally scaled), soft-capped like :func:`_neg_snr`."""
    alpha = (est * ref).sum(-1, keepdim=True) / (ref.pow(2).sum(-1, keepdim=True) + 1e-10)
    return _neg_snr(est, alpha * ref)


def _absent_term(est: torch.Tensor, mix: torch.Tensor, weight: float = ABSENT_WEIGHT) -> torch.Tensor:
    """Per example output energy above -25 dB re the mixture, in dB, times ``weight`` (half by default)."""
    floor = ABSENT_TAU * mix.pow(2).sum(-1) + 1e-10
    return weight * (10 * torch.log10(est.pow(2).sum(-1) + floor) - 10 * torch.log10(floor))


def sdr_loss(est: torch.Tensor, ref: torch.Tensor, mix: torch.Tensor, absent_weight: float = ABSENT_WEIGHT) -> torch.Tensor:
    """Per example: thresholded negative SNR when the queried stem is present; when it is absent
    (silent target), the output energy above -25 dB re the mixture, in dB (bounded, half weight).

    A single log-domain loss with a mixture-relative floor for both cases made silence a strong
    attractor early in training (an absent example costs up to +30 dB, a present one gains little),
    and the model collapsed to zero output; bounding and down-weighting the absent term avoids that.
    """
    return torch.where(_present(ref, mix), _neg_snr(est, ref), _absent_term(est, mix, absent_weight)).mean()


def sisdr_loss(est: torch.Tensor, ref: torch.Tensor, mix: torch.Tensor, absent_weight: float = ABSENT_WEIGHT) -> torch.Tensor:
    """The evaluation metric's shape: thresholded negative SI-SDR when the queried stem is present,
    plus 0.1 x the negative SNR (SI-SDR ignores the output's gain; the SNR term sets it, so stem and
    residual still add up to the mixture); absent queries as in :func:`sdr_loss`.

    An SNR loss is minimised by hedging: where the model is unsure, half of everything is a cheap
    answer in SNR (SDRi rewards it) but worth 0 dB of SI-SDRi. The step-8500 model trained mostly on
    magnitudes and SNR shows that pattern (SDRi 6.2 dB, SI-SDRi 2.6 dB).
    """
    present_term = _neg_si_sdr(est, ref) + 0.1 * _neg_snr(est, ref)
    return torch.where(_present(ref, mix), present_term, _absent_term(est, mix, absent_weight)).mean()


def _level_error_db(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Per example: output energy over the stem's energy in dB (saturating 40 dB below it)."""
    sig = ref.pow(2).sum(-1)
    return 10 * torch.log10(est.pow(2).sum(-1) + LEVEL_FLOOR * sig + 1e-10) - 10 * torch.log10(sig + 1e-10)


def sisdr_level_loss(est: torch.Tensor, ref: torch.Tensor, mix: torch.Tensor,
                     absent_weight: float = ABSENT_WEIGHT) -> torch.Tensor:
    """Thresholded negative SI-SDR for the stem's shape plus LEVEL_WEIGHT x the smoothed absolute level
    error in dB for its gain, when the queried stem is present; absent queries as in :func:`sdr_loss`.

    :func:`sisdr_loss` let the gain go: 0.1 x SNR is worth at most ~3 dB of loss, while an output 30 dB
    below the stem keeps its full SI-SDR and costs nothing if the query turns out absent. Trained with
    it, the model answered 12 of 14 families correctly shaped but ~30 dB too quiet (median level error
    -30 dB on the held-out set; only bass and drums at level). A symmetric dB penalty has its minimum at
    the right level whatever the model's doubt about the shape, and makes "quiet when unsure" cost as
    much as it saves: with the absent term's ``absent_weight`` w dB per dB, the model answers at full
    level once it believes the instrument present with probability > w / (1 + w) (1/3 for w = 0.5,
    1/2 for w = 1), and near silence below that. At w = 0.5 the fine-tune from the muted model got
    the level right within 250 steps (median -0.7 dB) but answered absent queries at -12 dB re the
    mix (target <= -15); w = 1 (``--absent-weight``) barely moved that, w = 1 with absent queries in
    25 % of the examples (``--absent-p 0.25``, 12 % before) brought it to about -15 dB.
    """
    lvl = _level_error_db(est, ref)
    present_term = _neg_si_sdr(est, ref) + LEVEL_WEIGHT * (torch.sqrt(lvl * lvl + 1.0) - 1.0)
    return torch.where(_present(ref, mix), present_term, _absent_term(est, mix, absent_weight)).mean()


def l1_loss(est: torch.Tensor, ref: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
    """Waveform L1 (AudioSep's loss), normalised per example by the mixture's RMS."""
    scale = mix.pow(2).mean(-1).clamp(min=1e-10).sqrt()
    return ((est - ref).abs().mean(-1) / scale).mean()


def spec_l1_loss(est: torch.Tensor, ref: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
    """L1 between STFT magnitudes (1024/256 and 2048/512), per example normalised by the mixture's
    mean magnitude, plus a 0.1-weighted waveform L1: magnitudes carry no phase error, which a
    mask-based model cannot fix early on and which makes waveform L1 slow to learn from."""
    total = 0.0
    for n_fft, hop in ((1024, 256), (2048, 512)):
        w = torch.hann_window(n_fft, device=est.device)
        spec = lambda x: torch.stft(x, n_fft, hop, window=w, return_complex=True).abs()
        sm = spec(mix).mean(dim=(-1, -2)).clamp(min=1e-8)
        total = total + ((spec(est) - spec(ref)).abs().mean(dim=(-1, -2)) / sm).mean()
    return total / 2 + 0.1 * l1_loss(est, ref, mix)


def mixed_loss(est, ref, mix, step: int = 0) -> torch.Tensor:
    """Magnitude + waveform L1 from the start (robust, no collapse to silence), with the SNR term
    (the metric's shape) faded in between steps 1000 and 3000."""
    w = min(1.0, max(0.0, (step - 1000) / 2000))
    loss = spec_l1_loss(est, ref, mix)
    if w > 0:
        loss = loss + w * 0.1 * sdr_loss(est, ref, mix)
    return loss


LOSSES = {"snr": sdr_loss, "sisdr": sisdr_loss, "sisdr_level": sisdr_level_loss, "l1": l1_loss, "mixed": mixed_loss, "spec": spec_l1_loss}


def lr_at(frac: float, step: int, base: float, warmup: int = 100) -> float:
    w = min(1.0, (step + 1) / warmup)
    if frac < 0.7:
        return base * w
    p = min(1.0, (frac - 0.7) / 0.3)
    return base * w * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * p)))


class PhraseBank:
    """Training phrasings per family and their MiniLM embeddings (cached in the run folder)."""

    def __init__(self, out: Path, seed: int = 0):
        path = out / "phrases.npz"
        fams = {f: D.FAMILIES[f].phrases for f in D.FAMILY_NAMES}
        phrases = None
        if path.exists():
            z = np.load(path, allow_pickle=False)
            phrases = json.loads(str(z["phrases"]))
            emb = z["emb"]
        if phrases is None or sorted(phrases) != sorted(fams):
            from .minilm import embed_texts, training_phrases

            phrases = training_phrases(fams, seed=seed)
            flat = [p for f in D.FAMILY_NAMES for p in phrases[f]]
            emb = embed_texts(flat)
            np.savez(path, phrases=json.dumps(phrases), emb=emb)
        self.phrases: Dict[str, List[str]] = phrases
        self.emb: Dict[str, np.ndarray] = {}
        i = 0
        for f in D.FAMILY_NAMES:
            n = len(phrases[f])
            self.emb[f] = emb[i : i + n]
            i += n

    def sample(self, fam: str, rng: np.random.Generator, noise: float = 0.0) -> np.ndarray:
        e = self.emb[fam][int(rng.integers(len(self.emb[fam])))]
        if noise:
            e = e + rng.normal(0, noise, e.shape).astype(np.float32)
            e = e / np.linalg.norm(e)
        return e.astype(np.float32)


def make_batch(sampler: D.MixSampler, bank: PhraseBank, rng, n: int, noise: float = 0.02):
    mixes, targets, embs = [], [], []
    for _ in range(n):
        ex = sampler.sample()
        mixes.append(ex.mixture)
        targets.append(ex.target)
        embs.append(bank.sample(ex.family, rng, noise))
    return (torch.from_numpy(np.stack(mixes)), torch.from_numpy(np.stack(targets)), torch.from_numpy(np.stack(embs)))


def fixed_eval_set(pool, n: int, seconds: float, seed: int):
    sampler = D.MixSampler(pool, seconds, seed=seed, absent_p=0.15)
    return [sampler.sample() for _ in range(n)]


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


def save_checkpoint(path: Path, model: DefaultModel, opt, state: Dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                "arch": json.dumps(model.sep.cfg.to_dict()), "state": json.dumps(state)}, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path):
    from .checkpoint import safe_torch_load

    ck = safe_torch_load(path)
    return ck, ResUNetConfig.from_dict(json.loads(ck["arch"])), json.loads(ck["state"])


def ensure_pools(pool_dir: Path, clips: int, workers: int, splits=("train", "valid")) -> None:
    sizes = {"train": clips, "valid": max(2, clips // 10), "test": max(2, clips // 8)}
    for split in splits:
        cfg = D.SPLITS[split]
        spec = D.PoolSpec(split, sizes[split], 4.0, cfg["seed"], list(cfg["soundfonts"]), list(cfg["voices"]),
                          list(cfg["langs"]))
        last = {}

        def progress(fam, done, total):
            if last.get(fam) != done and done == total:
                print(f"  pool {split}: {fam} {done}/{total}", flush=True)
            last[fam] = done

        D.build_pool(pool_dir, spec, workers=workers, progress=progress)


def train(args, bank: Optional["PhraseBank"] = None) -> Path:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
    pool_dir = Path(args.pool)
    print(f"[train] pools in {pool_dir} ...", flush=True)
    ensure_pools(pool_dir, args.clips, args.workers)
    train_pool = D.load_pool(pool_dir, "train")
    valid_pool = D.load_pool(pool_dir, "valid")
    bank = bank or PhraseBank(out, seed=args.seed)
    valid = fixed_eval_set(valid_pool, args.valid_n, 3.0, seed=args.seed + 7)

    cfg = DEFAULT_ARCH
    if args.arch:
        cfg = ResUNetConfig.from_dict({**DEFAULT_ARCH.to_dict(), **json.loads(args.arch)})
    state = {"step": 0, "elapsed_min": 0.0, "planned_min": 0.0, "best": -1e9, "best_metric": SCORE, "seed": args.seed}
    model = DefaultModel(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    last = out / "last.pt"
    if last.exists() and args.init:
        raise SystemExit(f"{last} exists: --init starts a new run folder; use --resume to continue this one")
    start = last if args.resume and last.exists() else Path(args.init) if args.init else None
    if start is not None:
        ck, cfg_ck, state = load_checkpoint(start)
        model = DefaultModel(cfg_ck)
        model.load_state_dict(ck["model"])
        opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
        opt.load_state_dict(ck["optimizer"])
        print(f"[train] {'resumed' if start == last else f'initialised from {start}'} at step {state['step']} "
              f"({state['elapsed_min']:.1f} min trained)", flush=True)
    elif last.exists() and not args.resume:
        raise SystemExit(f"{last} exists: pass --resume to continue it, or choose another --out")
    if state.get("best_metric") != SCORE:  # best.pt was chosen another way (SI-SDRi alone was blind to muted answers)
        print(f"[train] best score reset (was {state['best']:.2f} by {state.get('best_metric', 'SI-SDRi')}; now {SCORE})",
              flush=True)
        state["best"], state["best_metric"] = -1e9, SCORE
    # a fresh Adam (new run, or a checkpoint rebuilt by export.recover) warms up from this invocation's first step
    warm_from = state["step"] if not opt.state else 0
    if not opt.state and state.get("recovered_from") and "recovered_at_step" not in state:  # rebuilt before the step was recorded
        state["recovered_at_step"] = state["step"]
    state["planned_min"] = state["elapsed_min"] + args.minutes
    # what each invocation trained with (the model card lists it)
    state.setdefault("phases", []).append({"loss": args.loss, "lr": args.lr, "absent_weight": args.absent_weight,
                                           "absent_p": args.absent_p, "hard_negatives": args.hard_negatives,
                                           "partner_mixes": args.partner_mixes,
                                           "from_step": state["step"],
                                           "from_min": round(state["elapsed_min"], 1), "minutes": args.minutes})
    model.to(device)
    if device.type == "cpu":
        model.sep = model.sep.to(memory_format=torch.channels_last)
    model.train()
    use_bf16 = not args.fp32
    sampler = D.MixSampler(train_pool, args.seconds, seed=args.seed * 1000 + state["step"], min_stems=args.min_stems,
                           max_stems=args.max_stems, absent_p=args.absent_p, hard_p=args.hard_negatives,
                           pair_p=args.partner_mixes)
    rng = np.random.default_rng(args.seed * 7919 + state["step"])
    print(f"[train] {count_parameters(model.sep) / 1e6:.2f} M separator params, device {device}, "
          f"bf16={use_bf16}, plan {state['planned_min']:.0f} min", flush=True)

    stop = {"flag": False}

    def on_signal(signum, frame):
        stop["flag"] = True
        print("[train] stopping after this step (checkpoint will be saved)", flush=True)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    # Elapsed training time counts step durations capped at 30 s, so a paused process (SIGSTOP while
    # the machine is needed for something else) does not eat the plan.
    elapsed = state["elapsed_min"]
    t_prev = time.time()
    last_ckpt = time.time()
    losses = []
    curve = open(out / "curve.jsonl", "a")
    while not stop["flag"]:
        now = time.time()
        elapsed += min(now - t_prev, 30.0) / 60
        t_prev = now
        if elapsed >= state["planned_min"]:
            break
        lr = lr_at(elapsed / max(state["planned_min"], 1e-9), state["step"] - warm_from, args.lr)
        for g in opt.param_groups:
            g["lr"] = lr
        if args.curriculum:  # 2-3 stems and few absent queries first, the full mix range from 50 % of the plan
            frac = elapsed / max(state["planned_min"], 1e-9)
            sampler.max_stems = min(args.max_stems, 3 if frac < 0.2 else 4 if frac < 0.5 else 5)
            sampler.absent_p = args.absent_p * (0.4 if frac < 0.2 else 1.0)
        mix, tgt, emb = make_batch(sampler, bank, rng, args.batch)
        mix, tgt, emb = mix.to(device), tgt.to(device), emb.to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            est = model(mix, emb)
        fn = LOSSES[args.loss]
        if fn is mixed_loss:
            loss = fn(est.float(), tgt, mix, state["step"])
        elif fn in (sdr_loss, sisdr_loss, sisdr_level_loss):
            loss = fn(est.float(), tgt, mix, absent_weight=args.absent_weight)
        else:
            loss = fn(est.float(), tgt, mix)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        losses.append(loss.item())
        state["step"] += 1
        if state["step"] % 50 == 0:
            print(f"[train] step {state['step']} loss {np.mean(losses[-50:]):.2f} lr {lr:.2e} "
                  f"{elapsed:.1f}/{state['planned_min']:.0f} min", flush=True)
        if state["step"] % args.eval_every == 0:
            ev = evaluate_model(model, valid, bank)
            ev.update(step=state["step"], minutes=round(elapsed, 2), loss=float(np.mean(losses[-args.eval_every:])), lr=lr)
            curve.write(json.dumps(ev) + "\n")
            curve.flush()
            print(f"[eval] step {ev['step']}: valid SI-SDRi {ev['si_sdri']:.2f} dB, level {ev['level_db']:+.1f} dB "
                  f"(muted {ev['muted']:.0%}), absent {ev['absent_db']:.1f} dB, score {ev['score']:.2f}", flush=True)
            if ev["score"] > state["best"]:
                state["best"] = ev["score"]
                state["elapsed_min"] = elapsed
                save_checkpoint(out / "best.pt", model, opt, state)
        if time.time() - last_ckpt > args.ckpt_minutes * 60:
            state["elapsed_min"] = elapsed
            save_checkpoint(last, model, opt, state)
            last_ckpt = time.time()
    state["elapsed_min"] = elapsed
    save_checkpoint(last, model, opt, state)
    ev = evaluate_model(model, valid, bank)
    ev.update(step=state["step"], minutes=round(state["elapsed_min"], 2), final=True)
    curve.write(json.dumps(ev) + "\n")
    curve.close()
    if ev["score"] > state["best"]:
        state["best"] = ev["score"]
        save_checkpoint(out / "best.pt", model, opt, state)
    summary = {"steps": state["step"], "minutes": state["elapsed_min"], "final_valid": ev, "best_valid": state["best"],
               "threads": args.threads, "device": str(device), "batch": args.batch, "seconds": args.seconds,
               "arch": model.sep.cfg.to_dict(), "params": count_parameters(model.sep)}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"[train] done: {state['step']} steps, {state['elapsed_min']:.1f} min, final valid SI-SDRi "
          f"{ev['si_sdri']:.2f} dB", flush=True)
    return out


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m export.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, required=True, help="wall-clock training budget for this invocation")
    p.add_argument("--out", required=True, help="run folder (checkpoints, curve.jsonl, summary.json)")
    p.add_argument("--resume", action="store_true", help="continue <out>/last.pt and extend its plan")
    p.add_argument("--init", default=None, metavar="CKPT",
                   help="start a new run folder from a checkpoint (weights, optimizer, step and best score), "
                        "e.g. to fine-tune with another --loss or --lr")
    p.add_argument("--pool", default="runs/pool", help="stem pool folder (rendered if missing)")
    p.add_argument("--clips", type=int, default=600, help="training clips per family (4 s each)")
    p.add_argument("--workers", type=int, default=2, help="processes for pool rendering")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seconds", type=float, default=2.0, help="training crop length")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--valid-n", type=int, default=96)
    p.add_argument("--ckpt-minutes", type=float, default=10.0)
    p.add_argument("--fp32", action="store_true", help="disable bf16 autocast")
    p.add_argument("--loss", choices=sorted(LOSSES), default="mixed")
    p.add_argument("--arch", default=None, help="JSON overrides of the architecture (new runs only)")
    p.add_argument("--min-stems", type=int, default=2)
    p.add_argument("--max-stems", type=int, default=5)
    p.add_argument("--absent-p", type=float, default=ABSENT_P)
    p.add_argument("--partner-mixes", type=float, default=0.0,
                   help="share of examples whose mix holds a neighbour of the queried family "
                        "(export.data.NEIGHBOURS), e.g. 'bass' with drums")
    p.add_argument("--hard-negatives", type=float, default=0.0,
                   help="share of absent queries that name a neighbour of an instrument in the mix "
                        "(export.data.NEIGHBOURS), e.g. 'saxophone' over brass")
    p.add_argument("--absent-weight", type=float, default=ABSENT_WEIGHT,
                   help="dB of loss per dB of output above -25 dB re the mix for an absent instrument "
                        "(snr, sisdr, sisdr_level losses)")
    p.add_argument("--no-curriculum", dest="curriculum", action="store_false",
                   help="full mixture difficulty from the first step")
    p.add_argument("--cpu", action="store_true", help="ignore CUDA even if available")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    train(args)


if __name__ == "__main__":
    main()
