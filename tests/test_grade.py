"""The autograder: the adversarial corpus graded with the expected score per question, the files
it writes, reruns, written answers, the Dask executor, and the Gradescope zip.

The corpus is data: ``tests/corpus/<assignment>/`` holds submitted notebooks and ``expected.json``
(per file: the score of each question, the status, a piece of the reason, and whether the
expectation needs the namespaces sandbox). A new assignment's corpus needs no new test code.
"""
from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest

from course.cli import main as course_main
from course.grade import Assignment, GradeError, Limits, grade, plain
from course.grade.gradescope import build_autograder
from course.grade import sandbox

from conftest import ROOT
from test_corpus_data import on_host

CORPUS = ROOT / "tests" / "corpus"
LIMITS = Limits(notebook_seconds=8, question_seconds=4)
FULL_SANDBOX = sandbox.walls().level.startswith("bwrap")
SNEAKY_PORT = 47651  # the corpus's network attempt connects here; nothing may arrive
ESCAPES = [Path("/tmp/course-grade-escape.txt"), ROOT.parent / "course-grade-escape.txt",
           Path.home() / "course-grade-escape.txt", ROOT / "course" / "checks" / "zz_course_grade_escape.py",
           ROOT / "course-grade-escape.txt"]


def corpus_entries():
    for folder in sorted(p for p in CORPUS.iterdir() if (p / "expected.json").is_file()):
        for name, expected in json.loads((folder / "expected.json").read_text()).items():
            yield folder.name, name, expected


