"""The sandbox seen from inside: a notebook's ``probe()`` reports what it can see and do, and the
test checks that the walls the grader claims are really up. Also the pipes, the bounded decoding,
the guard on the pack's helpers, and the cgroups.
"""
from __future__ import annotations

import io
import json
import os
import socket
import struct
import sys
import zipfile
from dataclasses import asdict, replace
from pathlib import Path

import nbformat
import numpy as np
import pytest

from course import guard
from course.grade import channel, plain, sandbox
from course.grade.cgroup import Cgroup, available as cgroup_available
from course.grade.worker import execute_submission

from conftest import ROOT

LIMITS = sandbox.Limits(notebook_seconds=20, question_seconds=20)
WALLS = sandbox.walls()
FULL = WALLS.level.startswith("bwrap")
needs_bwrap = pytest.mark.skipif(not FULL, reason=f"the bubblewrap sandbox does not start here: {WALLS.why_not}")


def probe(cells: list[str], limits: sandbox.Limits = LIMITS, files: dict[str, bytes] | None = None) -> tuple[object, dict]:
    """Grade a notebook of ``cells`` that defines ``probe()`` (with ``files`` laid out in the work
    folder); returns what probe() returned (or raised) and the worker's raw answer."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    arrays: dict = {}
    tree = plain.encode({"cases": [{"args": (), "kwargs": {}, "judge_args": False}]}, arrays, callables=True)
    inputs = {"inputs/probe.json": json.dumps(tree).encode(), "inputs/probe.npz": plain.npz_bytes(arrays), **(files or {})}
    raw = execute_submission({"notebook": nbformat.writes(nb).encode(), "questions": ["probe"],
                              "limits": asdict(limits)}, inputs)
    assert "probe" in raw["results"], raw
    outcome = plain.loads(*raw["results"]["probe"])["cases"][0]
    return outcome.get("value", outcome), raw


@needs_bwrap
def test_the_sandbox_shows_only_what_is_allowed(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("answers")
    looks = [ROOT / ".git", ROOT / "tests", ROOT / "solutions", ROOT / "README.md", ROOT / "notebooks",
             ROOT.parent / "shared", Path.home() / ".cache", Path.home() / ".bashrc", secret, Path("/run/lock"),
             Path("/var/tmp"), Path("/home"), Path("/etc/passwd"), Path("/opt")]
    # the folders above the Python installation, the venv and the package exist, holding only the way down
    ways = {}
    for folder in map(Path, sandbox.python_folders()):
        for parent in folder.parents:
            if parent not in (Path("/"), Path("/tmp")):   # /tmp is the sandbox's own tmpfs
                ways.setdefault(str(parent), set()).add(folder.relative_to(parent).parts[0])
    value, raw = probe([f"""
import os, sys, pathlib, course
def probe():
    looks = {[str(p) for p in looks]!r}
    package = pathlib.Path(course.__file__).parent
    writable = []
    for target in [package, pathlib.Path(sys.prefix), pathlib.Path(sys.base_prefix), pathlib.Path("/usr")]:
        try:
            (target / "x").write_text("x")
            writable.append(str(target))
        except OSError:
            pass
    return {{"root": sorted(os.listdir("/")), "seen": [p for p in looks if os.path.exists(p)],
            "uid": os.getuid(), "writable": writable,
            "cwd": os.getcwd(), "sandbox": sorted(os.listdir("/sandbox")),
            "ways": {{w: sorted(os.listdir(w)) for w in {sorted(ways)!r}}}}}
"""])
    assert isinstance(value, dict), value
    allowed_top = {"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "proc", "dev", "tmp", "sandbox", "exchange"}
    allowed_top |= {Path(p).parts[1] for p in sandbox.python_folders()}
    assert set(value["root"]) <= allowed_top, value["root"]
    assert value["seen"] == [], value["seen"]
    assert value["ways"] == {w: sorted(names) for w, names in ways.items()}
    assert value["writable"] == []
    assert value["cwd"] == sandbox.EXCHANGE_DIR and "submission.ipynb" in value["sandbox"]   # cases run in the exchange folder
    if WALLS.level == "bwrap-root":
        assert value["uid"] >= 200_000
    assert raw["sandbox"]["walls"]["level"] == WALLS.level


@needs_bwrap
def test_each_submission_gets_its_own_uid_and_no_network():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    cells = [f"""
import os, socket
def probe():
    try:
        socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
        reached = True
    except OSError:
        reached = False
    return {{"uid": os.getuid(), "reached": reached, "interfaces": [n for _, n in socket.if_nameindex()]}}
