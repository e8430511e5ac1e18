"""``course validate NOTEBOOK``: a student's check of a saved notebook before submitting it.

It grades the notebook the way ``course grade`` will, through the same code: :func:`course.grade.batch.grade`
(a fresh kernel in the same sandbox, with the same time limits) into a temporary folder, with an
:class:`~course.grade.assignment.Assignment` that keeps only the public cases (``public_only``). The
questions and their points come from ``solutions/<ID>.ipynb`` of the course pack, as for the grader; the
public cases are those of :mod:`course.checks` and judge themselves (the reference is not run).

What it reports: per question the public cases passed, the points they earn and the first failure;
then warnings (written answers left as the placeholder, cells that raise, a run near the notebook's
time limit, functions defined in two cells, what the grader noted). Hidden cases are not run.
"""
from __future__ import annotations

import ast
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .. import checks
from ..assign import STUDENT_ANSWER_MD
from .assignment import GradeError
from .batch import grade, read_notebook
from .sandbox import Limits
from .written import collect_answers

NEAR_LIMIT = 0.7   # a run longer than this share of the notebook's time limit gets a warning
PACK_SOLUTIONS = Path(__file__).resolve().parents[2] / "solutions"   # the pack's checkout (an editable install)


@dataclass
class Row:
    """One question of the table: public cases ``passed`` of ``total`` (None for a written answer),
    the points they earn of the question's, and the first failure (empty when none)."""
    question: str
    passed: int | None
    total: int | None
    score: float | None
    points: float
    failure: str = ""


