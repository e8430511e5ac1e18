"""The ``course`` command: ``course assign``, ``course fetch``, ``course grade``, ``course export``,
``course gradescope``, ``course validate``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.modules.setdefault("rfc3987_syntax", None)  # jsonschema's optional IRI check: 3 s to import, never needed here

from . import data
from .assign import AssignError, assign


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course", description="Tools of the deep-learning course pack.")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("assign", help="generate notebooks/ (student) from solutions/ (reference)")
    p.add_argument("--solutions", type=Path, default=Path("solutions"), help="default: ./solutions")
    p.add_argument("--out", type=Path, default=Path("notebooks"), help="default: ./notebooks")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if notebooks/ is out of date")
    p.add_argument("--execute", action="store_true",
                   help="first re-run each solution notebook in place (data pinned to the sample, as in CI)")
    p.set_defaults(run=_assign)

    p = commands.add_parser("fetch", help="download datasets into the cache, verified by SHA-256")
    p.add_argument("names", nargs="*", default=None, metavar="DATASET",  # checked in _fetch: argparse
                   help=f"one or more of {', '.join(data.DATASETS)}, all (default: mnist)")  # rejects a list default
    p.add_argument("--dest", type=Path, default=None, help="folder to download into (default: the cache)")
    p.set_defaults(run=_fetch)

    p = commands.add_parser(
        "grade", help="grade submitted notebooks: gradebook CSV, results.json, feedback",
        description="Grade submitted notebooks against solutions/ID.ipynb, each in a sandbox of its own, into DIR: "
                    "gradebook.csv, per student students/NAME/ (results.json, feedback.md, feedback.html), "
                    "written/ (written answers side by side) and manual_points.csv. A rerun grades only new or "
                    "changed submissions.",
        epilog="example: course grade submissions/ --assignment 03_sgd --out grades-03 (see docs/instructors.md)")
    p.add_argument("submissions", nargs="+", type=Path, metavar="SUBMISSION",
                   help="notebooks, folders of notebooks, or zip files")
    p.add_argument("--assignment", required=True, metavar="ID", help="e.g. 01_mnist_loader (a notebook in solutions/)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for the grades (made if absent)")
    p.add_argument("--workers", type=int, default=None, metavar="N", help="submissions graded at once (default: the cores)")
    p.add_argument("--timeout", type=float, default=60, metavar="S", help="seconds for the notebook's cells (default 60)")
    p.add_argument("--question-timeout", type=float, default=20, metavar="S", help="seconds per question (default 20)")
    p.add_argument("--regrade", action="store_true", help="grade again submissions already graded in DIR")
    p.add_argument("--cluster", default=None, metavar="ADDRESS", help="a Dask distributed scheduler, e.g. tcp://host:8786")
    p.add_argument("--seed", type=int, default=None, metavar="N",
                   help="grading seed of the hidden cases (default: random, kept in DIR)")
    p.add_argument("--solutions", type=Path, default=Path("solutions"), metavar="DIR",
                   help="the solution notebooks (default: ./solutions)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--run-demos", action="store_true",
                   help="run the cells tagged demo in full too (slower; the grades are the same)")
    p.add_argument("--deadline", default=None, metavar="TIME", help="e.g. 2026-12-10T23:59 (ISO 8601; kept in DIR)")
    p.add_argument("--submitted-at", type=Path, default=None, metavar="CSV",
                   help="submission times: columns submission,submitted_at (default: the zip's entry times)")
    p.add_argument("--late-penalty", default=None, metavar="RULE", help="per started late day: 10%%/day or 2pt/day")
    p.add_argument("--late-cap", default=None, metavar="DAYS", help="e.g. 3d: later than that counts 0 points")
    p.add_argument("--roster", type=Path, default=None, metavar="CSV",
                   help="columns submission,student_id,name[,email] (kept in DIR)")
    p.set_defaults(run=_grade)

    p = commands.add_parser("export", help="an LMS import file (Canvas, Gradescope, Moodle) from DIR/gradebook.csv")
    p.add_argument("folder", type=Path, metavar="DIR", help="a folder written by course grade --roster ...")
    p.add_argument("--format", required=True, choices=["canvas", "gradescope-csv", "moodle"])
    p.add_argument("--out", type=Path, default=None, metavar="FILE", help="default: DIR/FORMAT-ASSIGNMENT.csv")
    p.set_defaults(run=_export)

    p = commands.add_parser(
        "validate", help="check a saved notebook before submitting it: the grader's run, on the public cases",
        description="Run a saved notebook the way `course grade` will (a fresh kernel, the same sandbox and time "
                    "limits), then the public cases of every question; print a table and what to fix before "
                    "submitting. Hidden cases are not run. Exit status 0 when every public case passes.",
        epilog="example: course validate notebooks/03_sgd.ipynb")
    p.add_argument("notebook", type=Path, metavar="NOTEBOOK", help="the saved notebook, e.g. notebooks/03_sgd.ipynb")
    p.add_argument("--assignment", default=None, metavar="ID",
                   help="e.g. 03_sgd (default: from the file name, as in 03_sgd.ipynb or 03_sgd-alice.ipynb)")
    p.add_argument("--solutions", type=Path, default=None, metavar="DIR",
                   help="the pack's solution notebooks (default: ./solutions, else the installed pack's solutions/)")
    p.add_argument("--timeout", type=float, default=60, metavar="S", help="seconds for the notebook's cells (default 60)")
    p.add_argument("--question-timeout", type=float, default=20, metavar="S", help="seconds per question (default 20)")
    p.set_defaults(run=_validate)

    p = commands.add_parser("gradescope", help="build the Gradescope autograder zip of an assignment")
    p.add_argument("--assignment", required=True, metavar="ID", help="e.g. 01_mnist_loader")
    p.add_argument("--out", type=Path, default=None, help="default: autograder-ID.zip")
    p.add_argument("--solutions", type=Path, default=Path("solutions"), metavar="DIR",
                   help="the solution notebooks (default: ./solutions)")
    p.set_defaults(run=_gradescope)

    args = parser.parse_args(argv)
    from .grade import GradeError
    try:
        return args.run(args)
    except (AssignError, data.DataError, GradeError) as err:
        print(f"course {args.command}: {err}", file=sys.stderr)
        return 1


def _assign(args) -> int:
    if args.execute:
        from .execute import execute_in_place
        for path in sorted(args.solutions.glob("*.ipynb")):
            print(f"executing {path}")
            execute_in_place(path)
    changed = assign(args.solutions, args.out, check=args.check)
    if args.check:
        for path in changed:
            print(f"out of date: {path} (run `course assign`)")
        if not changed:
            print(f"{args.out}/ is up to date")
        return 1 if changed else 0
    print(f"wrote {len(changed)} student notebook(s) in {args.out}/" if changed else f"{args.out}/ is up to date")
    return 0


def _fetch(args) -> int:
    names = args.names or ["mnist"]
    unknown = [n for n in names if n not in data.DATASETS and n != "all"]
    if unknown:
        raise data.DataError(f"unknown dataset {unknown[0]!r}: expected one of {', '.join(data.DATASETS)}, all")
    for name in list(data.DATASETS) if "all" in names else names:
        dest = args.dest / name if args.dest else None
        try:
            paths = data.download(name, dest)
        except data.DownloadError as err:
            if all(_is_network_failure(r) for r in err.reasons):
                raise data.DataError(
                    f"could not download {data.DATASETS[name].title}: no mirror could be reached ({err.short}). "
                    "Offline? The notebooks run on the embedded MNIST sample without it; run `course fetch` "
                    "again once online") from None
            raise
        print(f"{data.DATASETS[name].title}: {len(paths)} files verified in {paths[0].parent}")
    return 0


def _is_network_failure(reason: str) -> bool:
    """A mirror's failure (a line of :class:`course.data.DownloadError`) that means it was not reached."""
    return any(word in reason for word in ("connection refused", "connection failed", "cannot resolve", "timed out"))


