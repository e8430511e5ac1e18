"""Plain data across the sandbox wall: a JSON tree plus an ``.npz`` of arrays, never pickle.

Values that cross are None, bool, int, float, str, bytes, tuples, lists, dicts with str keys,
numpy arrays of non-object dtype and numpy scalars. Anything else cannot cross and says so
(:class:`NotPlain`). Decoding checks every tag and loads arrays with ``allow_pickle=False``, so a
hostile file can at worst be unreadable (:class:`NotPlain` again), never run code.

One exception, in one direction only: the grader's inputs may hold functions (e.g. the loss a
student's optimiser must minimise), encoded with cloudpickle (``callables=True``). Only the
sandbox decodes them (``load(..., callables=True)``); what comes back from the sandbox is always
decoded without, so a function in a result is refused.
"""
from __future__ import annotations

import base64
import io
import json
import math
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["NotPlain", "encode", "decode", "save", "load", "loads", "describe"]

MAX_DEPTH = 20
MAX_TREE_BYTES = 16 * 2**20


class NotPlain(ValueError):
    """A value that cannot cross the sandbox wall, or a file that does not hold plain data."""


def describe(value: Any) -> str:
    """A short description of a value: its type, and dtype and shape for arrays."""
    if isinstance(value, np.ndarray):
        return f"array of {value.dtype} with shape {value.shape}"
    if isinstance(value, (tuple, list)):
        return f"{type(value).__name__} of {len(value)}"
    return type(value).__name__


def encode(value: Any, arrays: dict[str, np.ndarray], depth: int = 0, callables: bool = False) -> Any:
    """The JSON tree of ``value``; its arrays are added to ``arrays`` under keys ``a0``, ``a1``, ..."""
    if depth > MAX_DEPTH:
        raise NotPlain(f"nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else {"$float": repr(float(value))}
    if isinstance(value, (bytes, bytearray)):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.asarray(value)
        if array.dtype.hasobject:
            raise NotPlain(f"a numpy array of Python objects ({describe(value)})")
        key = f"a{len(arrays)}"
        arrays[key] = array
        return {"$scalar" if isinstance(value, np.generic) else "$array": key}
    if isinstance(value, tuple):
        return {"$tuple": [encode(v, arrays, depth + 1, callables) for v in value]}
    if isinstance(value, list):
        return [encode(v, arrays, depth + 1, callables) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise NotPlain("a dict whose keys are not all str")
        return {"$dict": {k: encode(v, arrays, depth + 1, callables) for k, v in value.items()}}
    if callables and callable(value):
        import cloudpickle
        return {"$callable": base64.b64encode(cloudpickle.dumps(value)).decode("ascii")}
    raise NotPlain(f"a {type(value).__name__}")


def decode(tree: Any, arrays, depth: int = 0, callables: bool = False) -> Any:
    """The value encoded as ``tree`` (with ``arrays``, e.g. an open ``np.load`` of the .npz)."""
    if depth > MAX_DEPTH:
        raise NotPlain(f"nested deeper than {MAX_DEPTH} levels")
    if tree is None or isinstance(tree, (bool, int, float, str)):
        return tree
    if isinstance(tree, list):
        return [decode(v, arrays, depth + 1, callables) for v in tree]
    if isinstance(tree, dict) and len(tree) == 1:
        (tag, body), = tree.items()
        if tag == "$float" and body in ("nan", "inf", "-inf"):
            return float(body)
        if tag == "$bytes" and isinstance(body, str):
            return base64.b64decode(body, validate=True)
        if tag in ("$array", "$scalar") and isinstance(body, str) and body in arrays:
            array = arrays[body]
            return array[()] if tag == "$scalar" else array
        if tag == "$tuple" and isinstance(body, list):
            return tuple(decode(v, arrays, depth + 1, callables) for v in body)
        if tag == "$dict" and isinstance(body, dict):
            return {str(k): decode(v, arrays, depth + 1, callables) for k, v in body.items()}
        if tag == "$callable" and callables and isinstance(body, str):
            import pickle
            return pickle.loads(base64.b64decode(body))  # the grader's own function, in the sandbox only
    raise NotPlain(f"unknown tag in {str(tree)[:80]}")


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """The arrays as the bytes of an ``.npz`` file."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def save(value: Any, path: str | os.PathLike, callables: bool = False) -> None:
    """Write ``value`` to ``path.json`` and ``path.npz``, atomically (the .json, written last, says it is complete)."""
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    text = json.dumps(encode(value, arrays, callables=callables))
    _write_atomic(path.with_suffix(".npz"), npz_bytes(arrays))
    _write_atomic(path.with_suffix(".json"), text.encode())


def load(path: str | os.PathLike, callables: bool = False) -> Any:
    """Read what :func:`save` wrote to ``path``; :class:`NotPlain` if it is missing or not plain data."""
    path = Path(path)
    try:
        return loads(path.with_suffix(".json").read_bytes(), path.with_suffix(".npz").read_bytes(), callables=callables)
    except OSError as err:
        raise NotPlain(f"{type(err).__name__}: {err.strerror}") from None


class _Members:
    """The arrays of an ``.npz`` read lazily, only those a tree refers to, each checked against
    what is left of ``max_bytes`` (by its zip entry's size and its .npy header) before it is read."""

    def __init__(self, npz: bytes, max_bytes: int):
        self.zip = zipfile.ZipFile(io.BytesIO(npz))
        self.left = max_bytes

    def __contains__(self, key: str) -> bool:
        return f"{key}.npy" in self.zip.NameToInfo

    def __getitem__(self, key: str) -> np.ndarray:
        info = self.zip.getinfo(f"{key}.npy")
        if info.file_size > self.left:
            raise NotPlain(f"an array of {info.file_size:,} bytes, more than the {self.left:,} left")
        with self.zip.open(info) as f:
            version = np.lib.format.read_magic(f)
            if version not in ((1, 0), (2, 0)):
                raise NotPlain(f"an array in .npy format {version}")
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read_header(f)
            if dtype.hasobject:
                raise NotPlain("a numpy array of Python objects")
            nbytes = math.prod(shape) * dtype.itemsize
            if nbytes > info.file_size:
                raise NotPlain(f"an array header that promises {nbytes:,} bytes in a {info.file_size:,}-byte entry")
            data = f.read(nbytes)
        if len(data) != nbytes:
            raise NotPlain("an array cut short")
        self.left -= nbytes
        return np.frombuffer(data, dtype).reshape(shape, order="F" if fortran else "C").copy()


def loads(tree_json: bytes, npz: bytes, max_bytes: int = 512 * 2**20, callables: bool = False) -> Any:
    """Decode the two files :func:`save` writes, given as bytes; at most ``max_bytes`` of arrays,
    counted as they are decoded, and a JSON tree of at most :data:`MAX_TREE_BYTES`."""
    if len(tree_json) > MAX_TREE_BYTES:
        raise NotPlain(f"a JSON tree of {len(tree_json):,} bytes, more than the {MAX_TREE_BYTES:,} allowed")
    try:
        tree = json.loads(tree_json)
        return decode(tree, _Members(npz, max_bytes), callables=callables)
    except NotPlain:
        raise
    except Exception as err:  # whatever a hostile file makes numpy, zipfile or json raise
        raise NotPlain(f"{type(err).__name__}: {str(err)[:200]}") from None


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
