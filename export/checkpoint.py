"""Read AudioSep's official Lightning checkpoint safely and map it onto ``export.resunet``.

Only ``torch.load(..., weights_only=True)`` is ever used: a checkpoint that needs code execution to
unpickle is refused (the message names the offending global), never run.

Official layout (``state_dict`` of the LightningModule):
    ss_model.base.*                  the ResUNet30 (our ``ResUNet30.base``, same names)
    ss_model.base.stft.* / istft.*   torchlibrosa STFT kernels: fixed DFT matrices, ignored
    ss_model.film.<a>-><b>->beta1.*  FiLM linears (our ``ResUNet30.film``, same names)
    query_encoder.model.*            LAION-CLAP (audio + text towers); the text part is used by
                                     ``export.clap_text`` to build the bundle's text encoder
    *.num_batches_tracked            BatchNorm counters, ignored
"""
from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path
from typing import Dict, Optional, Tuple

import torch

from plugin.errors import CheckpointError

from .resunet import ResUNet30, ResUNetConfig

SEP_PREFIX = "ss_model."
TEXT_PREFIX = "query_encoder.model."


def safe_torch_load(path) -> Dict:
    """``torch.load(weights_only=True)`` with one clear CheckpointError per failure mode."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if not path.is_file():
        raise CheckpointError(f"checkpoint path is not a file: {path}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes); download it again")
    _check_magic(path)
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        msg = str(exc)
        # torch < 2.4: "Unsupported global: GLOBAL os.system"; 2.4+: "unsupported GLOBAL posix.system"
        m = re.search(r"unsupported (?:global: )?GLOBAL ([\w.]+)", msg, re.IGNORECASE)
        what = f" (it references {m.group(1)})" if m else ""
        if "Weights only load failed" in msg or m:
            raise CheckpointError(
                f"refusing to load {path}: it needs code execution to unpickle{what}. SepBoard only reads "
                "weights-only checkpoints. If you trust the file, re-save its state_dict in the environment that made "
                "it: torch.save({'state_dict': ckpt['state_dict']}, 'clean.ckpt')"
            ) from exc
        raise CheckpointError(f"checkpoint {path} is corrupt ({exc}); download it again") from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated ({type(exc).__name__}: {exc}); "
                              "download it again") from exc


ZIP_MAGIC = b"PK\x03\x04"  # torch.save's format since torch 1.6
PICKLE_MAGIC = b"\x80"  # the legacy format: a pickle (protocol 2+) of torch's magic number first


def _check_magic(path: Path) -> None:
    """A CheckpointError unless the file starts like a torch checkpoint; an HTML page (a download
    that saved an error or login page) is named as such."""
    with open(path, "rb") as f:
        head = f.read(512)
    if head.startswith(ZIP_MAGIC) or head.startswith(PICKLE_MAGIC):
        return
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(b"<"):  # <!DOCTYPE html>, <html>, <?xml ...
        raise CheckpointError(f"{path} is not a PyTorch checkpoint but an HTML page (a download that saved an error or "
                              "login page?); download the checkpoint again")
    raise CheckpointError(f"checkpoint {path} is corrupt or not a PyTorch checkpoint (it does not start like one); "
                          "download it again")


def state_dict_of(ck) -> Dict[str, torch.Tensor]:
    if isinstance(ck, dict) and "state_dict" in ck and isinstance(ck["state_dict"], dict):
        sd = ck["state_dict"]
    elif isinstance(ck, dict):
        sd = ck
    else:
        raise CheckpointError(f"checkpoint holds a {type(ck).__name__}, expected a dict with a 'state_dict'")
    return {k: v for k, v in sd.items() if isinstance(v, torch.Tensor)}


def _ignored(key: str) -> bool:
    return key.endswith("num_batches_tracked") or ".stft." in key or ".istft." in key or key.startswith(("stft.", "istft."))


def separator_keys(sd: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Separator tensors with ``ss_model.`` stripped (or as-is for a bare ResUNet state dict)."""
    if any(k.startswith(SEP_PREFIX) for k in sd):
        items = {k[len(SEP_PREFIX):]: v for k, v in sd.items() if k.startswith(SEP_PREFIX)}
    else:
        items = {k: v for k, v in sd.items() if k.startswith(("base.", "film."))}
    return {k: v for k, v in items.items() if not _ignored(k)}