@dataclass
class Validation:
    """What ``course validate`` found: the assignment, the grader's record (public cases only), the
    table's rows and the warnings."""
    notebook: Path
    assignment: str
    record: dict
    rows: list[Row]
    warnings: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Every public case of every code question passed (and the notebook could be graded)."""
        return self.record["status"] == "graded" and all(
            r.passed == r.total and r.total for r in self.rows if r.total is not None)


def assignment_of(notebook: Path, known: list[str]) -> str | None:
    """The assignment a notebook's file name names: ``03_sgd.ipynb``, ``03_sgd-alice.ipynb`` or
    ``03_sgd_v2.ipynb`` -> ``03_sgd`` (the longest known ID the name starts with, followed by the end
    of the name or by ``-``, ``_``, ``.`` or a space); None when no known ID fits."""
    stem = Path(notebook).stem
    fits = [k for k in known if stem == k or (stem.startswith(k) and stem[len(k)] in "-_. ")]
    return max(fits, key=len) if fits else None


def find_assignment(notebook: Path, assignment_id: str | None, solutions: Path | None) -> tuple[str, Path]:
    """``(assignment ID, solutions folder)``: the folder is ``solutions`` when given, else
    ``./solutions``, else the pack's own ``solutions/``; the first that holds the assignment counts.

    Raises
    ------
    GradeError
        If no folder holds solution notebooks, the name names no known assignment, or the ID is unknown.
    """
    candidates = [Path(solutions)] if solutions is not None else [Path("solutions"), PACK_SOLUTIONS]
    folders = [f for f in dict.fromkeys(c.resolve() for c in candidates) if sorted(f.glob("*.ipynb"))]
    if not folders:
        looked = " or ".join(str(c) for c in candidates)
        raise GradeError(f"no solution notebooks in {looked}: validate reads the questions and their points "
                         "from the course pack's solutions/ folder; run it in the pack's checkout or give --solutions DIR")
    for folder in folders:
        known = sorted(p.stem for p in folder.glob("*.ipynb"))
        found = assignment_id if assignment_id is not None else assignment_of(notebook, known)
        if found in known:
            return found, folder
    known = sorted(p.stem for p in folders[0].glob("*.ipynb"))
    if assignment_id is not None:
        raise GradeError(f"no assignment {assignment_id!r} in {folders[0]}; known: {', '.join(known)}")
    raise GradeError(f"cannot tell the assignment of {Path(notebook).name!r} from its name: expected a name that "
                     f"starts with one of {', '.join(known)} (e.g. {known[0]}.ipynb or {known[0]}-yourname.ipynb); "
                     "or give --assignment ID")


def validate(notebook: Path, assignment_id: str | None = None, *, solutions: Path | None = None,
             limits: Limits | None = None) -> Validation:
    """Grade the saved ``notebook`` on the public cases, as ``course grade`` would, and collect warnings.

    Raises
    ------
    GradeError
        If the notebook does not exist or the assignment or its solutions cannot be found.
    """
    notebook = Path(notebook)
    if not notebook.is_file():
        raise GradeError(f"no notebook at {notebook}: expected the path of a saved .ipynb file")
    assignment_id, folder = find_assignment(notebook, assignment_id, solutions)
    limits = limits or Limits()
    with tempfile.TemporaryDirectory(prefix="course-validate-") as out:
        records = grade([notebook], assignment_id, Path(out), solutions=folder, workers=1, limits=limits,
                        seed=0, progress=False, public_only=True)
    record = records[0]
    manual = {qid: points for qid, points in record["manual_points"].items()}
    rows = [_row(qid, q) for qid, q in record["questions"].items()]
    rows += [Row(qid, None, None, None, points, "written answer: graded by hand") for qid, points in manual.items()]
    nb, _ = read_notebook(notebook.read_bytes())
    warnings = [] if nb is None else _warnings(nb, record, list(manual), limits)
    return Validation(notebook, assignment_id, record, rows, warnings)


def _row(qid: str, q: dict) -> Row:
    cases = q["cases"]
    if not cases:   # nothing came back for it (no such function, the kernel died...): every public case failed
        with tempfile.TemporaryDirectory() as scratch:
            total = len(checks.public_cases(qid, Path(scratch)))
        return Row(qid, 0, total, q["score"], q["points"], q["reason"] or "not graded")
    failed = [c for c in cases if not c["passed"]]
    failure = q["reason"] if failed and q["reason"].startswith("not written yet") else \
        (f"'{failed[0]['name']}': {failed[0]['message']}" if failed else "")
    return Row(qid, len(cases) - len(failed), len(cases), q["score"], q["points"], failure)


def _warnings(nb: nbformat.NotebookNode, record: dict, manual: list[str], limits: Limits) -> list[str]:
    """What matters before submitting, beyond the table."""
    found = []
    if record["status"] != "graded":
        found.append(f"the grader could not grade it ({record['status']}): {record['reason']}")
    answers = collect_answers(nb, manual)
    cells_of = {(c.get("metadata") or {}).get("course", {}).get("question") for c in nb.cells
                if isinstance((c.get("metadata") or {}).get("course"), dict)}
    for qid in manual:
        if qid not in cells_of:
            found.append(f"written answer {qid}: its cell is gone (the grader finds it by the cell's metadata; "
                         "copy the cell back from a fresh copy of the notebook)")
        elif answers[qid] is None:
            found.append(f"written answer {qid} still reads {STUDENT_ANSWER_MD!r}: write your answer in that cell")
    errors = list(dict.fromkeys(record.get("cell_errors", [])))
    for error in errors[:5]:
        found.append(f"a cell raises {error}")
    if len(errors) > 5:
        found.append(f"... and {len(errors) - 5} more cell errors")
    seconds = record.get("seconds")
    if record["status"] == "graded" and seconds and seconds > NEAR_LIMIT * limits.notebook_seconds:
        found.append(f"the run took {seconds:.0f} s, more than {NEAR_LIMIT:.0%} of the {limits.notebook_seconds:g} s "
                     "the cells have in all (this time also counts starting the kernel and the questions): "
                     "cells past the limit are cut to their definitions, so make the slow ones faster")
    found += [f"{name} is defined at the top level of cells {', '.join(map(str, cells[:-1]))} and {cells[-1]}: "
              f"the grader uses the last one run (cell {cells[-1]}); delete the others"
              for name, cells in _defined_twice(nb).items()]
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and re.search(r"course\s+validate", cell.source):
            found.append(f"cell {index + 1} runs course validate: delete it before submitting "
                         "(the grader would run it too)")
    found += [f"the grader noted: {n}" for n in record.get("notes", [])]
    return found


def _defined_twice(nb: nbformat.NotebookNode) -> dict[str, list[int]]:
    """Functions defined at the top level of more than one code cell: ``{name: [cell numbers from 1]}``."""
    where: dict[str, list[int]] = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            continue   # a cell that does not parse shows up among the cell errors
        names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        for name in sorted(names):
            where.setdefault(name, []).append(index + 1)
    return {name: cells for name, cells in where.items() if len(cells) > 1}


def render(v: Validation, limits: Limits) -> str:
    """The report ``course validate`` prints: the table, the warnings, and what it does not check."""
    level = v.record.get("walls", {}).get("level", "none")
    lines = [f"{v.notebook}: assignment {v.assignment}, run as the grader runs it (a fresh kernel, sandbox: {level}, "
             f"{limits.notebook_seconds:g} s for the cells, {limits.question_seconds:g} s per question), public cases only",
             ""]
    table = [("question", "public", "points", "first failure")]
    for r in v.rows:
        public = "written" if r.total is None else f"{r.passed}/{r.total}"
        points = f"-/{r.points:g}" if r.score is None else f"{r.score:g}/{r.points:g}"
        failure = r.failure if len(r.failure) <= 110 else r.failure[:109] + "…"
        table.append((r.question, public, points, failure))
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    for row in table:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths)) + "  " + row[3])
    if v.warnings:
        lines += ["", "Before you submit:"] + [f"  ! {w}" for w in v.warnings]
    code = [r for r in v.rows if r.total is not None]
    ok = sum(r.passed == r.total and bool(r.total) for r in code)
    lines += ["", f"{ok}/{len(code)} questions pass their public cases. Public cases only: the grader also runs "
                  "hidden cases, which may still fail, and written answers are graded by hand."]
    return "\n".join(lines)
