"""Run the runner on one submission, walled off from the machine as far as the machine allows.

Host side (:func:`run`): chown the work folder to a fresh unprivileged uid, start
``course/grade/jail.py`` inside new network, PID and mount namespaces (``unshare``, when
we are root and the kernel allows it), wait at most ``wall_seconds``, then kill the whole PID
namespace. :func:`protections` says in words which walls were up.
"""
from __future__ import annotations

import functools
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..execute import PINNED_ENV

#: Where the work folder appears inside the namespaces (the same for every submission).
SANDBOX_DIR = "/tmp/sandbox"
_UNSHARE = ["unshare", "--net", "--pid", "--fork", "--kill-child", "--mount", "--mount-proc"]


@dataclass
class Limits:
    """Resource limits of one submission's sandbox (seconds, bytes, counts)."""
    notebook_seconds: float = 60
    question_seconds: float = 20
    memory_bytes: int = 4 * 2**30
    processes: int = 256
    file_bytes: int = 256 * 2**20
    output_bytes: int = 1_000_000

    def wall_seconds(self, n_questions: int) -> float:
        """The sandbox's whole wall-clock budget: a few notebook re-runs plus every question's time."""
        return 3 * self.notebook_seconds + n_questions * (self.question_seconds + 10) + 60


@dataclass
class JailConfig:
    """What the jail needs: the work folder, folders to hide, the uid to become, limits."""
    work: str
    hide: list[str] = field(default_factory=list)
    uid: int | None = None
    namespaces: bool = False
    memory_bytes: int = 4 * 2**30
    processes: int = 256
    cpu_seconds: int = 600
    file_bytes: int = 256 * 2**20
    sandbox_dir: str = SANDBOX_DIR
    package_root: str = str(Path(__file__).resolve().parents[2])  # the folder holding the course package


@functools.lru_cache(maxsize=1)
def namespaces_available() -> bool:
    """True if we are root and ``unshare`` can make network, PID and mount namespaces here."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    try:
        return subprocess.run([*_UNSHARE, "true"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def protections(limits: Limits, n_questions: int) -> list[str]:
    """One line per protection in force on this machine."""
    lines = []
    if namespaces_available():
        lines += ["network: none (own network namespace with only its own loopback)",
                  "processes: own PID namespace, killed as a whole at the end or on timeout",
                  f"files: private /tmp (work folder seen as {SANDBOX_DIR}); solutions/, the output folder "
                  "and the submissions' folders hidden behind empty mounts",
                  "user: a fresh unprivileged uid per submission (no write access to the course pack, "
                  "its own process count)"]
    else:
        lines.append("NOT in force: network, PID and mount namespaces, a separate uid (they need root and "
                     "unshare); the notebook can use the network and read what the grader's user can read")
    processes = f"{limits.processes} processes, " if namespaces_available() else ""
    lines += [f"rlimits: address space {limits.memory_bytes / 2**30:g} GiB, {processes}"
              f"files up to {limits.file_bytes // 2**20} MiB, CPU time as the wall clock",
              f"wall clock: {limits.notebook_seconds:g} s for the notebook's cells, {limits.question_seconds:g} s "
              f"per question, {limits.wall_seconds(n_questions):g} s for the whole sandbox",
              f"output: at most {limits.output_bytes:,} bytes of notebook output kept"]
    return lines


_running: set[int] = set()  # process groups of the sandboxes running now
_uids_in_use: set[int] = set()
_uids_lock = threading.Lock()


def _fresh_uid() -> int:
    with _uids_lock:
        while True:
            uid = random.randrange(200_000, 2**31 - 2)
            if uid not in _uids_in_use:
                _uids_in_use.add(uid)
                return uid


def run(work: Path, limits: Limits, n_questions: int, hide: list[Path]) -> dict:
    """Run the runner on the prepared ``work`` folder; returns ``{"returncode", "timed_out", "seconds"}``.

    The results are in ``work/results`` and ``work/log.json``, whatever happened.
    """
    wall = limits.wall_seconds(n_questions)
    ns = namespaces_available()
    uid = _fresh_uid() if ns else None  # without a mount namespace the uid might not reach Python
    try:
        if uid is not None:
            for path in [work, *work.rglob("*")]:
                os.chown(path, uid, uid, follow_symlinks=False)
        config = JailConfig(work=str(work), hide=[str(p) for p in hide], uid=uid, namespaces=ns,
                            memory_bytes=limits.memory_bytes, processes=limits.processes,
                            cpu_seconds=int(wall) + 10, file_bytes=limits.file_bytes)
        command = [*(_UNSHARE if ns else []), sys.executable, "-I", str(Path(__file__).with_name("jail.py")),
                   json.dumps(asdict(config))]
        env = _environment(SANDBOX_DIR if ns else str(work))
        start = time.monotonic()
        with open(work.parent / f"{work.name}.stderr", "wb") as err:
            proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=err, stderr=err, env=env,
                                    start_new_session=True, cwd="/")
            _running.add(proc.pid)
            try:
                returncode, timed_out = proc.wait(timeout=wall), False
            except subprocess.TimeoutExpired:
                returncode, timed_out = None, True
            finally:
                _kill_group(proc.pid)
                proc.wait()
                _running.discard(proc.pid)
        return {"returncode": returncode, "timed_out": timed_out, "wall_seconds": wall,
                "seconds": time.monotonic() - start}
    finally:
        if uid is not None:
            with _uids_lock:
                _uids_in_use.discard(uid)


def kill_all() -> None:
    """Kill every sandbox this process is running (the grader was interrupted)."""
    for pgid in list(_running):
        _kill_group(pgid)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _environment(work: str) -> dict[str, str]:
    """A small environment for the sandbox: none of the grader's variables leak in."""
    import sysconfig
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
           "LANG": "C.UTF-8", "HOME": f"{work}/home", "COURSE_CACHE_DIR": f"{work}/cache",
           "MPLCONFIGDIR": f"{work}/home/mpl", "IPYTHONDIR": f"{work}/home/ipython",
           "JUPYTER_RUNTIME_DIR": f"{work}/home/runtime", "JUPYTER_PLATFORM_DIRS": "1",
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1",
           "VIRTUAL_ENV": sysconfig.get_config_var("prefix") or sys.prefix}
    env.update(PINNED_ENV)
    env["MPLBACKEND"] = "agg"  # figures are not graded: do not render them
    return env