"""]
    try:
        first, _ = probe(cells)
        second, _ = probe(cells)
    finally:
        listener.close()
    assert first["reached"] is False and first["interfaces"] == ["lo"]
    if WALLS.level == "bwrap-root":
        assert first["uid"] != second["uid"]


@needs_bwrap
def test_the_kernel_cannot_read_or_write_the_runner():
    value, _ = probe(["""
import os
def probe():
    runner = os.getppid()
    found = {}
    for what in ("fd", "mem", "environ"):
        try:
            found[what] = len(os.listdir(f"/proc/{runner}/fd")) if what == "fd" else len(open(f"/proc/{runner}/{what}", "rb").read(1))
        except OSError as err:
            found[what] = type(err).__name__
    return found
"""])
    assert value == {"fd": "PermissionError", "mem": "PermissionError", "environ": "PermissionError"}, value


@needs_bwrap
def test_strays_are_stopped_and_the_inputs_appear_only_for_the_questions():
    value, raw = probe(["""
import os, subprocess
SAW_INPUTS = os.path.exists("/exchange/inputs") or os.path.exists("/sandbox/inputs")
daemon = subprocess.Popen(["sleep", "1000"], start_new_session=True)
def probe():
    alive = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    return {"saw_inputs": SAW_INPUTS, "daemon_alive": daemon.pid in alive and daemon.poll() is None,
            "inputs_now": os.path.exists("/exchange/inputs/probe.json")}
"""])
    assert value == {"saw_inputs": False, "daemon_alive": False, "inputs_now": True}, value
    assert any("left running were stopped" in n for n in raw["log"]["notes"])


def test_the_kernel_uses_the_font_list_the_grader_ships():
    """The grader ships matplotlib's font list into the sandbox (no kernel looks through the fonts
    again): a marker put into the shipped list is what the kernel's matplotlib has loaded."""
    from course.grade.batch import _font_list

    shipped = _font_list()
    assert len(shipped) == 1, shipped
    (name, data), = shipped.items()
    assert name.startswith("home/mpl/fontlist-v") and name.endswith(".json")
    marked = {name: json.dumps({**json.loads(data), "course_marker": "shipped"}).encode()}
    value, _ = probe(["""
import matplotlib.font_manager
def probe():
    return getattr(matplotlib.font_manager.fontManager, "course_marker", "not the shipped list")
"""], files=marked)
    assert value == "shipped", value


PYCACHE = sandbox.PACKAGE_DIR / "grade" / "__pycache__"


@pytest.mark.skipif(not os.access(PYCACHE if PYCACHE.exists() else PYCACHE.parent, os.W_OK),
                    reason="the course package is not writable by this user (the grader then writes no bytecode)")
def test_the_package_the_sandbox_sees_read_only_is_byte_compiled_first():
    sandbox.byte_compile_package.cache_clear()
    runner_pyc = PYCACHE / f"runner.{sys.implementation.cache_tag}.pyc"
    runner_pyc.unlink(missing_ok=True)
    sandbox.byte_compile_package()
    assert runner_pyc.is_file()


def test_the_pack_helpers_refuse_while_a_question_is_graded():
    import course.gradcheck
    import course.search
    with guard.grading("train"):
        with pytest.raises(guard.HelperRefused, match="course.search.train_many may not be used while train is graded"):
            course.search.train_many(np.zeros((4, 2), np.float32), np.zeros(4, np.uint8), np.zeros((2, 2), np.float32),
                                     np.zeros(2, np.uint8), lrs=[0.1], l2s=[0.0], batch=2, epochs=[1])
    outside = course.gradcheck.numerical_gradient(lambda x: float(x @ x), np.ones(2))
    assert np.allclose(outside, 2)   # outside grading, the helpers work as usual


@needs_bwrap
def test_a_helper_in_a_graded_function_gets_a_clear_refusal():
    value, _ = probe(["""
import numpy as np, course.gradcheck
def probe():
    return course.gradcheck.numerical_gradient(lambda x: float(x @ x), np.ones(3))
"""])
    assert "course.gradcheck.numerical_gradient may not be used while probe is graded" in value["message"], value


