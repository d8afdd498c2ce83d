"""ModelCore: model-rate separation of equal-length segments (STFT -> ONNX masks -> ISTFT).

The core knows the bundle's STFT settings and its separator graphs, and nothing about blocks,
streams or sample rates other than the model's. Its three steps are separate methods so that a new
kind of graph only changes the step it affects:

* :meth:`ModelCore.analyse`: segments -> complex spectrum and the magnitude the graph reads;
* :meth:`ModelCore.query_masks`: magnitude x conditions -> (mask, cos, sin), through the query's
  specialised session or the generic graph, in batches within ``ACTIVATION_BUDGET_BYTES``; for a
  multi-source bundle (:mod:`plugin.families`) the conditions are weights over its sources and one
  graph pass gives every query's mask;
* :meth:`ModelCore.synthesise`: spectrum x masks -> waveforms (ISTFT).
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import stft as S
from .bundle import Bundle
from .families import FamilyHead, families_of
from .manifest import SEPARATOR_OUTPUTS

ACTIVATION_BUDGET_BYTES = 256 * 2 ** 20  # estimated live activations allowed per ONNX call
ARENA_MAX_FRAME_BYTES = 256 * 2 ** 10  # models this light get ORT's memory arena (fast, small peak)
MAGNITUDE_FLOOR = 1e-10  # |X| = sqrt(max(re² + im², floor)), as AudioSep computes it

Masks = Tuple[np.ndarray, np.ndarray, np.ndarray]  # (mask, cos, sin), each [B, 1, T, F]


def activation_bytes_per_frame(arch: Optional[dict], freq_bins: int) -> int:
    """Estimated peak activation memory per STFT frame of one batch item, from the architecture.

    Sum over U-Net levels of channels x frequency bins / time downsampling, times 4 bytes and 4
    tensors alive (BENCHMARKS.md §2 compares it with measured peaks). Unknown architectures are
    assumed to be full size (1 MiB per frame)."""
    if not arch:
        return 1 << 20
    if arch.get("kind") == "multisource":  # levels on patch x 2^i tiles, plus every source's mask out
        p = int(arch.get("patch", 1))
        levels = sum(w * freq_bins / (p * 2 ** i) ** 2 for i, w in enumerate(arch.get("widths", [])))
        return int((levels + 2 * int(arch.get("sources", 1)) * freq_bins) * 4 * 4)
    total, f, t = 0.0, float(freq_bins), 1.0
    for w, (dt, df) in zip(arch.get("widths", []), arch.get("downsamples", [])):
        total += w * f / t
        f, t = f / df, t * dt
    return int(max(total, 1.0) * 4 * 4)


class ModelCore:
    """Model-rate separation of equal-length segments: STFT -> ONNX masks -> ISTFT."""

    def __init__(self, bundle: Bundle, max_batch: int = 8):
        m = bundle.manifest
        self.bundle = bundle
        self.sr = m.sample_rate
        self.n_fft = m.n_fft
        self.hop = m.hop
        self.fb = m.freq_bins
        self.cond_dim = m.condition_dim
        self.time_multiple = max(1, m.time_multiple)
        self.max_batch = max(1, int(max_batch))
        self.frame_bytes = activation_bytes_per_frame(m.raw.get("separator", {}).get("architecture"), self.fb)
        families = families_of(m.raw)
        # multi-source bundles: conditions are weights over the sources, one graph pass serves them all
        self.head = FamilyHead(self, families) if families else None

    def batch_for(self, frames: int) -> int:
        """Items per ONNX call for segments of ``frames`` frames, within the activation budget."""
        budget = ACTIVATION_BUDGET_BYTES // max(1, self.frame_bytes * frames)
        return int(max(1, min(self.max_batch, budget)))

    # ----- ONNX ---------------------------------------------------------------------------------
    def run_batched(self, sess, mag: np.ndarray, feed: Callable[[int, int], Dict[str, np.ndarray]],
                    outputs: Sequence[str] = SEPARATOR_OUTPUTS) -> List[np.ndarray]:
        """``outputs`` of ``sess`` for the B items of ``mag`` [B,1,T,F], run in batches within the
        activation budget; ``feed(i, j)`` gives the inputs of items i..j-1."""
        outs = []
        step = self.batch_for(mag.shape[2])
        for i in range(0, mag.shape[0], step):
            outs.append(sess.run(list(outputs), feed(i, i + step)))
        if len(outs) == 1:
            return outs[0]
        return [np.concatenate([o[k] for o in outs]) for k in range(len(outputs))]

    def masks(self, mag: np.ndarray, cond: np.ndarray) -> Masks:
        """mag [B,1,T,F], cond [B,D] -> (mask, cos, sin) [B,1,T,F] with the generic separator.onnx
        (any mix of conditions in one batch)."""
        sess = self.bundle.separator_session
        return self.run_batched(sess, mag, lambda i, j: {"magnitude": mag[i:j], "condition": cond[i:j]})

    def masks_for(self, mag: np.ndarray, cond: np.ndarray) -> Masks:
        """mag [B,1,T,F], one condition [D] for every item -> (mask, cos, sin) [B,1,T,F] through the
        session specialised for that condition (the bundle must have one: ``bundle.specialised``)."""
        sess = self.bundle.session_for(cond)
        return self.run_batched(sess, mag, lambda i, j: {"magnitude": mag[i:j]})

    # ----- the three steps ----------------------------------------------------------------------
    def analyse(self, x: np.ndarray) -> Tuple[np.ndarray, np.ndarray, int]:
        """x [S, N] -> (spectrum [S, T, F+1] complex64, magnitude [S, 1, T, F] float32, padded length).

        Like the official model, any segment longer than n_fft/2 is reflect-padded as it is; only
        shorter ones, which reflect padding cannot take, are zero-padded to n_fft first. The Nyquist
        bin is left out of the magnitude, as the graph expects."""
        n = x.shape[-1]
        pad_to = n if n > self.n_fft // 2 else self.n_fft
        xs = x if pad_to == n else np.pad(x, ((0, 0), (0, pad_to - n)))
        spec = S.stft(xs, self.n_fft, self.hop)  # [S, T, F+1]
        mag = np.sqrt(np.maximum(spec.real ** 2 + spec.imag ** 2, np.float32(MAGNITUDE_FLOOR))).astype(np.float32)
        mag = np.ascontiguousarray(mag[:, None, :, : self.fb])  # [S, 1, T, F]
        return spec, mag, pad_to

    def query_masks(self, mag: np.ndarray, conds: np.ndarray) -> Masks:
        """mag [S,1,T,F], conds [Q,D] -> (mask, cos, sin), each [Q*S,1,T,F], query-major.

        Each query runs the S segments as one batch through its specialised session; without one,
        all Q*S items go through the generic graph."""
        n_seg, _, t, _ = mag.shape
        q = conds.shape[0]
        if self.head is not None:
            return self.head.masks(mag, conds)
        if self.bundle.specialised:
            res = [self.masks_for(mag, conds[k]) for k in range(q)]
            return tuple(np.concatenate([r[i] for r in res]) for i in range(3))
        mag_b = np.broadcast_to(mag[None], (q,) + mag.shape).reshape(q * n_seg, 1, t, self.fb)
        cond_b = np.repeat(conds.astype(np.float32), n_seg, axis=0)
        return tuple(self.masks(np.ascontiguousarray(mag_b), cond_b))

    def synthesise(self, spec: np.ndarray, masks: Masks, q: int, pad_to: int, n: int) -> np.ndarray:
        """spec [S,T,F+1] x masks of ``q`` queries -> waveforms [Q, S, n]:
        Y = X * mask * (cos + j sin) on the first F bins, the Nyquist bin zero."""
        mask, cos_m, sin_m = masks
        n_seg, t, f1 = spec.shape
        gain = np.empty((q, n_seg, t, self.fb), np.complex64)  # mask x (cos + j sin), in single precision
        mask = mask.reshape(gain.shape)
        np.multiply(mask, cos_m.reshape(gain.shape), out=gain.real)
        np.multiply(mask, sin_m.reshape(gain.shape), out=gain.imag)
        out = np.zeros((q, n_seg, t, f1), np.complex64)
        np.multiply(spec[None, :, :, : self.fb], gain, out=out[..., : self.fb])
        return S.istft(out, self.n_fft, self.hop, pad_to)[..., :n]

    def separate(self, x: np.ndarray, conds: np.ndarray) -> np.ndarray:
        """x [S, N] model-rate segments (any count S, equal length N), conds [Q, D] -> stems [Q, S, N].

        The STFT of each segment is shared by all queries."""
        spec, mag, pad_to = self.analyse(x)
        masks = self.query_masks(mag, conds)
        return self.synthesise(spec, masks, conds.shape[0], pad_to, x.shape[-1])
