"""The class roster: which student each submitted file belongs to.

``--roster roster.csv`` has a header row and the columns ``submission`` (the file's name as the
gradebook shows it, e.g. ``alice.ipynb``), ``student_id`` (the LMS's id: SIS user id, student
number...), ``name``, and optionally ``email``; other columns are ignored. The gradebook then
carries ``student_id``, ``name`` and ``email``, and ``course export`` uses them.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from .assignment import GradeError

COLUMNS = ["student_id", "name", "email"]


@dataclass(frozen=True)
class Student:
    student_id: str
    name: str
    email: str = ""


def read_roster(path: Path) -> dict[str, Student]:
    """``{submission file name: Student}`` from ``path``.

    Raises GradeError naming the file, and the row and column when a cell is at fault: a missing
    column, an empty submission, student_id or name, a submission listed twice."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as err:
        raise GradeError(f"--roster {path}: cannot read it ({err.strerror})") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    reader.fieldnames = header
    missing = [c for c in ("submission", "student_id", "name") if c not in header]
    if missing:
        raise GradeError(f"--roster {path}: expected columns submission,student_id,name[,email], "
                         f"got {','.join(header) or 'an empty file'} (missing {', '.join(missing)})")
    students: dict[str, Student] = {}
    for row_number, row in enumerate(reader, start=2):
        cells = {k: (row.get(k) or "").strip() for k in ("submission", "student_id", "name", "email")}
        for column in ("submission", "student_id", "name"):
            if not cells[column]:
                raise GradeError(f"--roster {path}, row {row_number}: column {column} is empty")
        if cells["submission"] in students:
            raise GradeError(f"--roster {path}, row {row_number}: submission {cells['submission']!r} is listed twice")
        students[cells["submission"]] = Student(cells["student_id"], cells["name"], cells["email"])
    return students


def reconcile(roster: dict[str, Student], submissions: list[str]) -> tuple[list[str], list[Student]]:
    """The submissions the roster does not name, and the roster's students without a submission."""
    names = set(submissions)
    return sorted(names - set(roster)), [s for n, s in sorted(roster.items()) if n not in names]


def describe(unlisted: list[str], absent: list[Student]) -> list[str]:
    """Lines for the terminal and the class report (nothing when the roster and the submissions agree)."""
    lines = []
    if unlisted:
        lines.append(f"{len(unlisted)} submission(s) not in the roster: {', '.join(unlisted)}")
    if absent:
        lines.append(f"{len(absent)} student(s) in the roster without a submission: "
                     + ", ".join(f"{s.name} ({s.student_id})" for s in absent))
    return lines


def remember(settings: dict, path: Path | None) -> Path | None:
    """The roster to use: ``path`` (kept in ``settings``, i.e. ``grading.json``, for the next run),
    else the one an earlier run kept, else None."""
    if path is not None:
        settings["roster"] = str(Path(path).resolve())
    return Path(settings["roster"]) if settings.get("roster") else None
