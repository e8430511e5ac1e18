"""``course validate``: the assignment from the file name, clear errors, the warnings (each proved on a
notebook that has the fault and on one that has not), and a verdict on the public cases that equals the
grader's on the same notebooks of the corpus."""
from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from course.assign import STUDENT_ANSWER_MD
from course.cli import main as course_main
from course.grade import GradeError, Limits, grade, sandbox
from course.grade.validate import assignment_of, find_assignment, validate

from conftest import ROOT

CORPUS = ROOT / "tests" / "corpus"
LIMITS = Limits(notebook_seconds=8, question_seconds=4)   # as tests/test_grade.py grades the corpus
KNOWN = sorted(p.stem for p in (ROOT / "solutions").glob("*.ipynb"))
FULL_SANDBOX = sandbox.walls().level.startswith("bwrap")


@pytest.mark.parametrize("name, expected", [
    ("03_sgd.ipynb", "03_sgd"), ("03_sgd-alice.ipynb", "03_sgd"), ("03_sgd_v2.ipynb", "03_sgd"),
    ("05_newton (1).ipynb", "05_newton"), ("homework.ipynb", None), ("03_sgdx.ipynb", None), ("03.ipynb", None),
])
def test_the_assignment_comes_from_the_file_name(name, expected):
    assert assignment_of(Path(name), KNOWN) == expected


