"""Runs inside the sandbox: execute the submitted notebook in a fresh kernel, then call each
question's function through :mod:`course.grade.harness`.

``python -m course.grade.runner WORKDIR`` reads ``WORKDIR/run.json``::

    {"questions": [...], "notebook_seconds": 60, "question_seconds": 20, "output_bytes": 1000000}

and ``WORKDIR/submission.ipynb`` and ``WORKDIR/inputs/``; it writes ``WORKDIR/results/<question>``
(plain data, as each question finishes) and ``WORKDIR/log.json`` (notes on cells that failed).

The notebook has a time budget for all its cells. A cell that runs past it is interrupted; once the
budget is spent, the remaining cells contribute only their imports and definitions. A cell that
ignores the interrupt or kills the kernel is cut down to its imports and definitions (left out, if
that fails too) and the notebook is run again in a fresh kernel. A question that kills the kernel
or outlives its time gets a result saying so, and the remaining questions are graded (in a fresh
kernel if needed). So no single cell or function can stop the other questions from being graded.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from nbclient.util import run_sync

from ..questions import definitions_source
from . import plain

MAX_ATTEMPTS = 4
DEFINITIONS_SECONDS = 10   # for a cell cut down to its imports and definitions
INTERRUPT_SECONDS = 5      # for a kernel to answer after an interrupt


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
            self.errors.append(f"cell {cell_index}: {content.get('ename')}: {str(content.get('evalue'))[:150]}")
        self.output_budget -= len(json.dumps(content))
        if self.output_budget < 0:
            self.truncated = True
            return None
        return super().output(outs, msg, display_id, cell_index)


class Restart(Exception):
    """The kernel is dead or stuck: start a fresh one."""


def main(workdir: str) -> int:
    work = Path(workdir).resolve()
    config = json.loads((work / "run.json").read_text())
    nb = nbformat.read(work / "submission.ipynb", as_version=4)
    code = [(i, c.source) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    remaining = list(config["questions"])
    defs_only: set[int] = set()   # cells cut down to their imports and definitions
    dropped: set[int] = set()     # cells left out altogether
    log = {"notes": [], "cell_errors": [], "output_truncated": False, "attempts": 0}
    (work / "results").mkdir(exist_ok=True)

    def note(text: str) -> None:
        if text not in log["notes"]:  # a re-run meets the same slow cells again
            log["notes"].append(text)
            _write_log(work, log)

    while remaining and log["attempts"] < MAX_ATTEMPTS:
        log["attempts"] += 1
        client = CappedClient(nbformat.v4.new_notebook(), kernel_name="python3", allow_errors=True,
                              shutdown_kernel="immediate", output_bytes=config["output_bytes"],
                              resources={"metadata": {"path": str(work)}})
        try:
            with client.setup_kernel():
                deadline = time.monotonic() + config["notebook_seconds"]
                over_time = False
                for index, source in code:
                    if index in dropped:
                        continue
                    if not over_time and time.monotonic() >= deadline:
                        over_time = True
                        note(f"the notebook ran past its {config['notebook_seconds']:g} s at cell {index}: "
                             "its remaining cells contributed only their imports and definitions")
                    short = over_time or index in defs_only
                    if short:
                        source = definitions_source(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)]))
                    seconds = DEFINITIONS_SECONDS if short else max(1.0, deadline - time.monotonic())
                    problem = _run(client, source, seconds)
                    if problem == "timeout" and not short:
                        note(f"cell {index} ran past the notebook's {config['notebook_seconds']:g} s and was interrupted")
                    elif problem:
                        (dropped if short else defs_only).add(index)
                        what = "ran past its time and ignored the interrupt" if problem == "stuck" else "killed the kernel"
                        note(f"cell {index} {what}: the notebook was run again in a fresh kernel with "
                             + ("that cell left out" if short else "only that cell's imports and definitions"))
                        raise Restart
                while remaining:
                    question = remaining[0]
                    seconds = config["question_seconds"]
                    problem = _run(client, f'__import__("course.grade.harness").grade.harness.call_question('
                                           f'globals(), {question!r}, {str(work / "inputs" / question)!r}, '
                                           f'{str(work / "results" / question)!r}, {seconds})', seconds + 10)
                    remaining.pop(0)
                    if problem:
                        what = {"timeout": "ran past its time and was interrupted",
                                "stuck": "ran past its time and ignored the interrupt",
                                "dead": "killed the kernel"}[problem]
                        plain.save({"died": f"{question} {what}"}, work / "results" / question)
                        if problem != "timeout":
                            note(f"question {question} {what}; the next questions were graded in a fresh kernel")
                            raise Restart
        except Restart:
            pass
        except Exception as err:  # the kernel did not start, or nbclient failed in a way we did not foresee
            note(f"the notebook could not be run: {type(err).__name__}: {str(err)[:200]}")
            break
        finally:
            log["cell_errors"] = (log["cell_errors"] + client.errors)[:20]
            log["output_truncated"] |= client.truncated
            _write_log(work, log)
    return 0


def _run(client: CappedClient, source: str, seconds: float) -> str | None:
    """Execute ``source`` in the client's kernel; None when it finished (with or without an
    error), "timeout" when it ran past ``seconds`` but an interrupt stopped it, "stuck" when the
    interrupt did not, "dead" when the kernel died."""
    cell = nbformat.v4.new_code_cell(source)
    client.nb.cells.append(cell)
    client.timeout = int(max(1, seconds))
    try:
        client.execute_cell(cell, len(client.nb.cells) - 1)
        return None
    except DeadKernelError:
        return "dead"
    except CellTimeoutError:
        pass
    try:  # interrupt, then see whether the kernel answers a trivial cell
        run_sync(client.km.interrupt_kernel)()
        probe = nbformat.v4.new_code_cell("pass")
        client.nb.cells.append(probe)
        client.timeout = INTERRUPT_SECONDS
        client.execute_cell(probe, len(client.nb.cells) - 1)
        return "timeout"
    except DeadKernelError:
        return "dead"
    except CellTimeoutError:
        return "stuck"


def _write_log(work: Path, log: dict) -> None:
    tmp = work / ".log.json.tmp"
    tmp.write_text(json.dumps(log))
    tmp.replace(work / "log.json")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
