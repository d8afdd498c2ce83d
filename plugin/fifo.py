"""A first-in first-out buffer of multichannel samples, cheap for tiny streaming chunks."""
from __future__ import annotations

import numpy as np


class FifoBuffer:
    """``(rows, n)`` float32 samples: append at the end, read anywhere, drop from the front.

    Appending and dropping are amortised O(1): the storage grows by doubling and is compacted only
    when the free space at its end runs out.
    """

    def __init__(self, rows: int, capacity: int = 1 << 14):
        self.storage = np.zeros((rows, capacity), np.float32)
        self.start = 0  # column of the first buffered sample in ``storage``
        self.stop = 0  # column after the last buffered sample

    def __len__(self) -> int:
        return self.stop - self.start

    def _reserve(self, n: int) -> None:
        if self.stop + n <= self.storage.shape[1]:
            return
        size = len(self)
        cap = self.storage.shape[1]
        while size + n > cap:
            cap *= 2
        if cap != self.storage.shape[1]:
            grown = np.zeros((self.storage.shape[0], cap), np.float32)
            grown[:, :size] = self.storage[:, self.start : self.stop]
            self.storage = grown
        else:
            self.storage[:, :size] = self.storage[:, self.start : self.stop]
        self.start, self.stop = 0, size

    def append(self, x: np.ndarray) -> None:
        """Add (rows, n) samples at the end."""
        n = x.shape[-1]
        self._reserve(n)
        self.storage[:, self.stop : self.stop + n] = x
        self.stop += n

    def extend_zeros(self, n: int) -> None:
        """Add ``n`` samples of silence at the end."""
        self._reserve(n)
        self.storage[:, self.stop : self.stop + n] = 0
        self.stop += n

    def view(self, offset: int, n: int) -> np.ndarray:
        """The ``n`` samples from ``offset`` (counted from the front), as a writable view."""
        return self.storage[:, self.start + offset : self.start + offset + n]

    def drop(self, n: int) -> None:
        """Forget the first ``n`` samples (all of them when fewer are buffered)."""
        self.start += min(n, len(self))

    def pop(self, n: int) -> np.ndarray:
        """A copy of the first ``n`` samples, then dropped."""
        out = self.view(0, n).copy()
        self.drop(n)
        return out
