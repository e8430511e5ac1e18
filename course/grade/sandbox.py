"""Run the runner on one submission, walled off from the machine as far as the machine allows.

The walls, strongest first (:func:`walls` finds which this machine allows, by trying them):

* ``bwrap-root`` (as root): bubblewrap builds a new root that holds only what the runner needs,
  read-only: the system's ``/usr`` and the loader's files of ``/etc``, the Python installation, the
  virtual environment and the ``course`` package folder (not the repository). ``/tmp``,
  ``/dev/shm`` and the work folder are size-bounded tmpfs; nothing of the host is writable and
  the rest of the host is absent (``.git``, ``tests/``, ``solutions/``, the output and submission
  folders, the home folders). New network (loopback only), PID, IPC and UTS namespaces; the
  runner then takes a fresh unprivileged uid, no capabilities, ``no_new_privs``.
* ``bwrap-user`` (without root, where unprivileged user namespaces work): the same root and
  namespaces inside a user namespace, as the grader's own uid.
* ``uid`` (as root where namespaces are refused, e.g. in Docker or on Gradescope): only a fresh
  unprivileged uid, which can read what every user can read and no more.
* ``none``: rlimits and time limits only.

Where root (or a delegated cgroup) allows, every sandbox also gets its own cgroup: memory (its
tmpfs included), process count and CPU share bounded for the sandbox as a whole
(:mod:`course.grade.cgroup`).

The runner gets its settings and files on stdin and sends its log and results back over a pipe
the grader opened (:mod:`course.grade.channel`); the grader never reads a file the submission
could have written. :meth:`Started.finish` returns what came, and :func:`protections` says in words which
walls were up.
"""
from __future__ import annotations

import functools
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from . import cgroup, channel
from ..execute import PINNED_ENV

