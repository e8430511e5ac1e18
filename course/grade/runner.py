"""Runs inside the sandbox: execute the submitted notebook in a fresh kernel, then call each
question's function through :mod:`course.grade.harness`.

``python -I -m course.grade.runner`` reads one frame on stdin (:mod:`course.grade.channel`): its
``config`` (``work``, ``result_fd``, ``questions``, ``notebook_seconds``, ``question_seconds``,
``output_bytes``, ``rlimits``, ``kill_strays``) and the files to lay out in the work folder
(``submission.ipynb``, the data cache, and ``inputs/``, which appear only once the notebook's cells
have run, in the exchange folder). The exchange folder (``exchange`` in the config: a tmpfs of its
own in the bubblewrap sandbox) holds what runner and harness pass each other; the runner empties it
and lays it out again before it uses it, so a notebook that fills its disk or replaces its folders
with links loses nothing but what it did itself. It sends frames on ``result_fd``, a pipe the grader opened: ``started``, one ``result``
per question (the plain data the harness saved) and ``log`` (the last one counts). It makes itself
non-dumpable first, so that the student's kernel, under the same uid, can neither read nor write
its memory or its file descriptors.

The plan is worked out before any kernel starts, so the same notebook is graded the same way
every time: each code cell runs in full, as its imports and definitions only, or not at all.
The cells have ``notebook_seconds`` in all. A cell that runs past them, or kills the kernel, ends
that kernel: a fresh one runs the cells before it again, then that cell (and, when the time ran
out, every later cell) as imports and definitions only. Definitions that hang or kill the kernel
are left out. After the cells, every process the notebook left running is stopped, and the
questions are graded one by one; a question that outlives its time or kills the kernel gets a
result saying so, and the next ones are graded in a fresh kernel set up the same way.
"""
from __future__ import annotations

import ctypes
import json
import os
import resource
import secrets
import select
import shutil
import stat
import sys
import time
from contextlib import ExitStack
from pathlib import Path

sys.modules.setdefault("rfc3987_syntax", None)  # jsonschema's optional IRI check: 3 s to import, never needed here
import nbformat  # noqa: E402
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from ..questions import cell_definitions
from . import channel, plain
from .demos import DEMO_TAG, cells_to_run
from .harness import fresh_call
from .cgroup import kill_until_gone
from .sandbox import pids_of

MAX_KERNELS = 5             # kernels started for one submission, at most
DEFINITIONS_SECONDS = 10    # for a run of cells cut down to their imports and definitions
RERUN_SLACK = 1.5           # a re-run of cells that fit the first time gets this much more time
QUESTION_GRACE = 5          # beyond the question's own time limit, before the kernel is ended
MAX_RESULT_BYTES = 256 * 2**20
IDLE_SECONDS = 900          # a sandbox started ahead waits this long for its notebook, then ends
#: Run in the first kernel before the notebook comes, in a namespace of its own (the notebook's stays empty).
WARM_UP = "exec('import numpy, matplotlib.pyplot, course.checks, course.data, course.plots', {})"


class CappedClient(NotebookClient):
    """A notebook client that keeps no outputs beyond ``output_bytes`` (a print flood costs nothing)."""

    def __init__(self, *args, output_bytes: int = 1_000_000, **kwargs):
        super().__init__(*args, **kwargs)
        self.output_budget = output_bytes
        self.truncated = False
        self.errors: list[str] = []

    def output(self, outs, msg, display_id, cell_index):
        content = msg.get("content", {})
        if msg.get("msg_type") == "error":
            self.errors.append(f"{content.get('ename')}: {str(content.get('evalue'))[:150]}")
        self.output_budget -= len(json.dumps(content))
        if self.output_budget < 0:
            self.truncated = True
            return None
        return super().output(outs, msg, display_id, cell_index)


class Restart(Exception):
    """This kernel is done for: start a fresh one."""


