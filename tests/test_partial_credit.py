"""Partial credit: a question's metadata may split its points over its value cases and its refusal
cases; the refusals count only once every value case passes; malformed splits are refused; feedback
shows the points of each group. Judged here in-process on real functions (the sandboxed path is in
the corpus: 05_newton/steps_without_refusals and refusals_without_steps)."""
from __future__ import annotations

import copy
from dataclasses import asdict

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from course import checks
from course.assign import AssignError, student_notebook
from course.grade import Assignment, GradeError
from course.grade import report
from course.questions import load_definitions, partial_shares

from conftest import ROOT

SOLUTION = ROOT / "solutions" / "05_newton.ipynb"


@pytest.fixture(scope="module")
def newton():
    assignment = Assignment(SOLUTION, seed=3)
    yield assignment, next(q for q in assignment.code if q.id == "newton_step")
    assignment.close()


def judged(assignment, question, fn):
    """The verdict on ``fn``, called on every case as the harness calls it (outcomes as plain data)."""
    outcomes = []
    for g in assignment.cases[question.id]:
        args, kwargs = copy.deepcopy(g.case.args), copy.deepcopy(g.case.kwargs)
        try:
            value = fn(*args, **kwargs)
        except Exception as err:
            outcomes.append(checks.error_outcome(err))
            continue
        outcomes.append({"value": args if g.case.judge_args else value})
    return assignment.judge(question, {"cases": outcomes})


def test_newton_step_opts_in_with_values_and_refusals(newton):
    assignment, q = newton
    assert q.partial == (("values", 0.7), ("refusals", 0.3)) and q.points == 4
    kinds = {g.case.raises is not None for g in assignment.cases[q.id]}
    assert kinds == {True, False}
    assert all(not other.partial for other in assignment.code if other.id != "newton_step")  # default: all-or-nothing


def test_full_values_only_raises_only_nothing(newton):
    assignment, q = newton
    reference = load_definitions(SOLUTION)["newton_step"]

    def values_only(grad, hess):  # right steps, refuses nothing of its own
        return np.linalg.solve(hess, -grad)

    def raises_only(grad, hess):  # refuses like the reference, wrong steps
        return -reference(grad, hess)

    def always_raises(grad, hess):  # a "refusal" of everything, with the message the singular cases want
        raise np.linalg.LinAlgError("singular: add an L2 term or use np.linalg.lstsq")

    def not_written(grad, hess):
        raise NotImplementedError("Write newton_step")

    full = judged(assignment, q, reference)
    assert (full.score, full.reason) == (4.0, "") and [(g.group, g.score) for g in full.groups] == [
        ("values", 2.8), ("refusals", 1.2)]

    values = judged(assignment, q, values_only)
    assert values.score == 2.8 and values.reason
    assert [(g.group, g.score, g.points) for g in values.groups] == [("values", 2.8, 2.8), ("refusals", 0.0, 1.2)]
    assert values.groups[1].passed < values.groups[1].cases

    refusals = judged(assignment, q, raises_only)
    assert refusals.score == 0.0
    assert refusals.groups[1].passed == refusals.groups[1].cases   # every refusal passed, and still earns nothing
    assert refusals.groups[1].reason == "earned only once every value case passes"

    for fn in (always_raises, not_written):
        verdict = judged(assignment, q, fn)
        assert verdict.score == 0.0 and all(g.score == 0 for g in verdict.groups), fn.__name__
    assert judged(assignment, q, not_written).reason.startswith("not written yet")


def test_an_all_or_nothing_question_is_unchanged(newton):
    assignment, _ = newton
    q = next(q for q in assignment.code if q.id == "mse_gradient")
    reference = load_definitions(SOLUTION)["mse_gradient"]
    assert judged(assignment, q, reference).score == 2.0
    wrong = judged(assignment, q, lambda w, X, y: 2 * reference(w, X, y))
    assert wrong.score == 0.0 and wrong.groups == []


def test_public_only_keeps_the_public_cases_and_the_split(newton):
    assignment, q = newton
    public = Assignment(SOLUTION, seed=3, public_only=True)
    try:
        names = [g.case.name for g in public.cases[q.id]]
        assert names == [g.case.name for g in assignment.cases[q.id] if not g.hidden]
        assert not any(g.hidden for cases in public.cases.values() for g in cases)
        verdict = judged(public, next(p for p in public.code if p.id == q.id), lambda g, h: np.linalg.solve(h, -g))
        assert verdict.score == 2.8
    finally:
        public.close()


