"""An assignment as the grader sees it: its questions, their cases, the reference's answers,
and the judgement of what a submission's functions returned.

Everything comes from ``solutions/<ID>.ipynb`` (questions and points from the cells' ``course``
metadata, reference functions from its definitions) and from :mod:`course.checks` (public cases
registered with ``register``, hidden ones with ``register_hidden``), so a new assignment needs no
change here.

A question is all-or-nothing unless its metadata splits its points (``"partial"``, see
:func:`course.questions.partial_shares`): then the value cases (no ``raises``) earn their share
when they all pass, and the refusal cases (must raise) earn theirs when they all pass *and* every
value case passes, so that a function that always raises earns nothing.
"""
from __future__ import annotations

import copy
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from .. import checks
from ..questions import Question, load_definitions, questions
from . import plain


class GradeError(ValueError):
    """The grader cannot grade this assignment (a missing solution, a question without cases...)."""


@dataclass
class GradedCase:
    """A case with its origin and, for cases judged against the reference, the expected value."""
    case: checks.Case
    hidden: bool
    expected: Any = None


@dataclass
class CaseVerdict:
    """The verdict on one case: ``message`` is for the instructor; hidden cases show only their name."""
    name: str
    hidden: bool
    passed: bool
    message: str


@dataclass
class GroupVerdict:
    """A group of a partial-credit question: ``"values"`` or ``"refusals"``, its points and score,
    its cases passed out of ``cases``, and ``reason`` (empty when it earned its points)."""
    group: str
    points: float
    score: float
    passed: int
    cases: int
    reason: str


@dataclass
class QuestionVerdict:
    question: str
    points: float
    score: float
    reason: str                 # one line; empty when full marks
    cases: list[CaseVerdict]
    groups: list[GroupVerdict] = field(default_factory=list)   # empty for all-or-nothing questions


class Assignment:
    """The questions, cases and expected answers of ``solutions/<assignment_id>.ipynb``.

    Parameters
    ----------
    solution : Path
        The solution notebook.
    seed : int
        The grading seed of the hidden cases (the same for the whole class).
    public_only : bool
        Keep only the public cases (what ``course validate`` runs). The reference solution then
        runs only for a public case that has no judge of its own (none has in this pack).
    """

    def __init__(self, solution: Path, seed: int, *, public_only: bool = False):
        solution = Path(solution)
        if not solution.is_file():
            known = ", ".join(p.stem for p in sorted(solution.parent.glob("*.ipynb"))) or "none"
            raise GradeError(f"no solution notebook {solution}; assignments in {solution.parent}: {known}")
        self.id = solution.stem
        self.solution = solution
        self.public_only = public_only
        try:
            self.questions: list[Question] = questions(nbformat.read(solution, as_version=4))
        except ValueError as err:  # a malformed "partial" entry
            raise GradeError(f"{solution}: {err}") from None
        self.code = [q for q in self.questions if not q.manual]
        self.manual = [q for q in self.questions if q.manual]
        if not self.questions:
            raise GradeError(f"{solution}: no cell carries course question metadata")
        self._scratch = Path(tempfile.mkdtemp(prefix="course-grade-cases-"))
        self.cases: dict[str, list[GradedCase]] = {}
        for q in self.code:
            folder = self._scratch / q.id
            folder.mkdir()
            public = checks.public_cases(q.id, folder)
            hidden = [] if public_only else checks.hidden_cases(q.id, seed, folder)
            self.cases[q.id] = [GradedCase(c, False) for c in public] + [GradedCase(c, True) for c in hidden]
            if q.partial and not all(any((g.case.raises is not None) == refusal for g in self.cases[q.id])
                                     for refusal in (False, True)):
                raise GradeError(f"{solution}: question {q.id!r} splits its points over values and refusals, "
                                 "but its cases lack one of the two kinds")
        needs_reference = [q for q in self.code if any(g.case.judge is None for g in self.cases[q.id])]
        reference = load_definitions(solution) if needs_reference or not public_only else {}
        for q in self.code if not public_only else needs_reference:
            if q.id not in reference:
                raise GradeError(f"{solution}: question {q.id!r} has no function of that name")
            for g in self.cases[q.id]:
                if g.case.judge is None:
                    g.expected = _reference_answer(reference[q.id], g.case, q.id)

    @property
    def max_points(self) -> float:
        return float(sum(q.points for q in self.questions))

    def inputs(self) -> dict[str, bytes]:
        """The sandbox's ``inputs/`` folder as ``{relative path: bytes}``: one plain-data file pair
        per question, and copies of the files the cases name (their paths made relative)."""
        files: dict[str, bytes] = {}
        copies: dict[str, str] = {}

        def relative(value):
            if isinstance(value, (str, os.PathLike)) and not isinstance(value, bytes):
                path = Path(value)
                if len(str(value)) < 4096 and path.is_absolute() and path.is_file():
                    if str(path) not in copies:
                        copies[str(path)] = f"inputs/files/{len(copies)}-{path.name}"
                        files[copies[str(path)]] = path.read_bytes()
                    return copies[str(path)]
                return str(value) if isinstance(value, os.PathLike) else value
            if isinstance(value, tuple):
                return tuple(relative(v) for v in value)
            if isinstance(value, list):
                return [relative(v) for v in value]
            if isinstance(value, dict):
                return {k: relative(v) for k, v in value.items()}
            return value

        with tempfile.TemporaryDirectory() as tmp:
            for q, graded in self.cases.items():
                spec = {"cases": [{"args": relative(g.case.args), "kwargs": relative(g.case.kwargs),
                                   "judge_args": g.case.judge_args} for g in graded]}
                plain.save(spec, Path(tmp) / q, callables=True)
                for suffix in (".json", ".npz"):
                    files[f"inputs/{q}{suffix}"] = (Path(tmp) / f"{q}{suffix}").read_bytes()
        return files

    def judge(self, question: Question, raw: Any) -> QuestionVerdict:
        """The verdict on ``raw``: what the harness saved for ``question`` (see
        :func:`course.grade.harness.call_question`), or a :class:`plain.NotPlain` / None when nothing readable came."""
        def zero(reason: str, cases=()) -> QuestionVerdict:
            return QuestionVerdict(question.id, question.points, 0.0, reason, list(cases))

        if raw is None:
            return zero("not graded: the sandbox stopped before this question")
        if isinstance(raw, plain.NotPlain):
            return zero(f"no readable result ({raw})")
        if not isinstance(raw, dict):
            return zero("no readable result")
        for key in ("missing", "died"):
            if isinstance(raw.get(key), str):
                return zero(raw[key][:200])
        graded = self.cases[question.id]
        outcomes = raw.get("cases")
        if not isinstance(outcomes, list) or len(outcomes) != len(graded):
            return zero("no readable result (wrong number of case outcomes)")
        verdicts = []
        for g, outcome in zip(graded, outcomes):
            passed, message = _judge_case(g, outcome)
            verdicts.append(CaseVerdict(g.case.name, g.hidden, passed, message))
        failed = [v for v in verdicts if not v.passed]
        groups = _group_verdicts(question, graded, verdicts)
        if not failed:
            return QuestionVerdict(question.id, question.points, float(question.points), "", verdicts, groups)
        first = failed[0]
        not_written = first.message.startswith("not written yet")
        if not_written:
            reason = first.message
            groups = [_no_score(g) for g in groups]
        elif first.hidden:
            reason = f"{len(failed)}/{len(verdicts)} cases failed, first the hidden case '{first.name}'"
        else:
            reason = f"{len(failed)}/{len(verdicts)} cases failed, first '{first.name}': {first.message}"
        score = round(sum(g.score for g in groups), 6)   # 0 for an all-or-nothing question
        return QuestionVerdict(question.id, question.points, score, reason[:300], verdicts, groups)

    def close(self) -> None:
        shutil.rmtree(self._scratch, ignore_errors=True)