class Kernel:
    """One kernel of the submission, and a way to run code in it with a time limit."""

    def __init__(self, work: str, output_bytes: int):
        self.client = CappedClient(nbformat.v4.new_notebook(), kernel_name="python3", allow_errors=True,
                                   shutdown_kernel="immediate", output_bytes=output_bytes,
                                   resources={"metadata": {"path": work}})
        self.stack = ExitStack()
        self.started = False

    def __enter__(self) -> "Kernel":
        if not self.started:
            self.stack.enter_context(self.client.setup_kernel())
            self.started = True
        return self

    def __exit__(self, *exc) -> None:
        self.stack.close()

    @property
    def pid(self) -> int | None:
        return getattr(self.client.km.provisioner, "pid", None)

    def run(self, source: str, seconds: float) -> str | None:
        """Run ``source``; None when it finished (with or without an error), "timeout" when it
        ran past ``seconds``, "dead" when the kernel died."""
        cell = nbformat.v4.new_code_cell(source)
        self.client.nb.cells.append(cell)
        self.client.timeout_func = lambda _cell: max(0.1, seconds)
        try:
            self.client.execute_cell(cell, len(self.client.nb.cells) - 1)
            return None
        except DeadKernelError:
            return "dead"
        except CellTimeoutError:
            return "timeout"