def test_bad_input_gets_one_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    nb = tmp_path / "homework.ipynb"
    shutil.copyfile(ROOT / "notebooks" / "01_mnist_loader.ipynb", nb)
    with pytest.raises(GradeError, match=r"cannot tell the assignment of 'homework.ipynb'.*01_mnist_loader, "
                                         r"02_softmax_regression.*--assignment ID"):
        find_assignment(nb, None, None)
    with pytest.raises(GradeError, match=r"no assignment '09_nope' in .*solutions; known: 01_mnist_loader"):
        find_assignment(nb, "09_nope", None)
    (tmp_path / "empty").mkdir()
    with pytest.raises(GradeError, match=r"no solution notebooks in .*empty: validate reads the questions.*--solutions"):
        find_assignment(nb, "01_mnist_loader", tmp_path / "empty")
    assert course_main(["validate", str(tmp_path / "missing.ipynb"), "--assignment", "01_mnist_loader"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("course validate: no notebook at") and "Traceback" not in err
    assert course_main(["validate", str(nb)]) == 1
    assert "cannot tell the assignment" in capsys.readouterr().err


def _mutated_01(path: Path) -> None:
    """The 01 solution with three faults: the written answer back to the placeholder, class_means
    defined again (wrongly) in a later cell, a cell that raises after 5 s (over 70% of an 8 s limit)."""
    nb = nbformat.read(ROOT / "solutions" / "01_mnist_loader.ipynb", as_version=4)
    for cell in nb.cells:
        if (cell.metadata.get("course") or {}).get("manual"):
            cell.source = STUDENT_ANSWER_MD
    nb.cells.append(new_code_cell("def class_means(images, labels):\n    return images[:10]"))
    nb.cells.append(new_code_cell("import time\ntime.sleep(5)\nraise KeyError('forgot to delete this cell')"))
    nbformat.write(nb, path)


def test_validate_warns_about_what_matters_and_only_then(tmp_path, capsys, monkeypatch):
    """The mutated notebook gets every warning and exit 1; the solution (also named with a student's
    suffix, run from another folder, in the unprivileged sandbox when this runs as root) gets none and exit 0."""
    monkeypatch.chdir(tmp_path)   # solutions/ is not here: validate finds the pack's own
    if os.geteuid() == 0 and FULL_SANDBOX:
        monkeypatch.setattr(sandbox, "walls", lambda: sandbox.Walls("bwrap-user", False, ()))
    bad, good = tmp_path / "01_mnist_loader.ipynb", tmp_path / "01_mnist_loader-alice.ipynb"
    _mutated_01(bad)
    shutil.copyfile(ROOT / "solutions" / "01_mnist_loader.ipynb", good)

    assert course_main(["validate", str(bad), "--timeout", "8", "--question-timeout", "4"]) == 1
    out = capsys.readouterr().out
    table = out.split("Before you submit:")[0]
    rows = {line.split()[0]: line.split()[1:3] for line in table.splitlines()[3:] if line.strip()}
    assert rows["class_means"][1] == "0/2" and rows["idx_header"] == ["4/4", "3/3"], table
    assert f"written answer magic_numbers still reads '{STUDENT_ANSWER_MD}'" in out
    assert "class_means is defined at the top level of cells" in out and "the grader uses the last one run" in out
    assert "a cell raises KeyError: 'forgot to delete this cell'" in out
    assert "more than 70% of the 8 s the cells have" in out
    assert out.rstrip().endswith("written answers are graded by hand.") and "2/3 questions pass" in out
    assert "Public cases only: the grader also runs hidden cases, which may still fail" in out

    assert course_main(["validate", str(good)]) == 0
    out = capsys.readouterr().out
    assert "Before you submit:" not in out, out
    assert "3/3 questions pass their public cases" in out and "assignment 01_mnist_loader" in out
    if FULL_SANDBOX:
        assert "sandbox: bwrap-user" in out if os.geteuid() == 0 else "sandbox: bwrap" in out


# --- the verdict on the public cases equals the grader's -------------------------------------------

#: a representative subset of the corpus: untouched stubs, hard-coded public answers (public passes,
#: hidden fails), answers from helpers, values that fool comparisons, and partial credit both ways
SUBSET = {"02_softmax_regression": ["fools_comparisons", "helpers_answer"],
          "03_sgd": ["train_via_helpers"],
          "05_newton": ["untouched", "hardcodes_public_cases", "steps_without_refusals", "refusals_without_steps"]}


def _public(question: dict) -> list[tuple[str, bool]]:
    return [(c["name"], c["passed"]) for c in question["cases"] if not c["hidden"]]


def test_validate_agrees_with_the_grader_on_public_cases(tmp_path):
    graded = {}
    for assignment, names in SUBSET.items():
        records = grade([CORPUS / assignment / f"{n}.ipynb" for n in names], assignment, tmp_path / assignment,
                        solutions=ROOT / "solutions", workers=2, limits=LIMITS, progress=False, seed=20261124)
        graded.update({(assignment, r["submission"]): r for r in records})
    jobs = [(a, f"{n}.ipynb") for a, names in SUBSET.items() for n in names]
    with ThreadPoolExecutor(2) as pool:
        checked = dict(zip(jobs, pool.map(lambda job: validate(CORPUS / job[0] / job[1], job[0], limits=LIMITS), jobs)))
    for job in jobs:
        record, v = graded[job], checked[job]
        assert v.assignment == job[0] and record["status"] == v.record["status"] == "graded", job
        for row in v.rows:
            if row.total is None:
                continue
            by_grader = _public(record["questions"][row.question])
            by_validate = _public(v.record["questions"][row.question])
            assert by_validate == by_grader, (job, row.question)
            assert (row.passed, row.total) == (sum(p for _, p in by_grader), len(by_grader)), (job, row)
            assert all(c["hidden"] for c in record["questions"][row.question]["cases"][len(by_grader):])
        expected = json.loads((CORPUS / job[0] / "expected.json").read_text())[job[1]]["scores"]
        assert {q: r["score"] for q, r in record["questions"].items()} == expected, job
    # hard-coded public answers pass validate and fail the grader: validate says it is public cases only
    hard = checked["05_newton", "hardcodes_public_cases.ipynb"]
    row = next(r for r in hard.rows if r.question == "mse_gradient")
    assert row.passed == row.total and graded["05_newton", "hardcodes_public_cases.ipynb"]["questions"]["mse_gradient"]["score"] == 0
    # the partial-credit question: validate shows the grader's points for the public cases
    rows = {r.question: r for r in checked["05_newton", "steps_without_refusals.ipynb"].rows}
    assert rows["newton_step"].score == pytest.approx(2.8) and not checked["05_newton", "steps_without_refusals.ipynb"].passed
    feedback = (tmp_path / "05_newton" / "students" / "steps_without_refusals.ipynb" / "feedback.md").read_text()
    assert "`newton_step`: 2.8 / 4 (PARTIAL)" in feedback and "- values: 2.8 / 2.8 points (" in feedback
    assert "- refusals: 0 / 1.2 points (" in feedback
