"""Live mixing and audio output.

:class:`Mixer` holds an immutable snapshot of the audible tracks (effect-processed audio, fader
gain, solo/mute already resolved) and renders blocks from the playhead on. The audio callback only
reads the snapshot, which the GUI thread replaces atomically whenever a track changes; it never
allocates Qt objects or takes a lock the GUI could hold for long.

Backends open the output and pull blocks from the mixer:

* :class:`SoundDeviceBackend` -- PortAudio through ``sounddevice``. Without an output device (a
  server, a container) it reports ``available = False`` with a message; the host disables playback
  and everything else keeps working.
* :class:`FakeBackend` -- for tests and benchmarks: a clock you advance by hand (``pump``) or with a
  QTimer; it records every block it pulled, so tests can check what was mixed.

No Qt at import time.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from plugin.errors import SepBoardError


class PlaybackError(SepBoardError):
    """The audio output cannot be opened or failed."""


NO_DEVICE_MESSAGE = ("No audio output device was found, so playback is disabled. Separation, editing, "
                     "saving and export still work; connect an output (or start the host where one is "
                     "available) to listen.")


@dataclass(frozen=True)
class MixItem:
    audio: np.ndarray  # (channels, samples)
    gain: float
    uid: str = ""


def audible(tracks: Sequence) -> List:
    """Tracks that sound: not muted, and soloed when any track is soloed."""
    any_solo = any(t.solo for t in tracks)
    return [t for t in tracks if not t.mute and (t.solo or not any_solo)]


def _to_out(block: np.ndarray, out_channels: int) -> np.ndarray:
    """(channels, n) -> (out_channels, n): mono is copied to every output, extra channels fold in turn."""
    c = block.shape[0]
    if c == out_channels:
        return block
    if c == 1:
        return np.broadcast_to(block, (out_channels, block.shape[-1]))
    out = np.zeros((out_channels, block.shape[-1]), np.float32)
    for i in range(c):
        out[i % out_channels] += block[i]
    if c > out_channels:
        out *= out_channels / c
    return out


class Mixer:
    """Mixes the audible tracks from the playhead. ``render`` runs on the audio thread."""

    def __init__(self, out_channels: int = 2):
        self.out_channels = out_channels
        self._items: Tuple[MixItem, ...] = ()
        self.length = 0
        self.position = 0  # next sample to play (read by the GUI for the playhead)
        self.end: Optional[int] = None  # stop here (None = end of the longest track)
        self.finished = False
        self.loop: Optional[Tuple[int, int]] = None

    def set_tracks(self, tracks: Sequence, only=None) -> None:
        """Snapshot of what sounds: call from the GUI thread after any solo/mute/gain/effects change.
        ``only``: play just that track's own audio at unity gain (an A/B against the original mix)."""
        if only is not None:
            items = (MixItem(only.audio, 1.0, only.uid),)
        else:
            items = tuple(MixItem(t.playable(), t.gain, t.uid) for t in audible(tracks))
        self._items = items  # one reference assignment: the audio thread sees the old or the new tuple
        self.length = max((t.length for t in tracks), default=0)

    @property
    def items(self) -> Tuple[MixItem, ...]:
        return self._items

    def seek(self, position: int) -> None:
        self.position = int(max(0, min(position, self.length)))
        self.finished = False

    def render(self, frames: int) -> np.ndarray:
        """The next ``frames`` samples as (frames, out_channels) float32 (the layout PortAudio wants)."""
        out = np.zeros((self.out_channels, frames), np.float32)
        pos = self.position
        stop = self.length if self.end is None else min(self.end, self.length)
        n = max(0, min(frames, stop - pos))
        for it in self._items:
            a = it.audio
            m = max(0, min(n, a.shape[-1] - pos))
            if m:
                out[:, :m] += _to_out(a[:, pos : pos + m], self.out_channels) * np.float32(it.gain)
        self.position = pos + n
        if n < frames or self.position >= stop:
            self.finished = True
        np.clip(out, -1.0, 1.0, out=out)
        return out.T


class Backend:
    """Interface: ``available``/``message``, ``start(sr, channels, pull)``, ``stop()``, ``running``."""

    available = False
    message = ""
    name = "none"

    def start(self, sample_rate: int, channels: int, pull: Callable[[int], np.ndarray]) -> None:
        raise PlaybackError(self.message or "no audio output")

    def stop(self) -> None:
        pass

    @property
    def running(self) -> bool:
        return False

    def output_channels(self) -> int:
        return 2


