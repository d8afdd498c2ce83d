"""Train the embedded default model: ``train(DefaultTrainConfig(...))`` or ``python -m export.train``.

    python -m export.train --minutes 240 --out runs/default [--resume]

Renders the stem pools first if they are missing (``export.data``), embeds the training phrasings
with MiniLM once, then trains a small ResUNet (same family and bundle contract as the official
model) plus a 384 -> condition_dim projection of the sentence embedding (``export.default_model``),
for a wall-clock budget; runs on CPU, or CUDA when torch sees one. The command line builds a
``DefaultTrainConfig`` (one field per flag) and calls ``train``.

The learning rate follows the run's plan: warm-up, constant until 70 % of the planned minutes,
then a cosine decay to 5 %. ``--resume`` continues from ``<out>/last.pt`` and extends the plan by
``--minutes`` (so an interrupted run picks up where it stopped); ``--init CKPT`` starts a new run
folder from a checkpoint the same way, e.g. to fine-tune with another ``--loss``. ``--max-steps N``
also stops the invocation after N steps. Every ``--eval-every`` steps the validation SI-SDRi, the
answers' level against the true stem's and the output energy for absent instruments are appended to
``<out>/curve.jsonl`` (``export.default_validation``); ``best.pt`` keeps the best validation score
(SI-SDRi less penalties for answers at the wrong level and for loud absent-instrument output).
Checkpoints hold only tensors and plain data and are read back with ``torch.load(weights_only=True)``.

The model, losses, examples and validation live in ``export.default_model``, ``default_losses``,
``default_examples`` and ``default_validation``; their public names are importable from here too.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import signal
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import torch

from . import data as D
from .default_examples import PhraseBank, ensure_pools, fixed_eval_set, make_batch
from .default_losses import (ABSENT_P, ABSENT_TAU, ABSENT_WEIGHT, LEVEL_FLOOR, LEVEL_WEIGHT, LOSSES, SNR_TAU,
                             l1_loss, mixed_loss, sdr_loss, sisdr_level_loss, sisdr_loss, spec_l1_loss,
                             training_loss)
from .default_model import DEFAULT_ARCH, TEXT_DIM, DefaultModel, load_checkpoint, save_checkpoint
from .default_validation import SCORE, evaluate_model, selection_score
from .resunet import ResUNetConfig, count_parameters

log = logging.getLogger("export.train")

__all__ = [  # this module's own names, and those of earlier releases that moved out (importable here still)
    "DefaultTrainConfig", "train", "lr_at", "parse_args", "main",
    "ABSENT_P", "ABSENT_TAU", "ABSENT_WEIGHT", "LEVEL_FLOOR", "LEVEL_WEIGHT", "LOSSES", "SNR_TAU", "l1_loss",
    "mixed_loss", "sdr_loss", "sisdr_level_loss", "sisdr_loss", "spec_l1_loss", "training_loss",
    "DEFAULT_ARCH", "TEXT_DIM", "DefaultModel", "load_checkpoint", "save_checkpoint", "ResUNetConfig",
    "PhraseBank", "ensure_pools", "fixed_eval_set", "make_batch", "SCORE", "evaluate_model", "selection_score",
]

STEP_CAP_S = 30.0  # a step counts at most this long: a paused process (SIGSTOP) does not eat the plan


@dataclass
class DefaultTrainConfig:
    """One training invocation; each field is the ``python -m export.train`` flag of the same name."""

    minutes: float  # wall-clock training budget of this invocation
    out: str  # run folder (checkpoints, curve.jsonl, summary.json)
    resume: bool = False  # continue <out>/last.pt and extend its plan
    init: Optional[str] = None  # start a new run folder from this checkpoint
    pool: str = "runs/pool"  # stem pool folder (rendered if missing)
    clips: int = 600  # training clips per family (4 s each) when the pool is rendered
    workers: int = 2  # processes for pool rendering
    seed: int = 0
    batch: int = 8
    seconds: float = 2.0  # training crop length
    lr: float = 2e-3
    threads: int = 2
    eval_every: int = 500  # steps between validations
    valid_n: int = 96  # validation mixtures
    ckpt_minutes: float = 10.0  # minutes between last.pt writes
    fp32: bool = False  # no bf16 autocast
    loss: str = "mixed"  # a key of LOSSES
    arch: Dict = field(default_factory=dict)  # overrides of DEFAULT_ARCH (new runs only)
    min_stems: int = 2
    max_stems: int = 5
    absent_p: float = ABSENT_P
    partner_mixes: float = 0.0
    hard_negatives: float = 0.0
    absent_weight: float = ABSENT_WEIGHT
    curriculum: bool = True
    cpu: bool = False  # ignore CUDA even if available
    max_steps: int = 0  # stop after this many steps of this invocation as well (0: no limit)

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}: choose one of {', '.join(sorted(LOSSES))}")


def lr_at(frac: float, step: int, base: float, warmup: int = 100) -> float:
    """The learning rate at ``frac`` of the plan and ``step`` steps into the warm-up."""
    w = min(1.0, (step + 1) / warmup)
    if frac < 0.7:
        return base * w
    p = min(1.0, (frac - 0.7) / 0.3)
    return base * w * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * p)))


def start_run(config: DefaultTrainConfig, out: Path):
    """(model, optimiser, run state, warm-up start step) for a new, resumed or initialised run; the
    state records this invocation's settings as a new phase. Raises SystemExit for a run folder that
    does not fit the request."""
    cfg = DEFAULT_ARCH
    if config.arch:
        cfg = ResUNetConfig.from_dict({**DEFAULT_ARCH.to_dict(), **config.arch})
    state = {"step": 0, "elapsed_min": 0.0, "planned_min": 0.0, "best": -1e9, "best_metric": SCORE, "seed": config.seed}
    model = DefaultModel(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=1e-4)
    last = out / "last.pt"
    if last.exists() and config.init:
        raise SystemExit(f"{last} exists: --init starts a new run folder; use --resume to continue this one")
    start = last if config.resume and last.exists() else Path(config.init) if config.init else None
    if start is not None:
        ck, cfg_ck, state = load_checkpoint(start)
        model = DefaultModel(cfg_ck)
        model.load_state_dict(ck["model"])
        opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=1e-4)
        opt.load_state_dict(ck["optimizer"])
        print(f"[train] {'resumed' if start == last else f'initialised from {start}'} at step {state['step']} "
              f"({state['elapsed_min']:.1f} min trained)", flush=True)
    elif last.exists() and not config.resume:
        raise SystemExit(f"{last} exists: pass --resume to continue it, or choose another --out")
    if state.get("best_metric") != SCORE:  # best.pt was chosen another way (SI-SDRi alone was blind to muted answers)
        print(f"[train] best score reset (was {state['best']:.2f} by {state.get('best_metric', 'SI-SDRi')}; now {SCORE})",
              flush=True)
        state["best"], state["best_metric"] = -1e9, SCORE
    # a fresh Adam (new run, or a checkpoint rebuilt by export.recover) warms up from this invocation's first step
    warm_from = state["step"] if not opt.state else 0
    if not opt.state and state.get("recovered_from") and "recovered_at_step" not in state:  # rebuilt before the step was recorded
        state["recovered_at_step"] = state["step"]
    state["planned_min"] = state["elapsed_min"] + config.minutes
    # what each invocation trained with (the model card lists it)
    state.setdefault("phases", []).append({"loss": config.loss, "lr": config.lr, "absent_weight": config.absent_weight,
                                           "absent_p": config.absent_p, "hard_negatives": config.hard_negatives,
                                           "partner_mixes": config.partner_mixes,
                                           "from_step": state["step"],
                                           "from_min": round(state["elapsed_min"], 1), "minutes": config.minutes})
    return model, opt, state, warm_from


class TrainingRun:
    """The loop of one invocation: optimiser steps, validations, checkpoints and the run's files."""

    def __init__(self, config: DefaultTrainConfig, out: Path, device: torch.device, train_pool, bank, valid):
        self.config, self.out, self.device, self.bank, self.valid = config, out, device, bank, valid
        self.model, self.opt, self.state, self.warm_from = start_run(config, out)
        self.model.to(device)
        if device.type == "cpu":
            self.model.sep = self.model.sep.to(memory_format=torch.channels_last)
        self.model.train()
        self.use_bf16 = not config.fp32
        self.sampler = D.MixSampler(train_pool, config.seconds, seed=config.seed * 1000 + self.state["step"],
                                    min_stems=config.min_stems, max_stems=config.max_stems, absent_p=config.absent_p,
                                    hard_p=config.hard_negatives, pair_p=config.partner_mixes)
        self.rng = np.random.default_rng(config.seed * 7919 + self.state["step"])
        self.first_step = self.state["step"]
        self.losses = []
        print(f"[train] {count_parameters(self.model.sep) / 1e6:.2f} M separator params, device {device}, "
              f"bf16={self.use_bf16}, plan {self.state['planned_min']:.0f} min", flush=True)

    def done(self, elapsed: float) -> bool:
        """The plan's minutes (or this invocation's ``max_steps``) are spent."""
        if elapsed >= self.state["planned_min"]:
            return True
        return bool(self.config.max_steps) and self.state["step"] - self.first_step >= self.config.max_steps

    def step(self, elapsed: float) -> float:
        """One optimiser step at ``elapsed`` minutes of the plan; returns its learning rate."""
        c, state = self.config, self.state
        lr = lr_at(elapsed / max(state["planned_min"], 1e-9), state["step"] - self.warm_from, c.lr)
        for g in self.opt.param_groups:
            g["lr"] = lr
        if c.curriculum:  # 2-3 stems and few absent queries first, the full mix range from 50 % of the plan
            frac = elapsed / max(state["planned_min"], 1e-9)
            self.sampler.max_stems = min(c.max_stems, 3 if frac < 0.2 else 4 if frac < 0.5 else 5)
            self.sampler.absent_p = c.absent_p * (0.4 if frac < 0.2 else 1.0)
        mix, tgt, emb = make_batch(self.sampler, self.bank, self.rng, c.batch)
        mix, tgt, emb = mix.to(self.device), tgt.to(self.device), emb.to(self.device)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.use_bf16):
            est = self.model(mix, emb)
        loss = training_loss(c.loss, est.float(), tgt, mix, state["step"], absent_weight=c.absent_weight)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)
        self.opt.step()
        self.losses.append(loss.item())
        state["step"] += 1
        if state["step"] % 50 == 0:
            print(f"[train] step {state['step']} loss {np.mean(self.losses[-50:]):.2f} lr {lr:.2e} "
                  f"{elapsed:.1f}/{state['planned_min']:.0f} min", flush=True)
        return lr

    def validate(self, elapsed: float, lr: float, curve) -> None:
        """Score the validation set, append the result to ``curve`` and keep best.pt."""
        state = self.state
        ev = evaluate_model(self.model, self.valid, self.bank)
        ev.update(step=state["step"], minutes=round(elapsed, 2), loss=float(np.mean(self.losses[-self.config.eval_every:])),
                  lr=lr)
        curve.write(json.dumps(ev) + "\n")
        curve.flush()
        print(f"[eval] step {ev['step']}: valid SI-SDRi {ev['si_sdri']:.2f} dB, level {ev['level_db']:+.1f} dB "
              f"(muted {ev['muted']:.0%}), absent {ev['absent_db']:.1f} dB, score {ev['score']:.2f}", flush=True)
        if ev["score"] > state["best"]:
            state["best"] = ev["score"]
            state["elapsed_min"] = elapsed
            save_checkpoint(self.out / "best.pt", self.model, self.opt, state)

    def save_last(self, elapsed: float) -> None:
        self.state["elapsed_min"] = elapsed
        save_checkpoint(self.out / "last.pt", self.model, self.opt, self.state)

    def finish(self, elapsed: float, curve) -> None:
        """last.pt, the final validation (best.pt if it is the best), summary.json."""
        state, c = self.state, self.config
        self.save_last(elapsed)
        ev = evaluate_model(self.model, self.valid, self.bank)
        ev.update(step=state["step"], minutes=round(state["elapsed_min"], 2), final=True)
        curve.write(json.dumps(ev) + "\n")
        if ev["score"] > state["best"]:
            state["best"] = ev["score"]
            save_checkpoint(self.out / "best.pt", self.model, self.opt, state)
        summary = {"steps": state["step"], "minutes": state["elapsed_min"], "final_valid": ev, "best_valid": state["best"],
                   "threads": c.threads, "device": str(self.device), "batch": c.batch, "seconds": c.seconds,
                   "arch": self.model.sep.cfg.to_dict(), "params": count_parameters(self.model.sep)}
        (self.out / "summary.json").write_text(json.dumps(summary, indent=1))
        print(f"[train] done: {state['step']} steps, {state['elapsed_min']:.1f} min, final valid SI-SDRi "
              f"{ev['si_sdri']:.2f} dB", flush=True)


