"""The autograder's speed, in two sections (``--only throughput,peers``; default: both).

    python bench/bench_grade.py [--only throughput] [--assignment 02_softmax_regression] [--n 100] [--n-sequential 30]

throughput: a class of 100 submissions graded with 2 workers, beside a sequential run (1 worker) of the
same grader on the same kind of notebooks.

The class is copies of the reference solution and of broken variants (half each): from the
test corpus when the assignment has one, else the untouched student notebook. Target: 100
submissions of 03_sgd in at most 90 s with 2 workers on a 2-core machine, every protection
of the sandbox in force (bubblewrap's allow-list root, namespaces, a fresh uid, a cgroup per
submission). The sequential run grades fewer notebooks (default 30) and is compared per minute.
It also times the start-up of one sandbox (until the runner can import itself) beside the
previous sandbox (unshare's namespaces with the host's root hidden by mounts, as before bubblewrap).

peers: nbgrader (``autograde``, serial) and otter-grader (``otter run`` per submission) beside ``course
grade`` with 1 and 2 workers, on one class of 20 submissions of 02_softmax_regression, each tool in its
own format (bench/grade_peers.py), in interleaved rounds. Target: ``course grade --workers 1`` at most
0.5x nbgrader's seconds per submission, with every protection of the sandbox in force.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import load, machine, table  # noqa: E402

from course.grade import Limits, grade, sandbox  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BROKEN = ["untouched", "partly_solved", "nan_and_wrong_shape", "renamed_function", "wrong_signature",
          "monkeypatch_checks", "sys_exit"]  # variants that finish without hitting a timeout


def make_class(folder: Path, assignment: str, n: int) -> dict[str, float]:
    """Write ``n`` submissions into ``folder``; returns the expected total of each."""
    corpus = ROOT / "tests" / "corpus" / assignment
    if (corpus / "expected.json").is_file():
        expected = json.loads((corpus / "expected.json").read_text())
        files = {b: corpus / f"{b}.ipynb" for b in ["reference", *BROKEN] if f"{b}.ipynb" in expected}
        scores = {b: sum(expected[f"{b}.ipynb"]["scores"].values()) for b in files}
    else:
        import nbformat
        from course.questions import questions
        solution = ROOT / "solutions" / f"{assignment}.ipynb"
        code_points = sum(q.points for q in questions(nbformat.read(solution, 4)) if not q.manual)
        files = {"reference": solution, "untouched": ROOT / "notebooks" / f"{assignment}.ipynb"}
        scores = {"reference": code_points, "untouched": 0}
    folder.mkdir(parents=True)
    totals = {}
    variants = itertools.cycle([b for b in files if b != "reference"])
    for i in range(n):
        source = "reference" if i % 2 == 0 else next(variants)
        name = f"student{i:03d}.ipynb"
        shutil.copyfile(files[source], folder / name)
        totals[name] = scores[source]
    return totals


def startup_seconds(rounds: int = 10) -> tuple[float, float | None]:
    """Median seconds to start a sandbox that imports the runner: this one, and the previous one
    (unshare's network, PID and mount namespaces; None where unshare cannot make them)."""
    import statistics
    import subprocess
    env = sandbox._environment("/tmp")
    new = [*sandbox._command(sandbox.walls().level, 65534 if os.geteuid() == 0 else None, 2**20),
           *sandbox.RUNNER[:-2], "-c", "import course.grade.runner"]
    old = ["unshare", "--net", "--pid", "--fork", "--kill-child", "--mount", "--mount-proc",
           *sandbox.RUNNER[:-2], "-c", "import course.grade.runner"]
    times = {"new": [], "old": []}
    for _ in range(rounds):
        for name, command in (("new", new), ("old", old)):
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, env=env, cwd="/")
            if done.returncode == 0:
                times[name].append(time.perf_counter() - start)
    return statistics.median(times["new"]), (statistics.median(times["old"]) if times["old"] else None)


def run(folder: Path, assignment: str, workers: int, expected: dict[str, float]) -> float:
    out = folder.parent / f"out-{folder.name}-{workers}"
    start = time.perf_counter()
    records = grade([folder], assignment, out, solutions=ROOT / "solutions", workers=workers,
                    limits=Limits(), progress=False)
    seconds = time.perf_counter() - start
    got = {r["submission"]: sum(q["score"] for q in r["questions"].values()) for r in records}
    assert got == expected, "a submission got a grade other than expected"
    return seconds


