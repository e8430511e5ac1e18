"""Read and write IDX files, the format of MNIST and Fashion-MNIST.

An IDX file is a 4-byte magic number, one big-endian uint32 per dimension, then the
elements in C order, big-endian::

    bytes 0-1   always 0
    byte  2     element type code (0x08 uint8 ... 0x0E float64, see ``TYPE_CODES``)
    byte  3     number of dimensions d
    4 * d       the size of each dimension, big-endian uint32
    rest        prod(sizes) elements

Files may be gzip-compressed.  Every malformed input raises :class:`IDXFormatError`,
whose message names the file and says what is wrong; the declared size is checked
against the data before anything large is allocated.
"""
from __future__ import annotations

import gzip
import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from .guard import refuses_while_grading

__all__ = ["IDXFormatError", "TYPE_CODES", "read_idx", "decode_idx", "encode_idx", "write_idx"]

#: IDX type code -> big-endian numpy dtype of one element.
TYPE_CODES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_OF_KIND = {(dt.kind, dt.itemsize): code for code, dt in TYPE_CODES.items()}

#: Largest payload read_idx accepts unless told otherwise (full MNIST train is 47 MB).
DEFAULT_MAX_BYTES = 1 << 30
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 22


class IDXFormatError(ValueError):
    """A file or byte string is not a valid IDX file; the message names it and says why."""


@refuses_while_grading
def read_idx(path: str | os.PathLike, *, max_bytes: int = DEFAULT_MAX_BYTES) -> np.ndarray:
    """Read an IDX file, gzip-compressed or plain.

    Parameters
    ----------
    path : path of the file. gzip is recognised by its content; a name ending in
        ``.gz`` whose content is not gzip is an error.
    max_bytes : refuse files whose header declares a larger payload.

    Returns
    -------
    ndarray of the shape the header declares, in native byte order
    (uint8, int8, int16, int32, float32 or float64).

    Raises
    ------
    IDXFormatError if the file is malformed; OSError if it cannot be opened.
    """
    path = Path(path)
    with open(path, "rb") as raw:
        return _read_stream(raw, str(path), max_bytes, path.stat().st_size)


@refuses_while_grading
def decode_idx(data: bytes, name: str = "<bytes>", *, max_bytes: int = DEFAULT_MAX_BYTES) -> np.ndarray:
    """Like :func:`read_idx` for the bytes of a file; ``name`` is used in messages."""
    return _read_stream(io.BytesIO(data), name, max_bytes, len(data))


def encode_idx(array: np.ndarray) -> bytes:
    """The uncompressed IDX bytes of ``array`` (one of the six IDX dtypes, ndim 1-255)."""
    array = np.asarray(array)
    code = _CODE_OF_KIND.get((array.dtype.kind, array.dtype.itemsize))
    if code is None:
        raise ValueError(f"IDX cannot store dtype {array.dtype}; expected one of "
                         "uint8, int8, int16, int32, float32, float64")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"IDX needs 1 to 255 dimensions, got an array of ndim {array.ndim}")
    header = struct.pack(f">HBB{array.ndim}I", 0, code, array.ndim, *array.shape)
    return header + np.ascontiguousarray(array, dtype=TYPE_CODES[code]).tobytes()


def write_idx(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file, gzip-compressed when the name ends in ``.gz``.

    The gzip header carries no time stamp, so equal arrays give equal files.
    """
    path = Path(path)
    data = encode_idx(array)
    if path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path


def _read_stream(raw, name: str, max_bytes: int, size_on_disk: int) -> np.ndarray:
    """Parse an IDX stream; ``size_on_disk`` bounds the payload of uncompressed input."""
    start = raw.read(2)
    raw.seek(0)
    if start == _GZIP_MAGIC:
        stream, compressed = gzip.GzipFile(fileobj=raw, mode="rb"), True
    elif name.endswith(".gz"):
        raise IDXFormatError(f"{name}: named .gz but is not gzip data "
                             f"(starts with {start.hex(' ') or 'nothing'}, gzip starts with 1f 8b)")
    else:
        stream, compressed = raw, False
    try:
        return _parse(stream, name, max_bytes, None if compressed else size_on_disk)
    except (OSError, EOFError, zlib.error) as err:  # gzip.BadGzipFile is an OSError
        raise IDXFormatError(f"{name}: corrupt gzip data ({err or type(err).__name__})") from None


def _parse(stream, name: str, max_bytes: int, plain_size: int | None) -> np.ndarray:
    magic = stream.read(4)
    if len(magic) < 4:
        raise IDXFormatError(f"{name}: file too short for an IDX header "
                             f"(expected 4 magic bytes, got {len(magic)})")
    zero, code, ndim = struct.unpack(">HBB", magic)
    if zero != 0:
        raise IDXFormatError(f"{name}: bad magic number 0x{magic.hex()} (an IDX file starts "
                             "with two zero bytes, e.g. 0x00000803 for images, 0x00000801 for labels)")
    if code not in TYPE_CODES:
        known = ", ".join(f"0x{c:02X}" for c in TYPE_CODES)
        raise IDXFormatError(f"{name}: unknown element type code 0x{code:02X} (expected one of {known})")
    if ndim == 0:
        raise IDXFormatError(f"{name}: header declares zero dimensions (expected at least 1)")
    dims_bytes = stream.read(4 * ndim)
    if len(dims_bytes) < 4 * ndim:
        raise IDXFormatError(f"{name}: truncated header: {ndim} dimensions need {4 * ndim} bytes "
                             f"of sizes, got {len(dims_bytes)}")
    shape = struct.unpack(f">{ndim}I", dims_bytes)
    if 0 in shape:
        raise IDXFormatError(f"{name}: dimension {shape.index(0)} has size 0 (shape {shape})")
    dtype = TYPE_CODES[code]
    expected = dtype.itemsize * int(np.prod(shape, dtype=object))
    if expected > max_bytes:
        raise IDXFormatError(f"{name}: header declares shape {shape} of {dtype.name}, "
                             f"{expected:,} bytes, more than the limit of {max_bytes:,} bytes")
    if plain_size is not None:
        got = plain_size - 4 - 4 * ndim
        if got != expected:
            raise _size_error(name, shape, expected, got)
        payload = stream.read(expected)
    else:
        payload = _read_at_most(stream, expected + 1)
    if len(payload) != expected:
        raise _size_error(name, shape, expected, len(payload), more=len(payload) > expected)
    return np.frombuffer(payload, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def _size_error(name, shape, expected, got, more=None) -> IDXFormatError:
    if more is None:
        more = got > expected
    what = "trailing bytes after the data" if more else "truncated data"
    return IDXFormatError(f"{name}: {what}: header declares shape {shape}, so expected "
                          f"{expected:,} bytes of data, got {got:,}{' or more' if more else ''}")


def _read_at_most(stream, limit: int) -> bytes:
    """Read up to ``limit`` bytes in chunks, so memory follows the data, not the header."""
    parts, total = [], 0
    while total < limit:
        part = stream.read(min(_CHUNK, limit - total))
        if not part:
            break
        parts.append(part)
        total += len(part)
    return b"".join(parts)
