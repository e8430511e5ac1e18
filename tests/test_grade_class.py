"""The class-level outputs of the grader: the class report, similar code, deadlines and late
penalties, the roster, LMS export files, and the written-answer pages' pointers into
manual_points.csv. Most tests build records or notebooks directly (no sandbox); one grades a
small zipped class end to end through the ``course`` command."""
from __future__ import annotations

import csv
import json
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

from course.cli import main as course_main
from course.grade import GradeError, export, late, report, roster, similarity, summary, written
from course.grade.batch import Submission
from course.questions import questions

from conftest import ROOT

ASSIGNMENT = "01_mnist_loader"
SOLUTION = ROOT / "solutions" / f"{ASSIGNMENT}.ipynb"
STUB = ROOT / "notebooks" / f"{ASSIGNMENT}.ipynb"


# --- similarity ---------------------------------------------------------------------------------

OWN_PARSE = '''
def parse_mnist(image_filename, label_filename):
    """My loader."""
    images = _load(image_filename)
    labels = _load(label_filename)
    count, height, width = _check(images, 2051, 3)
    n_labels, = _check(labels, 2049, 1)
    if count != n_labels:
        raise ValueError("counts differ: %d images, %d labels" % (count, n_labels))
    flat = np.frombuffer(images[16:], np.uint8).reshape(count, height * width)
    return (flat / 255.0).astype(np.float32), np.frombuffer(labels[8:], np.uint8).copy()


def _load(path):
    with gzip.open(path) as handle:   # the whole file
        return handle.read()


def _check(blob, magic, dims):
    found = int.from_bytes(blob[:4], "big")
    if found != magic:
        raise ValueError(f"bad magic {found} in file, wanted {magic}")
    return [int.from_bytes(blob[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
'''

# OWN_PARSE copied: variables and helpers renamed, helpers in the other order, comments and docstring changed
COPIED_PARSE = '''
def parse_mnist(image_filename, label_filename):
    # read both files
    raw_img = read_all(image_filename)
    raw_lab = read_all(label_filename)
    n, r, c = verify(raw_img, 2051, 3)
    m, = verify(raw_lab, 2049, 1)
    if n != m:
        raise ValueError("counts differ: %d images, %d labels" % (n, m))
    pixels = np.frombuffer(raw_img[16:], np.uint8).reshape(n, r * c)
    return (pixels / 255.0).astype(np.float32), np.frombuffer(raw_lab[8:], np.uint8).copy()


def verify(data, expected, k):
    """Check the magic number."""
    got = int.from_bytes(data[:4], "big")
    if got != expected:
        raise ValueError(f"bad magic {got} in file, wanted {expected}")
    return [int.from_bytes(data[4 + 4 * j: 8 + 4 * j], "big") for j in range(k)]


def read_all(fname):
    with gzip.open(fname) as fh:
        return fh.read()
'''

# written independently: a different way through the same task
OTHER_PARSE = '''
def parse_mnist(image_filename, label_filename):
    with gzip.open(image_filename, "rb") as f:
        head = f.read(16)
        magic, n, rows, cols = struct.unpack(">4I", head)
        if magic != 2051:
            raise ValueError("not an images file: magic %d" % magic)
        X = np.frombuffer(f.read(), dtype=np.uint8).astype(np.float32)
    with gzip.open(label_filename, "rb") as f:
        magic, m = struct.unpack(">2I", f.read(8))
        if magic != 2049:
            raise ValueError("not a labels file: magic %d" % magic)
        y = np.array(bytearray(f.read()), dtype=np.uint8)
    if n != m:
        raise ValueError("images and labels disagree")
    return X.reshape(n, rows * cols) / 255, y
'''

