"""What the grader writes: per submission a Gradescope ``results.json`` and feedback in Markdown
and HTML (student-facing: hidden cases show only their names and pass/fail), the instructor's
record (``records/<name>.json``, written by the batch), and the class gradebook CSV. Every file is written atomically."""
from __future__ import annotations

import csv
import html
import io
import json
import os
from pathlib import Path

GRADEBOOK_FIXED = ["total", "max_total", "status", "reason"]
ROSTER_COLUMNS = ["student_id", "name", "email"]             # with --roster, after submission
LATE_COLUMNS = ["submitted_at", "late_days", "total_after_penalty"]   # with --deadline, after max_total


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, fsync'ed and renamed (never half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def case_lines(question: dict) -> list[str]:
    """Student-facing lines for a question's cases: messages of public cases, only names of hidden ones."""
    lines = []
    for c in question["cases"]:
        verdict = "PASS" if c["passed"] else "FAIL"
        if c["hidden"]:
            lines.append(f"{verdict}  hidden case '{c['name']}'")
        else:
            lines.append(f"{verdict}  {c['name']}: {c['message']}")
    return lines


def group_lines(question: dict) -> list[str]:
    """Lines for a partial-credit question's groups of cases (none for an all-or-nothing question):
    the points each group earned out of its share, and its cases passed."""
    lines = []
    for g in question.get("groups", []):
        why = f"; {g['reason']}" if g["reason"] and g["passed"] == g["cases"] else ""
        lines.append(f"{g['group']}: {g['score']:g} / {g['points']:g} points "
                     f"({g['passed']}/{g['cases']} cases passed{why})")
    return lines


def verdict(question: dict) -> str:
    """PASS (full marks), PARTIAL (some points) or FAIL."""
    return "PASS" if question["score"] == question["points"] else "PARTIAL" if question["score"] > 0 else "FAIL"


def student_reason(question: dict) -> str:
    """The question's one-line reason (the grader already keeps hidden details out of it)."""
    return question["reason"] or "all cases passed"


def gradescope_results(record: dict) -> dict:
    """The Gradescope ``results.json`` of a graded submission (automatically graded questions only)."""
    tests = []
    for qid, q in record["questions"].items():
        output = "\n".join([student_reason(q), *group_lines(q), *case_lines(q)])
        tests.append({"name": qid, "score": q["score"], "max_score": q["points"],
                      "status": "passed" if q["score"] == q["points"] else "failed",
                      "visibility": "visible", "output": output})
    manual = ", ".join(f"{m} ({p:g} points)" for m, p in record["manual_points"].items())
    output = [f"Status: {record['status']}" + (f" ({record['reason']})" if record["reason"] else "")]
    output += record["notes"]
    if record.get("late"):
        output.append(record["late"]["text"])
    if manual:
        output.append(f"Written answers are graded by hand: {manual}.")
    return {"score": sum(q["score"] for q in record["questions"].values()),
            "output": "\n".join(output), "tests": tests}


def feedback_markdown(record: dict) -> str:
    """Per-student feedback in Markdown."""
    auto = sum(q["score"] for q in record["questions"].values())
    auto_max = sum(q["points"] for q in record["questions"].values())
    lines = [f"# {record['assignment']}: feedback on {record['submission']}", "",
             f"**{auto:g} / {auto_max:g} points** on the automatically graded questions.", ""]
    if record["status"] != "graded":
        lines += [f"Status: **{record['status']}**: {record['reason']}", ""]
    if record.get("late"):
        lines += [record["late"]["text"], ""]
    for note in record["notes"]:
        lines.append(f"- {note}")
    if record["notes"]:
        lines.append("")
    for qid, q in record["questions"].items():
        lines += [f"## `{qid}`: {q['score']:g} / {q['points']:g} ({verdict(q)})", "", student_reason(q), ""]
        lines += [f"- {line}" for line in group_lines(q)] + ([""] if group_lines(q) else [])
        lines += [f"    {line}" for line in case_lines(q)]
        lines.append("")
    for qid, points in record["manual_points"].items():
        lines += [f"## `{qid}`: written answer ({points:g} points, graded by hand)", ""]
    return "\n".join(lines)


