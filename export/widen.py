"""Widen a trained embedded-default checkpoint without changing what it computes:
``python -m export.widen --checkpoint runs/ft5/last.pt --widths 8,16,32,96,192 --out runs/wide/init.pt``.

Why: on the training pool the shipped model scores what it scores on validation (4.46 against 4.72 dB
SI-SDRi, same protocol), so it underfits: it needs capacity (or steps), not more data. Widening only
the deep levels is cheap at inference (their time-frequency grid is small): [8, 16, 32, 96, 192] has
2.2x the separator's convolution weights at 1.1x the block-wise RTF (BENCHMARKS.md §3).

How: every new channel is appended after a space's old channels (a decoder's concatenation
``[upsampled, skip]`` keeps that order, so its skip half moves up). Old weights are copied to their
new places; an old output never reads a new input (those weights are zero), so the old network
computes exactly what it did, in eval and in training mode, while the new channels start from the
usual random init and their outgoing weights start at zero and grow by gradient. A block that had an
identity shortcut and needs a 1x1 shortcut in the wider model gets one that is the identity on the
old channels. The result is checked against the original model (max abs difference of the separated
waveforms) and refused when it differs; Adam starts fresh (``export.train --init`` warms it up).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np


def _plain(old: int) -> np.ndarray:
    return np.arange(old)


def _concat(old: int, new: int) -> np.ndarray:
    """Old channel i of ``cat(h, skip)`` (each ``old`` wide) in the new ``cat`` (each ``new`` wide)."""
    return np.concatenate([np.arange(old), new + np.arange(old)])


def channel_maps(old_widths: Sequence[int], new_widths: Sequence[int]) -> Dict[str, Tuple[np.ndarray, np.ndarray, int, int]]:
    """For every residual block of the base: (input map, output map, new input size, new output size)
    keyed by its module path. A map sends old channel indices to new ones."""
    wo, wn = list(old_widths), list(new_widths)
    n = len(wo)
    maps = {}
    ins_o, ins_n = [wo[0]] + wo[:-1], [wn[0]] + wn[:-1]
    for i in range(n):
        maps[f"encoder_block{i + 1}.conv_block1"] = (_plain(ins_o[i]), _plain(wo[i]), ins_n[i], wn[i])
    maps[f"conv_block{n + 1}a.conv_block1"] = (_plain(wo[-1]), _plain(wo[-1]), wn[-1], wn[-1])
    for i in range(n):
        o, nn_ = wo[n - 1 - i], wn[n - 1 - i]
        maps[f"decoder_block{i + 1}.conv_block2"] = (_concat(o, nn_), _plain(o), 2 * nn_, nn_)
    return maps


def _place(new, old, maps: List[Tuple[int, np.ndarray]], zero_new_inputs: Tuple[int, int, int] = None):
    """Copy ``old`` into ``new`` at the mapped indices (``maps``: (dim, index map) per mapped dim).
    ``zero_new_inputs = (out_dim, in_dim, new_in_size)``: the old outputs' weights on new inputs are zeroed."""
    import torch

    def grid(mapped: Dict[int, np.ndarray]):  # one broadcast index per dim; unmapped dims keep old's size
        out = []
        for dim in range(new.dim()):
            m = mapped.get(dim, np.arange(old.shape[dim]))
            shape = [1] * new.dim()
            shape[dim] = len(m)
            out.append(torch.as_tensor(m).reshape(shape))
        return tuple(out)

    mapped = dict(maps)
    with torch.no_grad():
        if zero_new_inputs is not None:
            out_dim, in_dim, n_in = zero_new_inputs
            fresh = np.setdiff1d(np.arange(n_in), mapped[in_dim])
            if fresh.size:
                new[grid({out_dim: mapped[out_dim], in_dim: fresh})] = 0
        new[grid(mapped)] = old


