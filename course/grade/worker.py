"""What a worker does with one submission: run the sandbox on it and bring back what the runner
sent over the grader's pipe. Runs wherever the executor puts it (a thread here, a Dask worker
elsewhere), so its job and its answer are plain picklable data made by the grader, never by the student.
"""
from __future__ import annotations

from . import sandbox


def execute_submission(job: dict, inputs: dict[str, bytes]) -> dict:
    """Run one submission; returns ``{"results": {question: (json bytes, npz bytes)}, "log": dict,
    "sandbox": what :func:`course.grade.sandbox.run` measured, "stderr"}``.

    ``inputs`` is the assignment's files ({path in the work folder: bytes}, the same for the
    class); ``job`` holds ``notebook`` (bytes), ``questions`` (code question ids) and ``limits``
    (a dict of :class:`course.grade.sandbox.Limits`).
    """
    limits = sandbox.Limits(**job["limits"])
    config = {"questions": job["questions"], "notebook_seconds": limits.notebook_seconds,
              "question_seconds": limits.question_seconds, "output_bytes": limits.output_bytes}
    run = sandbox.run({"submission.ipynb": job["notebook"], **inputs}, config, limits, len(job["questions"]))
    results, log = {}, {}
    for header, payloads in run.pop("frames"):
        kind = header.get("kind")
        if kind == "log" and isinstance(header.get("log"), dict):
            log = header["log"]
        elif kind == "result" and header.get("question") in job["questions"] and len(payloads) == 2:
            results[header["question"]] = tuple(payloads)
    return {"results": results, "log": log, "stderr": run.pop("stderr"), "sandbox": run}
