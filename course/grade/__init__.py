"""The autograder: ``course grade SUBMISSIONS... --assignment ID --out DIR``.

One job per module:

* :mod:`~course.grade.assignment`: questions, cases (public and hidden) and reference answers of
  ``solutions/<ID>.ipynb``, and the judgement of a submission's results;
* :mod:`~course.grade.plain`: the plain-data format (JSON + .npz, no pickle) that crosses the sandbox wall;
* :mod:`~course.grade.sandbox`: the walls (bubblewrap's allow-list root, namespaces, a fresh uid), with
  :mod:`~course.grade.cgroup` (limits for the sandbox as a whole) and :mod:`~course.grade.channel`
  (the pipes between grader and runner);
* :mod:`~course.grade.runner` and :mod:`~course.grade.harness`: what runs inside (the notebook in a
  fresh kernel, then each question's function on the grader's inputs);
* :mod:`~course.grade.worker`: one submission, as an executor runs it;
* :mod:`~course.grade.batch`: the class, in parallel, written as it comes;
* :mod:`~course.grade.report` and :mod:`~course.grade.written`: gradebook, results.json, feedback, written answers;
* :mod:`~course.grade.summary`, :mod:`~course.grade.similarity`: the class report and similar code;
* :mod:`~course.grade.late`, :mod:`~course.grade.roster`, :mod:`~course.grade.export`: deadlines, whose
  each file is, and LMS import files;
* :mod:`~course.grade.gradescope`: the Gradescope autograder zip.
"""
import importlib

__all__ = ["Assignment", "GradeError", "Limits", "collect", "grade", "protections"]
_HOME = {"Assignment": "assignment", "GradeError": "assignment", "Limits": "sandbox",
         "protections": "sandbox", "collect": "batch", "grade": "batch"}


def __getattr__(name: str):
    # imported on first use: the sandbox imports course.grade.harness and should not pay for the rest
    if name in _HOME:
        return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
