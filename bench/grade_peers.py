"""The peers of `course grade`: nbgrader and otter-grader grading the same class of 02_softmax_regression,
each in its own format, built here from the pack's solution notebook (bench/bench_grade.py --only peers).

* nbgrader: a source notebook with ``### BEGIN SOLUTION``/``### END SOLUTION`` in the solution cells,
  nbgrader cell metadata, and after each code question one locked autograder test cell
  (bench/peer_tests_02.py: the pack's public cases as asserts); a course folder, ``nbgrader
  generate_assignment``, the class in ``submitted/<student>/<assignment>/``, ``nbgrader autograde`` (serial),
  the scores read from the gradebook database with nbgrader's API;
* otter-grader: an otter-assign master notebook (``# ASSIGNMENT CONFIG``, ``# BEGIN QUESTION`` ...
  ``# END QUESTION`` raw cells, one test cell per public case, all or nothing per question as in the pack),
  ``otter assign``, then ``otter run -a autograder.zip`` once per submission (no container: the host's Python);
* course: the student notebooks of notebooks/, ``course.grade.grade`` with 1 and with 2 workers.

The class: 20 submissions, 10 correct (the solution's code in the tool's student notebook), 5 untouched
(the tool's student notebook as generated), 5 with one function broken. Every tool grades a question all or
nothing on the same public cases (course adds hidden ones), so the right score of each submission is the
points of the questions its bug does not reach (a broken ``softmax`` also breaks the gradients that call it).
"""
from __future__ import annotations

import copy
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import nbformat

from course.assign import SOLUTION_ONLY_TAG, student_notebook, wrap_hint
from course.questions import cell_definitions, questions

sys.path.insert(0, str(Path(__file__).parent))
from peer_tests_02 import nbgrader_test, otter_tests  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "02_softmax_regression"
N_CORRECT, N_UNTOUCHED = 10, 5

#: variant -> (the function it breaks, the lines that replace its solution block, the questions that then fail)
BUGS = {
    "softmax_unnormalised": ("softmax", ["return np.exp(H - H.max(axis=1, keepdims=True))"],
                             {"softmax", "softmax_loss_grad", "softmax_regression_grad"}),
    "softmax_loss_summed": ("softmax_loss", ["shifted = H - H.max(axis=1, keepdims=True)",
                                             "return np.sum(np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(H.shape[0]), y])"],
                            {"softmax_loss"}),
    "softmax_loss_grad_not_averaged": ("softmax_loss_grad", ["grad = softmax(H)", "grad[np.arange(H.shape[0]), y] -= 1",
                                                             "return grad"],
                                       {"softmax_loss_grad", "softmax_regression_grad"}),
    "softmax_regression_grad_transposed": ("softmax_regression_grad",
                                           ["return (X.T @ softmax_loss_grad(X @ theta, y)).T"], {"softmax_regression_grad"}),
    "softmax_overflows": ("softmax", ["return np.exp(H) / np.exp(H).sum(axis=1, keepdims=True)"],
                          {"softmax", "softmax_loss_grad"}),
}

_MARKER = re.compile(r"^(?P<indent>\s*)# (?P<end>BEGIN|END) SOLUTION(?:\s+hint:\s*(?P<hint>.*?))?\s*$")
_MD_MARKER = re.compile(r"^\s*<!-- (BEGIN|END) SOLUTION -->\s*$")
_DEF = re.compile(r"^def (\w+)\(", re.MULTILINE)


class PeerError(RuntimeError):
    """A peer tool is missing or failed: the message says which, and what it printed."""


# ----------------------------------------------------------------------------------- the class
def solution_notebook() -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "solutions" / f"{ASSIGNMENT}.ipynb", as_version=4)


def _solution_cells(solution) -> dict[str, str]:
    """Function name -> source of each code cell of the solution that has a solution block."""
    return {_DEF.search(c.source).group(1): c.source for c in solution.cells
            if c.cell_type == "code" and any(_MARKER.match(line) for line in c.source.splitlines())}


def _code(source: str, bug: list[str] | None = None) -> str:
    """A solution cell's code without its marker lines; with ``bug``, its solution block replaced by those lines."""
    out, inside = [], False
    for line in source.splitlines():
        marker = _MARKER.match(line)
        if marker:
            inside = marker["end"] == "BEGIN"
            if inside and bug is not None:
                out += [marker["indent"] + b for b in bug]
        elif not (inside and bug is not None):
            out.append(line)
    return "\n".join(out)


