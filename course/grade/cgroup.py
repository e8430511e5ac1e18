"""One control group per submission: memory (its tmpfs included), process count and CPU share
bounded for the sandbox as a whole, not per process.

cgroup v2 is used where the grader's own cgroup can hand the memory, pids and cpu controllers to
a child; otherwise each controller's v1 hierarchy (as on machines with v1 controllers and a v2
``unified`` mount that holds none of them). The groups are made below the grader's own group of
each hierarchy, which needs root or a delegated cgroup; :func:`available` says whether it works here.
"""
from __future__ import annotations

import functools
import os
import signal
import time
from pathlib import Path

CONTROLLERS = ("memory", "pids", "cpu")
PERIOD_US = 100_000


def _own_groups() -> dict[str, Path]:
    """Where this process's group is, per controller (``"v2"`` for the unified hierarchy)."""
    mounts: dict[str, Path] = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fstype, _, options = (right.split() + ["", "", ""])[:3]
        point = Path(left.split()[4])
        if fstype == "cgroup2":
            mounts.setdefault("v2", point)
        elif fstype == "cgroup":
            for name in options.split(","):
                if name in CONTROLLERS:
                    mounts.setdefault(name, point)
    groups = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        for name in (names.split(",") if names else ["v2"]):
            if name in mounts:
                groups[name] = mounts[name] / path.lstrip("/")
    return groups


def _v2_parent(groups: dict[str, Path]) -> Path | None:
    """The v2 group that can give its children every controller: the grader's own group (when it
    may enable them for its children), else its parent (which already gives them to the grader's
    group, as systemd's slices do); None if neither."""
    own = groups.get("v2")
    if own is None:
        return None
    wanted = set(CONTROLLERS)
    try:
        control = own / "cgroup.subtree_control"
        if not wanted <= set(control.read_text().split()):
            control.write_text(" ".join(f"+{c}" for c in CONTROLLERS))
        if wanted <= set(control.read_text().split()):
            return own
    except OSError:  # e.g. EBUSY: a group holding processes cannot hand controllers to children
        pass
    try:
        return own.parent if wanted <= set((own / "cgroup.controllers").read_text().split()) else None
    except OSError:
        return None


class Cgroup:
    """The group of one submission, made by :meth:`create` and removed by :meth:`remove`."""

    def __init__(self, folders: dict[str, Path], version: int):
        self.folders = folders    # controller -> folder ({"v2": folder} on cgroup v2)
        self.version = version

    @classmethod
    def create(cls, name: str, memory_bytes: int, processes: int, cpus: float) -> "Cgroup":
        """A new group ``name`` with its limits set; raises OSError where that is not possible."""
        groups = _own_groups()
        parent = _v2_parent(groups)
        if parent is not None:
            group = cls({"v2": parent / name}, 2)
            settings = {"memory.max": memory_bytes, "memory.swap.max": 0, "pids.max": processes,
                        "cpu.max": f"{int(cpus * PERIOD_US)} {PERIOD_US}"}
        else:
            missing = [c for c in CONTROLLERS if c not in groups]
            if missing:
                raise OSError(f"no cgroup hierarchy for {', '.join(missing)}")
            group = cls({c: groups[c] / name for c in CONTROLLERS}, 1)
            settings = {"memory.limit_in_bytes": memory_bytes, "memory.memsw.limit_in_bytes": memory_bytes,
                        "pids.max": processes, "cpu.cfs_period_us": PERIOD_US,
                        "cpu.cfs_quota_us": int(cpus * PERIOD_US)}
        try:
            for folder in group.folders.values():
                folder.mkdir()
            for key, value in settings.items():
                path = group._file(key)
                if key.endswith("swap.max") or key.startswith("memory.memsw"):
                    if not path.exists():  # no swap accounting on this kernel: nothing to bound
                        continue
                path.write_text(str(value))
        except OSError:
            group.remove()
            raise
        return group

    def _file(self, key: str) -> Path:
        folder = self.folders.get("v2") or self.folders[key.split(".")[0]]
        return folder / key

    @property
    def procs_files(self) -> list[str]:
        """The files a process writes its pid to, to join the group (every hierarchy)."""
        return [str(f / "cgroup.procs") for f in self.folders.values()]

    def pids(self) -> set[int]:
        found: set[int] = set()
        for path in self.procs_files:
            try:
                found |= {int(p) for p in Path(path).read_text().split()}
            except OSError:
                pass
        return found

    def kill(self) -> None:
        """SIGKILL every process in the group (until none is left, or 5 s)."""
        try:
            (self.folders["v2"] / "cgroup.kill").write_text("1")
        except (KeyError, OSError):  # cgroup v1, or a kernel before 5.14
            pass
        kill_until_gone(self.pids)

    def memory_peak(self) -> int | None:
        """The most memory the group used, in bytes (None where the kernel does not say)."""
        try:
            return int(self._file("memory.peak" if self.version == 2 else "memory.max_usage_in_bytes").read_text())
        except (OSError, ValueError):
            return None

    def oom_kills(self) -> int:
        """How many processes the kernel killed for the group's memory limit."""
        try:
            text = self._file("memory.events" if self.version == 2 else "memory.oom_control").read_text()
        except OSError:
            return 0
        counts = dict(line.split() for line in text.splitlines() if len(line.split()) == 2)
        return int(counts.get("oom_kill", 0))

    def remove(self) -> None:
        """Kill what is left in the group and delete it."""
        self.kill()
        for folder in self.folders.values():
            for _ in range(100):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)


def kill_until_gone(find_pids, seconds: float = 5) -> int:
    """SIGKILL the processes ``find_pids()`` names until it names none, or ``seconds`` have
    passed (a process may fork while it is being killed); returns how many signals were sent."""
    sent, deadline = 0, time.monotonic() + seconds
    while (pids := find_pids()) and time.monotonic() < deadline:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                sent += 1
            except OSError:
                pass
        time.sleep(0.02)
    return sent


@functools.lru_cache(maxsize=1)
def available() -> str | None:
    """None if a group with limits can be made here, else why not (one line)."""
    try:
        Cgroup.create(f"course-grade-probe-{os.getpid()}", 2**30, 64, 1.0).remove()
        return None
    except OSError as err:
        return err.strerror or str(err)
