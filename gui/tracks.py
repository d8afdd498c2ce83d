"""Tracks and their effect chains (no Qt): what a session holds, what is saved and exported.

A track is an immutable (channels, samples) float32 array at the session's sample rate plus the
mixer settings a musician changes (name, colour, gain, solo, mute, effects). Every track of a
session has the same time origin: a stem separated from a time selection has the full length of its
source with silence outside the selection, so it lines up with the mix sample for sample.

Effects are stored as plain data (``[{"type": "Compressor", "params": {...}}]``) and turned into a
:class:`plugin.Chain` of pedalboard plugins when audio is processed; the processed audio is cached
per track and recomputed only when the chain changes.
"""
from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from plugin.errors import Cancelled, SepBoardError

from .cancel import cancel_requested
from .peaks import PeakPyramid

KINDS = ("mix", "stem", "residual", "audio")

PALETTE = ("#4f9dde", "#e8875b", "#6cc08b", "#c77dd6", "#e2c04f", "#5fc9c4", "#e06c8a", "#9aa65a",
           "#8f8fe8", "#d89b6a")


class EffectError(SepBoardError):
    """An effect description cannot be used (unknown type, bad parameter)."""


@dataclass(frozen=True)
class Param:
    key: str
    label: str
    unit: str
    lo: float
    hi: float
    default: float
    log: bool = False  # edit on a logarithmic scale (frequencies)


# pedalboard plugin name -> (menu label, parameters). Only plugins without latency, so the processed
# track lines up with the dry one sample for sample.
EFFECTS: Dict[str, Tuple[str, Tuple[Param, ...]]] = {
    "Gain": ("Gain", (Param("gain_db", "Gain", "dB", -60.0, 24.0, 0.0),)),
    "HighpassFilter": ("High-pass filter", (Param("cutoff_frequency_hz", "Cutoff", "Hz", 20.0, 20000.0, 80.0, True),)),
    "LowpassFilter": ("Low-pass filter", (Param("cutoff_frequency_hz", "Cutoff", "Hz", 20.0, 20000.0, 8000.0, True),)),
    "PeakFilter": ("EQ band (peak)", (Param("cutoff_frequency_hz", "Frequency", "Hz", 20.0, 20000.0, 1000.0, True),
                                      Param("gain_db", "Gain", "dB", -24.0, 24.0, 0.0),
                                      Param("q", "Q", "", 0.1, 18.0, 0.707))),
    "LowShelfFilter": ("EQ low shelf", (Param("cutoff_frequency_hz", "Frequency", "Hz", 20.0, 20000.0, 200.0, True),
                                        Param("gain_db", "Gain", "dB", -24.0, 24.0, 0.0),
                                        Param("q", "Q", "", 0.1, 18.0, 0.707))),
    "HighShelfFilter": ("EQ high shelf", (Param("cutoff_frequency_hz", "Frequency", "Hz", 20.0, 20000.0, 4000.0, True),
                                          Param("gain_db", "Gain", "dB", -24.0, 24.0, 0.0),
                                          Param("q", "Q", "", 0.1, 18.0, 0.707))),
    "Compressor": ("Compressor", (Param("threshold_db", "Threshold", "dB", -60.0, 0.0, -18.0),
                                  Param("ratio", "Ratio", ":1", 1.0, 20.0, 4.0),
                                  Param("attack_ms", "Attack", "ms", 0.1, 200.0, 5.0),
                                  Param("release_ms", "Release", "ms", 5.0, 2000.0, 100.0))),
    "Limiter": ("Limiter", (Param("threshold_db", "Threshold", "dB", -30.0, 0.0, -1.0),
                            Param("release_ms", "Release", "ms", 5.0, 2000.0, 100.0))),
}


def effect_label(kind: str) -> str:
    return EFFECTS[kind][0] if kind in EFFECTS else kind


def new_effect(kind: str) -> dict:
    if kind not in EFFECTS:
        raise EffectError(f"unknown effect {kind!r}; available: {', '.join(EFFECTS)}")
    return {"type": kind, "params": {p.key: p.default for p in EFFECTS[kind][1]}}


def validate_effects(effects, where: str = "effects") -> List[dict]:
    """Check and normalise a list of effect dicts (from a session file or the editor)."""
    if effects is None:
        return []
    if not isinstance(effects, list):
        raise EffectError(f"{where} must be a list of effects, got {type(effects).__name__}")
    out = []
    for i, e in enumerate(effects):
        if not isinstance(e, dict) or not isinstance(e.get("type"), str):
            raise EffectError(f"{where}[{i}] is not an effect (expected {{'type': ..., 'params': {{...}}}})")
        kind = e["type"]
        if kind not in EFFECTS:
            raise EffectError(f"{where}[{i}]: unknown effect {kind!r}; this version knows {', '.join(EFFECTS)}")
        given = e.get("params") or {}
        if not isinstance(given, dict):
            raise EffectError(f"{where}[{i}] ({kind}): params must be an object")
        params = {}
        for p in EFFECTS[kind][1]:
            v = given.get(p.key, p.default)
            try:
                v = float(v)
            except (TypeError, ValueError, OverflowError):
                raise EffectError(f"{where}[{i}] ({kind}): {p.key} must be a number, got {v!r:.40}") from None
            if not math.isfinite(v):
                raise EffectError(f"{where}[{i}] ({kind}): {p.key} is not finite")
            params[p.key] = min(max(v, p.lo), p.hi)
        unknown = set(given) - set(params)
        if unknown:
            raise EffectError(f"{where}[{i}] ({kind}): unknown parameter(s) {', '.join(sorted(unknown))}")
        out.append({"type": kind, "params": params, **({"bypass": True} if e.get("bypass") else {})})
    return out


