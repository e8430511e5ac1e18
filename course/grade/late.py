"""Deadlines: when each submission came in, how many days late it is, and what the late rule
takes off its total.

The rule (``course grade --deadline 2026-12-10T23:59 --late-penalty 10%/day --late-cap 3d``):

* a submission is late by the number of **started** days after the deadline (1 second late is
  1 day late; exactly on the deadline is on time): ``late_days = ceil((submitted - deadline) / 1 day)``;
* the penalty is ``P%/day`` (that share of the submission's own total per late day) or
  ``Npt/day`` (N points per late day); the total after the penalty never goes below 0;
* beyond the cap (``--late-cap Nd``: more than N days late) the submission is not accepted: its
  total after the penalty is 0, and its feedback says so. Without a cap there is no such limit.

Times: ``--submitted-at times.csv`` (columns ``submission,submitted_at``, ISO 8601 as LMS exports
give them, e.g. ``2026-12-11T08:30:00Z``), else the entry times of the zip file a submission came
from. A time without a UTC offset (and every zip entry time: zip files keep none) is read in the
deadline's timezone: the deadline's own offset, or this machine's local time when it has none.
"""
from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

from .assignment import GradeError

DAY = timedelta(days=1)


@dataclass(frozen=True)
class LateRule:
    """A deadline and its penalty: ``amount`` per late day, as a ``unit`` of ``"%"`` (of the
    submission's own total) or ``"pt"`` (points); ``cap_days``: None, or the most days late accepted."""
    deadline: datetime            # timezone-aware
    amount: float
    unit: str
    cap_days: int | None
    text: str                     # the rule as given, e.g. "10%/day, at most 3 days late"

    def late_days(self, submitted: datetime) -> int:
        """Started days after the deadline (0 when on time)."""
        late = submitted - self.deadline
        return max(0, math.ceil(late / DAY))

    def after_penalty(self, total: float, days: int) -> float:
        return penalised(total, days, self.amount, self.unit, self.cap_days)

    def explain(self, submitted: datetime) -> str:
        """One line for the student's feedback: when it came, the rule, what it costs."""
        days = self.late_days(submitted)
        when = f"Submitted {_show(submitted)}; the deadline was {_show(self.deadline)}"
        rule = f"late rule: {self.text}, counted per started day"
        if days == 0:
            return f"{when}: on time ({rule})."
        if self.cap_days is not None and days > self.cap_days:
            return f"{when}: {days} day(s) late, past the {self.cap_days} day(s) accepted, so it counts 0 points ({rule})."
        cost = f"{min(100.0, self.amount * days):g}% of the total" if self.unit == "%" else f"{self.amount * days:g} points"
        return f"{when}: {days} day(s) late, which takes {cost} off ({rule})."


def parse_rule(deadline: str, penalty: str | None, cap: str | None) -> LateRule:
    """The rule of ``--deadline``, ``--late-penalty`` (``10%/day`` or ``2pt/day``; default
    ``0%/day``: late days counted, nothing taken) and ``--late-cap`` (``3d``; default none)."""
    when = parse_time(deadline, "--deadline", None)
    penalty = (penalty or "0%/day").strip()
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(%|pt)\s*/\s*day", penalty)
    if not m:
        raise GradeError(f"--late-penalty: expected a rule like 10%/day or 2pt/day, got {penalty!r}")
    amount, unit = float(m.group(1)), m.group(2)
    cap_days = None
    if cap is not None:
        c = re.fullmatch(r"(\d+)\s*d", cap.strip())
        if not c:
            raise GradeError(f"--late-cap: expected a number of days like 3d, got {cap!r}")
        cap_days = int(c.group(1))
    text = f"{amount:g}{unit}/day" + (f", at most {cap_days} day(s) late" if cap_days is not None else "")
    return LateRule(when, amount, unit, cap_days, text)


