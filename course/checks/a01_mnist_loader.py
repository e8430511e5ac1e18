"""Public checks of assignment 01 (the MNIST loader)."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from ..data import read_image_label_pair, resolve
from ..idx import encode_idx, write_idx
from . import Case, expect_array, register, register_hidden


@register("idx_header")
def idx_header_cases(scratch: Path) -> list[Case]:
    def header(code, dims):
        return struct.pack(f">HBB{len(dims)}I", 0, code, len(dims), *dims)

    def expect(code, shape):
        def judge(got):
            if not (isinstance(got, tuple) and len(got) == 2):
                return f"expected a pair (type_code, shape), got {type(got).__name__}"
            if got[0] != code:
                return f"type code: expected {code} (0x{code:02X}), got {got[0]!r}"
            if not isinstance(got[1], tuple) or tuple(got[1]) != shape:
                return f"shape: expected the tuple {shape}, got {got[1]!r}"
            return None
        return judge

    return [
        Case("MNIST train images header", (header(0x08, (60000, 28, 28)) + bytes(16),),
             expect(0x08, (60000, 28, 28))),
        Case("MNIST test labels header", (header(0x08, (10000,)) + bytes(3),), expect(0x08, (10000,))),
        Case("float32 header with 4 dimensions", (header(0x0D, (2, 3, 4, 5)),), expect(0x0D, (2, 3, 4, 5))),
        Case("bytes 0-1 not zero", (b"\x01\x02\x08\x01" + bytes(4),), raises=ValueError),
    ]


@register("parse_mnist")
def parse_mnist_cases(scratch: Path) -> list[Case]:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
    labels = np.array([7, 0, 9], dtype=np.uint8)
    good_images = write_idx(scratch / "tiny-images-idx3-ubyte.gz", images)
    good_labels = write_idx(scratch / "tiny-labels-idx1-ubyte.gz", labels)
    # A wrong magic number in files whose sizes still fit: a parser that reads the header without checking the
    # magic number gets through them without an error of numpy's (its refusal must name the number it found).
    swapped = _with_magic(scratch / "swapped-images-idx3-ubyte.gz", images, 2049)
    bad_labels = write_idx(scratch / "bad-labels-idx1-ubyte.gz", labels.reshape(3, 1, 1))  # magic 2051, count 3
    def expect_pair(images, labels):
        X = images.reshape(len(images), -1).astype(np.float32) / np.float32(255)

        def judge(got):
            if not (isinstance(got, tuple) and len(got) == 2):
                return f"expected a pair (X, y), got {type(got).__name__}"
            return expect_array(got[0], X, "X", rtol=0, atol=1e-6) or expect_array(got[1], labels, "y")
        return judge

    cases = [
        Case("three 28x28 images (gzip)", (str(good_images), str(good_labels)), expect_pair(images, labels)),
        Case("images file with magic 2049 (a labels file's) must be refused, naming 2049", (str(swapped), str(good_labels)),
             raises=ValueError, match=r"\b2049\b", match_what="the magic number it found (2049)"),
        Case("labels file with magic 2051 (an images file's) must be refused, naming 2051",
             (str(good_images), str(bad_labels)), raises=ValueError, match=r"\b2051\b",
             match_what="the magic number it found (2051)"),
    ]
    source = resolve("mnist", "test")
    if source.images.suffix == ".gz" and source.labels.suffix == ".gz":
        cases.append(Case(f"the MNIST test files at hand ({source.kind})", (str(source.images), str(source.labels)),
                          expect_pair(*read_image_label_pair(source.images, source.labels))))
    return cases


@register("class_means")
def class_means_cases(scratch: Path) -> list[Case]:
    X = np.array([[0, 2], [4, 6], [1, 1], [3, 5]], dtype=np.float32)
    y = np.array([0, 0, 1, 2], dtype=np.uint8)
    expected = np.array([[2, 4], [1, 1], [3, 5]], dtype=np.float32)
    big = np.random.default_rng(2).random((1000, 784), dtype=np.float32)
    return [
        Case("4 examples, 3 classes", (X, y), lambda got: expect_array(got, expected, "means"),
             kwargs={"num_classes": 3}),
        Case("1,000 x 784, 10 classes: one float32 row per class",
             (big, np.arange(1000, dtype=np.uint8) % 10), lambda got: _shape_dtype(got, (10, 784))),
    ]


def _with_magic(path: Path, images: np.ndarray, magic: int) -> Path:
    """A gzip IDX images file whose magic number is replaced by ``magic`` (header and data otherwise intact)."""
    data = encode_idx(images)
    path.write_bytes(gzip.compress(struct.pack(">I", magic) + data[4:], mtime=0))
    return path


def _shape_dtype(got, shape) -> str | None:
    if isinstance(got, np.ndarray) and got.shape == shape and got.dtype == np.float32:
        return None
    return f"expected float32 of shape {shape}, got {getattr(got, 'dtype', type(got).__name__)} {getattr(got, 'shape', '')}"


# Hidden cases for the grader: random inputs from the grading seed, judged against the reference.

@register_hidden("idx_header")
def idx_header_hidden(rng: np.random.Generator, scratch: Path) -> list[Case]:
    cases = []
    for code in rng.choice([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E], size=3, replace=False):
        dims = tuple(int(d) for d in rng.integers(1, 70000, size=int(rng.integers(1, 5))))
        data = struct.pack(f">HBB{len(dims)}I", 0, int(code), len(dims), *dims) + bytes(int(rng.integers(0, 8)))
        cases.append(Case(f"random header, type 0x{int(code):02X}, {len(dims)} dims", (data,)))
    cases.append(Case("random non-zero first bytes", (bytes([0, int(rng.integers(1, 256)), 8, 1]) + bytes(4),),
                      raises=ValueError))
    return cases


@register_hidden("parse_mnist")
def parse_mnist_hidden(rng: np.random.Generator, scratch: Path) -> list[Case]:
    n, rows, cols = int(rng.integers(5, 40)), int(rng.integers(5, 30)), int(rng.integers(5, 30))
    images = write_idx(scratch / "hidden-images-idx3-ubyte.gz", rng.integers(0, 256, (n, rows, cols), dtype=np.uint8))
    labels = write_idx(scratch / "hidden-labels-idx1-ubyte.gz", rng.integers(0, 10, n, dtype=np.uint8))
    fewer = write_idx(scratch / "hidden-fewer-labels-idx1-ubyte.gz", rng.integers(0, 10, n - 1, dtype=np.uint8))
    swapped = _with_magic(scratch / "hidden-swapped-images-idx3-ubyte.gz",
                          rng.integers(0, 256, (n, rows, cols), dtype=np.uint8), 2049)
    return [Case(f"{n} random {rows}x{cols} images", (str(images), str(labels)), rtol=0, atol=1e-6),
            Case("one label fewer than images", (str(images), str(fewer)), raises=ValueError,
                 match=rf"\b{n}\b.*\b{n - 1}\b|\b{n - 1}\b.*\b{n}\b", match_what=f"both counts ({n} and {n - 1})"),
            Case("random images behind a labels magic number", (str(swapped), str(labels)), raises=ValueError,
                 match=r"\b2049\b", match_what="the magic number it found (2049)")]


@register_hidden("class_means")
def class_means_hidden(rng: np.random.Generator, scratch: Path) -> list[Case]:
    k, n, d = int(rng.integers(3, 12)), int(rng.integers(50, 300)), int(rng.integers(2, 50))
    y = np.concatenate([np.arange(k), rng.integers(0, k, n - k)]).astype(np.uint8)
    rng.shuffle(y)
    X = rng.random((n, d), dtype=np.float32)
    return [Case(f"{n} random examples, {k} classes", (X, y), kwargs={"num_classes": k}, rtol=1e-5, atol=1e-6)]
