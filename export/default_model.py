"""The FiLM default model: a small ResUNet conditioned on a MiniLM sentence embedding, and its checkpoints.

``DefaultModel`` is the separator (``export.resunet.ResUNet30`` with ``DEFAULT_ARCH`` unless a run
overrides it) plus the learned projection from MiniLM's 384-d sentence embedding to the separator's
condition. A checkpoint (``save_checkpoint`` / ``load_checkpoint``) holds only tensors and plain data
(``model``, ``optimizer``, the architecture and the run state as JSON strings) and is read back with
``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict

import torch
import torch.nn as nn
import torch.nn.functional as F

from .resunet import ResUNet30, ResUNetConfig, separate_waveform

DEFAULT_ARCH = ResUNetConfig(
    sample_rate=32000, n_fft=1024, hop=320, condition_dim=256,
    widths=(8, 16, 32, 64, 128), downsamples=((2, 2),) * 5,
    input_transform="log", film="scale_shift", momentum=0.1,
)
TEXT_DIM = 384


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


def save_checkpoint(path: Path, model: DefaultModel, opt, state: Dict) -> None:
    """Write ``path`` (written beside it first, then moved into place)."""
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                "arch": json.dumps(model.sep.cfg.to_dict()), "state": json.dumps(state)}, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path):
    """(checkpoint dict, ResUNetConfig, run state dict) of a checkpoint ``save_checkpoint`` wrote."""
    from .checkpoint import safe_torch_load

    ck = safe_torch_load(path)
    return ck, ResUNetConfig.from_dict(json.loads(ck["arch"])), json.loads(ck["state"])