@pytest.mark.parametrize("split, message", [
    ({"values": 0.7}, r"'partial' expected \{\"values\": share, \"refusals\": share\}.*got \{'values': 0.7\}"),
    ({"values": 0.7, "refusals": 0.2}, "adding up to 1"),
    ({"values": 1.2, "refusals": -0.2}, "shares above 0"),
    ({"values": "0.7", "refusals": 0.3}, "got"),
    ({"values": 0.5, "edge": 0.5}, "got"),
    ([0.7, 0.3], "got"),
])
def test_a_malformed_split_is_refused_with_what_came(split, message):
    meta = {"question": "newton_step", "points": 4, "partial": split}
    with pytest.raises(ValueError, match=message):
        partial_shares(meta)
    cell = new_code_cell("def newton_step(grad, hess):\n    pass", metadata={"course": meta})
    with pytest.raises(AssignError, match=r"demo.ipynb cell 0: question 'newton_step': 'partial'"):
        student_notebook(new_notebook(cells=[cell]), "demo.ipynb")


def test_a_written_question_takes_no_split():
    with pytest.raises(ValueError, match="written .manual. question takes no 'partial'"):
        partial_shares({"question": "why", "points": 2, "manual": True, "partial": {"values": 0.5, "refusals": 0.5}})


def test_the_grader_refuses_a_split_it_cannot_apply(tmp_path):
    """A split on a question whose cases are all value cases, and a malformed split: GradeError naming the question."""
    nb = nbformat.read(SOLUTION, as_version=4)
    cell = next(c for c in nb.cells if (c.metadata.get("course") or {}).get("question") == "mse_gradient")
    cell.metadata["course"]["partial"] = {"values": 0.5, "refusals": 0.5}
    nbformat.write(nb, tmp_path / "05_newton.ipynb")
    with pytest.raises(GradeError, match="question 'mse_gradient' splits its points.*lack one of the two kinds"):
        Assignment(tmp_path / "05_newton.ipynb", seed=1)
    cell.metadata["course"]["partial"] = {"values": 0.5}
    nbformat.write(nb, tmp_path / "05_newton.ipynb")
    with pytest.raises(GradeError, match=r"05_newton.ipynb: question 'mse_gradient': 'partial' expected"):
        Assignment(tmp_path / "05_newton.ipynb", seed=1)


def test_feedback_shows_the_points_of_each_group(newton):
    assignment, q = newton
    verdict = judged(assignment, q, lambda grad, hess: np.linalg.solve(hess, -grad))
    question = {"points": verdict.points, "score": verdict.score, "reason": verdict.reason,
                "cases": [asdict(c) for c in verdict.cases], "groups": [asdict(g) for g in verdict.groups]}
    record = {"submission": "alice.ipynb", "assignment": "05_newton", "status": "graded", "reason": "", "notes": [],
              "questions": {"newton_step": question}, "manual_points": {}}
    values, refusals = verdict.groups
    lines = [f"values: 2.8 / 2.8 points ({values.cases}/{values.cases} cases passed)",
             f"refusals: 0 / 1.2 points ({refusals.passed}/{refusals.cases} cases passed)"]
    markdown = report.feedback_markdown(record)
    assert "## `newton_step`: 2.8 / 4 (PARTIAL)" in markdown and all(f"- {line}" in markdown for line in lines)
    page = report.feedback_html(record)
    assert "<span class=partial>PARTIAL</span>" in page and all(f"<li>{line}</li>" in page for line in lines)
    results = report.gradescope_results(record)
    assert results["score"] == 2.8 and all(line in results["tests"][0]["output"] for line in lines)
    gated = judged(assignment, q, lambda grad, hess: -load_definitions(SOLUTION)["newton_step"](grad, hess))
    line = report.group_lines({"groups": [asdict(g) for g in gated.groups]})[1]
    assert line.startswith("refusals: 0 / 1.2 points (") and line.endswith("; earned only once every value case passes)")
