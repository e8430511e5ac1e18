"""Shared helpers of the benchmarks: timing, the machine and load lines, and table printing."""
from __future__ import annotations

import os
import platform
import time
from datetime import date


def best_time(fn, repeat: int = 5) -> float:
    """The fastest of ``repeat`` runs of ``fn()``, in seconds (the least disturbed by noise)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def interleaved_best(fns: dict, rounds: int) -> dict:
    """The best time of each function over ``rounds`` rounds that run each once, in turn (after a
    warm-up round): on a shared machine a burst of load then hits all of them alike."""
    best = {}
    for round_ in range(rounds + 1):
        for name, fn in fns.items():
            t = best_time(fn, repeat=1)
            if round_:
                best[name] = min(best.get(name, t), t)
    return best


def load() -> str:
    """The load averages over 1, 5 and 15 minutes, as one short phrase."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min)"


def machine() -> str:
    import numpy as np
    return (f"{date.today().isoformat()}, {platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, numpy {np.__version__}")


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A Markdown table (pastes into docs/benchmarks.md as is)."""
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])
