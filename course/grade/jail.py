"""The first process inside the sandbox: build the walls, drop root, become the runner.

``python path/to/jail.py CONFIG_JSON`` (see :class:`course.grade.sandbox.JailConfig`); run as a
script, importing nothing but the standard library, so that it starts fast. Inside
fresh namespaces and as root it brings up the loopback (the kernel talks to the runner over
127.0.0.1), mounts a private /tmp with the work folder at ``/tmp/sandbox``, hides the given
folders behind empty root-owned mounts, then sets the rlimits, takes the unprivileged uid with
no way back (``PR_SET_NO_NEW_PRIVS``), and executes the runner.
"""
from __future__ import annotations

import ctypes
import fcntl
import json
import os
import resource
import socket
import struct
import sys

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 4096, 16384, 1 << 18
_libc = ctypes.CDLL(None, use_errno=True)


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    if _libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, 0x8913, ifreq))[1]  # SIOCGIFFLAGS
        fcntl.ioctl(s, 0x8914, struct.pack("16sH14x", b"lo", flags | 1))    # SIOCSIFFLAGS, IFF_UP


def build_walls(config: dict) -> str:
    """Namespaces set-up (as root inside them); returns the work folder's path inside."""
    sandbox_dir = config["sandbox_dir"]
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _loopback_up()
    work_fd = os.open(config["work"], os.O_RDONLY | os.O_DIRECTORY)
    _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    os.mkdir(sandbox_dir)
    _mount(f"/proc/self/fd/{work_fd}", sandbox_dir, None, MS_BIND)
    os.close(work_fd)
    # Hide folders behind empty tmpfs mounts, keeping visible (bound back in) the Python
    # installation and the course package when they live below one of them (e.g. /root/.pyenv).
    keep = {os.path.realpath(p) for p in (sys.base_prefix, sys.prefix, config["package_root"])}
    for mask in [*config["hide"], "/var/tmp", "/dev/shm", "/root", "/home"]:
        mask = os.path.realpath(mask)
        inside = [k for k in keep if k == mask or k.startswith(mask + "/")]
        if not os.path.isdir(mask) or mask in inside or sandbox_dir.startswith(mask + "/"):
            continue  # never hide the interpreter or the course package themselves
        fds = {k: os.open(k, os.O_RDONLY | os.O_DIRECTORY) for k in inside}
        _mount("tmpfs", mask, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k")
        for k, fd in fds.items():
            os.makedirs(k, exist_ok=True)
            _mount(f"/proc/self/fd/{fd}", k, None, MS_BIND | MS_REC)
            os.close(fd)
    return sandbox_dir


def main(config_json: str) -> None:
    config = json.loads(config_json)
    work = build_walls(config) if config["namespaces"] else config["work"]
    limits = [("RLIMIT_AS", config["memory_bytes"]), ("RLIMIT_CPU", config["cpu_seconds"]),
              ("RLIMIT_FSIZE", config["file_bytes"]), ("RLIMIT_CORE", 0)]
    if config["uid"] is not None:  # the process count is per uid: only meaningful for a uid of its own
        limits.append(("RLIMIT_NPROC", config["processes"]))
    for name, value in limits:
        resource.setrlimit(getattr(resource, name), (value, value))
    if config["uid"] is not None:
        os.setgroups([])
        os.setgid(config["uid"])
        os.setuid(config["uid"])
    _libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
    for sub in ("home", "home/mpl", "home/ipython", "home/runtime", "cache", "results"):
        os.makedirs(os.path.join(work, sub), exist_ok=True)
    os.chdir(work)
    os.execv(sys.executable, [sys.executable, "-m", "course.grade.runner", work])


if __name__ == "__main__":
    main(sys.argv[1])