THIRD_PARSE = '''
def parse_mnist(image_filename, label_filename):
    data = {}
    for key, name in (("x", image_filename), ("y", label_filename)):
        buf = gzip.decompress(Path(name).read_bytes())
        header = np.frombuffer(buf, dtype=">u4", count=2)
        data[key] = (int(header[0]), int(header[1]), buf)
    if data["x"][0] != 2051 or data["y"][0] != 2049:
        raise ValueError(f"wrong magic numbers {data['x'][0]}, {data['y'][0]}")
    if data["x"][1] != data["y"][1]:
        raise ValueError("different counts")
    rows, cols = np.frombuffer(data["x"][2], dtype=">u4", count=2, offset=8)
    images = np.frombuffer(data["x"][2], dtype=np.uint8, offset=16).reshape(-1, int(rows) * int(cols))
    return np.float32(images) / np.float32(255.0), np.frombuffer(data["y"][2], dtype=np.uint8, offset=8).copy()
'''


def _notebook_with(source: str | None, question: str = "parse_mnist") -> nbformat.NotebookNode:
    """The student notebook, with ``question``'s cell holding ``source`` (None: left as the stub)."""
    nb = nbformat.read(STUB, as_version=4)
    if source is not None:
        cell = next(q.cell for q in questions(nb) if q.id == question)
        nb.cells[cell].source = source
    return nb


def _assignment():
    nb = nbformat.read(SOLUTION, as_version=4)
    return SimpleNamespace(id=ASSIGNMENT, solution=SOLUTION, code=[q for q in questions(nb) if not q.manual])


def test_a_copy_with_renamed_variables_and_reordered_helpers_is_flagged():
    notebooks = {"own.ipynb": _notebook_with(OWN_PARSE), "copy.ipynb": _notebook_with(COPIED_PARSE),
                 "other.ipynb": _notebook_with(OTHER_PARSE), "third.ipynb": _notebook_with(THIRD_PARSE)}
    pairs, codes = similarity.class_pairs(_assignment(), notebooks)
    flagged = {(p.question, p.a, p.b): p.score for p in pairs}
    assert list(flagged) == [("parse_mnist", "copy.ipynb", "own.ipynb")], flagged
    assert flagged[("parse_mnist", "copy.ipynb", "own.ipynb")] >= 0.9
    # the helpers are part of a submission's code, whatever their order
    assert "def verify" in codes["parse_mnist"]["copy.ipynb"].source and "def read_all" in codes["parse_mnist"]["copy.ipynb"].source


def test_independent_solutions_stubs_and_the_reference_are_not_evidence():
    reference = nbformat.read(SOLUTION, as_version=4)
    notebooks = {"other.ipynb": _notebook_with(OTHER_PARSE), "third.ipynb": _notebook_with(THIRD_PARSE),
                 "own.ipynb": _notebook_with(OWN_PARSE), "stub1.ipynb": _notebook_with(None),
                 "stub2.ipynb": _notebook_with(None), "stub3.ipynb": _notebook_with(None),
                 "ref1.ipynb": reference, "ref2.ipynb": nbformat.read(SOLUTION, as_version=4)}
    pairs, codes = similarity.class_pairs(_assignment(), notebooks, threshold=0.3)
    assert pairs == [], pairs
    assert set(codes["parse_mnist"]) == set(notebooks)   # all were compared


def test_renaming_and_layout_do_not_change_fingerprints():
    code = similarity.question_code("import numpy as np\n" + OWN_PARSE, "parse_mnist")
    renamed = OWN_PARSE.replace("flat", "pix").replace("_load", "grab").replace("handle", "h").replace("    ", "  ")
    again = similarity.question_code("import numpy as np\n" + renamed.replace("# the whole file", "# all"), "parse_mnist")
    assert code.fingerprints == again.fingerprints and len(code.fingerprints) > 10
    assert similarity.question_code("def f(:\n", "parse_mnist") is None
    assert similarity.question_code("x = 1\n", "parse_mnist") is None


