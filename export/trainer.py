"""Train a separator from scratch for a fixed budget: ``train(TrainConfig(...))`` or ``python -m export.trainer``.

Two kinds share the data (``export.mixer``), the loss and the validation protocol, so that they can be
compared for the same compute: ``multisource`` (``export.multisource``: every family's stem from one
pass, every family supervised in every mixture) and ``film`` (the FiLM-conditioned ResUNet of
``export.train``: one query per mixture, a sentence embedding of a training phrasing as condition).
The budget is process CPU time on a CPU (fair when other jobs share the machine) or wall time on a GPU.
Every ``eval_minutes`` the run scores a fixed validation set (``validate``), appends the result to
``curve.jsonl`` and writes ``last.pt``; checkpoints hold only tensors and plain data
(``torch.load(weights_only=True)`` reads them).
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch

from .mixer import MixConfig, StemBank, TorchMixer
from .separation import SourceLoss, SpectralLoss, istft, magnitude, snr_weight, stft

log = logging.getLogger("export.trainer")


@dataclass
class TrainConfig:
    kind: str = "multisource"  # or "film"
    out: str = "runs/ms"
    pool: str = "runs/pool2"
    arch: Dict = field(default_factory=dict)  # overrides of the kind's default architecture
    batch: int = 8
    seconds: float = 3.0
    lr: float = 2e-3
    weight_decay: float = 1e-4
    budget_minutes: float = 60.0  # CPU minutes of this process on a CPU, wall minutes on a GPU
    eval_minutes: float = 10.0
    valid_mixtures: int = 96
    seed: int = 0
    threads: int = 1
    device: str = "auto"
    bf16: bool = True
    absent_weight: float = 0.5
    film_absent_p: float = 0.15  # film: share of queries naming a family absent from the mix
    mix: Dict = field(default_factory=dict)  # overrides of MixConfig
    phrase_embeddings: str = ""  # film: an .npz of precomputed phrase embeddings (else MiniLM is run)
    save_optimizer: bool = True  # False keeps last.pt small (weights only)
    stop_at: float = 0.0  # a wall-clock deadline (epoch seconds): validate, save and stop before it
    max_steps: int = 0  # stop after this many steps as well (0: no limit); tests use it, not minutes


def families_of(pool_families: List[str]) -> List[str]:
    """The model's source order: the pool's families in taxonomy order, "other" last."""
    from .data import FAMILY_NAMES

    fams = [f for f in FAMILY_NAMES if f in pool_families]
    return fams + (["other"] if "other" in pool_families else [])


class Clock:
    """Minutes of budget used: process CPU time on a CPU, wall time on a GPU."""

    def __init__(self, device: torch.device, spent: float = 0.0):
        self.cuda = device.type == "cuda"
        self.t0 = time.time() if self.cuda else time.process_time()
        self.spent = spent

    def now(self) -> float:
        return time.time() if self.cuda else time.process_time()

    def minutes(self) -> float:
        return self.spent + (self.now() - self.t0) / 60.0

    def exclude(self, since: float) -> None:
        """Do not count the time since ``since`` (a ``now()`` reading): validation is not training."""
        self.spent -= (self.now() - since) / 60.0


def make_model(cfg: TrainConfig, n_sources: int) -> torch.nn.Module:
    if cfg.kind == "multisource":
        from .multisource import MultiSourceConfig, MultiSourceModel

        arch = MultiSourceConfig(**{**dict(sources=n_sources), **cfg.arch})
        return MultiSourceModel(arch)
    if cfg.kind == "film":
        from .resunet import ResUNetConfig
        from .train import DEFAULT_ARCH, DefaultModel

        arch = ResUNetConfig.from_dict({**DEFAULT_ARCH.to_dict(), **cfg.arch})
        return DefaultModel(arch)
    raise ValueError(f"unknown kind {cfg.kind!r}")


class Separation:
    """Waveforms in, every source's estimate out, for either kind (used in training and validation)."""

    def __init__(self, model, kind: str, n_fft: int, hop: int):
        self.model, self.kind, self.n_fft, self.hop = model, kind, n_fft, hop

    def all_sources(self, mix: torch.Tensor, spectra: bool = False, waveforms: bool = True):
        """multisource: mix [B, L] -> [B, S, L] (and, with ``spectra``, the mixture's STFT [B, T, F+1]
        and the sources' [B, S, T, F+1]; without ``waveforms`` the ISTFT is skipped and None returned)."""
        spec = stft(mix, self.n_fft, self.hop)  # [B, T, F+1]
        fb = self.n_fft // 2
        mag = magnitude(spec)[:, None, :, :fb]
        m, c, s = (t.float() for t in self.model.net(mag))
        gain = torch.complex(m * c, m * s)  # [B, S, T, fb]
        out = torch.zeros(spec.shape[0], gain.shape[1], *spec.shape[1:], dtype=spec.dtype, device=spec.device)
        out[..., :fb] = spec[:, None, :, :fb] * gain
        wav = istft(out, self.n_fft, self.hop, mix.shape[-1]) if waveforms else None
        return (wav, spec, out) if spectra else wav

    def queried(self, mix: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """film: mix [B, L], sentence embeddings [B, 384] -> [B, L]."""
        return self.model(mix, emb)


class Validation:
    """A fixed set of mixtures from the valid pool; scores per family, as both kinds are used."""

    def __init__(self, bank: StemBank, cfg: TrainConfig, phrase_emb: Optional[Dict[str, np.ndarray]]):
        mixer = TorchMixer(bank, MixConfig(**{**cfg.mix, "seconds": cfg.seconds}), seed=10_000 + cfg.seed,
                           neighbours=neighbours())
        chunks = [mixer.batch(8) for _ in range(max(1, cfg.valid_mixtures // 8))]
        self.mix = torch.cat([c[0] for c in chunks]).cpu()
        self.stems = torch.cat([c[1] for c in chunks]).cpu()
        self.present = torch.cat([c[2] for c in chunks]).cpu()
        self.families = bank.families
        self.phrase_emb = phrase_emb

    @torch.no_grad()
    def run(self, sep: Separation, device) -> Dict:
        from .metrics import energy_db_rel, si_sdr

        k = len(self.families) - 1
        gains: Dict[str, List[float]] = {f: [] for f in self.families[:k]}
        absent: List[float] = []
        sep.model.eval()
        for i in range(0, len(self.mix), 8):
            mix = self.mix[i:i + 8].to(device)
            if sep.kind == "multisource":
                est = sep.all_sources(mix).float().cpu().numpy()
            else:
                est = self._film_estimates(sep, mix, i, device)
            for j in range(mix.shape[0]):
                m = self.mix[i + j].numpy()
                for s in range(k):
                    if self.present[i + j, s]:
                        ref = self.stems[i + j, s].numpy()
                        gains[self.families[s]].append(si_sdr(ref, est[j, s]) - si_sdr(ref, m))
                    elif not self.stems[i + j, s].any():
                        absent.append(energy_db_rel(est[j, s], m))
        sep.model.train()
        per = {f: float(np.mean(v)) for f, v in gains.items() if v}
        mean = float(np.mean(list(per.values())))
        absent_db = float(np.mean(absent)) if absent else float("nan")
        return {"si_sdri": mean, "absent_db": absent_db, "families": per,
                "score": mean - 0.5 * max(0.0, absent_db + 20.0)}

    def _film_estimates(self, sep: Separation, mix: torch.Tensor, i: int, device) -> np.ndarray:
        """Every family queried by its canonical name (absent ones too) -> [B, K+1, L] (other: zeros)."""
        b, k = mix.shape[0], len(self.families) - 1
        out = np.zeros((b, k + 1, mix.shape[-1]), np.float32)
        for s in range(k):
            emb = torch.from_numpy(np.repeat(self.phrase_emb[self.families[s]][:1], b, axis=0)).to(device)
            out[:, s] = sep.queried(mix, emb).float().cpu().numpy()
        return out


def neighbours():
    from .data import NEIGHBOURS

    return NEIGHBOURS


def _phrase_embeddings(families: List[str]) -> Dict[str, np.ndarray]:
    """MiniLM embeddings of each family's training phrasings (the canonical name first)."""
    from .data import FAMILIES
    from .minilm import embed_texts

    out = {}
    for f in families:
        phrases = [f] + [p for p in FAMILIES[f].phrases if p != f]
        out[f] = embed_texts(phrases).astype(np.float32)
    return out


def _film_batch(mix, stems, present, families, emb, gen, absent_p: float):
    """One query per mixture: a present family, or (share ``absent_p``) an absent one -> target, emb."""
    b, s, _ = stems.shape
    k = len(families) - 1
    pres = present[:, :k].float()
    absent_q = (torch.rand(b, generator=gen, device=mix.device) < absent_p) | (pres.sum(1) == 0)
    weights = torch.where(absent_q[:, None], 1 - pres, pres) + 1e-6
    q = torch.multinomial(weights, 1, generator=gen).squeeze(1)
    target = stems[torch.arange(b, device=mix.device), q]
    vecs = []
    for qi in q.tolist():
        e = emb[families[qi]]
        vecs.append(e[int(torch.randint(len(e), (1,), generator=gen, device=mix.device))])
    return target, torch.from_numpy(np.stack(vecs)).to(mix.device), q


class Run:
    """One training run's state: data, model, optimiser, clock, and its step and evaluation."""

    def __init__(self, cfg: TrainConfig):
        from .data import load_pool

        self.cfg = cfg
        self.device = device = torch.device("cuda" if cfg.device == "auto" and torch.cuda.is_available() else
                                            ("cpu" if cfg.device == "auto" else cfg.device))
        torch.set_num_threads(cfg.threads)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        torch.manual_seed(cfg.seed)
        self.out = Path(cfg.out)
        self.out.mkdir(parents=True, exist_ok=True)
        train_pool = load_pool(cfg.pool, "train")
        self.families = families = families_of(list(train_pool))
        self.mixer = TorchMixer(StemBank(train_pool, families, device), MixConfig(**{**cfg.mix, "seconds": cfg.seconds}),
                                seed=cfg.seed, neighbours=neighbours())
        self.emb = None
        if cfg.kind == "film":
            self.emb = (dict(np.load(cfg.phrase_embeddings)) if cfg.phrase_embeddings
                        else _phrase_embeddings(families[:-1]))
        self.validation = Validation(StemBank(load_pool(cfg.pool, "valid"), families, "cpu"), cfg, self.emb)
        self.model = make_model(cfg, len(families)).to(device)
        self.arch = self.model.cfg if cfg.kind == "multisource" else self.model.sep.cfg
        self.sep = Separation(self.model, cfg.kind, self.arch.n_fft, self.arch.hop)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.snr_loss, self.spec_loss = SourceLoss(absent_weight=cfg.absent_weight), SpectralLoss()
        self.state = {"step": 0, "minutes": 0.0, "config": asdict(cfg), "families": families}
        self.last = self.out / "last.pt"
        if self.last.exists():
            ck = torch.load(self.last, map_location=device, weights_only=True)
            self.model.load_state_dict(ck["model"])
            if "optimizer" in ck:
                self.opt.load_state_dict(ck["optimizer"])
            self.state = json.loads(ck["state"])
        self.clock = Clock(device, self.state["minutes"])
        self.gen = torch.Generator(device=device).manual_seed(cfg.seed + 1 + self.state["step"])
        self.autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16)
        log.info("%s: %d parameters, %d sources, device %s", cfg.kind,
                 sum(p.numel() for p in self.model.parameters()), len(families), device)

    def evaluate(self) -> None:
        """Score the validation set (not counted as training time), log it, and write last.pt."""
        t_eval = self.clock.now()
        result = self.validation.run(self.sep, self.device)
        self.clock.exclude(t_eval)
        state = self.state
        state["minutes"] = self.clock.minutes()
        row = {"step": state["step"], "minutes": round(state["minutes"], 2), "wall": round(time.time(), 1),
               "skipped": state.get("skipped", 0), **result}
        with open(self.out / "curve.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        log.info("step %d %.1f min: SI-SDRi %.2f absent %.1f (skipped %d)", state["step"], state["minutes"],
                 result["si_sdri"], result["absent_db"], state.get("skipped", 0))
        save(self.last, self.model, self.opt if self.cfg.save_optimizer else None, state, self.arch)

    def loss(self) -> torch.Tensor:
        cfg, sep, device = self.cfg, self.sep, self.device
        mix, stems, present = self.mixer.batch(cfg.batch)
        w_snr = snr_weight(self.state["step"])
        with self.autocast:
            if cfg.kind == "multisource":
                est, mix_spec, est_spec = sep.all_sources(mix, spectra=True, waveforms=w_snr > 0)
                ref, pres = stems, present
            else:
                ref, qemb, q = _film_batch(mix, stems, present, self.families, self.emb, self.gen, cfg.film_absent_p)
                est = sep.queried(mix, qemb).float()[:, None]
                ref, pres = ref[:, None], present[torch.arange(len(q), device=device), q][:, None]
                mix_spec, est_spec = stft(mix, sep.n_fft, sep.hop), stft(est, sep.n_fft, sep.hop)
            loss = self.spec_loss(est_spec, stft(ref, sep.n_fft, sep.hop), mix_spec)
            if w_snr > 0:
                loss = loss + 0.1 * w_snr * self.snr_loss(est.float(), ref, mix, pres)
        return loss

    def step(self, used: float) -> None:
        """One optimiser step at the cosine schedule's learning rate for ``used`` minutes of budget;
        a non-finite loss or gradient skips the step (one bad batch must not poison the weights)."""
        cfg, state = self.cfg, self.state
        frac = used / cfg.budget_minutes
        lr = cfg.lr * min(1.0, (state["step"] + 1) / 200) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in self.opt.param_groups:
            g["lr"] = lr
        loss = self.loss()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)
        if not (torch.isfinite(loss) and torch.isfinite(norm)):
            state["skipped"] = state.get("skipped", 0) + 1
            if state["skipped"] > 50 + state["step"] // 10:
                raise FloatingPointError(f"{state['skipped']} non-finite steps by step {state['step']}")
            return
        self.opt.step()
        state["step"] += 1


def train(cfg: TrainConfig) -> Path:
    """Train until the budget (or ``max_steps``, or ``stop_at``) is spent, evaluating every ``eval_minutes``."""
    run = Run(cfg)
    next_eval = (math.floor(run.clock.minutes() / cfg.eval_minutes) + 1) * cfg.eval_minutes
    while True:
        used = run.clock.minutes()
        if (cfg.stop_at and time.time() > cfg.stop_at) or (cfg.max_steps and run.state["step"] >= cfg.max_steps):
            used = max(used, cfg.budget_minutes)  # out of time or steps: finish as if the budget were spent
        if used >= next_eval or used >= cfg.budget_minutes:
            run.evaluate()
            next_eval += cfg.eval_minutes
            if used >= cfg.budget_minutes:
                return run.out
        run.step(used)


def save(path: Path, model, opt, state: Dict, arch) -> None:
    tmp = path.with_suffix(".tmp")
    ck = {"model": model.state_dict(), "arch": json.dumps(arch.to_dict()), "state": json.dumps(state)}
    if opt is not None:
        ck["optimizer"] = opt.state_dict()
    torch.save(ck, tmp)
    os.replace(tmp, path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", help="JSON file of TrainConfig fields")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=JSON", help="override fields, e.g. kind='\"film\"'")
    args = p.parse_args(argv)
    fields = json.loads(Path(args.config).read_text()) if args.config else {}
    for kv in args.set:
        key, _, value = kv.partition("=")
        fields[key] = json.loads(value)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    train(TrainConfig(**fields))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