class Listener:
    """A TCP server on 127.0.0.1 that records whether anyone connected."""

    def __init__(self, port: int):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.connections = 0
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.sendall(b"secret answers")
            conn.close()

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Every corpus folder graded once with 2 workers: ``{assignment: (out dir, {name: record})}``."""
    listener = Listener(SNEAKY_PORT)
    results = {}
    try:
        for folder in sorted(p for p in CORPUS.iterdir() if (p / "expected.json").is_file()):
            out = tmp_path_factory.mktemp(f"grades-{folder.name}")
            records = grade([folder], folder.name, out, solutions=ROOT / "solutions", workers=2,
                            limits=LIMITS, progress=False, seed=20261124)
            results[folder.name] = (out, {r["submission"]: r for r in records})
    finally:
        listener.close()
    results["_connections"] = listener.connections
    return results


def test_corpus_is_big_enough():
    assert len(list(corpus_entries())) >= 15


@pytest.mark.parametrize("assignment, name, expected", list(corpus_entries()),
                         ids=[f"{a}/{n}" for a, n, _ in corpus_entries()])
def test_corpus_submission_gets_its_expected_grade(graded, assignment, name, expected):
    if expected["needs_sandbox"] and not FULL_SANDBOX:
        pytest.skip(f"needs the bubblewrap sandbox, which does not start here: {sandbox.walls().why_not}")
    record = graded[assignment][1][name]
    scores = {q: v["score"] for q, v in record["questions"].items()}
    assert scores == expected["scores"], record
    assert record["status"] == expected["status"], record
    reasons = " ".join([record["reason"], *(v["reason"] for v in record["questions"].values())])
    if expected["reason"]:
        assert expected["reason"] in reasons
    for qid, q in record["questions"].items():  # every question short of full marks says why
        assert q["score"] == q["points"] or q["reason"], (qid, q)
    if expected["note"]:
        assert any(expected["note"] in n for n in record["notes"]), record["notes"]
    for path in expected.get("must_not_exist", []):   # what it tried to leave on the host
        assert not on_host(path), path


@pytest.mark.parametrize("solution", sorted((ROOT / "solutions").glob("*.ipynb")), ids=lambda p: p.stem)
def test_every_assignment_can_be_graded(solution):
    """The grader reads any assignment from its solution notebook and checks: no grader change needed."""
    assignment = Assignment(solution, seed=7)
    try:
        assert assignment.code, "no code questions"
        for q in assignment.code:
            hidden = [g for g in assignment.cases[q.id] if g.hidden]
            assert hidden, f"{q.id}: no hidden cases (add @register_hidden({q.id!r}) in course/checks)"
        inputs = assignment.inputs()
        assert all(f"inputs/{q.id}.json" in inputs for q in assignment.code)
    finally:
        assignment.close()


def test_interrupted_grading_loses_nothing(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    for i in range(4):
        (folder / f"s{i}.ipynb").write_bytes((ROOT / "solutions" / "01_mnist_loader.ipynb").read_bytes())
    command = [sys.executable, "-m", "course.cli", "grade", str(folder), "--assignment", "01_mnist_loader",
               "--out", str(tmp_path / "out"), "--workers", "1", "--solutions", str(ROOT / "solutions"),
               "--no-progress"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    records = tmp_path / "out" / "records"
    deadline = time.monotonic() + 900   # generous: on a loaded machine one notebook may take minutes
    while not list(records.glob("*.json")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert list(records.glob("*.json")), "no submission was graded before the deadline"
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    done = sorted(p.name for p in records.glob("*.json"))
    assert 1 <= len(done) < 4
    rows = list(csv.DictReader((tmp_path / "out" / "gradebook.csv").open()))
    assert sorted(f"{r['submission']}.json" for r in rows) == done and all(r["total"] == "10" for r in rows)
    before = {name: json.loads((records / name).read_text())["graded_at"] for name in done}
    subprocess.run(command, check=True, capture_output=True, timeout=300)  # the rerun carries on
    rows = list(csv.DictReader((tmp_path / "out" / "gradebook.csv").open()))
    assert len(rows) == 4 and all(r["total"] == "10" for r in rows)
    assert before == {name: json.loads((records / name).read_text())["graded_at"] for name in done}


def test_gradebook_has_one_row_per_submission(graded):
    for assignment, (out, records) in ((a, v) for a, v in graded.items() if not a.startswith("_")):
        rows = list(csv.DictReader((out / "gradebook.csv").open()))
        expected = json.loads((CORPUS / assignment / "expected.json").read_text())
        assert sorted(r["submission"] for r in rows) == sorted(expected)
        assert list(rows[0])[-4:] == ["total", "max_total", "status", "reason"]
        for row in rows:
            auto = sum(v for v in expected[row["submission"]]["scores"].values())
            assert float(row["total"]) == auto and float(row["max_total"]) == records[row["submission"]]["max_total"]


def test_results_json_and_feedback_never_show_hidden_details(graded):
    out, records = graded["01_mnist_loader"]
    for name, record in records.items():
        folder = out / "students" / name
        results = json.loads((folder / "results.json").read_text())
        assert results["score"] == sum(q["score"] for q in record["questions"].values())
        assert [t["name"] for t in results["tests"]] == list(record["questions"])
        for t in results["tests"]:
            assert set(t) == {"name", "score", "max_score", "status", "visibility", "output"}
        student_text = "".join((folder / f).read_text() for f in ("results.json", "feedback.md", "feedback.html"))
        for q in record["questions"].values():
            public = {c["message"] for c in q["cases"] if not c["hidden"]}
            for case in q["cases"]:
                if case["hidden"]:
                    assert case["name"] in student_text
                    if not case["passed"] and case["message"] not in public and len(case["message"]) > 25:
                        assert case["message"] not in student_text, (name, case)
    # the reference's hidden cases were run and passed
    hidden = [c for q in records["reference.ipynb"]["questions"].values() for c in q["cases"] if c["hidden"]]
    assert hidden and all(c["passed"] for c in hidden)


@pytest.mark.skipif(not FULL_SANDBOX, reason="needs the bubblewrap sandbox (bubblewrap and user namespaces or root)")
def test_nothing_escaped_the_sandbox(graded):
    assert graded["_connections"] == 0, "a submission reached the grader's loopback"
    assert not [p for p in ESCAPES if p.exists()]
    out, records = graded["01_mnist_loader"]
    assert any("network" in line for line in records["reference.ipynb"]["protections"])


def test_the_fast_path_gives_the_verdicts_of_a_full_run(graded, tmp_path):
    """Grading cuts the demo cells it does not need to their definitions (course.grade.demos).
    Every corpus entry where that cut a cell is graded again with every cell in full
    (``run_demos``): the same status and the same score for every question."""
    compared = []
    for assignment, got in graded.items():
        if assignment.startswith("_"):
            continue
        records = got[1]
        cut = sorted(name for name, r in records.items() if r.get("demo_cells", {}).get("cut"))
        if not cut:
            continue
        folder = tmp_path / assignment
        folder.mkdir()
        for name in cut:
            (folder / name).write_bytes((CORPUS / assignment / name).read_bytes())
        full = {r["submission"]: r for r in grade([folder], assignment, tmp_path / f"full-{assignment}",
                                                   solutions=ROOT / "solutions", workers=2, limits=LIMITS,
                                                   progress=False, seed=20261124, run_demos=True)}
        for name in cut:
            fast, slow = records[name], full[name]
            assert slow["demo_cells"]["cut"] == 0
            assert (fast["status"], {q: v["score"] for q, v in fast["questions"].items()}) == \
                   (slow["status"], {q: v["score"] for q, v in slow["questions"].items()}), (assignment, name)
            compared.append(f"{assignment}/{name}")
    # the reference and the untouched notebook of every generated assignment, and the demo entries
    assert {f"{a}/{n}" for a in ("02_softmax_regression", "03_sgd", "04_backprop", "05_newton")
            for n in ("reference.ipynb", "untouched.ipynb")} <= set(compared), compared
    assert {"02_softmax_regression/global_from_demo.ipynb", "02_softmax_regression/demo_sets_globals.ipynb",
            "02_softmax_regression/slow_demo_before_definitions.ipynb"} <= set(compared), compared


def test_no_sandbox_outlives_grading(graded):
    """Each worker starts the next submission's sandbox ahead: none is left once grading ends."""
    from course.grade import worker
    assert not worker._warm
    mine = sys.executable.encode()  # this checkout's runners, not those of another grader on the machine
    runners = [p for p in Path("/proc").glob("[0-9]*/cmdline")
               if b"course.grade.runner" in _read_or_empty(p) and mine in _read_or_empty(p)]
    assert not runners, [(p, _read_or_empty(p)) for p in runners]