def test_similarity_page_shows_pairs_side_by_side_escaped(tmp_path):
    hostile = COPIED_PARSE.replace("# read both files", "# </pre><script>alert(1)</script>")
    subs = [Submission("own.ipynb", nbformat.writes(_notebook_with(OWN_PARSE)).encode(), tmp_path),
            Submission("<b>copy</b>.ipynb", nbformat.writes(_notebook_with(hostile)).encode(), tmp_path),
            Submission("broken.ipynb", b"{not json", tmp_path), Submission("unread.ipynb", None, tmp_path, "too big")]
    assert len(similarity.write(tmp_path, _assignment(), subs)) == 1
    page = (tmp_path / "similarity.html").read_text()
    assert "&lt;b&gt;copy&lt;/b&gt;.ipynb and own.ipynb" in page and "<script>alert" not in page
    assert page.count("<pre>") == 2 and "def _check" in page and "def verify" in page
    assert "http" not in page


# --- deadlines ------------------------------------------------------------------------------------

UTC = timezone.utc


def test_late_days_count_started_days_and_the_penalty_follows_the_rule():
    rule = late.parse_rule("2026-12-10T23:59Z", "10%/day", "3d")
    due = rule.deadline
    assert [rule.late_days(due + d) for d in (timedelta(0), timedelta(seconds=1), timedelta(days=1),
                                              timedelta(days=1, seconds=1), -timedelta(days=5))] == [0, 1, 1, 2, 0]
    assert [rule.after_penalty(10, d) for d in (0, 1, 2, 3, 4)] == [10, 9, 8, 7, 0]   # beyond the cap: 0
    points = late.parse_rule("2026-12-10T23:59+01:00", "4pt/day", None)
    assert points.after_penalty(10, 2) == 2 and points.after_penalty(10, 30) == 0   # never below 0
    assert points.deadline == datetime(2026, 12, 10, 22, 59, tzinfo=UTC)
    text = rule.explain(due + timedelta(hours=30))
    assert "2 day(s) late" in text and "20% of the total" in text and "10%/day, at most 3 day(s) late" in text
    assert "past the 3 day(s) accepted, so it counts 0 points" in rule.explain(due + timedelta(days=3, minutes=1))
    assert "on time" in rule.explain(due)


@pytest.mark.parametrize("args, message", [
    (("10/12/2026", None, None), "--deadline: expected a date and time like 2026-12-10T23:59 (ISO 8601), got '10/12/2026'"),
    (("2026-12-10T23:59", "10 percent", None), "--late-penalty: expected a rule like 10%/day or 2pt/day, got '10 percent'"),
    (("2026-12-10T23:59", "10%/day", "three days"), "--late-cap: expected a number of days like 3d, got 'three days'"),
])
def test_bad_late_rules_get_one_clear_error(args, message):
    with pytest.raises(GradeError) as err:
        late.parse_rule(*args)
    assert str(err.value) == message


def test_submission_times_from_a_csv_and_its_errors(tmp_path):
    subs = [Submission(n, b"", tmp_path) for n in ("alice.ipynb", "bob.ipynb")]
    times = tmp_path / "times.csv"
    times.write_text("submission,submitted_at\nalice.ipynb,2026-12-11T08:30:00Z\nbob.ipynb,2026-12-10 22:00\n")
    due = late.deadline_for(subs, "2026-12-10T23:59+00:00", "10%/day", None, times)
    assert due.entry("alice.ipynb")["late_days"] == 1 and due.entry("bob.ipynb")["late_days"] == 0
    assert due.entry("bob.ipynb")["submitted_at"] == "2026-12-10T22:00:00+00:00"   # read in the deadline's zone
    times.write_text("submission,submitted_at\nalice.ipynb,2026-12-11T08:30:00Z\nmallory.ipynb,2026-12-11T08:30:00Z\n")
    with pytest.raises(GradeError, match=r"times.csv, row 3: submission 'mallory.ipynb' is not among the submissions graded"):
        late.deadline_for(subs, "2026-12-10T23:59", None, None, times)
    times.write_text("submission,submitted_at\nalice.ipynb,yesterday\n")
    with pytest.raises(GradeError, match=r"row 2, submitted_at: expected a date and time .* got 'yesterday'"):
        late.deadline_for(subs, "2026-12-10T23:59", None, None, times)
    times.write_text("name,time\nalice.ipynb,2026-12-11\n")
    with pytest.raises(GradeError, match="expected columns submission,submitted_at, got name,time"):
        late.deadline_for(subs, "2026-12-10T23:59", None, None, times)
    times.write_text("submission,submitted_at\nalice.ipynb,2026-12-11T08:30:00Z\n")
    with pytest.raises(GradeError, match="no submission time for 'bob.ipynb': give --submitted-at"):
        late.deadline_for(subs, "2026-12-10T23:59", None, None, times)


