"""What a SepBoard effect must provide to run inside :class:`plugin.chain.Chain`.

pedalboard's own plugins run as they are; a Python effect subclasses :class:`StreamEffect` and
follows pedalboard's calling convention:

* ``fx(audio, sr)`` (``reset=True``): the whole buffer, output aligned with the input and of the
  same length;
* ``fx(chunk, sr, reset=False)``: streaming; every call returns exactly as many samples as it was
  given, delayed by exactly ``fx.latency_at(sr)`` samples; ``flush()`` returns the tail and resets.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class StreamEffect(ABC):
    """Base class of SepBoard's Python effects (see the module docstring for the contract)."""

    #: Samples of pure delay (silence) known to lead the next stream: a Chain sets it for effects
    #: after a delaying segment, so the effect can start its block grid at the signal's real start.
    lead_in: int = 0

    @abstractmethod
    def process(self, audio, sample_rate, buffer_size: int = 0, reset: bool = True) -> np.ndarray:
        """Process a whole buffer (``reset=True``) or the next chunk of a stream (``reset=False``)."""

    def __call__(self, audio, sample_rate, buffer_size: int = 0, reset: bool = True) -> np.ndarray:
        return self.process(audio, sample_rate, buffer_size, reset)

    @abstractmethod
    def latency_at(self, sample_rate) -> int:
        """Exact streaming latency in samples at ``sample_rate``."""

    @abstractmethod
    def reset(self) -> None:
        """Forget all audio: the next call starts a new stream (and ``lead_in`` is 0 again)."""

    @abstractmethod
    def flush(self) -> np.ndarray:
        """End a stream: its last ``latency`` samples of output, then reset."""

    @property
    @abstractmethod
    def streaming(self) -> bool:
        """True while a stream is open (a ``reset=False`` call came since the last reset)."""

    @abstractmethod
    def end_signal(self, n: int) -> None:
        """The open stream's input ends after ``n`` samples (counted from its first real sample)."""