def feedback_html(record: dict) -> str:
    """The same feedback as a standalone HTML page."""
    e = html.escape
    auto = sum(q["score"] for q in record["questions"].values())
    auto_max = sum(q["points"] for q in record["questions"].values())
    body = [f"<h1>{e(record['assignment'])}: feedback on {e(record['submission'])}</h1>",
            f"<p><b>{auto:g} / {auto_max:g} points</b> on the automatically graded questions.</p>"]
    if record["status"] != "graded":
        body.append(f"<p>Status: <b>{e(record['status'])}</b>: {e(record['reason'])}</p>")
    if record.get("late"):
        body.append(f"<p>{e(record['late']['text'])}</p>")
    if record["notes"]:
        body.append("<ul>" + "".join(f"<li>{e(n)}</li>" for n in record["notes"]) + "</ul>")
    for qid, q in record["questions"].items():
        word = verdict(q)
        body.append(f"<h2><code>{e(qid)}</code>: {q['score']:g} / {q['points']:g} "
                    f"<span class={word.lower()}>{word}</span></h2>")
        groups = "".join(f"<li>{e(line)}</li>" for line in group_lines(q))
        body.append(f"<p>{e(student_reason(q))}</p>" + (f"<ul>{groups}</ul>" if groups else "")
                    + f"<pre>{e(chr(10).join(case_lines(q)))}</pre>")
    for qid, points in record["manual_points"].items():
        body.append(f"<h2><code>{e(qid)}</code>: written answer ({points:g} points, graded by hand)</h2>")
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto}pre{background:#f4f4f4;padding:.5em;"
             "white-space:pre-wrap}.pass{color:#1a7f37}.partial{color:#9a6700}.fail{color:#c62828}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{e(record['submission'])}</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")


def write_submission(folder: Path, record: dict) -> None:
    """Write the submission's student-facing files (no hidden case details in them)."""
    write_atomic(folder / "results.json", json.dumps(gradescope_results(record), indent=1))
    write_atomic(folder / "feedback.md", feedback_markdown(record))
    write_atomic(folder / "feedback.html", feedback_html(record))


def gradebook_csv(records: list[dict], question_ids: list[str], manual: dict[str, dict[str, float]],
                  roster: dict | None = None) -> str:
    """The gradebook: one row per submission, a column per question (written answers: the
    instructor's points from the manual CSV, blank until entered), total, max_total, status, reason.

    With a ``roster`` ({submission: :class:`course.grade.roster.Student`}) the columns student_id,
    name, email follow ``submission`` (blank for a file the roster does not name); when the records
    carry a deadline (their ``late`` entry) the columns submitted_at, late_days, total_after_penalty
    follow max_total."""
    from .late import after_penalty
    late = any(r.get("late") for r in records)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = ["submission", *(ROSTER_COLUMNS if roster is not None else []), *question_ids,
              *GRADEBOOK_FIXED[:2], *(LATE_COLUMNS if late else []), *GRADEBOOK_FIXED[2:]]
    writer.writerow([spreadsheet_safe(cell) for cell in header])
    for r in sorted(records, key=lambda r: r["submission"]):
        row, total = [r["submission"]], 0.0
        if roster is not None:
            student = roster.get(r["submission"])
            row += [student.student_id, student.name, student.email] if student else ["", "", ""]
        for qid in question_ids:
            if qid in r["questions"]:
                value = r["questions"][qid]["score"]
            else:
                value = manual.get(r["submission"], {}).get(qid)
            row.append("" if value is None else f"{value:g}")
            total += value or 0.0
        reasons = [r["reason"]] if r["reason"] else []
        reasons += r.get("notes", [])   # what happened to the notebook: a cell stopped, the kernel died...
        reasons += [f"{qid}: {q['reason']}" for qid, q in r["questions"].items() if q["reason"]]
        row += [f"{total:g}", f"{r['max_total']:g}"]
        if late:
            entry = r.get("late")
            row += [entry["submitted_at"], str(entry["late_days"]), f"{after_penalty(entry, total):g}"] if entry else ["", "", ""]
        row += [r["status"], "; ".join(reasons)[:2000]]
        writer.writerow([spreadsheet_safe(cell) for cell in row])
    return out.getvalue()


def spreadsheet_safe(text: str) -> str:
    """``text`` as a CSV cell no spreadsheet runs as a formula: a leading =, +, -, @, tab or
    carriage return gets a ' in front (OWASP's advice on CSV injection). Numbers are left alone."""
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        try:
            float(text)
            return text
        except ValueError:
            return "'" + text
    return text


def spreadsheet_value(cell: str) -> str:
    """The text a :func:`spreadsheet_safe` cell was made from (its guarding ' taken off)."""
    return cell[1:] if cell[:1] == "'" and cell[1:2] in ("=", "+", "-", "@", "\t", "\r") else cell
