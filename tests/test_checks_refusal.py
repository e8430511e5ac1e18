"""The judgement of an error is one function: the student's self-check and the grader agree on it.

The grader sees only the plain data the harness records of an error (``{"raised": MRO names, "message":
"Type: text"}``), the self-check the exception itself; both go through ``course.checks.refusal_verdict``.
"""
from __future__ import annotations

import numpy as np
import pytest

from course.checks import Case, error_outcome, refusal_verdict, run_check
from course.grade.assignment import GradedCase, _judge_case

# (numpy's messages say "n" and "k" in their gufunc signatures: the argument is called count here)
WANTS_NAMED = Case("bad count is refused, naming count", (0,), raises=ValueError, match=r"\bcount\b",
                   match_what="the argument (count)")
WANTS_TYPE = Case("singular", (0,), raises=np.linalg.LinAlgError)
WANTS_RESULT = Case("a result", (1,), lambda got: None)


def numpy_error(count):
    return np.ones(3) @ np.ones(count)  # ValueError from numpy's matmul: says nothing of count


def own_error(count):
    raise ValueError(f"count must be at least 1, got {count}")


def singular(count):
    return np.linalg.solve(np.zeros((2, 2)), np.ones(2))


def no_message(count):
    raise ValueError()


def both_verdicts(case, fn):
    """(self-check verdict, grader verdict) of fn on case."""
    try:
        fn(*case.args)
    except Exception as err:
        outcome = error_outcome(err)
    else:
        raise AssertionError("fn did not raise")
    return refusal_verdict(case, outcome["raised"], outcome["message"]), _judge_case(GradedCase(case, False), outcome)


@pytest.mark.parametrize("case, fn, passed, words", [
    (WANTS_NAMED, numpy_error, False, "raised ValueError, but its message does not name the argument (count)"),
    (WANTS_NAMED, own_error, True, "raised ValueError as expected: count must be at least 1, got 0"),
    (WANTS_NAMED, no_message, False, "does not name the argument (count): ''"),
    (WANTS_TYPE, singular, True, "raised LinAlgError as expected: Singular matrix"),
    (WANTS_TYPE, own_error, False, "expected LinAlgError, but it raised ValueError: count must be at least 1"),
    (WANTS_RESULT, own_error, False, "expected a result, but it raised ValueError: count must be at least 1, got 1"),
])
def test_self_check_and_grader_agree(case, fn, passed, words):
    mine, graders = both_verdicts(case, fn)
    assert mine == graders
    assert mine[0] is passed and words in mine[1], mine


def test_run_check_reports_a_refusal_that_does_not_name_the_thing(monkeypatch):
    import course.checks as checks
    monkeypatch.setitem(checks._REGISTRY, "demo", lambda scratch: [WANTS_NAMED])
    report = run_check("demo", numpy_error)
    assert not report.passed
    assert str(report).splitlines()[1].startswith(
        "  FAIL  bad count is refused, naming count: raised ValueError, but its message does not name the argument "
        "(count): "
        "'matmul: Input operand 1")
    assert run_check("demo", own_error).passed


def test_the_grader_keeps_a_hidden_refusal_out_of_the_reason():
    from course.grade.assignment import Assignment
    from course.questions import load_definitions
    from conftest import ROOT
    path = ROOT / "solutions" / "03_sgd.ipynb"
    train = load_definitions(path)["train"]
    assignment = Assignment(path, seed=3)
    try:
        question = next(q for q in assignment.code if q.id == "train")
        graded = assignment.cases["train"]
        outcomes = []
        for g in graded:  # the reference's outcomes, but the hidden refusals fail on range()'s own error
            if g.hidden and g.case.raises:
                outcomes.append(error_outcome(ValueError("range() arg 3 must not be zero")))
            elif g.case.raises:
                try:
                    train(*g.case.args, **g.case.kwargs)
                except ValueError as err:
                    outcomes.append(error_outcome(err))
            else:
                outcomes.append({"value": train(*g.case.args, **g.case.kwargs)})
        verdict = assignment.judge(question, {"cases": outcomes})
        failed = [c for c in verdict.cases if not c.passed]
        assert failed and all(c.hidden for c in failed)
        assert "does not name the hyperparameter (batch)" in failed[0].message  # for the instructor's record
        assert verdict.reason == f"{len(failed)}/{len(graded)} cases failed, first the hidden case '{failed[0].name}'"
    finally:
        assignment.close()