def test_zip_entry_times_are_submission_times(tmp_path):
    from course.grade.batch import collect
    with zipfile.ZipFile(tmp_path / "class.zip", "w") as z:
        z.writestr(zipfile.ZipInfo("alice/hw.ipynb", (2026, 12, 11, 0, 30, 0)), "{}")
    sub, = collect([tmp_path / "class.zip"])
    due = late.deadline_for([sub], "2026-12-10T23:59Z", "25%/day", None, None)
    assert sub.modified == datetime(2026, 12, 11, 0, 30) and due.entry(sub.name)["late_days"] == 1


# --- roster ---------------------------------------------------------------------------------------

def test_roster_is_read_and_reconciled_and_its_errors_are_clear(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text("\ufeffsubmission,student_id,name,email,section\nalice.ipynb,s1,Alice,a@x.org,A\nbob.ipynb,s2,Bob,,B\n")
    students = roster.read_roster(path)
    assert students["alice.ipynb"] == roster.Student("s1", "Alice", "a@x.org") and students["bob.ipynb"].email == ""
    unlisted, absent = roster.reconcile(students, ["alice.ipynb", "zed.ipynb"])
    assert unlisted == ["zed.ipynb"] and absent == [roster.Student("s2", "Bob", "")]
    assert roster.describe(unlisted, absent) == ["1 submission(s) not in the roster: zed.ipynb",
                                                 "1 student(s) in the roster without a submission: Bob (s2)"]
    for text, message in [("submission,name\nalice.ipynb,Alice\n", "missing student_id"),
                          ("submission,student_id,name\nalice.ipynb,,Alice\n", "row 2: column student_id is empty"),
                          ("submission,student_id,name\na.ipynb,1,A\na.ipynb,2,B\n", "row 3: submission 'a.ipynb' is listed twice")]:
        path.write_text(text)
        with pytest.raises(GradeError, match=message):
            roster.read_roster(path)


# --- class records made by hand, for the report and the export --------------------------------------

def _record(name: str, scores: dict[str, float], status: str = "graded", failed: dict[str, str] = (),
            seconds: float | None = 5.0, late_entry: dict | None = None) -> dict:
    points = {"idx_header": 3.0, "parse_mnist": 5.0, "class_means": 2.0}
    questions_ = {}
    for qid, full in points.items():
        score = scores.get(qid, 0.0)
        cases = [{"name": "case one", "hidden": False, "passed": score == full,
                  "message": "as expected" if score == full else dict(failed).get(qid, "wrong value")}]
        questions_[qid] = {"points": full, "score": score, "reason": "" if score == full else "1/1 cases failed", "cases": cases}
    record = {"submission": name, "assignment": ASSIGNMENT, "status": status, "reason": "" if status == "graded" else "it broke",
              "questions": questions_, "max_total": 12.0, "manual_points": {"magic_numbers": 2.0}, "answers": {},
              "notes": [], "grading_seconds": seconds}
    if late_entry:
        record["late"] = late_entry
    return record


def _class_folder(tmp_path: Path, with_roster: bool = True, with_late: bool = True) -> Path:
    rule = late.parse_rule("2026-12-10T23:59Z", "10%/day", "3d")
    due = late.Deadline(rule, {"alice.ipynb": rule.deadline, "bob.ipynb": rule.deadline + timedelta(hours=30),
                               "=cmd.ipynb": rule.deadline, "<i>x</i>.ipynb": rule.deadline})
    records = [_record("alice.ipynb", {"idx_header": 3, "parse_mnist": 5, "class_means": 2}),
               _record("bob.ipynb", {"idx_header": 3}, failed={"parse_mnist": "shape (3,) expected (3, 784)"}),
               _record("=cmd.ipynb", {}, status="timeout", seconds=120.5),
               _record("<i>x</i>.ipynb", {"idx_header": 3}, failed={"parse_mnist": "<script>alert(1)</script>"})]
    if with_late:
        for r in records:
            r["late"] = due.entry(r["submission"])
    students = {"alice.ipynb": roster.Student("s1", "Alice A", "alice@x.org"),
                "bob.ipynb": roster.Student("s2", "=HYPERLINK(\"http://x\")", "bob@x.org")} if with_roster else None
    manual = {"alice.ipynb": {"magic_numbers": 2.0}}
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "gradebook.csv").write_text(report.gradebook_csv(
        records, ["idx_header", "parse_mnist", "class_means", "magic_numbers"], manual, students))
    (tmp_path / "grading.json").write_text(json.dumps({"assignment": ASSIGNMENT, "seed": 1}))
    (tmp_path / "records.json").write_text(json.dumps(records))
    return tmp_path


