"""The audio API in one import: arrays, resampling, reading and atomic writing of files.

Each idea lives in its own module (:mod:`plugin.arrays`, :mod:`plugin.resample`,
:mod:`plugin.audiofile`, :mod:`plugin.formats`, :mod:`plugin.audiowrite`, :mod:`plugin.atomic`);
this module only gathers their public names for scripts and the host. Modules inside ``plugin``
import from the specific module instead.
"""
from __future__ import annotations

from .arrays import MAX_CHANNELS, MAX_RATE, MIN_RATE, as_channels, check_rate
from .atomic import UMASK, publish_mode
from .audiofile import AUDIO_EXTENSIONS, READ_SECONDS, FileInfo, file_info, is_audio_path, iter_blocks, read_audio, \
    wav_truncation
from .audiowrite import CLIPPED, AtomicAudioWriter, write_audio
from .formats import BIT_DEPTHS, OUTPUT_FORMATS, SUBTYPES, check_output, encode_for_subtype, full_scale_top
from .resample import SOXR_QUALITY, ResampleStream, resample

__all__ = [
    "AUDIO_EXTENSIONS", "BIT_DEPTHS", "CLIPPED", "MAX_CHANNELS", "MAX_RATE", "MIN_RATE", "OUTPUT_FORMATS",
    "READ_SECONDS", "SOXR_QUALITY", "SUBTYPES", "UMASK", "AtomicAudioWriter", "FileInfo", "ResampleStream",
    "as_channels", "check_output", "check_rate", "encode_for_subtype", "file_info", "full_scale_top",
    "is_audio_path", "iter_blocks", "publish_mode", "read_audio", "resample", "wav_truncation", "write_audio",
]
