"""Percentiles and timing loops shared by the benchmarks."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of a non-empty sample."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary_us(samples_s: Sequence[float]) -> dict[str, Any]:
    """p50/p99/mean in microseconds, with the sample count (p99 of few samples is their maximum)."""
    us = [s * 1e6 for s in samples_s]
    return {
        "n": len(us),
        "p50_us": round(percentile(us, 50), 2),
        "p99_us": round(percentile(us, 99), 2),
        "mean_us": round(sum(us) / len(us), 2),
    }


def time_each(fn: Callable[[Any], object], items: Sequence[Any]) -> list[float]:
    """Seconds per call of ``fn(item)``, one sample per item."""
    out = []
    clock = time.perf_counter
    for item in items:
        start = clock()
        fn(item)
        out.append(clock() - start)
    return out


def time_each_with_cpu(fn: Callable[[Any], object], items: Sequence[Any]) -> tuple[list[float], list[float]]:
    """Wall-clock and this thread's CPU seconds per call of ``fn(item)``: on a shared machine the wall
    clock's tail is mostly the scheduler handing the core to another process, which CPU time omits."""
    wall, cpu = [], []
    clock, thread_clock = time.perf_counter, time.thread_time
    for item in items:
        start, start_cpu = clock(), thread_clock()
        fn(item)
        cpu.append(thread_clock() - start_cpu)
        wall.append(clock() - start)
    return wall, cpu


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 2) if b else None