def _group_verdicts(question: Question, graded: list[GradedCase], verdicts: list[CaseVerdict]) -> list[GroupVerdict]:
    """The groups of a partial-credit question (none for all-or-nothing): the value cases earn
    their share when all pass, the refusal cases theirs when all pass and every value case passes."""
    found = []
    for group, share in question.partial:
        mine = [v for g, v in zip(graded, verdicts) if (g.case.raises is not None) == (group == "refusals")]
        points = round(question.points * share, 6)
        passed = sum(v.passed for v in mine)
        reason = "" if passed == len(mine) else f"{len(mine) - passed}/{len(mine)} of its cases failed"
        found.append(GroupVerdict(group, points, points if not reason else 0.0, passed, len(mine), reason))
    values = next((g for g in found if g.group == "values"), None)
    for g in found:
        if g.group == "refusals" and values is not None and values.reason and not g.reason:
            g.score, g.reason = 0.0, "earned only once every value case passes"
    return found


def _no_score(group: GroupVerdict) -> GroupVerdict:
    """``group`` earning nothing (its question is not written yet)."""
    return GroupVerdict(group.group, group.points, 0.0, group.passed, group.cases, group.reason or "not written yet")


def _reference_answer(fn, case: checks.Case, question: str) -> Any:
    """What the reference solution gives on the case (the arguments after the call for in-place cases)."""
    args, kwargs = copy.deepcopy(case.args), copy.deepcopy(case.kwargs)
    try:
        value = fn(*args, **kwargs)
    except Exception as err:
        if case.raises is not None and isinstance(err, case.raises):
            return None
        raise GradeError(f"the reference {question} fails on case {case.name!r}: {type(err).__name__}: {err}") from err
    return args if case.judge_args else value


def _judge_case(g: GradedCase, outcome: Any) -> tuple[bool, str]:
    case = g.case
    if not isinstance(outcome, dict) or len(outcome) < 1:
        return False, "no readable outcome"
    if "not_run" in outcome:
        return False, "not run: the question's time ran out"
    if "timeout" in outcome:
        return False, f"still running after the question's {outcome['timeout']} s"
    if "not_plain" in outcome:
        return False, f"returned {str(outcome['not_plain'])[:120]}, which cannot be graded"
    if "raised" in outcome:
        mro = [str(c) for c in outcome["raised"]] if isinstance(outcome["raised"], list) else []
        if "builtins.NotImplementedError" in mro:
            return False, "not written yet (it raises NotImplementedError)"
        return checks.refusal_verdict(case, mro, str(outcome.get("message", "")))
    if "value" not in outcome:
        return False, "no readable outcome"
    got = outcome["value"]
    if case.raises is not None:
        return False, f"expected {case.raises.__name__}, but it returned {plain.describe(got)}"
    try:
        if case.judge is not None:
            problem = case.judge(got)
        else:
            problem = checks.same_result(g.expected, got, rtol=case.rtol, atol=case.atol)
    except Exception as err:  # a result too odd to judge
        problem = f"could not judge the result {plain.describe(got)}: {type(err).__name__}"
    return problem is None, problem or "as expected"