def test_gradebook_carries_roster_and_late_columns(tmp_path):
    rows = list(csv.DictReader((_class_folder(tmp_path) / "gradebook.csv").open()))
    assert list(rows[0]) == ["submission", "student_id", "name", "email", "idx_header", "parse_mnist", "class_means",
                             "magic_numbers", "total", "max_total", "submitted_at", "late_days", "total_after_penalty",
                             "status", "reason"]
    by = {r["submission"]: r for r in rows}
    assert by["alice.ipynb"]["total"] == "12" and by["alice.ipynb"]["total_after_penalty"] == "12"
    assert by["bob.ipynb"]["late_days"] == "2" and by["bob.ipynb"]["total_after_penalty"] == "2.4"   # 3 - 20%
    assert by["bob.ipynb"]["name"] == "'=HYPERLINK(\"http://x\")"    # spreadsheet-safe
    assert "'=cmd.ipynb" in by and by["'=cmd.ipynb"]["student_id"] == ""


@pytest.mark.parametrize("fmt, header, bob", [
    ("canvas", ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", ASSIGNMENT],
     ["'=HYPERLINK(\"http://x\")", "", "s2", "", "", "2.4"]),
    ("moodle", ["ID number", "Email address", "Full name", ASSIGNMENT], ["s2", "bob@x.org", "'=HYPERLINK(\"http://x\")", "2.4"]),
    ("gradescope-csv", ["Name", "SID", "Email", "Total Score", "Max Points", "Status"],
     ["'=HYPERLINK(\"http://x\")", "s2", "bob@x.org", "2.4", "12", "Graded"]),
])
def test_export_writes_each_lms_layout(tmp_path, fmt, header, bob):
    folder = _class_folder(tmp_path)
    path, skipped = export.export(folder, fmt)
    rows = list(csv.reader(path.open()))
    assert path == folder / f"{fmt}-{ASSIGNMENT}.csv" and rows[0] == header
    if fmt == "canvas":
        assert rows[1] == ["Points Possible", "", "", "", "", "12"]
        rows = rows[1:]
    assert len(rows) == 3 and bob in rows        # alice, bob: the two the roster names
    assert sorted(skipped) == ["<i>x</i>.ipynb", "=cmd.ipynb"]


