"""IDX reading and writing: round trips, every documented error, and a fuzz test."""
from __future__ import annotations

import gzip
import struct
import time
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from course.idx import TYPE_CODES, IDXFormatError, decode_idx, encode_idx, read_idx, write_idx

DTYPES = [dt.newbyteorder("=") for dt in TYPE_CODES.values()]
arrays = st.sampled_from(DTYPES).flatmap(
    lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=5)))


@settings(max_examples=200, deadline=None)
@given(array=arrays, compress=st.booleans())
def test_round_trip_keeps_values_dtype_and_shape(tmp_path_factory, array, compress):
    path = tmp_path_factory.mktemp("rt") / ("a.idx.gz" if compress else "a.idx")
    write_idx(path, array)
    back = read_idx(path)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)  # NaNs compare equal here


def test_header_layout_is_big_endian():
    data = encode_idx(np.arange(6, dtype=np.int16).reshape(2, 3))
    assert data[:4] == bytes([0, 0, 0x0B, 2])
    assert struct.unpack(">II", data[4:12]) == (2, 3)
    assert data[12:14] == b"\x00\x00" and data[14:16] == b"\x00\x01"


def test_write_refuses_unsupported_dtype(tmp_path):
    with pytest.raises(ValueError, match="cannot store dtype int64"):
        write_idx(tmp_path / "x.idx", np.zeros(3, dtype=np.int64))


def test_gzip_output_is_reproducible(tmp_path):
    a = write_idx(tmp_path / "a.gz", np.arange(10, dtype=np.uint8)).read_bytes()
    time.sleep(1.1)
    assert write_idx(tmp_path / "b.gz", np.arange(10, dtype=np.uint8)).read_bytes() == a


def header(code=0x08, dims=(2, 3)):
    return struct.pack(f">HBB{len(dims)}I", 0, code, len(dims), *dims)


@pytest.mark.parametrize("data, message", [
    (b"", "too short for an IDX header (expected 4 magic bytes, got 0)"),
    (b"\x00\x01\x08\x01" + bytes(8), "bad magic number 0x00010801"),
    (b"\x00\x00\x07\x01" + bytes(8), "unknown element type code 0x07"),
    (b"\x00\x00\x08\x00", "zero dimensions"),
    (b"\x00\x00\x08\x03" + struct.pack(">I", 5), "truncated header: 3 dimensions need 12 bytes of sizes, got 4"),
    (header(dims=(2, 0)), "dimension 1 has size 0"),
    (header(dims=(2, 3)) + bytes(5), "truncated data: header declares shape (2, 3), so expected 6 bytes of data, got 5"),
    (header(dims=(2, 3)) + bytes(7), "trailing bytes after the data: header declares shape (2, 3), so expected 6 bytes of data, got 7"),
    (header(0x0E, (4_000_000_000, 40)), "more than the limit"),
])
def test_malformed_input_names_the_problem(data, message):
    with pytest.raises(IDXFormatError) as info:
        decode_idx(data, "broken.idx")
    assert str(info.value).startswith("broken.idx: ") and message in str(info.value)


@pytest.mark.parametrize("data, message", [
    (header(dims=(2, 3)) + bytes(5), "expected 6 bytes of data, got 5"),
    (header(dims=(2, 3)) + bytes(9), "trailing bytes after the data"),
])
def test_malformed_gzip_payload_is_caught_after_decompression(tmp_path, data, message):
    path = tmp_path / "x-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(data))
    with pytest.raises(IDXFormatError, match=message):
        read_idx(path)


def test_named_gz_but_not_gzip(tmp_path):
    path = tmp_path / "labels.gz"
    path.write_bytes(encode_idx(np.arange(3, dtype=np.uint8)))
    with pytest.raises(IDXFormatError, match=r"labels.gz: named .gz but is not gzip data \(starts with 00 00, gzip starts with 1f 8b\)"):
        read_idx(path)


def test_corrupt_gzip_stream(tmp_path):
    data = bytearray(gzip.compress(encode_idx(np.arange(300, dtype=np.int32))))
    data[len(data) // 2] ^= 0xFF
    path = tmp_path / "x.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(IDXFormatError, match="x.gz: corrupt gzip data"):
        read_idx(path)


@pytest.mark.parametrize("compress", [False, True])
def test_huge_declared_count_fails_fast_without_allocating(tmp_path, compress):
    """A 20-byte file that declares 10^9 images (and one declaring 10^9 labels, under the size limit)."""
    cases = [header(dims=(10**9, 28, 28)) + bytes(4), header(dims=(10**9,)) + bytes(12)]
    for i, data in enumerate(cases):
        path = tmp_path / (f"big{i}.gz" if compress else f"big{i}")
        path.write_bytes(gzip.compress(data) if compress else data)
        tracemalloc.start()
        start = time.perf_counter()
        with pytest.raises(IDXFormatError, match="more than the limit|truncated data"):
            read_idx(path)
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 50 * 2**20, f"peak allocation {peak:,} bytes"
        assert elapsed < 5


# ---------------------------------------------------------------- fuzzing

def mutate(data: bytes, draw) -> bytes:
    kind = draw(st.sampled_from(["none", "truncate", "append", "flip", "insert", "header", "random"]))
    n = len(data)
    if kind == "truncate":
        return data[: draw(st.integers(0, max(n - 1, 0)))]
    if kind == "append":
        return data + draw(st.binary(min_size=1, max_size=16))
    if kind == "flip":
        i = draw(st.integers(0, n - 1))
        return data[:i] + bytes([data[i] ^ draw(st.integers(1, 255))]) + data[i + 1:]
    if kind == "insert":
        i = draw(st.integers(0, n))
        return data[:i] + draw(st.binary(min_size=1, max_size=8)) + data[i:]
    if kind == "header":  # overwrite magic or a dimension with any 32-bit value
        i = draw(st.sampled_from([0, 4, 8])) if n >= 12 else 0
        return data[:i] + struct.pack(">I", draw(st.integers(0, 2**32 - 1))) + data[i + 4:]
    if kind == "random":
        return draw(st.binary(max_size=64))
    return data


@st.composite
def fuzz_inputs(draw):
    array = draw(arrays)
    data = encode_idx(array)
    gz = draw(st.booleans())
    if gz and draw(st.booleans()):  # mutate the compressed bytes or the content inside
        return array, mutate(gzip.compress(data, mtime=0), draw), True
    data = mutate(data, draw)
    return array, gzip.compress(data, mtime=0) if gz else data, gz


def test_fuzz_only_the_documented_error_escapes():
    seen = []

    @settings(max_examples=2500, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(fuzz_inputs())
    def run(case):
        array, data, gz = case
        seen.append(1)
        try:
            result = decode_idx(data, "fuzz.gz" if gz else "fuzz.idx")
        except IDXFormatError:
            return
        assert isinstance(result, np.ndarray) and result.size > 0
        if data in (encode_idx(array), gzip.compress(encode_idx(array), mtime=0)):
            np.testing.assert_array_equal(result, array)

    run()
    assert len(seen) >= 2000, f"only {len(seen)} fuzz inputs ran"
