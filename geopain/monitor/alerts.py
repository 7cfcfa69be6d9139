"""Alert bands: a subject's score above a threshold for at least a set time."""
from __future__ import annotations

import numpy as np


def alert_bands(start_ms: np.ndarray, end_ms: np.ndarray, value: np.ndarray, scored: np.ndarray, threshold: float,
                min_duration_ms: int, final: bool = False) -> list[dict]:
    """Alerts of one subject from its windows, in time order.

    Args:
        start_ms, end_ms: ``(W,)`` window bounds in milliseconds of the source, sorted by start.
        value: ``(W,)`` window scores (NaN where abstained).
        scored: ``(W,)`` bool, the window was scored (abstained windows neither extend nor
            break a streak).
        threshold: a streak is a run of consecutive scored windows with ``value > threshold``.
        min_duration_ms: a streak becomes an alert once ``end of its last window - start of
            its first`` reaches this.
        final: the data is complete (a finished file): no alert is left open.

    Returns:
        One dict per alert: ``start_ms``, ``end_ms`` (end of the last window above),
        ``peak`` (highest score) and ``open`` (the streak reaches the last scored window and
        more data may extend it).
    """
    keep = np.asarray(scored, bool) & np.isfinite(np.asarray(value, np.float64))
    s = np.asarray(start_ms, np.int64)[keep]
    e = np.asarray(end_ms, np.int64)[keep]
    v = np.asarray(value, np.float64)[keep]
    if not len(v):
        return []
    above = v > threshold
    edges = np.diff(np.concatenate([[0], above.astype(np.int8), [0]]))
    firsts, lasts = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    out = []
    for a, b in zip(firsts, lasts):
        if e[b] - s[a] >= min_duration_ms:
            out.append({"start_ms": int(s[a]), "end_ms": int(e[b]), "peak": float(v[a:b + 1].max()),
                        "open": bool(b == len(v) - 1 and not final)})
    return out