def _grade(args) -> int:
    from .grade import GradeError, Limits, grade
    limits = Limits(notebook_seconds=args.timeout, question_seconds=args.question_timeout)
    late_options = [args.submitted_at, args.late_penalty, args.late_cap]
    if args.deadline is None and any(o is not None for o in late_options):
        raise GradeError("--submitted-at, --late-penalty and --late-cap need --deadline")
    deadline = None if args.deadline is None else {"deadline": args.deadline, "penalty": args.late_penalty,
                                                   "cap": args.late_cap, "submitted_at": args.submitted_at}
    records = grade(args.submissions, args.assignment, args.out, solutions=args.solutions, workers=args.workers,
                    limits=limits, regrade=args.regrade, cluster=args.cluster, seed=args.seed,
                    progress=not args.no_progress, deadline=deadline, roster_csv=args.roster,
                    run_demos=args.run_demos)
    by_status: dict[str, int] = {}
    for r in records:
        by_status[r["status"]] = by_status.get(r["status"], 0) + 1
    print(f"{len(records)} submission(s) in {args.out}/gradebook.csv: "
          + ", ".join(f"{n} {s}" for s, n in sorted(by_status.items())))
    started = [r for r in records if r.get("walls") and r["status"] != "error"]
    if started:  # as recorded by a sandbox that really started (each record keeps its own)
        print("protections in force:\n  " + "\n  ".join(started[-1]["protections"]))
    else:
        print("protections: no sandbox has started (see the reason column)")
    print((args.out / "summary.txt").read_text(encoding="utf-8").rstrip())
    return 0


def _export(args) -> int:
    from .grade.export import export
    path, skipped = export(args.folder, args.format, args.out)
    print(f"wrote {path}")
    if skipped:
        print(f"left out {len(skipped)} submission(s) the roster does not name: {', '.join(skipped)}", file=sys.stderr)
    return 0


def _validate(args) -> int:
    from .grade import Limits
    from .grade.validate import render, validate
    limits = Limits(notebook_seconds=args.timeout, question_seconds=args.question_timeout)
    print(f"validating {args.notebook} (a fresh kernel runs every cell: this takes as long as the notebook does)...",
          flush=True)
    result = validate(args.notebook, args.assignment, solutions=args.solutions, limits=limits)
    print(render(result, limits))
    return 0 if result.passed else 1


def _gradescope(args) -> int:
    from .grade.gradescope import build_autograder
    path = build_autograder(args.assignment, args.out or Path(f"autograder-{args.assignment}.zip"),
                            solutions=args.solutions)
    print(f"wrote {path}: upload it as the assignment's autograder on Gradescope")
    return 0


if __name__ == "__main__":
    sys.exit(main())
