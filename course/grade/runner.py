"""Runs inside the sandbox: execute the submitted notebook in a fresh kernel, then call each
question's function through :mod:`course.grade.harness`.

``python -m course.grade.runner WORKDIR`` reads ``WORKDIR/run.json``::

    {"questions": [...], "notebook_seconds": 60, "question_seconds": 20, "output_bytes": 1000000}

and ``WORKDIR/submission.ipynb`` and ``WORKDIR/inputs/``; it writes ``WORKDIR/results/<question>``
(plain data, as each question finishes) and ``WORKDIR/log.json`` (notes on cells that failed).

A cell that runs past the notebook's time or kills the kernel is skipped and the notebook is run
again in a fresh kernel without it; a question that kills the kernel or outlives its time gets a
result saying so, and the remaining questions are graded in a fresh kernel. So no single cell or
function can stop the other questions from being graded.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from . import plain

MAX_ATTEMPTS = 4


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
    code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    remaining = list(config["questions"])
    skipped: set[int] = set()
    log = {"notes": [], "cell_errors": [], "output_truncated": False, "attempts": 0}
    (work / "results").mkdir(exist_ok=True)

    def note(text: str) -> None:
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
                for index, cell in code:
                    if index in skipped:
                        continue
                    cell = nbformat.v4.new_code_cell(cell.source)
                    client.nb.cells.append(cell)
                    client.timeout = max(1, int(deadline - time.monotonic()))
                    try:
                        client.execute_cell(cell, len(client.nb.cells) - 1)
                    except CellTimeoutError:
                        skipped.add(index)
                        note(f"cell {index} ran past the notebook's {config['notebook_seconds']} s: "
                             "skipped, notebook re-run without it")
                        raise Restart
                    except DeadKernelError:
                        skipped.add(index)
                        note(f"cell {index} killed the kernel: skipped, notebook re-run without it")
                        raise Restart
                while remaining:
                    question = remaining.pop(0)
                    seconds = config["question_seconds"]
                    cell = nbformat.v4.new_code_cell(
                        f'__import__("course.grade.harness").grade.harness.call_question(globals(), {question!r}, '
                        f'{str(work / "inputs" / question)!r}, {str(work / "results" / question)!r}, {seconds})')
                    client.nb.cells.append(cell)
                    client.timeout = int(seconds + 10)
                    try:
                        client.execute_cell(cell, len(client.nb.cells) - 1)
                    except (CellTimeoutError, DeadKernelError) as err:
                        what = ("ran past its time and ignored the interrupt" if isinstance(err, CellTimeoutError)
                                else "killed the kernel")
                        plain.save({"died": f"{question} {what}"}, work / "results" / question)
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


def _write_log(work: Path, log: dict) -> None:
    tmp = work / ".log.json.tmp"
    tmp.write_text(json.dumps(log))
    tmp.replace(work / "log.json")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