def train(config: DefaultTrainConfig, bank: Optional[PhraseBank] = None) -> Path:
    """Run one training invocation described by ``config``; returns the run folder. ``bank`` replaces
    the MiniLM phrase embeddings (tests). SIGINT/SIGTERM stop it after the current step, saved."""
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    device = torch.device("cuda" if torch.cuda.is_available() and not config.cpu else "cpu")
    pool_dir = Path(config.pool)
    print(f"[train] pools in {pool_dir} ...", flush=True)
    ensure_pools(pool_dir, config.clips, config.workers)
    train_pool = D.load_pool(pool_dir, "train")
    valid_pool = D.load_pool(pool_dir, "valid")
    bank = bank or PhraseBank(out, seed=config.seed)
    valid = fixed_eval_set(valid_pool, config.valid_n, 3.0, seed=config.seed + 7)
    run = TrainingRun(config, out, device, train_pool, bank, valid)
    stop = {"flag": False}

    def on_signal(signum, frame):
        stop["flag"] = True
        print("[train] stopping after this step (checkpoint will be saved)", flush=True)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with open(out / "curve.jsonl", "a") as curve:
            elapsed = _loop(run, curve, stop)
            run.finish(elapsed, curve)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return out


def _loop(run: TrainingRun, curve, stop: Dict) -> float:
    """Step until the plan is spent or ``stop['flag']`` is set; returns the plan's elapsed minutes.
    Elapsed time counts step durations capped at STEP_CAP_S."""
    elapsed = run.state["elapsed_min"]
    t_prev = time.time()
    last_ckpt = time.time()
    while not stop["flag"]:
        now = time.time()
        elapsed += min(now - t_prev, STEP_CAP_S) / 60
        t_prev = now
        if run.done(elapsed):
            break
        lr = run.step(elapsed)
        if run.state["step"] % run.config.eval_every == 0:
            run.validate(elapsed, lr, curve)
        if time.time() - last_ckpt > run.config.ckpt_minutes * 60:
            run.save_last(elapsed)
            last_ckpt = time.time()
    return elapsed


def _json_object(text: str) -> Dict:
    if not text.strip():  # an empty --arch overrides nothing
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"not a JSON object: {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
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
    p.add_argument("--arch", type=_json_object, default=None, help="JSON overrides of the architecture (new runs only)")
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
    p.add_argument("--max-steps", type=int, default=0,
                   help="also stop after this many steps of this invocation (0: only --minutes counts)")
    return p


def parse_args(argv=None) -> DefaultTrainConfig:
    """The command line as a :class:`DefaultTrainConfig`."""
    ns = _parser().parse_args(argv)
    ns.arch = ns.arch or {}
    return DefaultTrainConfig(**{f.name: getattr(ns, f.name) for f in fields(DefaultTrainConfig)})


def main(argv=None):
    config = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    train(config)


if __name__ == "__main__":
    main()
