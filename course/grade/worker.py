"""What a worker does with one submission: run the sandbox on it and bring back what the runner
sent over the grader's pipe. Runs wherever the executor puts it (a thread here, a Dask worker
elsewhere), so its job and its answer are plain picklable data made by the grader, never by the student.

With ``job["warm"]``, each worker thread keeps one sandbox started ahead for the next submission
(its runner up and its kernel warm, :class:`course.grade.sandbox.Started`): the next submission
finds it ready. A sandbox grades one submission only; :func:`close_warm` ends those left over.
"""
from __future__ import annotations

import atexit
import json
import threading

from . import sandbox

_warm: dict[int, tuple[str, sandbox.Started]] = {}   # worker thread -> (its job's settings, the sandbox ahead)
_lock = threading.Lock()


def execute_submission(job: dict, inputs: dict[str, bytes]) -> dict:
    """Run one submission; returns ``{"results": {question: (json bytes, npz bytes)}, "log": dict,
    "sandbox": what :meth:`course.grade.sandbox.Started.finish` measured, "stderr"}``.

    ``inputs`` is the assignment's files ({path in the work folder: bytes}, the same for the
    class); ``job`` holds ``notebook`` (bytes), ``questions`` (code question ids), ``limits``
    (a dict of :class:`course.grade.sandbox.Limits`), and optionally ``warm`` (keep a sandbox
    started ahead, see above) and ``skip_demos`` (default True; False runs every cell in full).
    """
    limits = sandbox.Limits(**job["limits"])
    config = {"questions": job["questions"], "notebook_seconds": limits.notebook_seconds,
              "question_seconds": limits.question_seconds, "output_bytes": limits.output_bytes,
              "skip_demos": job.get("skip_demos", True)}
    key = json.dumps([config, job["limits"], id(inputs)])

    def start() -> sandbox.Started:
        return sandbox.Started(inputs, config, limits, len(job["questions"]))

    with _lock:
        ahead = _warm.pop(threading.get_ident(), None)
    if ahead is not None and (ahead[0] != key or not ahead[1].alive()):
        ahead[1].cancel()
        ahead = None
    started = ahead[1] if ahead else start()
    if job.get("warm"):  # the next submission's sandbox warms up while this one is graded
        with _lock:
            _warm[threading.get_ident()] = (key, start())
    run = started.finish(job["notebook"])
    results, log = {}, {}
    for header, payloads in run.pop("frames"):
        kind = header.get("kind")
        if kind == "log" and isinstance(header.get("log"), dict):
            log = header["log"]
        elif kind == "result" and header.get("question") in job["questions"] and len(payloads) == 2:
            results[header["question"]] = tuple(payloads)
    return {"results": results, "log": log, "stderr": run.pop("stderr"), "sandbox": run}


def close_warm() -> None:
    """End every sandbox started ahead that no submission will use."""
    with _lock:
        left = list(_warm.values())
        _warm.clear()
    for _, started in left:
        started.cancel()


atexit.register(close_warm)  # none outlives the grader