def test_export_uses_total_without_a_deadline_and_refuses_without_a_roster(tmp_path, capsys):
    folder = _class_folder(tmp_path / "a", with_late=False)
    path, _ = export.export(folder, "moodle", tmp_path / "m.csv")
    assert ["s2", "bob@x.org", "'=HYPERLINK(\"http://x\")", "3"] in list(csv.reader(path.open()))
    folder = _class_folder(tmp_path / "b", with_roster=False)
    with pytest.raises(GradeError, match="has no student_id column: grade again with --roster roster.csv"):
        export.export(folder, "canvas")
    with pytest.raises(GradeError, match="expected a folder written by `course grade`"):
        export.export(tmp_path / "nowhere", "canvas")
    assert course_main(["export", str(tmp_path / "a"), "--format", "gradescope-csv"]) == 0
    captured = capsys.readouterr()
    assert "wrote" in captured.out and "left out 2 submission(s) the roster does not name" in captured.err


def test_class_report_page_and_its_text(tmp_path):
    folder = _class_folder(tmp_path)
    records = json.loads((folder / "records.json").read_text())
    nb = nbformat.read(SOLUTION, as_version=4)
    qs = questions(nb)
    assignment = SimpleNamespace(id=ASSIGNMENT, code=[q for q in qs if not q.manual], manual=[q for q in qs if q.manual],
                                 max_points=12.0)
    page = summary.write(folder, assignment, records, ["1 student(s) in the roster without a submission: Eve (s5)"]).read_text()
    assert page.count("src='data:image/png;base64,") == 2 and "http" not in page.replace("http://x", "")
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;i&gt;x&lt;/i&gt;.ipynb" in page and "Eve (s5)" in page
    assert "1 / 4 (25%)" in page                   # parse_mnist: only alice
    assert "<td><code>parse_mnist</code></td><td>case one</td><td class=num>3</td>" in page   # failed by 3
    assert "=cmd.ipynb: it broke" in page and "<td>timeout</td><td class=num>1</td>" in page
    text = (folder / "summary.txt").read_text()
    assert "total after penalty: mean" in text and "full marks: idx_header 75%, parse_mnist 25%, class_means 25%" in text
    assert "max 120.5 s" in text and "Eve (s5)" in text


def test_written_pages_say_which_line_and_column_to_edit(tmp_path):
    (tmp_path / "manual_points.csv").write_text("submission,q\na.ipynb,\nb.ipynb,1.5\n")
    records = [{"submission": n, "answers": {"q": "answer of " + n}} for n in ("a.ipynb", "b.ipynb")]
    page = written.write_pages(tmp_path, "01_x", {"q": 2.0}, records)[0].read_text()
    assert "line 2 (submission <code>a.ipynb</code>), column <code>q</code>: not entered yet" in page
    assert "line 3 (submission <code>b.ipynb</code>), column <code>q</code>: <b>1.5</b> entered" in page
    assert "href='../students/a.ipynb/feedback.html'" in page


def test_manual_points_names_are_spreadsheet_safe_and_read_back(tmp_path):
    path = tmp_path / "manual_points.csv"
    written.manual_points(path, {"q": 2.0}, ["=cmd.ipynb"])
    assert path.read_text() == "submission,q\n'=cmd.ipynb,\n"
    path.write_text("submission,q\n'=cmd.ipynb,1\n")
    assert written.manual_points(path, {"q": 2.0}, ["=cmd.ipynb"]) == {"=cmd.ipynb": {"q": 1.0}}


# --- end to end: a zipped class, a roster and a deadline, through `course grade` -------------------

