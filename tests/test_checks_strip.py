"""A must-raise case passes only on the student's own validation.

Each reference solution is stripped of its validation (every ``raise`` and ``assert`` becomes ``pass``,
and every call of a validator, a function whose name says it checks or validates, is dropped), and
every must-raise case of its question, public and hidden, must then FAIL: on numpy's own error, on a
result, or on an error whose message does not name what the case asks for.
"""
from __future__ import annotations

import ast
import copy
import re
import signal
import tempfile
from pathlib import Path

import nbformat
import numpy as np
import pytest

from course.checks import error_outcome, hidden_cases, public_cases, refusal_verdict
from course.questions import definitions_source, load_definitions, questions

from conftest import ROOT

SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
SEEDS = range(5)  # hidden cases are drawn from the grading seed: try several
VALIDATOR = re.compile(r"check|valid", re.IGNORECASE)


class _StripValidation(ast.NodeTransformer):
    def visit_Raise(self, node):
        return ast.copy_location(ast.Pass(), node)

    def visit_Assert(self, node):
        return ast.copy_location(ast.Pass(), node)

    def visit_Expr(self, node):
        call = node.value
        if isinstance(call, ast.Call):
            name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
            if VALIDATOR.search(name):
                return ast.copy_location(ast.Pass(), node)
        return self.generic_visit(node)


def stripped_definitions(path: Path) -> tuple[dict, int]:
    """The notebook's definitions without their validation, and how many statements were removed."""
    tree = ast.parse(definitions_source(nbformat.read(path, as_version=4)))
    before = sum(isinstance(n, ast.Pass) for n in ast.walk(tree))
    tree = ast.fix_missing_locations(_StripValidation().visit(tree))
    removed = sum(isinstance(n, ast.Pass) for n in ast.walk(tree)) - before
    namespace: dict = {"__name__": f"stripped_{path.stem}"}
    exec(compile(tree, f"stripped {path.name}", "exec"), namespace)
    return namespace, removed


class _Timeout(BaseException):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def verdict(fn, case) -> tuple[bool, str]:
    """Run one case the way course.check does: (passed, message); a call still running after 30 s fails."""
    args, kwargs = copy.deepcopy(case.args), copy.deepcopy(case.kwargs)
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(30)
    try:
        with np.errstate(all="ignore"):
            fn(*args, **kwargs)
    except _Timeout:
        return False, "still running after 30 s"
    except Exception as err:
        outcome = error_outcome(err)
        return refusal_verdict(case, outcome["raised"], outcome["message"])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return False, "returned"


def must_raise_cases():
    for path in SOLUTIONS:
        for q in questions(nbformat.read(path, as_version=4)):
            if q.manual:
                continue
            with tempfile.TemporaryDirectory() as scratch:
                n_public = sum(c.raises is not None for c in public_cases(q.id, Path(scratch)))
                n_hidden = sum(c.raises is not None for s in SEEDS for c in hidden_cases(q.id, s, Path(scratch)))
            if n_public or n_hidden:
                yield path, q.id


@pytest.fixture(scope="module")
def definitions():
    cache: dict = {}

    def get(path):
        if path not in cache:
            cache[path] = load_definitions(path), *stripped_definitions(path)
        return cache[path]
    return get


@pytest.mark.parametrize("path, question", list(must_raise_cases()), ids=lambda v: getattr(v, "stem", v))
def test_every_must_raise_case_fails_without_the_validation(definitions, path, question, tmp_path):
    reference, stripped, removed = definitions(path)
    assert removed > 0
    cases = [(f"public '{c.name}'", c) for c in public_cases(question, tmp_path) if c.raises]
    for seed in SEEDS:
        (tmp_path / f"seed{seed}").mkdir()
        cases += [(f"hidden (seed {seed}) '{c.name}'", c) for c in hidden_cases(question, seed, tmp_path / f"seed{seed}")
                  if c.raises]
    assert cases
    still_passing = []
    for label, case in cases:
        passed, message = verdict(reference[question], case)
        assert passed, f"the reference {question} fails {label}: {message}"
        passed, message = verdict(stripped[question], case)
        if passed:
            still_passing.append(f"{label}: {message}")
    assert not still_passing, f"{question} without its validation still passes:\n" + "\n".join(still_passing)
