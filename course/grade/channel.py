"""Frames over a pipe: how the grader and the runner inside the sandbox talk.

A frame is a 4-byte big-endian length, that many bytes of a JSON header (a dict), then the
payloads whose lengths the header lists under ``"sizes"``. The grader writes one frame to the
runner's stdin (the run's settings and files) and reads the runner's frames from a pipe it opened
itself, so that nothing the submission writes in its folders is ever read by the grader. Reading
is bounded: a frame larger than the bytes still allowed ends the reading.
"""
from __future__ import annotations

import json
import os
import struct
from typing import BinaryIO, Iterator

MAX_HEADER_BYTES = 2**20


class ChannelError(ValueError):
    """A frame that is cut short, too large, or not a JSON header."""


def frame(header: dict, payloads: list[bytes] = ()) -> bytes:
    """One frame: ``header`` (``"sizes"`` is filled in) followed by ``payloads``."""
    text = json.dumps({**header, "sizes": [len(p) for p in payloads]}).encode()
    return struct.pack(">I", len(text)) + text + b"".join(payloads)


def send(fd: int, header: dict, payloads: list[bytes] = ()) -> None:
    """Write one frame to the file descriptor ``fd``, whole."""
    data = memoryview(frame(header, payloads))
    while data:
        data = data[os.write(fd, data):]


def _read_exactly(stream: BinaryIO, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = stream.read(min(left, 2**20))
        if not chunk:
            raise ChannelError(f"the stream ended {left:,} bytes before the end of a frame")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_frame(stream: BinaryIO, max_bytes: int) -> tuple[dict, list[bytes], int] | None:
    """The next frame of ``stream`` and its size in bytes; None at a clean end. Raises :class:`ChannelError` for a frame
    that is cut short, not JSON, or larger than ``max_bytes``."""
    head = stream.read(4)
    if not head:
        return None
    try:
        head += _read_exactly(stream, 4 - len(head))  # an unbuffered pipe may give fewer bytes at once
    except ChannelError:
        raise ChannelError("the stream ended inside a frame's length") from None
    (length,) = struct.unpack(">I", head)
    if length > min(max_bytes, MAX_HEADER_BYTES):
        raise ChannelError(f"a frame header of {length:,} bytes, more than allowed")
    try:
        header = json.loads(_read_exactly(stream, length))
    except ValueError as err:
        raise ChannelError(f"a frame header that is not JSON ({err})") from None
    sizes = header.get("sizes") if isinstance(header, dict) else None
    if not (isinstance(sizes, list) and all(isinstance(s, int) and s >= 0 for s in sizes)):
        raise ChannelError("a frame header without its list of payload sizes")
    if length + sum(sizes) > max_bytes:
        raise ChannelError(f"a frame of {length + sum(sizes):,} bytes, more than the {max_bytes:,} still allowed")
    return header, [_read_exactly(stream, s) for s in sizes], 4 + length + sum(sizes)


def read_frames(stream: BinaryIO, max_bytes: int) -> Iterator[tuple[dict, list[bytes]]]:
    """Every frame of ``stream`` until its end, at most ``max_bytes`` in all; stops (raising
    :class:`ChannelError`) at the first frame that breaks the rules."""
    left = max_bytes
    while (got := read_frame(stream, left)) is not None:
        header, payloads, size = got
        left -= size
        yield header, payloads