def effects_key(effects: Sequence[dict]) -> str:
    """A stable string identifying a chain's settings (the processed-audio cache key)."""
    active = [e for e in effects if not e.get("bypass")]
    return json.dumps(active, sort_keys=True)


def build_chain(effects: Sequence[dict]):
    """A :class:`plugin.Chain` of pedalboard plugins for the effects that are not bypassed."""
    import pedalboard

    from plugin import Chain

    plugins = []
    for e in validate_effects(list(effects)):
        if e.get("bypass"):
            continue
        plugins.append(getattr(pedalboard, e["type"])(**e["params"]))
    return Chain(plugins)


def process_effects(audio: np.ndarray, sr, effects: Sequence[dict], progress: Optional[Callable[[float], None]] = None,
                    cancel=None, chunk_seconds: float = 5.0) -> np.ndarray:
    """Run ``audio`` through the chain in chunks (cancellable, with progress); the result lines up with
    the input and has its shape, exactly as one whole-buffer ``chain(audio, sr)`` call."""
    chain = build_chain(effects)
    x = np.asarray(audio, np.float32)
    if not len(chain):
        return x
    n = x.shape[-1]
    step = max(1, int(chunk_seconds * sr))
    outs = []
    for i in range(0, n, step):
        if cancel_requested(cancel):
            raise Cancelled("effects cancelled")
        outs.append(np.asarray(chain(x[:, i : i + step], sr, reset=False), np.float32))
        if progress:
            progress(min(1.0, (i + step) / n))
    lat = chain.latency_samples
    if lat:
        outs.append(np.asarray(chain.flush(), np.float32))
    else:
        chain.reset()
    y = np.concatenate(outs, axis=-1)[:, lat : lat + n]
    return np.ascontiguousarray(y, dtype=np.float32)


def default_name(kind: str, query: Optional[str]) -> str:
    if kind == "stem" and query:
        return query
    if kind == "residual" and query:
        return f"{query} (residual)"
    return "Mix" if kind == "mix" else "Audio"


@dataclass(eq=False)
class Track:
    """One lane of the timeline."""

    name: str
    audio: np.ndarray  # (channels, samples) float32 at the session rate; never modified in place
    kind: str = "audio"
    query: Optional[str] = None
    color: str = PALETTE[0]
    gain_db: float = 0.0
    mute: bool = False
    solo: bool = False
    effects: List[dict] = field(default_factory=list)
    region: Optional[Tuple[int, int]] = None  # samples the stem was separated from (None = all)
    source: Optional[str] = None  # file the audio came from (mix / dropped files)
    uid: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    peaks: Optional[PeakPyramid] = field(default=None, repr=False)
    processed: Optional[np.ndarray] = field(default=None, repr=False)
    processed_key: Optional[str] = None
    saved_in: Optional[str] = None  # session folder that already holds this track's audio file

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"track kind must be one of {KINDS}")

    @property
    def channels(self) -> int:
        return int(self.audio.shape[0])

    @property
    def length(self) -> int:
        return int(self.audio.shape[-1])

    @property
    def gain(self) -> float:
        return float(10.0 ** (self.gain_db / 20.0))

    @property
    def effects_key(self) -> str:
        return effects_key(self.effects)

    @property
    def has_active_effects(self) -> bool:
        return any(not e.get("bypass") for e in self.effects)

    def ensure_peaks(self) -> PeakPyramid:
        if self.peaks is None:
            self.peaks = PeakPyramid(self.audio)
        return self.peaks

    def processed_is_current(self) -> bool:
        return not self.has_active_effects or (self.processed is not None and self.processed_key == self.effects_key)

    def playable(self) -> np.ndarray:
        """The audio the mixer plays: the effect-processed cache when it is current, else the dry audio
        (while a new chain is being rendered the previous sound keeps playing)."""
        if not self.has_active_effects:
            return self.audio
        if self.processed is not None:
            return self.processed
        return self.audio

    def rendered(self, sr, progress=None, cancel=None) -> np.ndarray:
        """The audio with the current chain applied (from the cache when current), without the fader."""
        if not self.has_active_effects:
            return self.audio
        if self.processed is not None and self.processed_key == self.effects_key:
            return self.processed
        return process_effects(self.audio, sr, self.effects, progress, cancel)

    @property
    def default_name(self) -> str:
        return default_name(self.kind, self.query)

    def export_name(self) -> Tuple[str, bool]:
        """(text to slugify, residual?) -- stems keep the batch renderer's names (query, query-residual)
        unless the musician renamed the track."""
        if self.kind in ("stem", "residual") and self.query and self.name == self.default_name:
            return self.query, self.kind == "residual"
        return self.name, False
