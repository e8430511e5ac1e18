"""Read the questions of a notebook: their metadata and the functions a notebook defines."""
from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from pathlib import Path

import nbformat


@dataclass(frozen=True)
class Question:
    """A graded question: ``id`` (the function's name for code questions), points, and
    ``manual`` for written answers graded by a person; ``cell`` is its cell index."""
    id: str
    points: float
    manual: bool
    cell: int


def questions(nb: nbformat.NotebookNode) -> list[Question]:
    """The questions of a notebook, in order, from the cells' ``course`` metadata."""
    found = []
    for index, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("course")
        if meta:
            found.append(Question(meta["question"], meta["points"], bool(meta.get("manual")), index))
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