#: Where the work folder is inside the bubblewrap sandbox (the same for every submission).
SANDBOX_DIR = "/sandbox"
#: The runner's and harness's folder (inputs, results), a tmpfs of its own that the runner empties before use.
EXCHANGE_DIR = "/exchange"
EXCHANGE_BYTES = 192 * 2**20
PACKAGE_DIR = Path(__file__).resolve().parents[1]   # the `course` package folder
_SETPRIV_DROP = ["--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
_ETC = ["ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "alternatives", "fonts"]
#: The runner, with the grader's own course package first on the path (-P: not the working folder).
RUNNER = [sys.executable, "-P", "-s", "-m", "course.grade.runner"]
#: What a sandbox must manage to count as started: import the runner, start the interpreter again (as the kernel).
PROBE = "import subprocess, sys, course.grade.runner; subprocess.run([sys.executable, '-c', ''], check=True)"


@dataclass
class Limits:
    """Resource limits of one submission's sandbox (seconds, bytes, counts)."""
    notebook_seconds: float = 60       # all the notebook's cells together
    question_seconds: float = 20       # all the cases of one question together
    memory_bytes: int = 4 * 2**30      # the whole sandbox with a cgroup (tmpfs included), else per process
    processes: int = 256
    cpus: float = 1.0                  # CPU share of one sandbox (with a cgroup)
    file_bytes: int = 256 * 2**20      # one file
    folder_bytes: int = 512 * 2**20    # each of /tmp, /dev/shm and the work folder
    output_bytes: int = 1_000_000      # notebook output kept
    result_bytes: int = 512 * 2**20    # everything the runner sends back

    def wall_seconds(self, n_questions: int) -> float:
        """The sandbox's whole wall-clock budget: a few notebook re-runs plus every question's time."""
        return 3 * self.notebook_seconds + n_questions * (self.question_seconds + 10) + 60


@dataclass(frozen=True)
class Walls:
    """What this machine allows: ``level`` (see the module docstring), and why nothing stronger."""
    level: str
    cgroup: bool
    why_not: tuple[str, ...] = ()


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    for name in _ETC:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    return args


def python_folders() -> list[str]:
    """The folders the runner needs from the host, read-only: the Python installation, the
    virtual environment and the course package (outermost only, shortest first)."""
    wanted = sorted({os.path.realpath(p) for p in (sys.base_prefix, sys.prefix, PACKAGE_DIR)}, key=len)
    kept: list[str] = []
    for path in wanted:
        if path != "/usr" and not path.startswith("/usr/") and not any(path.startswith(k + "/") for k in kept):
            kept.append(path)
    return kept


def _bwrap_command(level: str, uid: int | None, folder_bytes: int) -> list[str]:
    args = ["bwrap", "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--hostname", "sandbox"]
    if level == "bwrap-user":
        args += ["--unshare-user", "--disable-userns", "--uid", "1000", "--gid", "1000"]
    args += _system_binds()
    args += ["--proc", "/proc", "--dev", "/dev"]
    for target in ("/tmp", "/dev/shm", SANDBOX_DIR):
        args += ["--size", str(folder_bytes), "--perms", "1777", "--tmpfs", target]
    args += ["--size", str(EXCHANGE_BYTES), "--perms", "1777", "--tmpfs", EXCHANGE_DIR]
    made: set[str] = set()
    for folder in python_folders():
        parents = list(reversed(Path(folder).parents))[1:]  # below "/"
        for parent in map(str, parents):
            if parent not in made:  # bubblewrap would make them 0700, closed to the runner's uid
                args += ["--perms", "0755", "--dir", parent]
                made.add(parent)
        args += ["--ro-bind", folder, folder]
    args += ["--chdir", SANDBOX_DIR]
    if level == "bwrap-root":
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
                 "setpriv", f"--reuid={uid}", f"--regid={uid}", *_SETPRIV_DROP]
    return args


def _command(level: str, uid: int | None, folder_bytes: int) -> list[str]:
    """The command prefix that starts a program inside walls of ``level``."""
    if level.startswith("bwrap"):
        return _bwrap_command(level, uid, folder_bytes)
    if level == "uid":
        return ["setpriv", f"--reuid={uid}", f"--regid={uid}", *_SETPRIV_DROP]
    return []


@functools.lru_cache(maxsize=1)
def byte_compile_package() -> None:
    """Write the ``course`` package's bytecode (``__pycache__``) where it is missing or stale, once per
    grader process: the sandbox sees the package read-only, and without it every sandbox compiles the
    modules its runner and kernel import again. Where the package's folder is not writable (a pip
    install, which compiles it already), nothing is written."""
    import compileall
    compileall.compile_dir(PACKAGE_DIR, quiet=2)


@functools.lru_cache(maxsize=1)
def walls() -> Walls:
    """The strongest walls that start here (each is tried once, with Python and the course package)."""
    root = os.geteuid() == 0
    levels = (["bwrap-root"] if root else []) + ["bwrap-user"] + (["uid"] if root else [])
    why_not = []
    for level in levels:
        if level.startswith("bwrap") and shutil.which("bwrap") is None:
            why_not.append(f"{level}: bubblewrap is not installed (apt-get install bubblewrap)")
            continue
        if level in ("bwrap-root", "uid") and shutil.which("setpriv") is None:
            why_not.append(f"{level}: setpriv (util-linux) is not installed")
            continue
        probe = [*_command(level, _probe_uid(), 2**20), *RUNNER[:-2], "-c", PROBE]
        try:
            done = subprocess.run(probe, capture_output=True, timeout=60, cwd="/", env=_environment("/"))
        except (OSError, subprocess.SubprocessError) as err:
            why_not.append(f"{level}: {type(err).__name__}: {err}")
            continue
        if done.returncode == 0:
            return Walls(level, cgroup.available() is None, tuple(why_not))
        last = (done.stderr.decode(errors="replace").strip().splitlines() or ["no message"])[-1]
        why_not.append(f"{level}: {last[:200]}")
    return Walls("none", cgroup.available() is None, tuple(why_not))


def _probe_uid() -> int:
    return 65534 if os.geteuid() == 0 else os.geteuid()


def readable_by_everyone(path: Path) -> bool:
    """True if a user with no relation to ``path``'s owner can read it (every folder above it
    searchable, the file or folder itself readable, by "others")."""
    path = Path(path).resolve()
    try:
        if not path.stat().st_mode & 0o004:
            return False
        return all(parent.stat().st_mode & 0o001 for parent in path.parents)
    except OSError:
        return False


def protections(limits: Limits, n_questions: int, started: Walls | None = None,
                secrets: tuple[Path, ...] = ()) -> list[str]:
    """One line per protection in force for a sandbox of ``started`` walls (None: none started).
    ``secrets`` are the grader's files no submission may read (the reference, the repository's
    .git): where only a fresh uid stands between them and the submission, it says whether they are readable."""
    if started is None:
        return ["none: no sandbox has started (see each submission's reason)"]
    lines = []
    if started.level.startswith("bwrap"):
        lines += ["files: an allow-list root (bubblewrap): the system's /usr, the Python installation, the virtual "
                  "environment and the course package, read-only; /tmp, /dev/shm and the work folder are tmpfs of "
                  f"{limits.folder_bytes // 2**20} MiB each; nothing else of the host (no repository, solutions, "
                  "grades, submissions or home folders)",
                  "network: none (own network namespace with only its own loopback)",
                  "processes: own PID namespace, killed as a whole at the end or on timeout"]
        lines.append("user: a fresh unprivileged uid per submission, no capabilities, no_new_privs"
                     if started.level == "bwrap-root" else
                     "user: the grader's own uid in a user namespace, no capabilities, no_new_privs")
    elif started.level == "uid":
        lines += ["user: a fresh unprivileged uid per submission, no capabilities; its processes are killed at the end",
                  "NOT in force: an allow-list root, network, PID and mount namespaces (refused here: "
                  + "; ".join(started.why_not) + "): the notebook can use the network and read every file "
                  "that every user may read"]
        for path in secrets:
            if Path(path).exists():
                lines.append(f"NOT in force: {path} is readable by every user, the sandbox's uid too: chmod -R o-rwx it"
                             if readable_by_everyone(path) else f"{path}: not readable by the sandbox's uid")
    else:
        lines.append("NOT in force: any sandbox (" + "; ".join(started.why_not) + "): the notebook runs as the "
                     "grader's user, can read what it can read and use the network")
    if started.cgroup:
        lines.append(f"cgroup: {limits.memory_bytes / 2**30:g} GiB of memory (tmpfs included), {limits.processes} "
                     f"processes and {limits.cpus:g} CPU for the sandbox as a whole")
    else:
        lines.append(f"NOT in force: a cgroup per submission ({cgroup.available()}): memory is bounded per process only")
    lines += [f"rlimits: address space {limits.memory_bytes / 2**30:g} GiB and files of {limits.file_bytes // 2**20} "
              "MiB per process, CPU time as the wall clock",
              f"wall clock: {limits.notebook_seconds:g} s for all the notebook's cells together, "
              f"{limits.question_seconds:g} s per question, {limits.wall_seconds(n_questions):g} s for the whole sandbox",
              f"output: at most {limits.output_bytes:,} bytes of notebook output kept",
              "results: read from a pipe the grader opened, never from the submission's folders"]
    return lines


_running: dict[int, "cgroup.Cgroup | None"] = {}  # process groups of the sandboxes running now
_uids_in_use: set[int] = set()
_lock = threading.Lock()


def _fresh_uid() -> int:
    with _lock:
        while True:
            uid = random.randrange(200_000, 2**31 - 2)
            if uid not in _uids_in_use:
                _uids_in_use.add(uid)
                return uid


class Started:
    """A sandbox started ahead of its notebook: the runner has its settings and the class's files,
    lays them out and warms a kernel up, then waits for :meth:`finish` to send the notebook. Each
    sandbox grades one notebook and ends; the time limits count from :meth:`finish` on.

    ``files`` are the class's files (path inside the work folder -> bytes), ``config`` the runner's
    settings (see :mod:`course.grade.runner`).
    """

    def __init__(self, files: dict[str, bytes], config: dict, limits: Limits, n_questions: int):
        self.found, self.limits, self.wall = walls(), limits, limits.wall_seconds(n_questions)
        self.uid = _fresh_uid() if self.found.level in ("bwrap-root", "uid") else None
        self.group = self.host_work = self.proc = None
        self.stopped = False
        self.spawned = time.monotonic()
        try:
            self._spawn(files, config)
        except BaseException:
            self._clean()
            raise

    def _spawn(self, files: dict[str, bytes], config: dict) -> None:
        found, limits = self.found, self.limits
        if found.cgroup:
            try:
                self.group = cgroup.Cgroup.create(f"course-grade-{os.getpid()}-{self.uid or random.randrange(2**31)}",
                                                  limits.memory_bytes, limits.processes, limits.cpus)
            except OSError:
                self.group = None
        if found.level.startswith("bwrap"):
            work = SANDBOX_DIR
        else:  # no tmpfs of its own: a fresh host folder, the sandbox uid's alone
            self.host_work = Path(tempfile.mkdtemp(prefix="course-grade-"))
            if self.uid is not None:
                os.chown(self.host_work, self.uid, self.uid)
            work = str(self.host_work)
        read_end, write_end = os.pipe()
        runner_config = {**config, "work": work, "result_fd": write_end,
                         "exchange": EXCHANGE_DIR if found.level.startswith("bwrap") else f"{work}/exchange",
                         "rlimits": {"RLIMIT_AS": limits.memory_bytes, "RLIMIT_CPU": int(self.wall) + 10,
                                     "RLIMIT_FSIZE": limits.file_bytes, "RLIMIT_CORE": 0,
                                     **({"RLIMIT_NPROC": limits.processes} if found.level != "none" else {})},
                         "kill_strays": found.level != "none"}
        command = [*_command(found.level, self.uid, limits.folder_bytes), *RUNNER]
        if self.group is not None:  # join the cgroup first, then become the sandbox
            command = ["/bin/sh", "-c", 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; '
                       'shift; exec "$@"', "sh", *self.group.procs_files, "--", *command]
        try:
            self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE, pass_fds=(write_end,), env=_environment(work),
                                         cwd="/", start_new_session=True)
        finally:
            os.close(write_end)
        with _lock:
            _running[self.proc.pid] = self.group
        self.received: dict = {"frames": [], "channel_error": None}
        self.stderr_tail = bytearray()
        settings = channel.frame({"config": runner_config, "files": list(files)}, list(files.values()))
        self.threads = [threading.Thread(target=_feed, args=(self.proc.stdin, settings, False), daemon=True),
                        threading.Thread(target=_collect, args=(read_end, limits.result_bytes, self.received),
                                         daemon=True),
                        threading.Thread(target=_tail, args=(self.proc.stderr, self.stderr_tail), daemon=True)]
        for t in self.threads:
            t.start()

    def alive(self) -> bool:
        """Still waiting for its notebook (it has not died or ended)."""
        return self.proc is not None and self.proc.poll() is None

    def finish(self, notebook: bytes) -> dict:
        """Send ``notebook`` and wait until the sandbox ends; returns what came back::

            {"frames": [(header, payloads), ...], "started": bool, "channel_error": str | None,
             "returncode", "timed_out", "wall_seconds", "seconds", "ready_seconds",
             "stderr": its last 4,000 bytes, "walls": Walls as a dict, "memory_peak": bytes or None,
             "oom_kills": int}
        """
        try:
            self.threads[0].join()  # the settings are in (or the sandbox is gone)
            start = time.monotonic()
            feeder = threading.Thread(target=_feed, args=(self.proc.stdin, channel.frame({"notebook": True},
                                                                                          [notebook]), True),
                                      daemon=True)
            feeder.start()
            try:
                returncode, timed_out = self.proc.wait(timeout=self.wall), False
            except subprocess.TimeoutExpired:
                returncode, timed_out = None, True
            self._stop()
            for t in [feeder, *self.threads[1:]]:
                t.join(timeout=5)
            frames = self.received["frames"]
            ready = next((h.get("seconds") for h, _ in frames if h.get("kind") == "ready"), None)
            return {"frames": frames, "started": bool(frames) and frames[0][0].get("kind") == "started",
                    "channel_error": self.received["channel_error"], "returncode": returncode,
                    "timed_out": timed_out, "wall_seconds": self.wall, "seconds": time.monotonic() - start,
                    "ready_seconds": ready, "stderr": bytes(self.stderr_tail[-4000:]).decode(errors="replace"),
                    "walls": {"level": self.found.level, "cgroup": self.group is not None,
                              "why_not": list(self.found.why_not)},
                    "memory_peak": self.group.memory_peak() if self.group else None,
                    "oom_kills": self.group.oom_kills() if self.group else 0}
        finally:
            self._clean()

    def cancel(self) -> None:
        """End it without a notebook (the class is done, or the grader was interrupted)."""
        self._clean()

    def _stop(self) -> None:
        if self.proc is not None and not self.stopped:
            self.stopped = True
            _kill(self.proc.pid, self.group, self.uid)
            self.proc.wait()
            with _lock:
                _running.pop(self.proc.pid, None)

    def _clean(self) -> None:
        self._stop()
        if self.group is not None:
            self.group.remove()
            self.group = None
        if self.uid is not None:
            _kill_uid(self.uid)
            with _lock:
                _uids_in_use.discard(self.uid)
            self.uid = None
        if self.host_work is not None:
            shutil.rmtree(self.host_work, ignore_errors=True)
            self.host_work = None