def _read_or_empty(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def test_rerun_skips_graded_submissions_and_merges_manual_points(graded):
    out, records = graded["01_mnist_loader"]
    manual = out / "manual_points.csv"
    rows = list(csv.DictReader(manual.open()))
    assert sorted(r["submission"] for r in rows) == sorted(records) and list(rows[0]) == ["submission", "magic_numbers"]
    text = manual.read_text().replace("reference.ipynb,\n", "reference.ipynb,1.5\n")
    manual.write_text(text)
    again = grade([CORPUS / "01_mnist_loader"], "01_mnist_loader", out, solutions=ROOT / "solutions",
                  workers=2, limits=LIMITS, progress=False)
    assert {r["submission"]: r["graded_at"] for r in again} == {n: r["graded_at"] for n, r in records.items()}
    row = next(r for r in csv.DictReader((out / "gradebook.csv").open()) if r["submission"] == "reference.ipynb")
    assert row["magic_numbers"] == "1.5" and row["total"] == "11.5"
    manual.write_text(text.replace("reference.ipynb,1.5", "reference.ipynb,7"))
    with pytest.raises(GradeError, match="column 'magic_numbers': expected points between 0 and 2, got '7'"):
        grade([CORPUS / "01_mnist_loader"], "01_mnist_loader", out, solutions=ROOT / "solutions", progress=False)
    manual.write_text(text)


def test_written_answers_are_collected_side_by_side(graded):
    out, _ = graded["01_mnist_loader"]
    page = (out / "written" / "magic_numbers.html").read_text()
    assert "big-endian" in page and "<h2>untouched.ipynb</h2><p><i>(no answer)</i>" in page
    assert "MathJax" in page


def test_regrade_and_seed_rules(tmp_path):
    nb = tmp_path / "alice.ipynb"
    nb.write_bytes((ROOT / "notebooks" / "01_mnist_loader.ipynb").read_bytes())
    first = grade([nb], "01_mnist_loader", tmp_path / "out", solutions=ROOT / "solutions", limits=LIMITS,
                  progress=False, seed=1)
    assert first[0]["status"] == "graded" and first[0]["questions"]["idx_header"]["score"] == 0
    with pytest.raises(GradeError, match="has grading seed 1, you gave 2: add --regrade"):
        grade([nb], "01_mnist_loader", tmp_path / "out", solutions=ROOT / "solutions", seed=2, progress=False)
    with pytest.raises(GradeError, match="holds the grades of '01_mnist_loader', not '02_x'"):
        grade([nb], "02_x", tmp_path / "out", solutions=ROOT / "solutions", progress=False)
    # a changed submission is graded again without --regrade
    nb.write_bytes((ROOT / "solutions" / "01_mnist_loader.ipynb").read_bytes())
    second = grade([nb], "01_mnist_loader", tmp_path / "out", solutions=ROOT / "solutions", limits=LIMITS,
                   progress=False)
    assert second[0]["questions"]["idx_header"]["score"] == 3


def test_cli_grade_and_clear_errors(tmp_path, capsys):
    z = tmp_path / "class.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.write(ROOT / "solutions" / "01_mnist_loader.ipynb", "bob/01_mnist_loader.ipynb")
        f.writestr("carol/01_mnist_loader.ipynb", "")
    code = course_main(["grade", str(z), "--assignment", "01_mnist_loader", "--out", str(tmp_path / "out"),
                        "--solutions", str(ROOT / "solutions"), "--timeout", "8", "--question-timeout", "4",
                        "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0 and "2 submission(s)" in out and "1 graded, 1 invalid" in out and "protections in force" in out
    rows = {r["submission"]: r for r in csv.DictReader((tmp_path / "out" / "gradebook.csv").open())}
    assert rows["bob_01_mnist_loader.ipynb"]["total"] == "10" and rows["carol_01_mnist_loader.ipynb"]["status"] == "invalid"
    assert course_main(["grade", str(z), "--assignment", "09_nope", "--out", str(tmp_path / "o2"),
                        "--solutions", str(ROOT / "solutions")]) == 1
    assert "no solution notebook" in capsys.readouterr().err
    assert course_main(["grade", str(tmp_path / "missing.ipynb"), "--assignment", "01_mnist_loader",
                        "--out", str(tmp_path / "o3"), "--solutions", str(ROOT / "solutions")]) == 1
    assert "expected a notebook, a folder or a zip file, but it does not exist" in capsys.readouterr().err


def test_without_namespaces_grading_still_works_and_says_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox, "walls", lambda: sandbox.Walls("none", False, ("bwrap-user: refused (a test)",)))
    records = grade([ROOT / "solutions" / "01_mnist_loader.ipynb", ROOT / "notebooks" / "01_mnist_loader.ipynb"],
                    "01_mnist_loader", tmp_path / "out", solutions=ROOT / "solutions", limits=LIMITS, progress=False)
    assert sorted(sum(q["score"] for q in r["questions"].values()) for r in records) == [0, 10]
    assert any(line.startswith("NOT in force: any sandbox (bwrap-user: refused (a test))") for line in records[0]["protections"])


def test_grading_on_a_local_dask_cluster(tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(host="127.0.0.1", n_workers=1, threads_per_worker=2, processes=True,
                                  dashboard_address=None) as cluster:
        records = grade([ROOT / "solutions" / "01_mnist_loader.ipynb", ROOT / "notebooks" / "01_mnist_loader.ipynb"],
                        "01_mnist_loader", tmp_path / "out", solutions=ROOT / "solutions", limits=LIMITS,
                        cluster=cluster.scheduler_address, progress=False)
    totals = sorted(sum(q["score"] for q in r["questions"].values()) for r in records)
    assert totals == [0, 10]


def test_gradescope_zip_grades_a_submission(tmp_path):
    zip_path = build_autograder("01_mnist_loader", tmp_path / "autograder.zip", solutions=ROOT / "solutions",
                                timeout=8, question_timeout=4)
    root = tmp_path / "autograder"
    with zipfile.ZipFile(zip_path) as z:
        names = z.namelist()
        z.extractall(root / "source")
    assert {"setup.sh", "run_autograder", "requirements.txt", "solutions/01_mnist_loader.ipynb",
            "course/grade/batch.py"} <= set(names)
    assert [n for n in names if n.startswith("solutions/")] == ["solutions/01_mnist_loader.ipynb"]
    (root / "submission").mkdir()
    (root / "submission" / "01_mnist_loader.ipynb").write_bytes((ROOT / "solutions" / "01_mnist_loader.ipynb").read_bytes())
    run = subprocess.run(["bash", str(root / "source" / "run_autograder")], capture_output=True, text=True,
                         env={"AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable, "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr[-2000:]
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == 10 and len(results["tests"]) == 3


def test_plain_data_round_trip_and_hostile_files(tmp_path):
    value = (np.arange(6, dtype=np.float32).reshape(2, 3), np.uint8(7), [1, 2.5, float("nan"), None, True],
             {"b": b"\x00\xff", "s": "text"}, (), np.array([], dtype=">u4"))
    plain.save(value, tmp_path / "v")
    back = plain.load(tmp_path / "v")
    assert isinstance(back, tuple) and back[0].dtype == np.float32 and np.array_equal(back[0], value[0])
    assert type(back[1]) is np.uint8 and back[2][1] == 2.5 and np.isnan(back[2][2]) and back[2][3:] == [None, True]
    assert back[3] == {"b": b"\x00\xff", "s": "text"} and back[4] == () and back[5].dtype == np.dtype(">u4")
    with pytest.raises(plain.NotPlain, match="a function"):
        plain.encode(lambda: 0, {})
    with pytest.raises(plain.NotPlain, match="Python objects"):
        plain.encode(np.array([object()]), {})
    objects = tmp_path / "o"
    np.savez(objects.with_suffix(".npz"), a0=np.array([{"x": 1}], dtype=object))
    objects.with_suffix(".json").write_text('{"$array": "a0"}')
    with pytest.raises(plain.NotPlain, match="Python objects"):  # pickled objects are refused, never loaded
        plain.load(objects)
    plain.save(1, objects)
    objects.with_suffix(".json").write_text('{"$eval": "os.system(1)"}')
    with pytest.raises(plain.NotPlain, match="unknown tag"):
        plain.load(objects)
    # functions cross into the sandbox (the grader's inputs), never back out of it
    plain.save((np.sqrt, lambda w: 2 * w), tmp_path / "f", callables=True)
    sqrt, double = plain.load(tmp_path / "f", callables=True)
    assert sqrt(4.0) == 2.0 and double(3) == 6
    with pytest.raises(plain.NotPlain, match="unknown tag"):
        plain.load(tmp_path / "f")


def _reference_cells(assignment: str = "01_mnist_loader") -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "solutions" / f"{assignment}.ipynb", as_version=4)


def test_a_class_of_malformed_notebooks_loses_no_row(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()

    def save(name: str, nb) -> None:
        (folder / name).write_text(json.dumps(nb) if isinstance(nb, dict) else nbformat.writes(nb))

    nb = _reference_cells()
    answer = next(c for c in nb.cells if c.metadata.get("course", {}).get("manual"))
    answer.metadata["course"] = ["magic_numbers", 2]          # metadata of the wrong type: still gradable
    save("metadata_list.ipynb", nb)
    nb = _reference_cells()
    nb.metadata["kernelspec"] = {"name": "ir", "display_name": "R", "language": "R"}
    save("r_kernelspec.ipynb", nb)
    save("nbformat_v3.ipynb", nbformat.v3.convert.downgrade(_reference_cells()))
    bad = json.loads(nbformat.writes(_reference_cells()))
    next(c for c in bad["cells"] if c["cell_type"] == "markdown")["source"] = 42
    save("source_not_text.ipynb", bad)
    bad = json.loads(nbformat.writes(_reference_cells()))
    bad["cells"][0]["metadata"] = None
    save("metadata_null.ipynb", bad)
    save("cells_not_a_list.ipynb", {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": "x"})
    (folder / "cut_short.ipynb").write_text(nbformat.writes(_reference_cells())[:500])
    with zipfile.ZipFile(tmp_path / "more.zip", "w") as z:
        z.writestr("damaged.ipynb", nbformat.writes(_reference_cells()))
    data = bytearray((tmp_path / "more.zip").read_bytes())
    data[60:70] = b"\xff" * 10                                 # inside the deflated member: a CRC error
    (tmp_path / "more.zip").write_bytes(bytes(data))
    records = {r["submission"]: r for r in grade([folder, tmp_path / "more.zip"], "01_mnist_loader", tmp_path / "out",
                                                 solutions=ROOT / "solutions", limits=LIMITS, progress=False, workers=2)}
    rows = {r["submission"]: r for r in csv.DictReader((tmp_path / "out" / "gradebook.csv").open())}
    assert set(rows) == set(records) == {p.name for p in folder.iterdir()} | {"damaged.ipynb"}
    total = {name: sum(q["score"] for q in r["questions"].values()) for name, r in records.items()}
    for name in ("metadata_list.ipynb", "r_kernelspec.ipynb", "nbformat_v3.ipynb"):
        assert records[name]["status"] == "graded" and total[name] == 10, records[name]
    for name in ("source_not_text.ipynb", "metadata_null.ipynb", "cells_not_a_list.ipynb", "cut_short.ipynb",
                 "damaged.ipynb"):
        assert records[name]["status"] == "invalid" and total[name] == 0 and records[name]["reason"], records[name]
    assert "not a notebook" in records["source_not_text.ipynb"]["reason"]
    assert "damaged zip entry" in records["damaged.ipynb"]["reason"]


def test_a_notebook_with_a_slow_cell_gets_the_same_grade_every_time(tmp_path):
    nb = _reference_cells()
    nb.cells.insert(1, nbformat.v4.new_code_cell("import time\ntime.sleep(600)  # far past the notebook's time"))
    folder = tmp_path / "class"
    folder.mkdir()
    for i in range(10):
        nbformat.write(nb, folder / f"slow{i}.ipynb")
    records = grade([folder], "01_mnist_loader", tmp_path / "out", solutions=ROOT / "solutions", limits=LIMITS,
                    progress=False, workers=2)
    verdicts = {json.dumps([{q: v["score"] for q, v in r["questions"].items()}, r["status"], r["notes"]]) for r in records}
    assert len(records) == 10 and len(verdicts) == 1, verdicts
    record = records[0]
    assert sum(q["score"] for q in record["questions"].values()) == 10
    assert record["notes"][0].startswith(f"cell 2 (of {len(nb.cells)}) ran past the notebook's 8 s (all cells together)")
    row = next(csv.DictReader((tmp_path / "out" / "gradebook.csv").open()))
    assert f"cell 2 (of {len(nb.cells)}) ran past" in row["reason"]   # the reason column says what happened to the notebook


def test_gradebook_cells_never_run_as_spreadsheet_formulas():
    from course.grade.report import spreadsheet_safe
    assert spreadsheet_safe('=HYPERLINK("http://x","y")') == '\'=HYPERLINK("http://x","y")'
    assert [spreadsheet_safe(t) for t in ("+1+cmd", "-x", "@SUM(A1)", "\tx", "-1.5", "10", "ok")] == \
        ["'+1+cmd", "'-x", "'@SUM(A1)", "'\tx", "-1.5", "10", "ok"]


def test_written_answers_are_sanitised_and_typeset_offline(tmp_path):
    from course.grade import written
    html = written.answer_html("Safe $a<b$ and **bold**, [a link](javascript:alert(3))\n\n"
                               "<script>alert(1)</script><img src=x onerror=alert(2)>"
                               "<a href='https://example.org' onclick='x()'>ok</a>")
    assert "<script" not in html and "alert(1)" not in html and "onerror" not in html and "onclick" not in html
    assert "<img" not in html and "javascript:" not in html and ">a link</a>" in html
    assert "<strong>bold</strong>" in html and "$a&lt;b$" in html and 'href="https://example.org"' in html
    record = {"submission": "a.ipynb", "answers": {"q": "<script>alert(1)</script> $x^2$"}}
    page, = written.write_pages(tmp_path, "01_x", {"q": 2.0}, [record])
    text = page.read_text()
    assert "<script>alert(1)" not in text and "$x^2$" in text
    sources = [line for line in text.split("<script") if "src=" in line.split(">")[0]]
    assert sources and all("http" not in s.split(">")[0] for s in sources)
    assert (tmp_path / "written" / written.MATHJAX_FILE).stat().st_size > 1_000_000


@pytest.mark.skipif(os.geteuid() != 0 or not FULL_SANDBOX, reason="as root, also the unprivileged bubblewrap path")
def test_the_user_namespace_sandbox_grades_the_same(tmp_path, monkeypatch):
    found = sandbox.Walls("bwrap-user", False, ())
    monkeypatch.setattr(sandbox, "walls", lambda: found)
    records = grade([ROOT / "solutions" / "01_mnist_loader.ipynb", CORPUS / "01_mnist_loader" / "reads_solutions_and_network.ipynb"],
                    "01_mnist_loader", tmp_path / "out", solutions=ROOT / "solutions", limits=LIMITS, progress=False)
    totals = {r["submission"]: sum(q["score"] for q in r["questions"].values()) for r in records}
    assert totals == {"01_mnist_loader.ipynb": 10, "reads_solutions_and_network.ipynb": 0}
    assert all(r["walls"]["level"] == "bwrap-user" for r in records)
    assert any("user namespace" in line for line in records[0]["protections"])
