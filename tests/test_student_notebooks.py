"""Every student notebook runs: its only errors are the stubs' NotImplementedError and
NameErrors for variables that a stub cell could not define."""
from __future__ import annotations

import ast
import re

import pytest

from course.execute import execute

from conftest import ROOT


def assigned_names(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.stem)
def test_student_notebook_runs_to_its_stubs(path):
    nb = execute(path, allow_errors=True, timeout=120)
    undefined: set[str] = set()  # names that cells stopped by a stub failed to assign
    stubs = 0
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        for err in errors:
            if err.ename == "NotImplementedError":
                stubs += 1
            elif err.ename == "NameError":
                name = re.search(r"name '(\w+)' is not defined", err.evalue)
                assert name and name[1] in undefined, f"{path.name} cell {index}: unexpected {err.ename}: {err.evalue}"
            else:
                pytest.fail(f"{path.name} cell {index}: unexpected {err.ename}: {err.evalue}")
        if errors:
            undefined |= assigned_names(cell.source)
        for out in cell.outputs:
            if out.output_type == "stream" and out.name == "stderr":
                pytest.fail(f"{path.name} cell {index}: stderr output: {out.text[:300]}")
    assert stubs > 0, f"{path.name}: no stub raised NotImplementedError; is it a student notebook?"
