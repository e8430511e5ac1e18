"""The class report: ``DIR/summary.html`` and the few lines ``course grade`` prints at its end
(also kept in ``DIR/summary.txt``).

The page shows the histogram of totals, each question's pass rate, the most common failing
cases (with counts and one example message), the statuses, and the grading time per submission.
Plots are PNGs drawn by matplotlib (Agg) and embedded as base64, so the page works offline;
every piece of text that comes from a submission is escaped. The page is the instructor's: it
shows hidden cases' messages, like ``records/``.
"""
from __future__ import annotations

import base64
import csv
import html
import io
import statistics
from collections import Counter
from pathlib import Path

from .report import write_atomic

TOP_FAILURES = 12


def class_totals(out: Path) -> tuple[list[float], str]:
    """The totals of ``out/gradebook.csv`` (after the late penalty when there is one) and the column read."""
    path = out / "gradebook.csv"
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8")))) if path.is_file() else []
    column = "total_after_penalty" if rows and "total_after_penalty" in rows[0] else "total"
    return [float(r[column]) for r in rows if r.get(column, "").strip()], column


def pass_rates(records: list[dict]) -> dict[str, tuple[int, int]]:
    """``{question: (full marks, submissions)}`` for the automatically graded questions."""
    rates: dict[str, list[int]] = {}
    for r in records:
        for qid, q in r["questions"].items():
            counts = rates.setdefault(qid, [0, 0])
            counts[0] += q["score"] == q["points"]
            counts[1] += 1
    return {q: (a, b) for q, (a, b) in rates.items()}