def test_course_grade_with_deadline_roster_report_and_similarity(tmp_path, capsys):
    with zipfile.ZipFile(tmp_path / "class.zip", "w") as z:
        for name, source, when in [("alice.ipynb", SOLUTION, (2026, 12, 10, 20, 0, 0)),
                                   ("bob.ipynb", STUB, (2026, 12, 12, 9, 0, 0)),
                                   ("carol.ipynb", ROOT / "tests" / "corpus" / ASSIGNMENT / "partly_solved.ipynb",
                                    (2026, 12, 11, 0, 30, 0))]:
            z.writestr(zipfile.ZipInfo(name, when), source.read_bytes())
    (tmp_path / "roster.csv").write_text("submission,student_id,name,email\nalice.ipynb,s1,Alice,a@x.org\n"
                                         "bob.ipynb,s2,Bob,b@x.org\neve.ipynb,s5,Eve,e@x.org\n")
    out = tmp_path / "out"
    base = ["grade", str(tmp_path / "class.zip"), "--assignment", ASSIGNMENT, "--out", str(out), "--solutions",
            str(ROOT / "solutions"), "--timeout", "30", "--question-timeout", "10", "--no-progress"]
    # bad input first: one clear error, nothing graded
    assert course_main(base + ["--deadline", "2026-12-10T23:59Z", "--late-penalty", "ten%"]) == 1
    assert "--late-penalty: expected a rule like 10%/day or 2pt/day, got 'ten%'" in capsys.readouterr().err
    assert course_main(base + ["--late-cap", "3d"]) == 1
    assert "--late-cap need --deadline" in capsys.readouterr().err
    assert not (out / "records").exists()

    assert course_main(base + ["--deadline", "2026-12-10T23:59Z", "--late-penalty", "10%/day", "--late-cap", "3d",
                               "--roster", str(tmp_path / "roster.csv")]) == 0
    printed = capsys.readouterr().out
    assert "class report: " in printed and "full marks: idx_header" in printed and "3 graded" in printed
    assert "similar code: 0 pair(s) listed in" in printed and "grading time per submission: median" in printed
    assert "1 submission(s) not in the roster: carol.ipynb" in printed and "without a submission: Eve (s5)" in printed
    rows = {r["submission"]: r for r in csv.DictReader((out / "gradebook.csv").open())}
    assert rows["alice.ipynb"]["student_id"] == "s1" and rows["alice.ipynb"]["total_after_penalty"] == "10"
    assert rows["carol.ipynb"]["late_days"] == "1" and rows["carol.ipynb"]["total_after_penalty"] == "2.7"
    assert rows["bob.ipynb"]["late_days"] == "2" and rows["bob.ipynb"]["total"] == "0"
    assert "1 day(s) late, which takes 10% of the total off" in (out / "students" / "carol.ipynb" / "feedback.md").read_text()
    record = json.loads((out / "records" / "alice.ipynb.json").read_text())
    assert record["grading_seconds"] >= record["seconds"] > 0
    assert (out / "summary.html").is_file() and "0 pair(s)" in (out / "similarity.html").read_text()
    assert "line 2 (submission <code>alice.ipynb</code>)" in (out / "written" / "magic_numbers.html").read_text()

    # the rerun needs no options again: the deadline and the roster are kept in grading.json; a new cap is applied
    before = record["graded_at"]
    assert course_main(base + ["--deadline", "2026-12-10T23:59Z", "--late-penalty", "10%/day", "--late-cap", "1d"]) == 0
    rows = {r["submission"]: r for r in csv.DictReader((out / "gradebook.csv").open())}
    assert rows["carol.ipynb"]["total_after_penalty"] == "2.7" and rows["alice.ipynb"]["student_id"] == "s1"
    assert "past the 1 day(s) accepted" in (out / "students" / "bob.ipynb" / "feedback.md").read_text()
    assert course_main(base) == 0
    rows = {r["submission"]: r for r in csv.DictReader((out / "gradebook.csv").open())}
    assert rows["bob.ipynb"]["late_days"] == "2" and rows["bob.ipynb"]["student_id"] == "s2"
    assert json.loads((out / "records" / "alice.ipynb.json").read_text())["graded_at"] == before
