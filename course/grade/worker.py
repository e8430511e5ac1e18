"""What a worker does with one submission: lay out a work folder, run the sandbox, bring back
the raw results as bytes. Runs wherever the executor puts it (a thread here, a Dask worker
elsewhere), so its job and its answer are plain picklable data made by the grader, never by the student.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from . import sandbox


def execute_submission(job: dict, inputs: dict[str, bytes]) -> dict:
    """Run one submission; returns ``{"results": {question: (json bytes, npz bytes)}, "log", "sandbox"}``.

    ``inputs`` is the assignment's input folder ({relative path: bytes}, the same for the class);
    ``job`` holds ``notebook`` (bytes), ``questions`` (code
    question ids), ``limits`` (a dict of :class:`course.grade.sandbox.Limits`) and ``hide`` (folders
    the sandbox must not see).
    """
    limits = sandbox.Limits(**job["limits"])
    root = Path(tempfile.mkdtemp(prefix="course-grade-"))
    try:
        work = root / "work"
        (work / "results").mkdir(parents=True)
        (work / "submission.ipynb").write_bytes(job["notebook"])
        for rel, data in inputs.items():
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            (work / rel).write_bytes(data)
        (work / "run.json").write_text(json.dumps({
            "questions": job["questions"], "notebook_seconds": limits.notebook_seconds,
            "question_seconds": limits.question_seconds, "output_bytes": limits.output_bytes}))
        run = sandbox.run(work, limits, len(job["questions"]), [Path(p) for p in job["hide"]])
        results = {}
        for q in job["questions"]:
            files = [work / "results" / f"{q}{suffix}" for suffix in (".json", ".npz")]
            if all(f.is_file() and not f.is_symlink() for f in files):
                results[q] = tuple(f.read_bytes()[: 600 * 2**20] for f in files)
        log_file = work / "log.json"
        try:
            log = json.loads(log_file.read_bytes()[:2**20]) if log_file.is_file() and not log_file.is_symlink() else {}
        except ValueError:
            log = {}
        stderr = (root / "work.stderr").read_bytes()[-4000:].decode(errors="replace")
        return {"results": results, "log": log if isinstance(log, dict) else {}, "sandbox": run, "stderr": stderr}
    finally:
        shutil.rmtree(root, ignore_errors=True)