def make_class(solution) -> dict[str, tuple[str, dict[str, str] | None, float]]:
    """student -> (variant, the code of the cells to fill in, None for untouched; the right score).

    Half the class is correct; the other half alternates untouched notebooks and the bugs of BUGS."""
    cells = _solution_cells(solution)
    points = {q.id: float(q.points) for q in questions(solution) if not q.manual}
    correct = {name: _code(src) for name, src in cells.items()}
    untouched = [("untouched", None, 0.0)] * N_UNTOUCHED
    bugs = [(variant, {**correct, fn: _code(cells[fn], lines)}, sum(p for q, p in points.items() if q not in lost))
            for variant, (fn, lines, lost) in BUGS.items()]
    others = [x for pair in zip(untouched, bugs) for x in pair]  # untouched and broken, in turns
    entries = [("correct", correct, sum(points.values()))] * N_CORRECT
    class_ = {}
    for i, entry in enumerate(x for pair in itertools.zip_longest(entries, others) for x in pair if x):
        class_[f"student{i + 1:02d}"] = entry
    return class_


def check_class(solution, class_) -> None:
    """The right scores claimed by make_class, checked with the pack's own public checks in this process
    (each variant's functions defined from its code): a benchmark whose answer key is wrong stops here."""
    from course.checks import run_check
    points = {q.id: float(q.points) for q in questions(solution) if not q.manual}
    for student, (variant, codes, right) in class_.items():
        if codes is None:
            continue
        namespace: dict = {}
        exec("import numpy as np\n" + "\n\n".join(map(cell_definitions, codes.values())), namespace)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the overflowing softmax warns
            score = sum(p for q, p in points.items() if run_check(q, namespace[q]).passed)
        if score != right:
            raise PeerError(f"{student} ({variant}): the pack's public checks give {score}, the class says {right}")


def filled(student_nb, codes: dict[str, str] | None):
    """A copy of a tool's student notebook with the cells that define the functions of ``codes`` replaced."""
    nb = copy.deepcopy(student_nb)
    if codes is None:
        return nb
    found = set()
    for cell in nb.cells:
        match = _DEF.search(cell.source) if cell.cell_type == "code" else None
        if match and match.group(1) in codes and match.group(1) not in found:
            cell.source = codes[match.group(1)]
            found.add(match.group(1))
    if found != set(codes):
        raise PeerError(f"no cell defines {sorted(set(codes) - found)} in the student notebook")
    return nb


def _delimited(source: str, begin: str, end: str) -> str:
    """The pack's solution markers in a tool's own words: the hint as comment lines, then ``begin``; ``end``."""
    out = []
    for line in source.splitlines():
        marker = _MARKER.match(line)
        if marker and marker["end"] == "BEGIN":
            out += [*(wrap_hint(marker["hint"], marker["indent"]) if marker["hint"] else []), marker["indent"] + begin]
        elif marker:
            out.append(marker["indent"] + end)
        else:
            out.append(line)
    return "\n".join(out)


def _student_cells(solution):
    """The solution's cells as a tool gets them, solution-only cells dropped, no outputs; yields (cell, its
    ``course`` metadata or None, its text in the pack's student notebook)."""
    student = iter(student_notebook(solution).cells)
    for cell in copy.deepcopy(solution).cells:
        if SOLUTION_ONLY_TAG in cell.metadata.get("tags", []):
            continue
        meta = cell.metadata.pop("course", None)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            cell.metadata.pop("execution", None)
        yield cell, meta, next(student).source


def _has_solution(cell) -> bool:
    pattern = _MARKER if cell.cell_type == "code" else _MD_MARKER
    return any(pattern.match(line) for line in cell.source.splitlines())


