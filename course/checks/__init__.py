"""Student self-checks: ``course.check("parse_mnist", parse_mnist)``.

A question's public check is a list of :class:`Case` objects, registered under the question id
by a module of this package (one module per assignment) with ``@register``. Each case calls the
student's function with fixed arguments and judges the result; the report prints one line per
case with what was expected and what came, and never shows reference code.

Graders add hidden cases with ``@register_hidden``: a function of a seeded generator (the grading
seed, which students never see) returning cases whose ``judge`` may be None; such a case is
judged by :func:`same_result` against the reference solution's output on the same arguments.
"""
from __future__ import annotations

import importlib
import pkgutil
import re
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

__all__ = ["Case", "Report", "check", "run_check", "register", "register_hidden", "public_cases", "hidden_cases",
           "questions", "expect_array", "likely_mistake", "batch_of_each_example", "batch_scale_problem",
           "same_result", "error_outcome", "refusal_verdict"]

_REGISTRY: dict[str, Callable[[Path], Iterable["Case"]]] = {}
_HIDDEN: dict[str, Callable[[np.random.Generator, Path], Iterable["Case"]]] = {}


@dataclass
class Case:
    """One call of the student's function and a judgement of what came back.

    ``judge(result)`` returns None when the result is right, else a one-line
    "expected ..., got ..." message. With ``raises`` set, the call must raise that type, and with
    ``match`` too, the first line of its message (its first 300 characters, all the grader keeps) must
    contain a match of that regular expression (case-insensitive; ``match_what`` says in words what it
    must name): a refusal must come from the
    student's own validation, not from numpy's error on inputs it cannot digest (see :func:`refusal_verdict`).
    With ``judge_args`` the judge (or the comparison with the reference) looks at the
    arguments after the call instead of the return value: for functions that update in place.
    ``rtol``/``atol`` are the tolerances of a comparison with the reference.
    """
    name: str
    args: tuple
    judge: Callable[[Any], str | None] | None = None
    raises: type[BaseException] | None = None
    kwargs: dict = field(default_factory=dict)
    judge_args: bool = False
    rtol: float = 1e-5
    atol: float = 1e-6
    match: str | None = None
    match_what: str | None = None


def error_outcome(err: BaseException) -> dict:
    """What is kept of an error: ``{"raised": [its type's MRO as "module.qualname"], "message": first line}``,
    the message being ``traceback``'s "Type: text" line, at most 300 characters (the plain data the grader's
    harness records of a student's error)."""
    lines = traceback.format_exception_only(type(err), err)[-1].strip().splitlines()
    return {"raised": [f"{c.__module__}.{c.__qualname__}" for c in type(err).__mro__],
            "message": (lines[0] if lines else type(err).__name__)[:300]}


def refusal_verdict(case: Case, raised: list[str], message: str) -> tuple[bool, str]:
    """``(passed, message)`` for a call of ``case`` that raised: ``raised`` and ``message`` as in
    :func:`error_outcome`. The one judgement of an error, used by :func:`run_check` and by the grader.

    It passes when the case wants an exception, ``raised`` contains its type, and the message (without
    its "Type: " prefix) matches ``case.match`` if the case has one.
    """
    short = str(raised[0]).rsplit(".", 1)[-1] if raised else "an exception"
    text = str(message).strip().splitlines()[0][:300] if str(message).strip() else ""
    for prefix in ([str(raised[0]), short] if raised else []):
        if text == prefix or text.startswith(prefix + ":"):
            text = text[len(prefix) + 1:].strip()
            break
    shown = f"{short}: {text}" if text else short
    if case.raises is None:
        return False, f"expected a result, but it raised {shown}"
    if f"{case.raises.__module__}.{case.raises.__qualname__}" not in raised:
        return False, f"expected {case.raises.__name__}, but it raised {shown}"
    if case.match is not None and not re.search(case.match, text, re.IGNORECASE):
        what = case.match_what or f"something matching /{case.match}/"
        return False, (f"raised {short}, but its message does not name {what}: {text!r} "
                       "(check the input yourself and say what is wrong)")
    return True, f"raised {short} as expected: {text}"


@dataclass
class Report:
    """The outcome of a check: one ``(case name, passed, message)`` row per case."""
    question: str
    rows: list[tuple[str, bool, str]]
    not_written: str | None = None

    @property
    def passed(self) -> bool:
        return self.not_written is None and all(ok for _, ok, _ in self.rows)

    def __str__(self) -> str:
        if self.not_written is not None:
            return f"{self.question}: not written yet ({self.not_written}); fill in the stub, then run this check again"
        lines = [f"  {'PASS' if ok else 'FAIL'}  {name}: {msg}" for name, ok, msg in self.rows]
        n_ok = sum(ok for _, ok, _ in self.rows)
        verdict = "all checks passed" if self.passed else f"{n_ok}/{len(self.rows)} checks passed"
        return "\n".join([f"{self.question}: {verdict}", *lines])


def register(question: str):
    """Decorator: ``@register("parse_mnist")`` on a function ``cases(scratch: Path) -> list[Case]``."""
    def decorate(make_cases):
        _REGISTRY[question] = make_cases
        return make_cases
    return decorate