def common_failures(records: list[dict], top: int = TOP_FAILURES) -> list[tuple[str, str, int, str]]:
    """The most failed cases: ``(question, case, submissions failing it, one example message)``,
    most frequent first. A submission whose function was never written ("not written yet") and a
    question that was not run do not count: they say nothing about a case."""
    counts: Counter = Counter()
    example: dict[tuple[str, str], str] = {}
    for r in sorted(records, key=lambda r: r["submission"]):
        for qid, q in r["questions"].items():
            for c in q["cases"]:
                if not c["passed"] and not c["message"].startswith("not written yet"):
                    counts[(qid, c["name"])] += 1
                    example.setdefault((qid, c["name"]), f"{r['submission']}: {c['message']}")
    return [(q, c, n, example[(q, c)]) for (q, c), n in counts.most_common(top)]


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _histogram(values: list[float], xlabel: str, bins, title: str) -> str:
    """A histogram as a base64 PNG."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    fig = Figure(figsize=(6.4, 2.6))
    ax = fig.subplots()
    ax.hist(values, bins=bins, color="#4a78b5", edgecolor="white")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("submissions")
    ax.set_title(title, fontsize=11)
    ax.yaxis.get_major_locator().set_params(integer=True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _png(fig)


def text_lines(out: Path, records: list[dict], roster_lines: list[str], similar: int | None = None) -> list[str]:
    """The short summary printed at the end of ``course grade`` (after its count of statuses)."""
    totals, column = class_totals(out)
    max_total = max((r["max_total"] for r in records), default=0)
    lines = [f"class report: {out / 'summary.html'}"]
    if totals:
        lines.append(f"{column.replace('_', ' ')}: mean {statistics.mean(totals):.1f}, median "
                     f"{statistics.median(totals):g} of {max_total:g} ({len(totals)} submissions)")
    rates = pass_rates(records)
    if rates:
        lines.append("full marks: " + ", ".join(f"{q} {a / b:.0%}" for q, (a, b) in rates.items()))
    times = [r["grading_seconds"] for r in records if r.get("grading_seconds") is not None]
    if times:
        lines.append(f"grading time per submission: median {statistics.median(times):.1f} s, max {max(times):.1f} s")
    if similar is not None:
        lines.append(f"similar code: {similar} pair(s) listed in {out / 'similarity.html'}")
    return lines + roster_lines


def write(out: Path, assignment, records: list[dict], roster_lines: list[str] = (), similar: int | None = None) -> Path:
    """Write ``out/summary.html`` and ``out/summary.txt`` for the graded ``records`` (``similar``: the
    number of pairs ``similarity.html`` lists, when it was made); returns the page's path."""
    e = html.escape
    roster_lines = list(roster_lines)
    totals, column = class_totals(out)
    max_total = float(assignment.max_points)
    parts = [f"<h1>{e(assignment.id)}: class report</h1>",
             f"<p>{len(records)} submissions graded in this folder."
             + (f" Similar code: <a href='similarity.html'>{similar} pair(s)</a>." if similar is not None else "")
             + "</p>"]
    if roster_lines:
        parts.append("<h2>Roster</h2><ul>" + "".join(f"<li>{e(line)}</li>" for line in roster_lines) + "</ul>")

    parts.append("<h2>Totals</h2>")
    if totals:
        bins = [b - 0.5 for b in range(int(max_total) + 2)] if max_total <= 40 else 20
        label = "total after the late penalty" if column == "total_after_penalty" else "total"
        parts.append(f"<p>{e(label)}: mean <b>{statistics.mean(totals):.2f}</b>, median "
                     f"<b>{statistics.median(totals):g}</b>, of {max_total:g} points "
                     f"(written answers count once their points are entered in manual_points.csv).</p>")
        parts.append(f"<img alt='histogram of totals' src='data:image/png;base64,"
                     f"{_histogram(totals, f'{label} (points, of {max_total:g})', bins, 'Totals')}'>")
    else:
        parts.append("<p>No totals yet.</p>")

    parts.append("<h2>Questions</h2><table><tr><th>question</th><th>points</th><th>full marks</th><th></th></tr>")
    points = {q.id: q.points for q in assignment.code}
    for qid, (full, n) in pass_rates(records).items():
        rate = full / n if n else 0.0
        parts.append(f"<tr><td><code>{e(qid)}</code></td><td class=num>{points.get(qid, 0):g}</td>"
                     f"<td class=num>{full} / {n} ({rate:.0%})</td>"
                     f"<td><div class=bar><div style='width:{100 * rate:.0f}%'></div></div></td></tr>")
    for q in assignment.manual:
        parts.append(f"<tr><td><code>{e(q.id)}</code></td><td class=num>{q.points:g}</td>"
                     f"<td colspan=2>written: graded by hand (<a href='written/{e(q.id)}.html'>answers</a>)</td></tr>")
    parts.append("</table>")

    failures = common_failures(records)
    parts.append("<h2>Most common failing cases</h2>")
    if failures:
        parts.append("<table><tr><th>question</th><th>case</th><th>submissions</th><th>example</th></tr>")
        for qid, case, n, message in failures:
            parts.append(f"<tr><td><code>{e(qid)}</code></td><td>{e(case)}</td><td class=num>{n}</td>"
                         f"<td class=msg>{e(message[:300])}</td></tr>")
        parts.append("</table>")
    else:
        parts.append("<p>No case failed (functions not written yet are not counted here).</p>")

    parts.append("<h2>Statuses</h2><table><tr><th>status</th><th>submissions</th><th>for example</th></tr>")
    by_status: dict[str, list[dict]] = {}
    for r in sorted(records, key=lambda r: r["submission"]):
        by_status.setdefault(r["status"], []).append(r)
    for status, rs in sorted(by_status.items()):
        example = "" if status == "graded" else f"{rs[0]['submission']}: {rs[0]['reason']}"
        parts.append(f"<tr><td>{e(status)}</td><td class=num>{len(rs)}</td><td class=msg>{e(example[:300])}</td></tr>")
    parts.append("</table>")

    timed = sorted((r for r in records if r.get("grading_seconds") is not None),
                   key=lambda r: -r["grading_seconds"])
    parts.append("<h2>Grading time per submission</h2>")
    if timed:
        times = [r["grading_seconds"] for r in timed]
        parts.append(f"<p>{len(times)} submissions run: median <b>{statistics.median(times):.1f} s</b>, "
                     f"max <b>{max(times):.1f} s</b> (the sandbox from start to results, and their judging).</p>")
        parts.append(f"<img alt='histogram of grading times' src='data:image/png;base64,"
                     f"{_histogram(times, 'seconds per submission', 20, 'Grading time')}'>")
        parts.append("<table><tr><th>slowest</th><th>seconds</th><th>status</th></tr>")
        for r in timed[:5]:
            parts.append(f"<tr><td>{e(r['submission'])}</td><td class=num>{r['grading_seconds']:.1f}</td>"
                         f"<td>{e(r['status'])}</td></tr>")
        parts.append("</table>")
    else:
        parts.append("<p>No submission was run in this folder's records with a recorded time.</p>")

    style = ("body{font-family:sans-serif;max-width:62em;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;margin:.5em 0}td,th{border-bottom:1px solid #ddd;padding:.25em .6em;"
             "text-align:left;vertical-align:top}td.num{text-align:right;white-space:nowrap}"
             "td.msg{font-family:monospace;font-size:.85em;max-width:34em;overflow-wrap:anywhere}"
             ".bar{width:12em;height:.8em;background:#eee}.bar div{height:100%;background:#4a78b5}img{max-width:100%}")
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{e(assignment.id)}: class report</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n")
    write_atomic(out / "summary.html", page)
    write_atomic(out / "summary.txt", "\n".join(text_lines(out, records, roster_lines, similar)) + "\n")
    return out / "summary.html"