class SoundDeviceBackend(Backend):
    """Real output through PortAudio (``sounddevice``)."""

    name = "sounddevice"

    def __init__(self, device=None, latency="low"):
        self.device = device
        self.latency = latency
        self._stream = None
        self._sd = None
        self._channels = 2
        try:
            import sounddevice as sd
        except (ImportError, OSError) as exc:  # OSError: libportaudio is missing
            self.available = False
            self.message = (f"Audio output is unavailable ({exc}); install PortAudio (libportaudio2) to listen. "
                            "Everything else works.")
            return
        self._sd = sd
        try:
            devices = sd.query_devices()
            outs = [d for d in devices if d.get("max_output_channels", 0) > 0]
        except Exception:
            outs = []
        if not outs:
            self.available = False
            self.message = NO_DEVICE_MESSAGE
            return
        try:
            info = sd.query_devices(device, kind="output")
            self._channels = max(1, min(2, int(info["max_output_channels"])))
        except Exception:
            self._channels = max(1, min(2, int(outs[0]["max_output_channels"])))
        self.available = True
        self.message = ""

    def output_channels(self) -> int:
        return self._channels

    def start(self, sample_rate, channels, pull) -> None:
        if not self.available:
            raise PlaybackError(self.message)
        sd = self._sd
        self.stop()

        def callback(outdata, frames, time_info, status):
            block = pull(frames)
            outdata[:] = block
            if getattr(pull, "__self__", None) is not None and getattr(pull.__self__, "finished", False):
                raise sd.CallbackStop

        try:
            stream = sd.OutputStream(samplerate=float(sample_rate), channels=channels, dtype="float32",
                                     callback=callback, device=self.device, latency=self.latency)
            stream.start()
        except Exception as exc:  # PortAudioError, ValueError for unsupported settings
            raise PlaybackError(f"Cannot open the audio output at {sample_rate} Hz, {channels} channel(s): {exc}. "
                                "Playback is disabled; everything else works.") from None
        self._stream = stream

    def stop(self) -> None:
        s, self._stream = self._stream, None
        if s is not None:
            try:
                s.stop()
                s.close()
            except Exception:
                pass

    @property
    def running(self) -> bool:
        return self._stream is not None and bool(self._stream.active)


class FakeBackend(Backend):
    """A clocked stand-in for an audio device (tests, benchmarks, machines without sound).

    ``pump(frames)`` pulls one block like an audio callback would and records it; with
    ``clock_ms`` a QTimer pumps ``blocksize`` frames every tick while running.
    """

    name = "fake"

    def __init__(self, blocksize: int = 1024, clock_ms: Optional[int] = None, channels: int = 2):
        self.available = True
        self.message = ""
        self.blocksize = blocksize
        self.clock_ms = clock_ms
        self.channels = channels
        self.blocks: List[np.ndarray] = []
        self.started: List[Tuple[int, int]] = []
        self._pull = None
        self._timer = None
        self._lock = threading.Lock()

    def output_channels(self) -> int:
        return self.channels

    def start(self, sample_rate, channels, pull) -> None:
        self._pull = pull
        self.started.append((int(sample_rate), int(channels)))
        if self.clock_ms:
            from PyQt6.QtCore import QTimer

            self._timer = QTimer()
            self._timer.timeout.connect(lambda: self.pump())
            self._timer.start(self.clock_ms)

    def stop(self) -> None:
        self._pull = None
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    @property
    def running(self) -> bool:
        return self._pull is not None

    def pump(self, frames: Optional[int] = None) -> Optional[np.ndarray]:
        """Pull one block (as the audio callback would); returns it, or None when stopped."""
        pull = self._pull
        if pull is None:
            return None
        block = np.array(pull(frames or self.blocksize), np.float32)
        with self._lock:
            self.blocks.append(block)
        return block

    def mixed(self) -> np.ndarray:
        """Everything pulled so far as (channels, samples)."""
        with self._lock:
            if not self.blocks:
                return np.zeros((self.channels, 0), np.float32)
            return np.concatenate(self.blocks, axis=0).T

    def clear(self) -> None:
        with self._lock:
            self.blocks.clear()
