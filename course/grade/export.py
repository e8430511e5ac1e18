"""``course export --format canvas|gradescope-csv|moodle DIR [--out FILE]``: an LMS import file
made from ``DIR/gradebook.csv`` (graded with ``--roster``, whose student_id, name and email
columns identify the students). The score is ``total_after_penalty`` when the class was graded
with a deadline, else ``total``. Submissions the roster does not name are left out (and listed).

Layouts followed (see docs/instructors.md, "Exporting to an LMS"):

* ``canvas``: Canvas's gradebook CSV: ``Student, ID, SIS User ID, SIS Login ID, Section``, then
  one column per assignment, and a second row ``Points Possible``; Canvas matches students by
  one of ID, SIS User ID or SIS Login ID, and we fill ``SIS User ID`` with student_id;
* ``moodle``: a CSV for Moodle's "Import grades from CSV" with ``ID number`` and ``Email address``
  columns to map from (to "useridnumber" or "useremail"), ``Full name``, and the assignment's column;
* ``gradescope-csv``: the columns of Gradescope's per-assignment grade export: ``Name, SID,
  Email, Total Score, Max Points, Status``.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from .assignment import GradeError
from .report import spreadsheet_safe, spreadsheet_value, write_atomic

FORMATS = ("canvas", "gradescope-csv", "moodle")


def read_gradebook(folder: Path) -> tuple[str, list[dict]]:
    """The assignment id (from ``grading.json``) and the rows of ``folder/gradebook.csv``.

    Raises GradeError when either is missing or the gradebook has no roster columns."""
    folder = Path(folder)
    gradebook, settings = folder / "gradebook.csv", folder / "grading.json"
    if not gradebook.is_file() or not settings.is_file():
        raise GradeError(f"{folder}: expected a folder written by `course grade` (with gradebook.csv and "
                         f"grading.json), but {gradebook if not gradebook.is_file() else settings} does not exist")
    rows = list(csv.DictReader(io.StringIO(gradebook.read_text(encoding="utf-8"))))
    header = list(rows[0]) if rows else []
    if rows and "student_id" not in header:
        raise GradeError(f"{gradebook} has no student_id column: grade again with --roster roster.csv "
                         "(columns submission,student_id,name[,email]) to say whose each submission is")
    return json.loads(settings.read_text())["assignment"], rows


def export(folder: Path, fmt: str, out: Path | None = None) -> tuple[Path, list[str]]:
    """Write the ``fmt`` import file of the class graded in ``folder`` to ``out`` (default
    ``folder/<fmt>-<assignment>.csv``); returns its path and the submissions left out (no student_id)."""
    if fmt not in FORMATS:
        raise GradeError(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    assignment, rows = read_gradebook(folder)
    score = "total_after_penalty" if rows and "total_after_penalty" in rows[0] else "total"
    kept = [r for r in rows if r.get("student_id", "").strip()]
    skipped = [spreadsheet_value(r["submission"]) for r in rows if not r.get("student_id", "").strip()]
    max_points = rows[0]["max_total"] if rows else ""
    table: list[list[str]]
    if fmt == "canvas":
        table = [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", assignment],
                 ["Points Possible", "", "", "", "", max_points]]
        table += [[spreadsheet_value(r["name"]), "", spreadsheet_value(r["student_id"]), "", "", r[score]] for r in kept]
    elif fmt == "moodle":
        table = [["ID number", "Email address", "Full name", assignment]]
        table += [[spreadsheet_value(r["student_id"]), spreadsheet_value(r.get("email", "")), spreadsheet_value(r["name"]), r[score]] for r in kept]
    else:
        table = [["Name", "SID", "Email", "Total Score", "Max Points", "Status"]]
        table += [[spreadsheet_value(r["name"]), spreadsheet_value(r["student_id"]), spreadsheet_value(r.get("email", "")), r[score],
                   r["max_total"], "Graded"] for r in kept]   # every row has its score, a failed run's too
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in table:
        writer.writerow([spreadsheet_safe(cell) for cell in row])
    out = Path(out) if out is not None else Path(folder) / f"{fmt}-{assignment}.csv"
    write_atomic(out, buffer.getvalue())
    return out, skipped
