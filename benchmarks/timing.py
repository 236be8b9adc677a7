"""Timing helper shared by the benchmark scripts."""

from __future__ import annotations

import time


def best_time(fn, repeat: int) -> float:
    """The shortest of ``repeat`` wall-clock timings (``time.perf_counter``) of ``fn()``, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best
