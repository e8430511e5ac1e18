"""The Gradescope side: build the autograder zip of an assignment, and pick the results.json
Gradescope reads after ``course grade`` ran on the uploaded files.

The zip holds ``setup.sh`` (installs Python 3.11 and the pinned requirements), ``run_autograder``
(grades ``/autograder/submission`` with one worker and a grading seed drawn when the zip was
built), the ``course`` package, ``requirements.txt``, ``pyproject.toml`` and the one solution
notebook the assignment needs.
"""
from __future__ import annotations

import json
import secrets
import shutil
import sys
import zipfile
from pathlib import Path

from .assignment import GradeError

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once when it builds the autograder image (Ubuntu, as root).
set -euo pipefail
cd /autograder/source
if ! command -v python3.11 >/dev/null; then
    apt-get update && apt-get install -y python3.11 python3.11-venv
fi
python3.11 -m venv /autograder/venv
/autograder/venv/bin/pip install -q -r requirements.txt
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission. AUTOGRADER_ROOT and AUTOGRADER_PYTHON let you try it elsewhere.
set -uo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
PY="${{AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}}"
cd "$ROOT/source"
# Gradescope refuses namespaces: the student's code then runs under a fresh uid, which must not read these
chmod -R go-rwx "$ROOT/source/solutions" 2>/dev/null || true
"$PY" -m course.cli grade "$ROOT/submission" --assignment {assignment} --out "$ROOT/grades" --workers 1 \\
    --seed {seed} --timeout {timeout:g} --question-timeout {question_timeout:g} --no-progress
mkdir -p "$ROOT/results"
"$PY" -m course.grade.gradescope "$ROOT/grades" {assignment} "$ROOT/results/results.json"
"""


def build_autograder(assignment: str, out: Path, *, solutions: Path = Path("solutions"),
                     timeout: float = 60, question_timeout: float = 20) -> Path:
    """Write the Gradescope autograder zip of ``assignment`` to ``out``; returns ``out``."""
    solution = Path(solutions) / f"{assignment}.ipynb"
    if not solution.is_file():
        known = ", ".join(p.stem for p in sorted(Path(solutions).glob("*.ipynb"))) or "none"
        raise GradeError(f"no solution notebook {solution}; assignments in {solutions}: {known}")
    package = Path(__file__).resolve().parents[1]
    repo = package.parent
    run = RUN_AUTOGRADER.format(assignment=assignment, seed=secrets.randbits(32), timeout=timeout,
                                question_timeout=question_timeout)
    out = Path(out)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in [("setup.sh", SETUP_SH), ("run_autograder", run)]:
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16
            z.writestr(info, text)
        for path in sorted(package.rglob("*.py")):
            z.write(path, str(path.relative_to(repo)))
        for name in ("requirements.txt", "pyproject.toml"):
            z.write(repo / name, name)
        z.write(solution, f"solutions/{solution.name}")
    return out


def pick_results(grades: Path, assignment: str, target: Path) -> dict:
    """Copy to ``target`` the results.json Gradescope should read: the submitted notebook named
    like the assignment, else the only (or first) one; a zero score saying why when there is none."""
    folders = sorted(p.parent for p in (Path(grades) / "students").glob("*/results.json"))
    preferred = [f for f in folders if f.name == f"{assignment}.ipynb"]
    chosen = (preferred or folders or [None])[0]
    if chosen is None:
        results = {"score": 0, "output": f"No notebook found in the submission: upload {assignment}.ipynb.",
                   "tests": []}
        target.write_text(json.dumps(results, indent=1))
        return results
    shutil.copyfile(chosen / "results.json", target)
    return json.loads(target.read_text())


if __name__ == "__main__":
    pick_results(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]))