def parse_time(text: str, what: str, zone: tzinfo | None) -> datetime:
    """An ISO 8601 time (``Z`` allowed); without an offset it is read in ``zone`` (None: local time).

    Raises GradeError naming ``what`` when the text is not such a time."""
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise GradeError(f"{what}: expected a date and time like 2026-12-10T23:59 (ISO 8601), got {text!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone) if zone is not None else when.astimezone()
    return when


def read_times(path: Path, zone: tzinfo, known: set[str]) -> dict[str, datetime]:
    """``{submission: time}`` from a CSV with columns ``submission,submitted_at``.

    Raises GradeError naming the file, row and value: a missing column, a bad time, a
    submission that is not among ``known``, or one listed twice."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as err:
        raise GradeError(f"--submitted-at {path}: cannot read it ({err.strerror})") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = {"submission", "submitted_at"} - set(reader.fieldnames or [])
    if missing:
        raise GradeError(f"--submitted-at {path}: expected columns submission,submitted_at, "
                         f"got {','.join(reader.fieldnames or []) or 'an empty file'}")
    times: dict[str, datetime] = {}
    for row_number, row in enumerate(reader, start=2):
        name = (row["submission"] or "").strip()
        where = f"--submitted-at {path}, row {row_number}"
        if not name and not (row["submitted_at"] or "").strip():
            continue   # a blank line
        if name not in known:
            raise GradeError(f"{where}: submission {name!r} is not among the submissions graded "
                             f"({len(known)} of them, e.g. {sorted(known)[0] if known else 'none'})")
        if name in times:
            raise GradeError(f"{where}: submission {name!r} is listed twice")
        times[name] = parse_time(row["submitted_at"] or "", f"{where}, submitted_at", zone)
    return times


def _show(when: datetime) -> str:
    return when.isoformat(sep=" ", timespec="minutes")


@dataclass
class Deadline:
    """The rule and every submission's time: gives each record its ``late`` entry."""
    rule: LateRule
    times: dict[str, datetime]

    def entry(self, name: str) -> dict:
        """The record's ``late``: ``submitted_at`` (ISO), ``late_days``, ``text`` (for the feedback),
        and what :meth:`LateRule.after_penalty` needs (``amount``, ``unit``, ``cap_days``)."""
        submitted = self.times[name]
        return {"submitted_at": submitted.isoformat(timespec="seconds"), "late_days": self.rule.late_days(submitted),
                "amount": self.rule.amount, "unit": self.rule.unit, "cap_days": self.rule.cap_days,
                "text": self.rule.explain(submitted)}


def penalised(total: float, days: int, amount: float, unit: str, cap_days: int | None) -> float:
    """``total`` less ``amount`` (``unit`` "%" of ``total``, or "pt") per late day; 0 beyond
    ``cap_days``; never below 0."""
    if days == 0:
        return total
    if cap_days is not None and days > cap_days:
        return 0.0
    taken = total * amount / 100 * days if unit == "%" else amount * days
    return max(0.0, total - taken)


def after_penalty(entry: dict, total: float) -> float:
    """The total after the penalty that a record's ``late`` entry (:meth:`Deadline.entry`) states."""
    return penalised(total, entry["late_days"], entry["amount"], entry["unit"], entry["cap_days"])


def deadline_for(subs: list, deadline: str, penalty: str | None, cap: str | None,
                 submitted_at: Path | None) -> Deadline:
    """The :class:`Deadline` of a class: times from ``submitted_at`` (a CSV), else from the
    submissions' zip entries (``Submission.modified``).

    Raises GradeError when a submission has no time (it came from a folder and is not in the CSV)."""
    rule = parse_rule(deadline, penalty, cap)
    zone = rule.deadline.tzinfo
    times = {s.name: s.modified.replace(tzinfo=zone) for s in subs if getattr(s, "modified", None) is not None}
    if submitted_at is not None:
        times.update(read_times(submitted_at, zone, {s.name for s in subs}))
    without = sorted(s.name for s in subs if s.name not in times)
    if without:
        raise GradeError(f"--deadline: no submission time for {without[0]!r}"
                         + (f" and {len(without) - 1} more" if len(without) > 1 else "")
                         + ": give --submitted-at times.csv (columns submission,submitted_at), or grade the zip the LMS exported")
    return Deadline(rule, times)


def remember(settings: dict, deadline: dict | None) -> dict | None:
    """The deadline options to use: those given (kept in ``settings``, i.e. ``grading.json``, for
    the next run), else the ones kept by an earlier run, else None."""
    if deadline is not None:
        kept = {k: (str(Path(v).resolve()) if k == "submitted_at" and v is not None else v) for k, v in deadline.items()}
        settings["deadline"] = kept
    kept = settings.get("deadline")
    if not kept:
        return None
    return {**kept, "submitted_at": Path(kept["submitted_at"]) if kept.get("submitted_at") else None}