def _feed(stdin, data: bytes, close: bool) -> None:
    try:
        stdin.write(data)
        stdin.flush()
        if close:
            stdin.close()
    except (OSError, ValueError):  # the sandbox died before reading everything
        pass


def _collect(fd: int, max_bytes: int, received: dict) -> None:
    with open(fd, "rb", buffering=0) as stream:
        try:
            for header, payloads in channel.read_frames(stream, max_bytes):
                received["frames"].append((header, payloads))
        except channel.ChannelError as err:
            received["channel_error"] = str(err)


def _tail(stream, tail: bytearray) -> None:
    while chunk := stream.read1(65536):
        tail += chunk
        del tail[:-8000]


def kill_all() -> None:
    """Kill every sandbox this process is running (the grader was interrupted)."""
    with _lock:
        running = list(_running.items())
    for pgid, group in running:
        _kill(pgid, group, None)


def _kill(pgid: int, group, uid: int | None) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if group is not None:
        group.kill()
    if uid is not None:
        _kill_uid(uid)


def pids_of(uid: int) -> set[int]:
    """The processes of ``uid`` that this process can see."""
    pids = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            uids = next(line for line in status.read_text().splitlines() if line.startswith("Uid:"))
        except (OSError, StopIteration):
            continue
        if int(uids.split()[1]) == uid:
            pids.add(int(status.parent.name))
    return pids


def _kill_uid(uid: int) -> None:
    """SIGKILL every process of the sandbox's own uid (a daemon that left the process group)."""
    cgroup.kill_until_gone(lambda: pids_of(uid))


def _environment(work: str) -> dict[str, str]:
    """A small environment for the sandbox: none of the grader's variables leak in."""
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
           "LANG": "C.UTF-8", "HOME": f"{work}/home", "USER": "student", "LOGNAME": "student",
           "COURSE_CACHE_DIR": f"{work}/cache", "MPLCONFIGDIR": f"{work}/home/mpl",
           "IPYTHONDIR": f"{work}/home/ipython", "JUPYTER_RUNTIME_DIR": f"{work}/home/runtime",
           "JUPYTER_PLATFORM_DIRS": "1", "TMPDIR": "/tmp" if work == SANDBOX_DIR else f"{work}/tmp",
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1", "VIRTUAL_ENV": sys.prefix,
           "PYTHONPATH": str(PACKAGE_DIR.parent)}  # the kernel imports this course package too
    env.update(PINNED_ENV)
    env["MPLBACKEND"] = "agg"  # figures are not graded: do not render them
    return env
