"""Generate student notebooks from solution notebooks (the single source of truth).

In a solution notebook:

* code between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` lines becomes a stub at the marker's
  indentation: ``raise NotImplementedError("Write <question>: see the hint above")`` below the hint,
  wrapped into ``# Hint: ...`` comment lines of at most :data:`STUB_WIDTH` characters (between its
  ``;``-separated clauses where possible), so that nothing is cut off at the right edge of
  JupyterLab or of the HTML. The hint is whatever follows
  ``hint:`` on the BEGIN line (one line in the solution); without one the stub is
  ``raise NotImplementedError("Write <question>")``;
* Markdown between ``<!-- BEGIN SOLUTION -->`` and ``<!-- END SOLUTION -->`` becomes
  ``*Write your answer here.*``;
* cells tagged ``solution-only`` are dropped;
* every output, execution count and run time stamp is cleared; cell metadata (the question's
  ``course`` entry: id, points, manual) and tags are kept.
"""
from __future__ import annotations

import re
import textwrap
from pathlib import Path

import nbformat

from .questions import partial_shares

SOLUTION_ONLY_TAG = "solution-only"
_CODE_BEGIN = re.compile(r"^(?P<indent>\s*)# BEGIN SOLUTION(?:\s+hint:\s*(?P<hint>.*?))?\s*$")
_CODE_END = re.compile(r"^\s*# END SOLUTION\s*$")
_MD_BEGIN = re.compile(r"^\s*<!-- BEGIN SOLUTION -->\s*$")
_MD_END = re.compile(r"^\s*<!-- END SOLUTION -->\s*$")
STUDENT_ANSWER_MD = "*Write your answer here.*"
STUB_WIDTH = 88  #: the longest line of a stub's hint comment (what JupyterLab shows without cutting it off)


class AssignError(ValueError):
    """A solution notebook's markers or metadata are malformed."""


def question_of(cell) -> dict | None:
    """The ``course`` metadata of a cell: ``{"question": id, "points": n, "manual": bool}``, and
    optionally ``"partial"`` (see :func:`course.questions.partial_shares`)."""
    return cell.get("metadata", {}).get("course")


def student_notebook(solution: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """Return the student version of a solution notebook (a new object)."""
    nb = nbformat.from_dict(solution)
    seen: set[str] = set()
    cells = []
    for index, cell in enumerate(nb.cells):
        if SOLUTION_ONLY_TAG in cell.metadata.get("tags", []):
            continue
        meta = question_of(cell)
        if meta is not None:
            if "question" not in meta or "points" not in meta:
                raise AssignError(f"{name} cell {index}: course metadata needs 'question' and 'points', got {meta}")
            if meta["question"] in seen:
                raise AssignError(f"{name} cell {index}: question id {meta['question']!r} is used twice")
            seen.add(meta["question"])
            try:
                partial_shares(meta)
            except ValueError as err:
                raise AssignError(f"{name} cell {index}: {err}") from None
        where = f"{name} cell {index}"
        if cell.cell_type == "code":
            cell.source = _strip_code(cell.source, meta and meta["question"], where)
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)  # run time stamps: they would change on every run
        elif cell.cell_type == "markdown":
            cell.source = _strip_markdown(cell.source, where)
        cells.append(cell)
    nb.cells = cells
    nb.metadata.pop("widgets", None)
    return nb


def stub(indent: str, question: str | None, hint: str | None) -> str:
    """The student's stub: the hint as comment lines of at most STUB_WIDTH characters (see
    :func:`wrap_hint`), then one ``raise NotImplementedError`` line."""
    task = f"Write {question}" if question else "Write this part"
    if not hint:
        return f"{indent}raise NotImplementedError({task!r})"
    return "\n".join([*wrap_hint(hint, indent), f"{indent}raise NotImplementedError({f'{task}: see the hint above'!r})"])


def wrap_hint(hint: str, indent: str = "") -> list[str]:
    """``# Hint: ...`` comment lines of at most STUB_WIDTH characters (a word longer than a line is not
    split). Lines break between the hint's ``;``-separated clauses where they can, so that a short
    formula is not cut in two; a clause too long for the rest of a line starts a new one."""
    first, rest = f"{indent}# Hint: ", f"{indent}#       "
    lines: list[str] = []
    for clause in re.split(r"(?<=;)\s+", hint.strip()):
        if lines and len(lines[-1]) + 1 + len(clause) <= STUB_WIDTH:
            lines[-1] += " " + clause
        else:
            lines += textwrap.wrap(clause, STUB_WIDTH, initial_indent=rest if lines else first, subsequent_indent=rest,
                                   break_long_words=False, break_on_hyphens=False)
    return lines


def _strip_code(source: str, question: str | None, where: str) -> str:
    return _strip(source, _CODE_BEGIN, _CODE_END, lambda begin: stub(begin["indent"], question, begin["hint"]), where)


def _strip_markdown(source: str, where: str) -> str:
    return _strip(source, _MD_BEGIN, _MD_END, lambda begin: STUDENT_ANSWER_MD, where)


def _strip(source: str, begin_re: re.Pattern, end_re: re.Pattern, replace, where: str) -> str:
    """Replace each marked block of ``source`` by ``replace(begin_match)``; check the markers pair up."""
    out, inside = [], False
    for line in source.splitlines():
        begin = begin_re.match(line)
        if begin:
            if inside:
                raise AssignError(f"{where}: BEGIN SOLUTION inside another solution block")
            inside = True
            out.append(replace(begin))
        elif end_re.match(line):
            if not inside:
                raise AssignError(f"{where}: END SOLUTION without BEGIN SOLUTION")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise AssignError(f"{where}: BEGIN SOLUTION without END SOLUTION")
    return "\n".join(out)


def render(solution_path: Path) -> str:
    """The text of the student notebook generated from the solution notebook at ``solution_path``."""
    solution = nbformat.read(solution_path, as_version=4)
    return nbformat.writes(student_notebook(solution, solution_path.name)) + "\n"


def assign(solutions: Path, students: Path, *, check: bool = False) -> list[Path]:
    """Write ``students/NAME.ipynb`` for every ``solutions/NAME.ipynb``.

    With ``check=True`` nothing is written; returns the student notebooks that are missing or
    differ from what would be generated (an empty list means up to date).
    """
    solutions, students = Path(solutions), Path(students)
    sources = sorted(solutions.glob("*.ipynb"))
    if not sources:
        raise AssignError(f"no solution notebooks (*.ipynb) in {solutions}")
    changed = []
    for path in sources:
        target = students / path.name
        text = render(path)
        if target.exists() and target.read_text() == text:
            continue
        changed.append(target)
        if not check:
            students.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    if not check:
        known = {p.name for p in sources}
        stale = [p for p in students.glob("*.ipynb") if p.name not in known]
        changed += stale
        for p in stale:
            p.unlink()
    return changed