@pytest.mark.skipif(not FULL or not WALLS.cgroup, reason="needs the bubblewrap sandbox and a cgroup per submission")
def test_memory_and_folders_are_bounded_for_the_sandbox_as_a_whole():
    limits = replace(LIMITS, memory_bytes=2 * 2**30, folder_bytes=64 * 2**20, question_seconds=90)
    value, raw = probe(["""
import os, subprocess, sys
HOG = "import time; block = b'x' * (800 * 2**20); time.sleep(5)"   # each fits its own address-space limit
def probe():
    children = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(3)]
    codes = [c.wait() for c in children]
    try:
        with open("/tmp/fill", "wb") as f:
            for _ in range(200):
                f.write(b"x" * 2**20)
        tmp = "filled"
    except OSError as err:
        tmp = err.strerror
    os.remove("/tmp/fill")
    return {"codes": codes, "tmp": tmp}
"""], limits)
    assert isinstance(value, dict) and -9 in value["codes"], value      # three children of 800 MB do not fit in 2 GiB together
    assert value["tmp"] == "No space left on device"
    assert raw["sandbox"]["oom_kills"] >= 1


@pytest.mark.skipif(cgroup_available() is not None, reason=f"no cgroups here: {cgroup_available()}")
def test_a_cgroup_is_made_and_removed():
    group = Cgroup.create(f"course-grade-test-{os.getpid()}", 2**30, 32, 0.5)
    try:
        assert all(Path(f).is_file() for f in group.procs_files) and group.pids() == set()
    finally:
        group.remove()
    assert not any(Path(f).parent.exists() for f in group.procs_files)


def test_channel_frames_round_trip_and_refuse_what_breaks_the_rules():
    data = channel.frame({"kind": "a"}, [b"xy", b""]) + channel.frame({"kind": "b"})
    frames = list(channel.read_frames(io.BytesIO(data), 1000))
    assert frames == [({"kind": "a", "sizes": [2, 0]}, [b"xy", b""]), ({"kind": "b", "sizes": []}, [])]
    with pytest.raises(channel.ChannelError, match="more than"):
        list(channel.read_frames(io.BytesIO(data), 20))
    with pytest.raises(channel.ChannelError, match="ended"):
        list(channel.read_frames(io.BytesIO(channel.frame({"kind": "c"}, [b"abc"])[:-1]), 1000))
    with pytest.raises(channel.ChannelError, match="not JSON"):
        list(channel.read_frames(io.BytesIO(struct.pack(">I", 3) + b"{{{"), 1000))


def _npz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buffer.getvalue()


def _npy(array: np.ndarray, shape=None) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array)
    data = buffer.getvalue()
    if shape is not None:  # a header that lies about the shape
        header = np.lib.format.header_data_from_array_1_0(array)
        header["shape"] = shape
        fake = io.BytesIO()
        np.lib.format.write_array_header_1_0(fake, header)
        data = fake.getvalue() + data[len(fake.getvalue()):]
    return data


def test_decoding_is_bounded_before_anything_is_decoded():
    bomb = _npz({"a0.npy": _npy(np.zeros(2**27, np.uint8))})   # 128 MiB that compress to about 130 kB
    assert len(bomb) < 2**20
    with pytest.raises(plain.NotPlain, match="more than the"):
        plain.loads(b'{"$array": "a0"}', bomb, max_bytes=2**26)
    assert plain.loads(b'"only a string"', bomb, max_bytes=2**20) == "only a string"   # unreferenced: never read
    liar = _npz({"a0.npy": _npy(np.zeros(10, np.float64), shape=(10**9,))})
    with pytest.raises(plain.NotPlain, match="promises"):
        plain.loads(b'{"$array": "a0"}', liar)
    with pytest.raises(plain.NotPlain, match="JSON tree"):
        plain.loads(b"[" * (plain.MAX_TREE_BYTES + 1), b"")
    small = np.arange(6, dtype=">i4").reshape(2, 3)
    back = plain.loads(b'{"$array": "a0"}', plain.npz_bytes({"a0": small}))
    assert back.dtype == small.dtype and np.array_equal(back, small) and back.flags.writeable


def test_probe_of_the_walls_is_honest_without_bubblewrap(monkeypatch):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    sandbox.walls.cache_clear()
    try:
        found = sandbox.walls()
    finally:
        sandbox.walls.cache_clear()
    assert found.level == "none"
    assert any("bubblewrap is not installed" in w for w in found.why_not)
    lines = sandbox.protections(LIMITS, 3, found)
    assert lines[0].startswith("NOT in force: any sandbox")
    assert sandbox.protections(LIMITS, 3, None) == ["none: no sandbox has started (see each submission's reason)"]
