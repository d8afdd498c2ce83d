"""Time on the ruler (no Qt): tick spacing for a zoom level and ``m:ss.fff`` labels."""
from __future__ import annotations

TICK_STEPS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1200, 1800,
              3600)


def fmt_time(seconds: float, step: float = 1.0) -> str:
    """m:ss, with as many decimals as the tick step needs (h:mm:ss past an hour)."""
    neg = seconds < 0
    seconds = abs(seconds)
    decimals = 0 if step >= 1 else (1 if step >= 0.1 else (2 if step >= 0.01 else 3))
    whole = int(seconds)
    frac = seconds - whole
    if decimals:
        q = round(frac * 10 ** decimals)
        if q >= 10 ** decimals:
            whole, q = whole + 1, 0
    h, rem = divmod(whole, 3600)
    m, s = divmod(rem, 60)
    txt = f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
    if decimals:
        txt += f".{q:0{decimals}d}"
    return ("-" if neg else "") + txt


def tick_step(px_per_second: float, min_px: float = 80.0) -> float:
    """The smallest step of TICK_STEPS (seconds) whose labelled ticks are at least ``min_px`` apart."""
    for s in TICK_STEPS:
        if s * px_per_second >= min_px:
            return float(s)
    return float(TICK_STEPS[-1])