def register_hidden(question: str):
    """Decorator: ``@register_hidden("q")`` on ``cases(rng: np.random.Generator, scratch: Path) -> list[Case]``."""
    def decorate(make_cases):
        _HIDDEN[question] = make_cases
        return make_cases
    return decorate


def public_cases(question: str, scratch: Path) -> list[Case]:
    """The public cases of ``question`` (the ones :func:`check` runs), built in ``scratch``."""
    _load_all()
    if question not in _REGISTRY:
        raise KeyError(f"no check for question {question!r}; known: {', '.join(sorted(_REGISTRY))}")
    return list(_REGISTRY[question](Path(scratch)))


def hidden_cases(question: str, seed: int, scratch: Path) -> list[Case]:
    """The hidden cases of ``question`` for a grading seed (empty if it has none)."""
    _load_all()
    make = _HIDDEN.get(question)
    return list(make(np.random.default_rng(seed), Path(scratch))) if make else []


def questions() -> list[str]:
    """The ids of every question that has a public check."""
    _load_all()
    return sorted(_REGISTRY)


def run_check(question: str, fn: Callable) -> Report:
    """Run the public check of ``question`` on ``fn`` and return the :class:`Report`."""
    _load_all()
    if question not in _REGISTRY:
        raise KeyError(f"no check for question {question!r}; known: {', '.join(sorted(_REGISTRY))}")
    if not callable(fn):
        return Report(question, [("call", False, f"expected a function, got {type(fn).__name__}")])
    rows = []
    with tempfile.TemporaryDirectory(prefix="course-check-") as scratch:
        for case in _REGISTRY[question](Path(scratch)):
            try:
                result = fn(*case.args, **case.kwargs)
            except NotImplementedError as err:
                return Report(question, [], not_written=str(err) or "NotImplementedError")
            except Exception as err:  # the student's bug, or the refusal a case asks for, in one line
                outcome = error_outcome(err)
                passed, message = refusal_verdict(case, outcome["raised"], outcome["message"])
                rows.append((case.name, passed, message.replace(scratch + "/", "")))
                continue
            if case.raises is not None:
                rows.append((case.name, False, f"expected {case.raises.__name__}, but it returned "
                                               f"{_describe(result)}"))
                continue
            try:
                problem = case.judge(case.args if case.judge_args else result)
            except Exception as err:  # a result too odd to judge
                problem = f"could not judge the result {_describe(result)}: {type(err).__name__}: {_one_line(err, scratch)}"
            rows.append((case.name, problem is None, problem or "as expected"))
    return Report(question, rows)


def check(question: str, fn: Callable) -> None:
    """Run the public check of ``question`` on the student's ``fn`` and print its report."""
    print(run_check(question, fn))


def expect_array(got: Any, expected: np.ndarray, what: str = "result", *,
                 rtol: float = 1e-6, atol: float = 1e-6, exact_dtype: bool = True, batch: int | None = None,
                 mistakes: dict[str, np.ndarray] | None = None) -> str | None:
    """None if ``got`` is an array like ``expected`` (dtype, shape, values), else why not.

    A shape that is ``expected``'s transposed says so. When the values differ, the message names the
    likely mistake: with ``batch`` (the number of examples an average runs over) a result ``batch``
    times too big or too small; with ``mistakes`` (``{description: what that mistake gives}``) the
    first one ``got`` matches.
    """
    if not isinstance(got, np.ndarray):
        return f"{what}: expected a numpy array, got {_describe(got)}"
    if exact_dtype and got.dtype != expected.dtype:
        return f"{what}: expected dtype {expected.dtype}, got {got.dtype}"
    if got.shape != expected.shape:
        transposed = " (transposed?)" if got.ndim == 2 and got.shape == expected.shape[::-1] else ""
        return f"{what}: expected shape {expected.shape}, got {got.shape}{transposed}"
    if got.size == 0:
        return None
    if np.issubdtype(got.dtype, np.number) and not np.all(np.isfinite(got)):
        return f"{what}: expected finite values, got {int(np.sum(~np.isfinite(got)))} NaN/inf"
    close = np.isclose(got, expected, rtol=rtol, atol=atol)
    if not close.all():
        idx = np.unravel_index(np.argmin(close), got.shape)
        where = ", ".join(map(str, idx))
        digits = 6 if _num(expected[idx]) != _num(got[idx]) else 12  # close values: show where they differ
        return (f"{what}: {int((~close).sum())} of {got.size} values differ; at [{where}] "
                f"expected {_num(expected[idx], digits)}, got {_num(got[idx], digits)}"
                + likely_mistake(got, expected, batch=batch, mistakes=mistakes))
    return None