class Runner:
    """One submission: its cells, their plan, the questions left, and the log sent to the grader."""

    def __init__(self, config: dict, files: dict[str, bytes]):
        self.config = config
        self.work = Path(config["work"])
        self.exchange = Path(config.get("exchange") or self.work / "exchange")
        self.fd = config["result_fd"]
        self.inputs = {rel: data for rel, data in files.items() if rel.startswith("inputs/")}
        for rel, data in files.items():
            if rel not in self.inputs:
                _write(self.work / rel, data)
        for sub in ("home/mpl", "home/ipython", "home/runtime", "cache", "tmp"):
            (self.work / sub).mkdir(parents=True, exist_ok=True)
        self.remaining = list(config["questions"])
        self.log = {"notes": [], "cell_errors": [], "output_truncated": False, "kernels": 0, "plan": {},
                    "demos": {"tagged": 0, "cut": 0}}
        self.warm: Kernel | None = None
        self.cells: list[tuple[int, str]] = []
        self.plan: dict[int, str] = {}

    def warm_up(self) -> None:
        """Start the first kernel before the notebook comes, and import what notebooks use."""
        start = time.monotonic()
        kernel = Kernel(str(self.work), self.config["output_bytes"])
        try:
            kernel.__enter__()
            if kernel.run(WARM_UP, 60) is None:
                self.warm = kernel
        except Exception:  # the first kernel will be started again, and fail there with a reason
            pass
        if self.warm is None:
            kernel.__exit__(None, None, None)
        channel.send(self.fd, {"kind": "ready", "seconds": round(time.monotonic() - start, 3)})

    def load(self, notebook: bytes) -> None:
        """The notebook's cells and their plan: every cell in full, but the ``demo`` cells that
        grading does not need (:mod:`course.grade.demos`), which run as imports and definitions only."""
        _write(self.work / "submission.ipynb", notebook)
        nb = nbformat.reads(notebook.decode("utf-8"), as_version=4)
        self.cells = [(i, c.source) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
        self.n_cells = len(nb.cells)
        self.definitions = {i: cell_definitions(source) for i, source in self.cells}
        self.plan = {i: "full" for i, _ in self.cells}   # "full", "definitions" or "left out"
        tagged = {i for i, c in enumerate(nb.cells) if c.cell_type == "code"
                  and DEMO_TAG in _list(c.get("metadata", {}).get("tags"))}
        if tagged and self.config.get("skip_demos", True):
            try:
                needed = cells_to_run([(i, source, i in tagged) for i, source in self.cells], self.remaining)
            except Exception:  # beyond the analysis (it errs on the side of running): run them all
                needed = tagged
            for i in tagged - needed:
                self.plan[i] = "definitions"
            self.log["demos"] = {"tagged": len(tagged), "cut": len(tagged - needed)}

    # -- the log and the results, over the grader's pipe --------------------------------------
    def note(self, text: str) -> None:
        if text not in self.log["notes"]:
            self.log["notes"].append(text)
        self.send_log()

    def send_log(self) -> None:
        self.log["plan"] = {str(i + 1): mode for i, mode in self.plan.items() if mode != "full"}
        channel.send(self.fd, {"kind": "log", "log": self.log})

    def send_result(self, question: str, files: tuple[bytes, bytes]) -> None:
        channel.send(self.fd, {"kind": "result", "question": question}, list(files))

    def cell_name(self, index: int) -> str:
        return f"cell {index + 1} (of {self.n_cells})"

    # -- the notebook -------------------------------------------------------------------------
    def run_cells(self, kernel: Kernel, first: bool) -> None:
        budget = self.config["notebook_seconds"] * (1 if first else RERUN_SLACK)
        deadline = time.monotonic() + budget
        batch: list[int] = []   # consecutive cells to run as definitions, together
        for index, source in self.cells:
            mode = self.plan[index]
            if mode == "full" and time.monotonic() >= deadline:
                self._cut_from(index, f"the notebook's {self.config['notebook_seconds']:g} s (all cells together) "
                                      f"ran out before {self.cell_name(index)}")
                mode = self.plan[index]
            if mode == "definitions":
                batch.append(index)
                continue
            self.run_definitions(kernel, batch)
            batch = []
            if mode == "left out":
                continue
            problem = kernel.run(source, deadline - time.monotonic())
            if problem == "timeout":
                self._cut_from(index, f"{self.cell_name(index)} ran past the notebook's "
                                      f"{self.config['notebook_seconds']:g} s (all cells together) and was stopped")
                raise Restart
            if problem == "dead":
                self.plan[index] = "definitions"
                self.note(f"{self.cell_name(index)} killed the kernel: the notebook was run again in a fresh kernel "
                          "with only that cell's imports and definitions")
                raise Restart
        self.run_definitions(kernel, batch)

    def _cut_from(self, index: int, what: str) -> None:
        for i in self.plan:
            if i >= index and self.plan[i] == "full":
                self.plan[i] = "definitions"
        self.note(f"{what}: it and the cells after it contributed only their imports and definitions")

    def run_definitions(self, kernel: Kernel, indexes: list[int]) -> None:
        """Run the imports and definitions of ``indexes`` in one go; leave out a cell whose
        definitions hang or kill the kernel (the harness says which one was running)."""
        cells = [(i, self.definitions[i]) for i in indexes if self.definitions[i].strip()]
        if not cells:
            return
        folder = _emptied(self.exchange / "definitions")
        spec, progress = folder / "cells.json", folder / "progress"
        spec.write_text(json.dumps(cells))
        problem = kernel.run(fresh_call("run_definitions", str(spec), str(progress)), DEFINITIONS_SECONDS)
        if problem:
            try:
                culprit = int(progress.read_text())
            except (OSError, ValueError):
                culprit = cells[0][0]
            culprit = culprit if culprit in dict(cells) else cells[0][0]
            self.plan[culprit] = "left out"
            what = "ran past their time" if problem == "timeout" else "killed the kernel"
            self.note(f"the imports and definitions of {self.cell_name(culprit)} {what}: "
                      "the notebook was run again without that cell")
            raise Restart

    # -- the questions ------------------------------------------------------------------------
    def grade_questions(self, kernel: Kernel) -> None:
        _emptied(self.exchange)
        for rel, data in self.inputs.items():
            _write(self.exchange / rel, data)
        while self.remaining:
            question = self.remaining[0]
            seconds = self.config["question_seconds"]
            name = f"{question}-{secrets.token_hex(8)}"   # a file name the notebook cannot know in advance
            try:
                results = _emptied(self.exchange / "results")
            except OSError as err:  # something of the notebook's keeps replacing it
                self.remaining.pop(0)
                self.send_result(question, _plain_files({"missing": f"{question}: no results folder could be "
                                                         f"laid out ({err.strerror}); the notebook kept replacing it"}))
                continue
            problem = kernel.run(fresh_call("call_question", question, str(self.exchange / "inputs" / question),
                                            str(results / name), seconds), seconds + QUESTION_GRACE)
            self.remaining.pop(0)
            if problem:
                what = ("killed the kernel" if problem == "dead"
                        else f"ran past its {seconds:g} s and did not stop when told to")
                self.send_result(question, _plain_files({"died": f"{question} {what}"}))
                self.note(f"question {question} {what}; the next questions were graded in a fresh kernel")
                raise Restart
            self.send_result(question, _read_result(results, name, question))

    def stop_strays(self, kernel: Kernel) -> None:
        """Stop every process the notebook left running (daemons, forks): only the runner, its
        kernel and the sandbox's first process go on to the questions."""
        if not self.config.get("kill_strays"):
            return
        keep, uid = {os.getpid(), os.getppid(), 1, kernel.pid}, os.getuid()
        if kill_until_gone(lambda: pids_of(uid) - keep, seconds=2):
            self.note("processes the notebook left running were stopped before the questions were graded")

    def main(self) -> None:
        first = True
        while self.remaining and self.log["kernels"] < MAX_KERNELS:
            self.log["kernels"] += 1
            kernel, self.warm = self.warm or Kernel(str(self.work), self.config["output_bytes"]), None
            _emptied(self.exchange)  # the cells never see the questions' inputs
            try:
                with kernel:
                    self.run_cells(kernel, first)
                    first = False
                    self.stop_strays(kernel)
                    self.grade_questions(kernel)
            except Restart:
                first = False
            except Exception as err:  # the kernel did not start, or nbclient failed in a way not foreseen
                self.log["failed"] = f"the notebook could not be run: {type(err).__name__}: {str(err)[:200]}"
                self.note(self.log["failed"])
                break
            finally:
                self.log["cell_errors"] = (self.log["cell_errors"] + kernel.client.errors)[:20]
                self.log["output_truncated"] |= kernel.client.truncated
                self.send_log()
        if self.remaining and self.log["kernels"] >= MAX_KERNELS:
            self.note(f"the kernel was started {MAX_KERNELS} times; the questions left were not graded")


def _plain_files(value) -> tuple[bytes, bytes]:
    arrays: dict = {}
    tree = json.dumps(plain.encode(value, arrays)).encode()
    return tree, plain.npz_bytes(arrays)


def _read_result(results: Path, name: str, question: str) -> tuple[bytes, bytes]:
    """The two files the harness saved, read without following links and with a size bound
    (whatever the kernel did to the folder); a "missing" result when they are not there."""
    try:
        dir_fd = os.open(results, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as err:
        return _plain_files({"missing": f"{question}: no result was saved (its folder: {err.strerror})"})
    try:
        parts = []
        for suffix in (".json", ".npz"):
            fd = os.open(f"{name}{suffix}", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
            with open(fd, "rb") as f:
                if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                    raise OSError("not a regular file")
                parts.append(f.read(MAX_RESULT_BYTES + 1))
        if sum(map(len, parts)) > MAX_RESULT_BYTES:
            return _plain_files({"died": f"{question}: its result was larger than {MAX_RESULT_BYTES // 2**20} MiB"})
        return parts[0], parts[1]
    except OSError as err:
        return _plain_files({"missing": f"{question}: no result was saved ({err.strerror or err})"})
    finally:
        os.close(dir_fd)


def _emptied(folder: Path) -> Path:
    """``folder`` as an empty directory of its own, whatever the notebook put there (a file, a
    link, a full folder)."""
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        folder.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    for child in folder.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    return folder


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _harden(config: dict) -> None:
    """Before any student code: non-dumpable (no ptrace, no /proc/<pid>/mem or fd from the
    kernel), the result pipe not inherited by the kernel, and the rlimits."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
    os.set_inheritable(config["result_fd"], False)
    for name, value in config.get("rlimits", {}).items():
        resource.setrlimit(getattr(resource, name), (value, value))


def _list(value) -> list:
    return value if isinstance(value, list) else []


def main() -> int:
    """Two frames on stdin: the settings and the class's files, then (maybe much later) the notebook."""
    stdin = sys.stdin.buffer.raw  # unbuffered: select() below must see every byte not yet read
    got = channel.read_frame(stdin, 2**31)
    if got is None:
        return 2
    header, payloads, _ = got
    config = header["config"]
    _harden(config)
    channel.send(config["result_fd"], {"kind": "started", "pid": os.getpid(), "uid": os.getuid()})
    runner = Runner(config, dict(zip(header["files"], payloads)))
    runner.send_log()
    runner.warm_up()
    got = None
    if select.select([stdin], [], [], IDLE_SECONDS)[0]:
        got = channel.read_frame(stdin, 2**31)
    if got is None or len(got[1]) != 1:  # the grader had no notebook for it: end
        if runner.warm is not None:
            runner.warm.__exit__(None, None, None)
        return 0
    try:
        runner.load(got[1][0])
    except Exception as err:  # the grader reads and validates notebooks first: this is a last resort
        runner.log["failed"] = f"the notebook could not be read: {type(err).__name__}: {str(err)[:200]}"
        runner.send_log()
        return 0
    runner.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
