"""Runs inside the student's kernel: call one question's function on the grader's inputs.

The grader never trusts what happens here: it only reads back plain data (see
:mod:`course.grade.plain`) and judges it in its own process. A question has a time budget for
all its cases, enforced with an interval timer that raises :class:`QuestionTimeout` (a
BaseException, so ``except Exception`` in student code does not swallow it). While the function
runs, and while its outcomes are saved, the pack's helpers refuse to work (:mod:`course.guard`).

The runner does not call this module as the notebook has it (a notebook may have patched it):
it executes this file afresh for every question (:func:`fresh_call`), and this file loads a copy of
:mod:`course.grade.plain` of its own. Only :mod:`course.guard` is shared, since the helpers read
its flag.
"""
from __future__ import annotations

import importlib.util
import json
import os
import signal
import time
import traceback
from pathlib import Path

from course import guard


def _fresh(name: str):
    """A copy of the module ``course/grade/<name>.py`` that no notebook has seen, let alone patched."""
    spec = importlib.util.spec_from_file_location(f"_course_grade_fresh_{name}", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


plain = _fresh("plain")

MAX_RESULT_BYTES = 64 * 2**20


class QuestionTimeout(BaseException):
    """The question's time budget ran out."""


def _alarm(signum, frame):
    raise QuestionTimeout()


def call_question(namespace: dict, question: str, inputs: str, results: str, seconds: float) -> None:
    """Call ``namespace[question]`` on every case in ``inputs`` and save the outcomes to ``results``.

    Each outcome is ``{"value": v}`` (the return value, or the arguments after the call for
    in-place functions), ``{"raised": [type names of the exception's MRO], "message": str}``,
    ``{"timeout": seconds}``, ``{"not_plain": why}`` or ``{"not_run": why}``.
    """
    spec = plain.load(inputs, callables=True)
    workdir = os.path.dirname(os.path.dirname(os.path.abspath(inputs)))  # input files are relative to it
    fn = namespace.get(question)
    if fn is None:
        plain.save({"missing": f"the notebook defines no function named {question}"}, results)
        return
    if not callable(fn):
        plain.save({"missing": f"{question} is a {type(fn).__name__}, not a function"}, results)
        return
    outcomes = []
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    start = time.monotonic()
    with guard.grading(question):
        try:
            _cases(fn, spec, workdir, seconds, outcomes)
        except QuestionTimeout:  # between two calls
            outcomes += [{"not_run": "the question's time ran out"}] * (len(spec["cases"]) - len(outcomes))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        plain.save({"cases": outcomes, "seconds": time.monotonic() - start}, results)


def _cases(fn, spec: dict, workdir: str, seconds: float, outcomes: list) -> None:
    for case in spec["cases"]:
        if outcomes and ("timeout" in outcomes[-1] or "not_run" in outcomes[-1]):
            outcomes.append({"not_run": "the question's time ran out"})
        else:
            os.chdir(workdir)
            outcomes.append(_call(fn, case, seconds))


def _call(fn, case: dict, seconds: float) -> dict:
    args, kwargs = case["args"], case["kwargs"]
    try:
        value = fn(*args, **kwargs)
    except QuestionTimeout:
        return {"timeout": seconds}
    except BaseException as err:  # the student's error, SystemExit and KeyboardInterrupt included
        mro = [f"{c.__module__}.{c.__qualname__}" for c in type(err).__mro__]
        lines = traceback.format_exception_only(type(err), err)[-1].strip().splitlines()
        return {"raised": mro, "message": (lines[0] if lines else type(err).__name__)[:300]}
    if case["judge_args"]:
        value = args
    try:
        arrays: dict = {}
        plain.encode(value, arrays)
        if sum(a.nbytes for a in arrays.values()) > MAX_RESULT_BYTES:
            return {"not_plain": f"a result of more than {MAX_RESULT_BYTES // 2**20} MiB"}
    except (plain.NotPlain, RecursionError) as err:
        return {"not_plain": str(err)}
    return {"value": value}


def run_definitions(namespace: dict, spec: str, progress: str) -> None:
    """Execute the imports and definitions of several cells (``spec``: a JSON list of
    ``[cell index, source]``) in ``namespace``, each on its own: one that raises does not stop
    the others. Before each, its index is written to ``progress``, so that the runner knows which
    cell hung or killed the kernel."""
    for index, source in json.loads(open(spec).read()):
        with open(progress, "w") as f:
            f.write(str(index))
        try:
            exec(compile(source, f"<cell {index + 1}>", "exec"), namespace)
        except Exception:  # the cell's own error, as in a full run
            pass


def fresh_call(function: str, *args) -> str:
    """The source of a cell that executes this file afresh and calls its ``function`` with the
    cell's ``globals()`` and ``args`` (what the runner sends to the kernel)."""
    path = str(Path(__file__).resolve())
    return (f"(lambda h: (exec(compile(open({path!r}).read(), {path!r}, 'exec'), h), "
            f"h[{function!r}](globals(), {', '.join(map(repr, args))})))"
            f"({{'__file__': {path!r}, '__name__': '_course_grade_fresh_harness'}})")