def likely_mistake(got: Any, expected: Any, *, batch: int | None = None,
                   mistakes: dict[str, Any] | None = None, rtol: float = 1e-4) -> str:
    """`` (what the mistake probably is)`` when ``got`` is what a typical mistake gives, else "".

    ``batch``: ``got`` is ``batch`` times ``expected`` (a sum instead of an average) or ``1/batch``
    times it (divided twice). ``mistakes``: ``{description: the value that mistake gives}``.
    """
    try:
        got_arr, expected_arr = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
        scale = float(np.abs(expected_arr).max()) if expected_arr.size else 0.0

        def near(a, b):
            return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=1e-7 * max(scale, 1e-300)))
        for description, value in (mistakes or {}).items():
            if near(got_arr, np.asarray(value, dtype=np.float64)):
                return f" (that is what {description} gives)"
        if batch and batch > 1 and scale > 0:
            if near(got_arr, batch * expected_arr):
                return (f" ({batch} times too big: the sum over the {batch} examples instead of their average, "
                        f"a missing 1/{batch}?)")
            if near(batch * got_arr, expected_arr):
                return f" ({batch} times too small: divided by the number of examples twice?)"
    except (TypeError, ValueError):
        pass
    return ""


def batch_of_each_example(n: int, batch: int) -> np.ndarray:
    """The size of the minibatch each of n examples falls in when batches go in order: int array (n,)."""
    return np.array([min(batch, n - start) for start in range(0, n, batch) for _ in range(min(batch, n - start))])


def batch_scale_problem(scales: np.ndarray, batch: int) -> str | None:
    """What is wrong with the minibatches of an epoch, read off how much each example counted.

    For an epoch over examples whose updates do not interact (each one moves parameters of its own),
    ``scales[i]`` is the factor example i's gradient entered its step with (the learning rate divided
    out). Batches taken in order, ``X[0:batch]``, ``X[batch:2*batch]``, ..., with batch-average gradients
    give ``1 / (size of i's batch)``. Returns None when that is what came, else which mistake it shows:
    sums instead of averages, the last batch divided by ``batch``, or the examples batched out of order.
    """
    scales = np.asarray(scales, dtype=np.float64)
    n = len(scales)
    expected = 1.0 / batch_of_each_example(n, batch)

    def near(a, b):
        return bool(np.allclose(a, b, rtol=1e-3, atol=1e-6))
    if near(scales, expected):
        return None
    if near(scales, 1.0):
        return ("each example's gradient entered the step unscaled: the sum over the batch, not its average "
                "(divide by the batch's size)")
    last = n % batch
    if last and near(scales, 1.0 / batch):
        return (f"the last batch has {last} examples (rows {n - last} to {n - 1}): average its gradient over those "
                f"{last}, not over batch = {batch}")
    if last and near(np.sort(scales), np.sort(expected)):
        short = np.flatnonzero(np.isclose(scales, 1.0 / last, rtol=1e-3))
        return (f"the examples in the short last batch were rows {', '.join(map(str, short))}, not rows {n - last} to "
                f"{n - 1}: take the batches in order, X[0:{batch}], X[{batch}:{2 * batch}], ..., without shuffling")
    return None


def same_result(expected: Any, got: Any, *, rtol: float = 1e-5, atol: float = 1e-6, what: str = "result") -> str | None:
    """None if ``got`` matches ``expected`` (arrays by dtype, shape and values; tuples and
    lists element by element; dicts key by key; numbers within tolerance; anything else by ==), else why not."""
    if isinstance(expected, np.ndarray):
        return expect_array(got, expected, what, rtol=rtol, atol=atol)
    if isinstance(expected, dict):
        if not isinstance(got, dict) or set(got) != set(expected):
            keys = sorted(got) if isinstance(got, dict) else None
            return f"{what}: expected a dict with keys {sorted(expected)}, got {_describe(got) if keys is None else keys}"
        for key in expected:
            problem = same_result(expected[key], got[key], rtol=rtol, atol=atol, what=f"{what}[{key!r}]")
            if problem:
                return problem
        return None
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return f"{what}: expected a {type(expected).__name__} of {len(expected)}, got {_describe(got)}"
        for i, (e, g) in enumerate(zip(expected, got)):
            problem = same_result(e, g, rtol=rtol, atol=atol, what=f"{what}[{i}]")
            if problem:
                return problem
        return None
    if isinstance(expected, (float, np.floating)) or (isinstance(expected, (int, np.integer)) and isinstance(got, (float, np.floating))):
        try:
            ok = bool(np.isclose(float(got), float(expected), rtol=rtol, atol=atol))
        except (TypeError, ValueError):
            ok = False
        return None if ok else f"{what}: expected {_num(expected)}, got {_num(got) if isinstance(got, (int, float, np.number)) else _describe(got)}"
    return None if got == expected else f"{what}: expected {expected!r}, got {_describe(got)}"


def _num(x, digits: int = 6) -> str:
    return f"{x:.{digits}g}" if isinstance(x, (float, np.floating)) else str(x)


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"array of {value.dtype} with shape {value.shape}"
    if isinstance(value, tuple):
        return f"tuple of {len(value)} ({', '.join(_describe(v) for v in value)})"
    return type(value).__name__


def _one_line(err: BaseException, scratch: str | None = None) -> str:
    """The first line of an error message, without the check's scratch folder."""
    text = str(err)
    if scratch:
        text = text.replace(scratch + "/", "")
    lines = text.strip().splitlines()
    return lines[0][:200] if lines else "(no message)"


def _load_all() -> None:
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
