"""Test set-up for tests/ and the nbval run of solutions/: no network but loopback,
data pinned to the embedded sample, a private cache."""
from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from course.execute import PINNED_ENV

ROOT = Path(__file__).resolve().parent
# the grader's corpus holds submissions to grade (tests/test_grade.py), not notebooks for nbval
collect_ignore_glob = ["tests/corpus/*"]
SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist"

# Set before any kernel starts, so that nbval's kernels inherit it too.
_CACHE = tempfile.mkdtemp(prefix="course-test-cache-")
os.environ.update(PINNED_ENV)
os.environ["COURSE_CACHE_DIR"] = _CACHE
os.environ.pop("COURSE_DATA_DIR", None)


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_CACHE, ignore_errors=True)


_real_getaddrinfo = socket.getaddrinfo


def _loopback_only(host, *args, **kwargs):
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise socket.gaierror(socket.EAI_NONAME, f"tests use no network: refused to resolve {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Every test runs offline: host names other than loopback do not resolve."""
    monkeypatch.setattr(socket, "getaddrinfo", _loopback_only)


@pytest.fixture
def shared_mnist() -> Path:
    """../shared/data/mnist with the real MNIST test files, or a skip saying it is absent."""
    if not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"real MNIST test files not found in {SHARED_MNIST} (the shared folder is optional)")
    return SHARED_MNIST