def _run(command: list, cwd: Path, what: str) -> float:
    """Run ``command``; its wall time in seconds. A failure raises PeerError with its last lines."""
    env = {**os.environ, "COURSE_DATA_SOURCE": "sample",  # the data every grader gives the notebook: the embedded sample
           # the tools call their venv's commands by name (nbgrader runs `alembic`), activated or not
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise PeerError(f"{what} failed (exit {done.returncode}):\n{tail}")
    return seconds


def _tool(name: str) -> str:
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise PeerError(f"{name} is not installed beside {sys.executable}: pip install -r bench/requirements.txt")
    return str(path)


# ---------------------------------------------------------------------------------- nbgrader
def nbgrader_source(solution) -> nbformat.NotebookNode:
    """The nbgrader source notebook: solution cells delimited, every question's cell graded or tested."""
    def meta(grade_id, *, grade, solution, points=None):
        return {"grade": grade, "grade_id": grade_id, "locked": not solution, "schema_version": 3,
                "solution": solution, "task": False, **({"points": points} if points is not None else {})}

    cells = []
    for cell, question, student_text in _student_cells(solution):
        if question and question.get("manual"):  # a written answer: graded by hand
            cell.metadata["nbgrader"] = meta(question["question"], grade=True, solution=True, points=question["points"])
        elif cell.cell_type == "code" and _has_solution(cell):  # a question's code, or an ungraded function to write
            cell.source = _delimited(cell.source, "### BEGIN SOLUTION", "### END SOLUTION")
            cell.metadata["nbgrader"] = meta(question["question"] if question else _DEF.search(cell.source).group(1),
                                             grade=False, solution=True)
        elif _has_solution(cell):  # a derivation in the text: nbgrader's Markdown solutions must be graded cells
            cell.source = student_text
        cells.append(cell)
        if question and not question.get("manual"):
            test = nbformat.v4.new_code_cell(nbgrader_test(question["question"]))
            test.metadata["nbgrader"] = meta(f"test_{question['question']}", grade=True, solution=False,
                                             points=question["points"])
            cells.append(test)
    nb = copy.deepcopy(solution)
    nb.cells = cells
    return nb


class Nbgrader:
    """A course folder of nbgrader's with the assignment generated; ``grade`` autogrades a class."""
    name = "nbgrader"

    def __init__(self, folder: Path, solution):
        import nbgrader
        self.version = nbgrader.__version__
        self.folder, self.exe = folder, _tool("nbgrader")
        source = folder / "source" / ASSIGNMENT
        source.mkdir(parents=True)
        (folder / "nbgrader_config.py").write_text(
            "c = get_config()\n"
            "c.CourseDirectory.course_id = 'bench'\n"
            f"c.CourseDirectory.root = {str(folder)!r}\n"
            # nbgrader's default is 30 s per cell; the pack allows a notebook Limits().notebook_seconds in all
            "c.Execute.timeout = 300\n")
        nbformat.write(nbgrader_source(solution), source / f"{ASSIGNMENT}.ipynb")
        _run([self.exe, "generate_assignment", ASSIGNMENT, "--force"], folder, "nbgrader generate_assignment")
        self.student = nbformat.read(folder / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
        self.rounds = 0

    def grade(self, class_) -> tuple[float, dict[str, float]]:
        """Seconds of one ``nbgrader autograde`` of the whole class, and each student's code score."""
        from nbgrader.api import Gradebook
        self.rounds += 1
        for old in ("submitted", "autograded", "feedback"):
            shutil.rmtree(self.folder / old, ignore_errors=True)
        (self.folder / "gradebook.db").unlink(missing_ok=True)  # a fresh database every round
        _run([self.exe, "generate_assignment", ASSIGNMENT, "--force"], self.folder, "nbgrader generate_assignment")
        for student, (_, codes, _) in class_.items():
            target = self.folder / "submitted" / student / ASSIGNMENT
            target.mkdir(parents=True)
            nbformat.write(filled(self.student, codes), target / f"{ASSIGNMENT}.ipynb")
        seconds = _run([self.exe, "autograde", ASSIGNMENT], self.folder, "nbgrader autograde")
        with Gradebook(f"sqlite:///{self.folder / 'gradebook.db'}") as gb:
            scores = {s: float(gb.find_submission(ASSIGNMENT, s).code_score) for s in class_}
        return seconds, scores


# ------------------------------------------------------------------------------------- otter
def otter_master(solution) -> nbformat.NotebookNode:
    """The otter-assign master notebook of the assignment (otter's "v1" format of raw delimiter cells)."""
    raw = nbformat.v4.new_raw_cell
    config = ["# ASSIGNMENT CONFIG", f"name: {ASSIGNMENT}", "init_cell: true", "check_all_cell: false",
              "export_cell: false", "run_tests: true", "solutions_pdf: false", "template_pdf: false",
              "strip_solutions_from_all_cells: true"]  # the ungraded bias_grad cell has a solution block too
    cells = [raw("\n".join(config))]
    for cell, question, student_text in _student_cells(solution):
        if cell.cell_type == "code" and _has_solution(cell):
            cell.source = _delimited(cell.source, "# BEGIN SOLUTION", "# END SOLUTION")
        if question is None:
            if cell.cell_type == "markdown" and _has_solution(cell):
                cell.source = student_text  # otter strips Markdown solutions only inside a question: as the pack does
            cells.append(cell)
            continue
        head = [f"name: {question['question']}", f"points: {question['points']}"]
        if question.get("manual"):
            cells += [raw("# BEGIN QUESTION\n" + "\n".join([*head, "manual: true"])), raw("# BEGIN SOLUTION"), cell,
                      raw("# END SOLUTION"), raw("# END QUESTION")]
        else:
            tests = [nbformat.v4.new_code_cell(t) for t in otter_tests(question["question"])]
            cells += [raw("# BEGIN QUESTION\n" + "\n".join([*head, "all_or_nothing: true"])), raw("# BEGIN SOLUTION"),
                      cell, raw("# END SOLUTION"), raw("# BEGIN TESTS"), *tests, raw("# END TESTS"), raw("# END QUESTION")]
    nb = copy.deepcopy(solution)
    nb.cells = cells
    return nb


class Otter:
    """An assignment built by ``otter assign``; ``grade`` runs ``otter run`` on each submission in turn."""
    name = "otter-grader"

    def __init__(self, folder: Path, solution):
        import otter
        self.version = otter.__version__
        self.folder, self.exe = folder, _tool("otter")
        folder.mkdir(parents=True)
        nbformat.write(otter_master(solution), folder / f"{ASSIGNMENT}.ipynb")
        # otter assign runs the tests on the solution: the tests of peer_tests_02 pass on the reference
        _run([self.exe, "assign", f"{ASSIGNMENT}.ipynb", "dist"], folder, "otter assign")
        zips = sorted((folder / "dist" / "autograder").glob("*.zip"))
        if len(zips) != 1:
            raise PeerError(f"otter assign made {len(zips)} autograder zips in {folder / 'dist' / 'autograder'}")
        self.zip = zips[0]
        self.student = nbformat.read(folder / "dist" / "student" / f"{ASSIGNMENT}.ipynb", as_version=4)
        self.rounds = 0

    def grade(self, class_) -> tuple[float, dict[str, float]]:
        """Seconds of ``otter run`` on every submission, one after the other, and each one's score."""
        self.rounds += 1
        work = self.folder / f"round{self.rounds}"
        seconds, scores = 0.0, {}
        for student, (_, codes, _) in class_.items():
            sub = work / student
            sub.mkdir(parents=True)
            nbformat.write(filled(self.student, codes), sub / f"{ASSIGNMENT}.ipynb")
            seconds += _run([self.exe, "run", "--no-logo", "-a", str(self.zip), "-o", str(sub), f"{ASSIGNMENT}.ipynb"],
                            sub, f"otter run ({student})")
            results = json.loads((sub / "results.json").read_text())
            # the first entry is a "Public Tests" summary without a score; the others are the questions
            scores[student] = float(sum(t["score"] for t in results["tests"] if "score" in t))
        return seconds, scores


# ------------------------------------------------------------------------------------ course
class Course:
    """The pack's grader on its own student notebook, through ``course.grade.grade``."""

    def __init__(self, folder: Path, workers: int):
        self.folder, self.workers = folder, workers
        self.name = f"course grade --workers {workers}"
        self.version = f"course {_git_describe()}"
        self.student = nbformat.read(ROOT / "notebooks" / f"{ASSIGNMENT}.ipynb", as_version=4)
        self.rounds, self.protections, self.walls = 0, [], None

    def grade(self, class_) -> tuple[float, dict[str, float]]:
        from course.grade import Limits, grade
        self.rounds += 1
        work = self.folder / f"round{self.rounds}"
        (work / "class").mkdir(parents=True)
        for student, (_, codes, _) in class_.items():
            nbformat.write(filled(self.student, codes), work / "class" / f"{student}.ipynb")
        start = time.perf_counter()
        records = grade([work / "class"], ASSIGNMENT, work / "out", solutions=ROOT / "solutions", workers=self.workers,
                        limits=Limits(), progress=False)
        seconds = time.perf_counter() - start
        started = [r for r in records if r.get("walls") and r["status"] != "error"]
        if started:  # what `course grade` prints as the protections in force
            self.protections, self.walls = started[-1]["protections"], started[-1]["walls"]
        return seconds, {Path(r["submission"]).stem: sum(q["score"] for q in r["questions"].values()) for r in records}

    def isolation(self) -> str:
        if self.walls is None:
            return "no sandbox started"
        lacking = [p.split(":")[0].removeprefix("NOT in force").strip(" :") for p in self.protections
                   if p.startswith("NOT in force")]
        return (f"sandbox {self.walls['level']}" + (" + cgroup" if self.walls["cgroup"] else "")
                + (f" (missing: {'; '.join(lacking)})" if lacking else ""))


def _git_describe() -> str:
    done = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() or "(no git)"
