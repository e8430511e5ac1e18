"""Read the questions of a notebook: their metadata and the functions a notebook defines."""
from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from pathlib import Path

import nbformat


#: The groups a code question's points may be split over (``"partial"`` in its metadata): the cases
#: that must return a value, and the cases that must raise (a :class:`course.checks.Case` with ``raises``).
PARTIAL_GROUPS = ("values", "refusals")


@dataclass(frozen=True)
class Question:
    """A graded question: ``id`` (the function's name for code questions), points, and
    ``manual`` for written answers graded by a person; ``cell`` is its cell index.

    ``partial`` is empty for all-or-nothing (the default), else ``(("values", share), ("refusals",
    share))``: the shares of the points each group of cases earns (see :func:`partial_shares`).
    """
    id: str
    points: float
    manual: bool
    cell: int
    partial: tuple[tuple[str, float], ...] = ()


def partial_shares(meta: dict) -> tuple[tuple[str, float], ...]:
    """The partial-credit split of a question's ``course`` metadata, e.g.
    ``{"question": "newton_step", "points": 4, "partial": {"values": 0.7, "refusals": 0.3}}``.

    Empty without ``"partial"``. Otherwise it names both groups of :data:`PARTIAL_GROUPS`, with
    shares above 0 that add up to 1, on a code question.

    Raises
    ------
    ValueError
        If ``"partial"`` is anything else; the message says what was expected and what came.
    """
    spec = meta.get("partial")
    if spec is None:
        return ()
    expected = 'expected {"values": share, "refusals": share} with shares above 0 adding up to 1'
    if meta.get("manual"):
        raise ValueError(f"question {meta.get('question')!r}: a written (manual) question takes no 'partial' split, "
                         f"got {spec!r}")
    if not isinstance(spec, dict) or set(spec) != set(PARTIAL_GROUPS):
        raise ValueError(f"question {meta.get('question')!r}: 'partial' {expected}, got {spec!r}")
    shares = tuple((group, spec[group]) for group in PARTIAL_GROUPS)
    if not all(isinstance(s, (int, float)) and not isinstance(s, bool) and s > 0 for _, s in shares) \
            or abs(sum(s for _, s in shares) - 1) > 1e-9:
        raise ValueError(f"question {meta.get('question')!r}: 'partial' {expected}, got {spec!r}")
    return tuple((group, float(s)) for group, s in shares)


def questions(nb: nbformat.NotebookNode) -> list[Question]:
    """The questions of a notebook, in order, from the cells' ``course`` metadata.

    Raises ValueError for a ``"partial"`` entry :func:`partial_shares` does not accept.
    """
    found = []
    for index, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("course")
        if meta:
            found.append(Question(meta["question"], meta["points"], bool(meta.get("manual")), index,
                                  partial_shares(meta)))
    return found


def cell_definitions(source: str) -> str:
    """The imports, functions and classes defined at the top level of one cell's ``source``.

    Empty when the cell does not parse: a syntax error, or source the parser cannot take (too
    deeply nested, too large: CPython 3.11 may raise SystemError or RecursionError there).
    """
    try:
        tree = ast.parse(source)
        kept = [ast.get_source_segment(source, node) for node in tree.body
                if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    except (SyntaxError, ValueError, TypeError, SystemError, RecursionError, MemoryError):
        return ""
    return "\n\n".join(k for k in kept if k) + ("\n" if kept else "")


def definitions_source(nb: nbformat.NotebookNode) -> str:
    """The imports, functions and classes defined at the top level of every code cell.

    Running this defines a notebook's functions without running its other statements
    (no training loops, no prints); cells that do not parse are skipped.
    """
    return "\n\n".join(d for d in (cell_definitions(c.source) for c in nb.cells if c.cell_type == "code") if d)


def load_definitions(path: str | os.PathLike) -> dict:
    """Execute the definitions of the notebook at ``path`` and return their namespace."""
    path = Path(path)
    namespace: dict = {"__name__": f"notebook_{path.stem}"}
    exec(compile(definitions_source(nbformat.read(path, as_version=4)), str(path), "exec"), namespace)
    return namespace