def throughput(args) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="course-bench-grade-"))
    try:
        parallel = make_class(tmp / "class", args.assignment, args.n)
        sequential = make_class(tmp / "class-seq", args.assignment, args.n_sequential)
        load_before = os.getloadavg()[0]
        t_par = run(tmp / "class", args.assignment, 2, parallel)
        t_seq = run(tmp / "class-seq", args.assignment, 1, sequential)
        load_after = os.getloadavg()[0]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rate_par, rate_seq = args.n / t_par * 60, args.n_sequential / t_seq * 60
    start_new, start_old = startup_seconds()
    print(f"## Throughput\n\n{machine()}; load average {load_before:.1f} before, {load_after:.1f} after")
    print(f"assignment {args.assignment}; every submission got its expected grade\n")
    print(table(["run", "submissions", "time", "per minute", "target", "ratio"], [
        [f"course grade, 2 workers", args.n, f"{t_par:.0f} s", f"{rate_par:.1f}",
         f"{args.n} in <= 90 s", f"{rate_par / rate_seq:.2f}x the sequential rate"],
        ["course grade, 1 worker (sequential peer)", args.n_sequential, f"{t_seq:.0f} s", f"{rate_seq:.1f}", "",
         f"1x ({t_seq / args.n_sequential:.2f} s per submission)"],
        ["one sandbox's start-up (median of 10, until the runner imports)", 1, f"{start_new:.2f} s", "", "",
         f"previous sandbox (unshare + mounts): {start_old:.2f} s" if start_old else "previous sandbox: not available"],
    ]))
    print("\nprotections in force:\n  " + "\n  ".join(sandbox.protections(Limits(), 3, sandbox.walls())))


#: what each peer isolates the student's code from the grader with (course's is read off its records)
PEER_ISOLATION = {"nbgrader": "none: the student's kernel on the host, as the grader's user",
                  "otter-grader": "none: no container (no Docker daemon here; otter run on the host's Python, as the grader's user)"}


def peers(args) -> None:
    import grade_peers as gp
    tmp = Path(tempfile.mkdtemp(prefix="course-bench-peers-"))
    try:
        solution = gp.solution_notebook()
        class_ = gp.make_class(solution)
        gp.check_class(solution, class_)  # the answer key, checked with the pack's public checks
        tools = [gp.Nbgrader(tmp / "nbgrader", solution), gp.Otter(tmp / "otter", solution),
                 gp.Course(tmp / "course-1", 1), gp.Course(tmp / "course-2", 2)]
        before = load()
        runs: dict[str, list[tuple[float, list[str]]]] = {t.name: [] for t in tools}
        for _ in range(args.rounds):  # in turns, so that a burst of load hits every tool alike
            for tool in tools:
                seconds, scores = tool.grade(class_)
                wrong = [f"{s} ({class_[s][0]}): {scores.get(s)} for {class_[s][2]:g}" for s in class_
                         if scores.get(s) != class_[s][2]]
                runs[tool.name].append((seconds / len(class_), wrong))
        after = load()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    per = {name: [s for s, _ in r] for name, r in runs.items()}
    course_1, nbgrader = tools[2].name, tools[0].name
    ratios = [c / n for c, n in zip(per[course_1], per[nbgrader])]
    verdict = "met" if max(ratios) <= 0.5 else ("met in some rounds" if min(ratios) <= 0.5 else "MISSED")
    rows = []
    for tool in tools:
        wrong = sorted({w for _, ws in runs[tool.name] for w in ws})
        isolation = PEER_ISOLATION.get(tool.name) or tool.isolation()
        ratio = " / ".join(f"{c / n:.2f}x" for c, n in zip(per[tool.name], per[nbgrader])) + " nbgrader's"
        if tool.name == nbgrader:
            ratio = "1x"
        elif tool.name == course_1:
            ratio += f": target <= 0.5x, {verdict}"
        rows.append([f"{tool.name} {tool.version}", isolation, " / ".join(f"{s:.2f}" for s in per[tool.name]),
                     f"{len(class_) - len(wrong)}/{len(class_)}" + (f" (wrong: {'; '.join(wrong)})" if wrong else ""),
                     ratio])
    variants = Counter(variant for variant, _, _ in class_.values())
    print(f"## Peers\n\n{machine()}; {before} at the start, {after} at the end")
    print(f"class: {len(class_)} submissions of {gp.ASSIGNMENT} ("
          + ", ".join(f"{n} {v}" for v, n in variants.items()) + "), answer key checked; "
          f"{args.rounds} interleaved rounds\n")
    print(table(["tool", "isolation", "s per submission (" + " / ".join(f"run {i + 1}" for i in range(args.rounds)) + ")",
                 "scores right", "ratio"], rows))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="throughput,peers", help="comma-separated sections: throughput,peers")
    parser.add_argument("--assignment", default="03_sgd", help="throughput: the assignment graded")
    parser.add_argument("--n", type=int, default=100, help="throughput: submissions graded with 2 workers")
    parser.add_argument("--n-sequential", type=int, default=30, help="throughput: submissions graded with 1 worker")
    parser.add_argument("--rounds", type=int, default=2, help="peers: interleaved rounds of every tool")
    args = parser.parse_args()
    sections = {"throughput": throughput, "peers": peers}
    chosen = args.only.split(",")
    unknown = set(chosen) - set(sections)
    if unknown:
        parser.error(f"unknown section(s) {sorted(unknown)}: choose from {', '.join(sections)}")
    for name in chosen:
        sections[name](args)
        print()


if __name__ == "__main__":
    main()
