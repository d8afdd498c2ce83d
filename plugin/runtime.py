"""ONNX Runtime: importing it, choosing execution providers, and opening sessions.

Providers come from ``get_available_providers()``, CUDA first and CPU last, overridable with
``providers=``; a request this build cannot serve falls back to the CPU with a warning. The
provider a session actually runs on is what ``session.get_providers()[0]`` says.
"""
from __future__ import annotations

import logging
import os
from typing import List, Optional, Sequence, Union

from .errors import BundleError, RuntimeMissingError

log = logging.getLogger("sepboard")

PREFERRED_PROVIDERS = ("CUDAExecutionProvider", "CPUExecutionProvider")


def import_onnxruntime():
    """Import onnxruntime or raise one clear error saying which extra to install."""
    try:
        import onnxruntime as ort  # noqa: F401
    except ImportError as exc:
        raise RuntimeMissingError(
            "ONNX Runtime is not installed. In the SepBoard folder run scripts/setup.sh (CPU) or "
            "scripts/setup.sh --gpu (CUDA), or install exactly one of: pip install -e '.[cpu]' (onnxruntime) or "
            "pip install -e '.[gpu]' (onnxruntime-gpu). They share one import folder, so never both."
        ) from exc
    if hasattr(ort, "disable_telemetry_events"):
        ort.disable_telemetry_events()  # in case onnxruntime was imported before plugin (see plugin/__init__)
    if not hasattr(ort, "InferenceSession"):
        raise RuntimeMissingError(
            "The onnxruntime package is broken (both onnxruntime and onnxruntime-gpu were installed and one "
            "was removed?). Reinstall one: scripts/setup.sh (or --gpu), which removes the other."
        )
    return ort


def choose_providers(requested: Optional[Sequence[str]] = None) -> List[str]:
    """Providers to ask for, CUDA first and CPU last, among those this onnxruntime build has.

    ``requested`` overrides the preference order; names this build lacks are dropped with a warning,
    and the CPU provider is always appended as the fallback.
    """
    ort = import_onnxruntime()
    available = list(ort.get_available_providers())
    if requested:
        chosen = [p for p in requested if p in available]
        missing = [p for p in requested if p not in available]
        if missing:
            log.warning("execution providers not available in this onnxruntime build: %s; using %s",
                        ", ".join(missing), ", ".join(chosen) or "CPUExecutionProvider")
    else:
        chosen = [p for p in PREFERRED_PROVIDERS if p in available]
    if "CPUExecutionProvider" in available and "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")
    return chosen


_arena_registered = False


def shared_arena(ort) -> bool:
    """Register (once per process) a CPU arena that grows by exactly what is requested instead of
    doubling, shared by the sessions that opt in. False when this build cannot (per-session arenas)."""
    global _arena_registered
    if not _arena_registered:
        try:
            info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
            ort.create_and_register_allocator(info, ort.OrtArenaCfg(0, 1, -1, -1))  # 1 = kSameAsRequested
            _arena_registered = True
        except Exception as exc:  # pragma: no cover - older/other builds
            log.debug("no shared ONNX Runtime arena: %s", exc)
            return False
    return True


def session_options(threads: Optional[int] = None, mem_arena: bool = False):
    """Session options. ``mem_arena``: ONNX Runtime's CPU arena reuses memory between runs, which
    is much faster when the same shapes repeat (block-wise mode) but keeps every peak allocation;
    without it peak memory stays close to the graph's working set (BENCHMARKS.md §1)."""
    ort = import_onnxruntime()
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.enable_cpu_mem_arena = bool(mem_arena)
    # With the arena, ORT's memory pattern (one planned block per input shape, allocated on the second
    # run) would come on top of the chunks the first run left in the arena, so it is off and the arena
    # alone reuses its chunks. Without the arena the pattern is what avoids a fresh allocation per tensor.
    so.enable_mem_pattern = not mem_arena
    if mem_arena and shared_arena(ort):
        so.add_session_config_entry("session.use_env_allocators", "1")
    so.add_session_config_entry("session.set_denormal_as_zero", "1")
    if threads:
        so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return so


def make_session(model: Union[str, os.PathLike, bytes], providers: Optional[Sequence[str]] = None,
                 threads: Optional[int] = None, mem_arena: bool = False):
    """An ORT InferenceSession for a path or serialized model, with automatic provider choice."""
    ort = import_onnxruntime()
    chosen = choose_providers(providers)
    src = model if isinstance(model, (bytes, bytearray)) else str(model)
    try:
        sess = ort.InferenceSession(src, sess_options=session_options(threads, mem_arena), providers=chosen)
    except Exception as exc:  # ORT raises its own exception types
        name = "in-memory model" if isinstance(model, (bytes, bytearray)) else str(model)
        raise BundleError(f"ONNX Runtime cannot open {name}: {exc}. Re-export the bundle.") from exc
    used = sess.get_providers()
    if chosen and chosen[0] != "CPUExecutionProvider" and used and used[0] == "CPUExecutionProvider":
        log.warning("%s was requested but ONNX Runtime fell back to CPU (GPU libraries missing?)", chosen[0])
    return sess
