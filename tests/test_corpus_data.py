"""The grader's corpus as data: every ``tests/corpus/<assignment>/expected.json`` is well formed, names
every submission in its folder and nothing else, and gives each real code question of the assignment
a score within its points; the generated entries are up to date with the solutions they come from.

:func:`on_host` is for the grading tests: whether a host path an entry tried to create
(``must_not_exist``) exists after grading.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course.questions import questions

from conftest import ROOT

CORPUS = ROOT / "tests" / "corpus"
FOLDERS = sorted(p for p in CORPUS.iterdir() if (p / "expected.json").is_file())
STATUSES = {"graded", "invalid", "timeout", "error"}
KEYS = {"scores", "status", "reason", "needs_sandbox", "note"}
OPTIONAL = {"must_not_exist"}


def expected_of(folder: Path) -> dict:
    return json.loads((folder / "expected.json").read_text(encoding="utf-8"))


def on_host(path: str) -> bool:
    """Whether ``path`` exists on the host (a dangling link counts). A folder this user may not look into
    (/root, for a test run as an unprivileged user) holds none of it: the submission ran with no more
    rights than this user (an unprivileged sandbox maps to this uid)."""
    try:
        return Path(path).exists() or Path(path).is_symlink()
    except PermissionError:
        return False


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_expected_json_names_every_submission_and_nothing_else(folder):
    files = sorted(p.name for p in folder.glob("*.ipynb"))
    assert sorted(expected_of(folder)) == files


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_expected_scores_are_real_questions_within_their_points(folder):
    solution = ROOT / "solutions" / f"{folder.name}.ipynb"
    assert solution.is_file(), f"{folder.name}: no solution notebook of that name"
    points = {q.id: q.points for q in questions(nbformat.read(solution, as_version=4)) if not q.manual}
    for name, e in expected_of(folder).items():
        assert KEYS <= set(e) <= KEYS | OPTIONAL, (name, sorted(set(e) ^ KEYS))
        assert set(e["scores"]) == set(points), (name, sorted(set(e["scores"]) ^ set(points)))
        for qid, score in e["scores"].items():
            assert isinstance(score, (int, float)) and 0 <= score <= points[qid], (name, qid, score)
        assert e["status"] in STATUSES, (name, e["status"])
        if e["status"] != "graded":
            assert not any(e["scores"].values()), (name, "only a graded submission earns points")
        assert e["reason"] is None or isinstance(e["reason"], str) and e["reason"], name
        assert e["note"] is None or isinstance(e["note"], str) and e["note"], name
        assert isinstance(e["needs_sandbox"], bool), name
        paths = e.get("must_not_exist", [])
        assert isinstance(paths, list) and all(isinstance(p, str) and Path(p).is_absolute() for p in paths), name


def test_every_corpus_folder_is_a_real_assignment():
    assert FOLDERS and all((ROOT / "solutions" / f"{f.name}.ipynb").is_file() for f in FOLDERS)


def test_generated_entries_are_up_to_date():
    """``tests/corpus/make_corpus.py`` would write exactly the committed entries."""
    run = subprocess.run([sys.executable, str(CORPUS / "make_corpus.py"), "--check"], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
