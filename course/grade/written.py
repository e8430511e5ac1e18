"""Written answers: collect each manual question's answers across the class into one HTML page,
and read the points the instructor enters in ``manual_points.csv`` (one row per submission, a
column per written question).

An answer's Markdown is rendered to HTML and then sanitised with nh3 (an allow-list of tags and
attributes: no scripts, event handlers, styles, images or ``javascript:`` links), so that no
answer runs code on the instructor's page. LaTeX is typeset in the browser by MathJax 3, copied
next to the pages from the ``django-static-mathjax`` package: the pages work offline."""
from __future__ import annotations

import csv
import html
import io
import shutil
from pathlib import Path
from urllib.parse import quote

import nbformat
import nh3

from ..assign import STUDENT_ANSWER_MD
from .assignment import GradeError
from .report import spreadsheet_safe, spreadsheet_value, write_atomic

MATHJAX_FILE = "mathjax-tex-svg.js"
MATHJAX = ("<script>window.MathJax={tex:{inlineMath:[['$','$'],['\\\\(','\\\\)']]}};</script>"
           f"<script async src='{MATHJAX_FILE}'></script>")
ALLOWED_TAGS = {"p", "br", "hr", "em", "strong", "b", "i", "code", "pre", "blockquote", "ul", "ol", "li",
                "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "a", "sub", "sup", "del"}


def answer_html(markdown: str) -> str:
    """A written answer's Markdown as HTML that is safe to show: rendered, then sanitised."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune
    return nh3.clean(markdown2html_mistune(markdown), tags=ALLOWED_TAGS, attributes={"a": {"href"}},
                     url_schemes={"http", "https", "mailto"}, link_rel="noopener noreferrer nofollow")


def _copy_mathjax(folder: Path) -> None:
    import mathjax
    source = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5" / "tex-svg.js"
    target = folder / MATHJAX_FILE
    if not target.is_file() or target.stat().st_size != source.stat().st_size:
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


def collect_answers(nb: nbformat.NotebookNode, manual_ids: list[str]) -> dict[str, str | None]:
    """The Markdown source of each written question's cell (found by its ``course`` metadata);
    None when the cell is missing or still holds the placeholder."""
    found: dict[str, str | None] = {q: None for q in manual_ids}
    for cell in nb.cells:
        meta = (cell.get("metadata") or {}).get("course")
        qid = meta.get("question") if isinstance(meta, dict) else None
        source = cell.get("source")
        if isinstance(qid, str) and qid in found and cell.get("cell_type") == "markdown" and isinstance(source, str):
            text = source.strip()
            found[qid] = None if not text or text == STUDENT_ANSWER_MD else text
    return found


def write_pages(out: Path, assignment_id: str, manual: dict[str, float], records: list[dict]) -> list[Path]:
    """``out/written/<question>.html``: every submission's answer to the question, side by side,
    each with a link to the submission's feedback on the code questions and the exact place to
    type its points: ``manual_points.csv``'s line and column (that file is the source of truth)."""
    pages = []
    if manual:
        _copy_mathjax(out / "written")
    lines, entered = _manual_lines(out / "manual_points.csv")
    e = html.escape
    for qid, points in manual.items():
        parts = [f"<h1>{e(assignment_id)}: written question <code>{e(qid)}</code> ({points:g} points)</h1>"
                 f"<p>{len(records)} submissions. To grade one, open <code>{e(str(out / 'manual_points.csv'))}</code> "
                 f"in a text editor or spreadsheet, type the points (0 to {points:g}) in column <code>{e(qid)}</code> of "
                 f"the line each answer names below, save, then run the same <code>course grade</code> command again: "
                 f"it merges them into <code>gradebook.csv</code> without grading anything again.</p>"]
        for r in sorted(records, key=lambda r: r["submission"]):
            name = r["submission"]
            answer = r.get("answers", {}).get(qid)
            body = answer_html(answer) if answer else "<p><i>(no answer)</i></p>"
            now = entered.get(name, {}).get(qid, "")
            where = (f"points: <code>manual_points.csv</code>, line {lines[name]} (submission <code>{e(name)}</code>), "
                     f"column <code>{e(qid)}</code>: " + (f"<b>{e(now)}</b> entered" if now else "not entered yet")
                     if name in lines else "points: not in <code>manual_points.csv</code> yet")
            parts.append(f"<section><h2>{e(name)}</h2>{body}<p class=where>{where} · "
                         f"<a href='../students/{quote(name)}/feedback.html'>its code questions' feedback</a></p></section>")
        style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto}"
                 "section{border-top:1px solid #ccc;padding:.3em 0}h2{font-size:1em;color:#555}"
                 ".where{font-size:.85em;color:#444;background:#f6f6f0;padding:.2em .4em}")
        page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(qid)}</title>"
                f"<style>{style}</style>{MATHJAX}</head><body>{''.join(parts)}</body></html>\n")
        path = out / "written" / f"{qid}.html"
        write_atomic(path, page)
        pages.append(path)
    return pages


def _manual_lines(path: Path) -> tuple[dict[str, int], dict[str, dict[str, str]]]:
    """``manual_points.csv``'s line number of each submission (the header is line 1) and what is entered."""
    if not path.is_file():
        return {}, {}
    lines, entered = {}, {}
    for number, row in enumerate(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))), start=2):
        name = spreadsheet_value((row.get("submission") or "").strip())
        if name:
            lines[name] = number
            entered[name] = {k: (v or "").strip() for k, v in row.items() if k != "submission"}
    return lines, entered


def manual_points(path: Path, manual: dict[str, float], submissions: list[str]) -> dict[str, dict[str, float]]:
    """Read the instructor's points from ``path`` and rewrite it with a row for every submission
    (keeping what was entered). Returns ``{submission: {question: points}}`` for the cells filled in.

    Raises
    ------
    GradeError
        If a filled-in cell is not a number between 0 and the question's points.
    """
    entered: dict[str, dict[str, str]] = {}
    if path.is_file():
        for row in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))):
            name = spreadsheet_value((row.get("submission") or "").strip())
            if name:
                entered[name] = {q: (row.get(q) or "").strip() for q in manual}
    points: dict[str, dict[str, float]] = {}
    for name, row in entered.items():
        for qid, text in row.items():
            if not text:
                continue
            try:
                value = float(text)
            except ValueError:
                value = float("nan")
            if not 0 <= value <= manual[qid]:
                raise GradeError(f"{path}: submission {name!r}, column {qid!r}: expected points between 0 "
                                 f"and {manual[qid]:g}, got {text!r}")
            points.setdefault(name, {})[qid] = value
    if manual:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([spreadsheet_safe(c) for c in ["submission", *manual]])
        for name in sorted(set(submissions) | set(entered)):
            writer.writerow([spreadsheet_safe(c) for c in [name, *(entered.get(name, {}).get(q, "") for q in manual)]])
        write_atomic(path, buffer.getvalue())
    return points
