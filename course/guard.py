"""The pack's helpers never answer a graded question for the student.

While the grader calls a student's function (:func:`grading`), every helper of the pack that
computes something a question could ask for (reading IDX files, loading datasets, training models,
finite differences) refuses with :class:`HelperRefused`, a BaseException so that ``except
Exception`` does not hide it. In the notebook, and in ``course.check``, the helpers work as usual.
The refusal stops a call of the pack's code; copying that code into a notebook is a matter for
the similarity report, not for this guard.
"""
from __future__ import annotations

import functools
from contextlib import contextmanager

_question: str | None = None


class HelperRefused(BaseException):
    """A pack helper was called while a question was graded."""


@contextmanager
def grading(question: str):
    """Within this block the helpers refuse: ``question``'s function is being graded."""
    global _question
    previous, _question = _question, question
    try:
        yield
    finally:
        _question = previous


def refuses_while_grading(fn):
    """Decorator: ``fn`` raises :class:`HelperRefused` while a question is graded."""
    name = f"{fn.__module__}.{fn.__qualname__}"

    @functools.wraps(fn)
    def guarded(*args, **kwargs):
        if _question is not None:
            raise HelperRefused(f"{name} may not be used while {_question} is graded: the question asks "
                                "for your own code (numpy is fine; the course package's helpers are not)")
        return fn(*args, **kwargs)
    return guarded