def text_keys(sd: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    return {k[len(TEXT_PREFIX):]: v for k, v in sd.items() if k.startswith(TEXT_PREFIX)}


def infer_config(sep: Dict[str, torch.Tensor], sample_rate: int = 32000, hop: int = 320) -> ResUNetConfig:
    """Architecture from tensor shapes (widths, strides, condition size, FiLM kind, n_fft)."""
    try:
        n_fft = 2 * (sep["base.bn0.weight"].shape[0] - 1)
        widths = []
        i = 1
        while f"base.encoder_block{i}.conv_block1.conv1.weight" in sep:
            widths.append(int(sep[f"base.encoder_block{i}.conv_block1.conv1.weight"].shape[0]))
            i += 1
        n = len(widths)
        if n == 0:
            raise KeyError("base.encoder_block1.conv_block1.conv1.weight")
        downs = []
        for level in range(n):  # decoder_block{j} upsamples what encoder level n-j downsampled
            w = sep[f"base.decoder_block{n - level}.conv1.weight"]
            downs.append((int(w.shape[2]), int(w.shape[3])))
        center = int(sep[f"base.conv_block{n + 1}a.conv_block1.conv1.weight"].shape[0])
        film_w = [v for k, v in sep.items() if k.startswith("film.") and k.endswith(".weight")]
        cond = int(film_w[0].shape[1])
        scale_shift = any("gamma" in k for k in sep if k.startswith("film."))
    except (KeyError, IndexError) as exc:
        raise CheckpointError(f"checkpoint does not look like an AudioSep ResUNet (missing {exc}); "
                              "is it the AudioSep checkpoint?") from exc
    return ResUNetConfig(sample_rate=sample_rate, n_fft=n_fft, hop=hop, condition_dim=cond, widths=tuple(widths),
                         downsamples=tuple(downs), center_width=None if center == widths[-1] else center,
                         film="scale_shift" if scale_shift else "beta")


def load_separator(sd: Dict[str, torch.Tensor], cfg: Optional[ResUNetConfig] = None, source: str = "checkpoint"
                   ) -> Tuple[ResUNet30, Dict]:
    """Build a ResUNet30 and load the separator tensors strictly; mismatches raise one listing error."""
    sep = separator_keys(sd)
    if not sep:
        raise CheckpointError(f"{source} has no separator weights (no 'ss_model.*' keys); is it an AudioSep checkpoint?")
    cfg = cfg or infer_config(sep)
    model = ResUNet30(cfg)
    own = {k: v for k, v in model.state_dict().items() if not _ignored(k)}
    missing = sorted(set(own) - set(sep))
    unexpected = sorted(set(sep) - set(own))
    shapes = sorted(f"{k}: checkpoint {tuple(sep[k].shape)} vs model {tuple(own[k].shape)}"
                    for k in set(own) & set(sep) if tuple(sep[k].shape) != tuple(own[k].shape))
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing: " + ", ".join(missing[:12]) + (" ..." if len(missing) > 12 else ""))
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected: " + ", ".join(unexpected[:12]) + (" ..." if len(unexpected) > 12 else ""))
    if shapes:
        problems.append(f"{len(shapes)} shape mismatches: " + "; ".join(shapes[:8]) + (" ..." if len(shapes) > 8 else ""))
    if problems:
        raise CheckpointError(f"{source} does not fit the ResUNet separator: " + " | ".join(problems))
    for k, v in sep.items():
        if not torch.isfinite(v).all():
            raise CheckpointError(f"{source}: tensor {k} contains NaN/inf; the checkpoint is damaged")
    model.load_state_dict({k: v.float() for k, v in sep.items()}, strict=False)
    model.eval()
    report = {"separator_tensors": len(sep), "config": cfg.to_dict()}
    return model, report


def import_official(path) -> Tuple[ResUNet30, Dict[str, torch.Tensor], Dict]:
    """Official checkpoint -> (separator model in eval mode, text-encoder tensors, report)."""
    ck = safe_torch_load(path)
    sd = state_dict_of(ck)
    model, report = load_separator(sd, source=str(path))
    text = text_keys(sd)
    report["text_tensors"] = len(text)
    report["global_step"] = int(ck.get("global_step", -1)) if isinstance(ck, dict) and isinstance(ck.get("global_step", -1), int) else -1
    return model, text, report