def widen_model(old_model, new_widths: Sequence[int], seed: int = 0):
    """A DefaultModel with ``new_widths`` that computes what ``old_model`` computes (see the module doc)."""
    import torch

    from .resunet import ResUNetConfig
    from .default_model import DefaultModel

    old_cfg = old_model.sep.cfg
    wo, wn = list(old_cfg.widths), [int(w) for w in new_widths]
    if len(wn) != len(wo):
        raise ValueError(f"widths must keep {len(wo)} levels, got {len(wn)}")
    if any(b < a for a, b in zip(wo, wn)):
        raise ValueError(f"widths can only grow: {wo} -> {wn}")
    if old_cfg.center_width is not None:
        raise ValueError("a model with its own center width is not supported")
    torch.manual_seed(seed)
    new_cfg = ResUNetConfig.from_dict({**old_cfg.to_dict(), "widths": wn})
    new = DefaultModel(new_cfg)
    ob, nb = old_model.sep.base, new.sep.base
    with torch.no_grad():
        new.projection.load_state_dict(old_model.projection.state_dict())
        nb.bn0.load_state_dict(ob.bn0.state_dict())
        _place(nb.pre_conv.weight, ob.pre_conv.weight, [(0, _plain(wo[0]))])
        _place(nb.pre_conv.bias, ob.pre_conv.bias, [(0, _plain(wo[0]))])
        _place(nb.after_conv.weight, ob.after_conv.weight, [(0, _plain(3)), (1, _plain(wo[0]))], (0, 1, wn[0]))
        nb.after_conv.bias.copy_(ob.after_conv.bias)

        def bn(new_bn, old_bn, m):
            for k in ("weight", "bias", "running_mean", "running_var"):
                _place(getattr(new_bn, k), getattr(old_bn, k), [(0, m)])
            new_bn.num_batches_tracked.copy_(old_bn.num_batches_tracked)

        def film(path: str, key: str, m):
            for k in (key, key.replace("beta", "gamma")):
                name = path.replace(".", "->") + "->" + k
                if hasattr(new.sep.film, name):
                    nl, ol = getattr(new.sep.film, name), getattr(old_model.sep.film, name)
                    _place(nl.weight, ol.weight, [(0, m)])
                    _place(nl.bias, ol.bias, [(0, m)])

        for path, (mi, mo, ni, no) in channel_maps(wo, wn).items():
            nblk, oblk = nb.get_submodule(path), ob.get_submodule(path)
            bn(nblk.bn1, oblk.bn1, mi)
            bn(nblk.bn2, oblk.bn2, mo)
            film(path, "beta1", mi)
            film(path, "beta2", mo)
            _place(nblk.conv1.weight, oblk.conv1.weight, [(0, mo), (1, mi)], (0, 1, ni))
            _place(nblk.conv2.weight, oblk.conv2.weight, [(0, mo), (1, mo)], (0, 1, no))
            if nblk.is_shortcut:
                if oblk.is_shortcut:
                    w, b = oblk.shortcut.weight, oblk.shortcut.bias
                else:  # the old block added its input unchanged: a 1x1 identity on the old channels
                    w = torch.eye(len(mo), dtype=nblk.shortcut.weight.dtype)[:, :, None, None]
                    b = torch.zeros(len(mo))
                _place(nblk.shortcut.weight, w, [(0, mo), (1, mi)], (0, 1, ni))
                _place(nblk.shortcut.bias, b, [(0, mo)])
            elif oblk.is_shortcut:
                raise ValueError(f"{path}: the wider model would drop a shortcut convolution; choose other widths")
        for i in range(len(wo)):  # the decoders' upsampling: ConvTranspose weight is (in, out, kh, kw)
            path = f"decoder_block{i + 1}"
            nblk, oblk = nb.get_submodule(path), ob.get_submodule(path)
            prev_o = wo[-1] if i == 0 else wo[len(wo) - i]
            prev_n = wn[-1] if i == 0 else wn[len(wn) - i]
            mi, mo = _plain(prev_o), _plain(wo[len(wo) - 1 - i])
            _place(nblk.conv1.weight, oblk.conv1.weight, [(1, mo), (0, mi)], (1, 0, prev_n))
            bn(nblk.bn1, oblk.bn1, mi)
            bn(nblk.bn2, oblk.bn2, mi)
            film(path, "beta1", mi)
            film(path, "beta2", mi)
    return new


def max_output_difference(a, b, seconds: float = 2.0, seed: int = 0) -> float:
    """Largest |difference| of the two models' separated waveforms (masks applied) on random audio and
    text embeddings, in eval mode."""
    import torch

    g = torch.Generator().manual_seed(seed)
    wav = 0.1 * torch.randn(3, int(seconds * a.sep.cfg.sample_rate), generator=g)
    emb = torch.nn.functional.normalize(torch.randn(3, a.projection.in_features, generator=g), dim=-1)
    a.eval(), b.eval()
    with torch.no_grad():
        return float((a(wav, emb) - b(wav, emb)).abs().max())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m export.widen", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--widths", required=True, help="comma-separated, one per level, none smaller than before")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    import torch

    from .default_bundle import load_default_model
    from .default_model import save_checkpoint
    from plugin.errors import SepBoardError

    try:
        old, state = load_default_model(a.checkpoint)
        new = widen_model(old, [int(w) for w in a.widths.split(",")], seed=a.seed)
    except (SepBoardError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    diff = max_output_difference(old, new)
    print(f"widened {list(old.sep.cfg.widths)} -> {list(new.sep.cfg.widths)}: "
          f"{sum(t.numel() for t in old.parameters()) / 1e6:.2f} M -> {sum(t.numel() for t in new.parameters()) / 1e6:.2f} M "
          f"parameters; max |output difference| {diff:.2e}")
    if diff > 1e-4:
        print("error: the widened model does not reproduce the original; nothing written", file=sys.stderr)
        return 1
    state = dict(state)
    state["widened_from"] = {"checkpoint": str(a.checkpoint), "step": state.get("step"),
                             "widths": list(old.sep.cfg.widths), "max_abs_difference": diff}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out, new, torch.optim.AdamW(new.parameters()), state)
    print(f"wrote {out} (step {state.get('step')}; export.train --init starts Adam afresh with a warm-up)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
