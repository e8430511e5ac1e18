"""Shared helpers of the benchmarks: timing, the machine line, and table printing."""
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


def machine() -> str:
    import numpy as np
    return (f"{date.today().isoformat()}, {platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, numpy {np.__version__}")


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A Markdown table (pastes into README.md as is)."""
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])
