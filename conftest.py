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


def shared_mnist_candidates(root: Path) -> list[Path]:
    """Where the optional real MNIST files may be for a checkout at ``root``: shared/data/mnist beside it
    (top/main -> top/shared) or one level further up, for a git worktree (top/wt/polish -> top/shared),
    as bench/bench_sgd.py looks."""
    return [p / "shared" / "data" / "mnist" for p in (root.parent, root.parent.parent)]


SHARED_MNIST_CANDIDATES = shared_mnist_candidates(ROOT)


def find_shared_mnist(candidates=SHARED_MNIST_CANDIDATES) -> Path | None:
    """The first candidate folder holding the real MNIST test images, or None."""
    return next((p for p in candidates if (p / "t10k-images-idx3-ubyte.gz").is_file()), None)


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
    """shared/data/mnist (beside the checkout or one level up) with the real MNIST test files, or a skip."""
    found = find_shared_mnist()
    if found is None:
        pytest.skip("real MNIST test files not found in " + " or ".join(map(str, SHARED_MNIST_CANDIDATES))
                    + " (the shared folder is optional)")
    return found
