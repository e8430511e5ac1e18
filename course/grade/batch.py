"""Grade a class: collect the submissions, run them on an executor (threads here, or a Dask
cluster's executor), judge each one in this process as it comes back, and write its files at
once, so an interrupted run loses nothing already graded and a rerun skips it."""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
import warnings
import zipfile
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import nbformat

from . import late, plain, report, roster, sandbox, similarity, summary, written
from .assignment import Assignment, GradeError
from .worker import close_warm, execute_submission

MAX_NOTEBOOK_BYTES = 50 * 2**20


@dataclass
class Submission:
    """A submitted file: a unique ``name`` (its file name), its bytes (or why it could not be
    read), and the folder it came from (hidden from every sandbox)."""
    name: str
    data: bytes | None
    folder: Path
    problem: str | None = None
    modified: datetime | None = None   # a zip entry's time (naive: zip files keep no timezone)


def collect(paths: list[Path]) -> list[Submission]:
    """The submissions among ``paths``: files as given, ``*.ipynb`` below folders (checkpoints
    skipped), and ``*.ipynb`` members of zip files. A submission is named by its file name, or by
    its path inside the folder or zip (``alice/hw.ipynb`` -> ``alice_hw.ipynb``) when names repeat."""
    found: list[tuple[str, Path, int, callable, datetime | None]] = []  # (relative path, folder, size, read, zip time)
    for path in map(Path, paths):
        if path.is_dir():
            for nb in sorted(path.rglob("*.ipynb")):
                if ".ipynb_checkpoints" not in nb.parts and nb.is_file():
                    found.append((str(nb.relative_to(path)), path, nb.stat().st_size, nb.read_bytes, None))
        elif path.suffix.lower() == ".zip" and zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                for info in z.infolist():
                    if info.filename.endswith(".ipynb") and "__MACOSX" not in info.filename and not info.is_dir():
                        found.append((info.filename, path.parent, info.file_size, lambda z=path, i=info: _unzip(z, i),
                                      _zip_time(info)))
        elif path.is_file():
            found.append((path.name, path.parent, path.stat().st_size, path.read_bytes, None))
        else:
            raise GradeError(f"submission {path}: expected a notebook, a folder or a zip file, but it does not exist")
    counts: dict[str, int] = {}
    for rel, *_ in found:
        counts[Path(rel).name] = counts.get(Path(rel).name, 0) + 1
    subs, taken = [], set()
    for rel, folder, size, read, modified in found:
        name = Path(rel).name if counts[Path(rel).name] == 1 else rel.strip("/").replace("/", "_")
        while name in taken:
            name = f"{Path(name).stem}-2{Path(name).suffix}"
        taken.add(name)
        if size > MAX_NOTEBOOK_BYTES:
            subs.append(Submission(name, None, folder.resolve(), f"larger than {MAX_NOTEBOOK_BYTES // 2**20} MiB", modified))
            continue
        try:
            subs.append(Submission(name, read(), folder.resolve(), None, modified))
        except OSError as err:
            subs.append(Submission(name, None, folder.resolve(), f"could not be read: {err.strerror}", modified))
    return subs


def _zip_time(info: zipfile.ZipInfo) -> datetime | None:
    try:
        return datetime(*info.date_time)
    except ValueError:  # a damaged date field
        return None


def _unzip(path: Path, info: zipfile.ZipInfo) -> bytes:
    """One member of a zip file, read at most to the size it declares (a damaged member: OSError)."""
    try:
        with zipfile.ZipFile(path) as z, z.open(info) as f:
            return f.read(MAX_NOTEBOOK_BYTES + 1)
    except (zipfile.BadZipFile, ValueError, EOFError, NotImplementedError, RuntimeError) as err:
        raise OSError(0, f"a damaged zip entry ({type(err).__name__}: {_first_line(str(err))})") from None


def read_notebook(data: bytes) -> tuple[nbformat.NotebookNode | None, str | None]:
    """The notebook in ``data`` (converted to nbformat 4), or None and one line saying why it is
    not a notebook the grader can run: not UTF-8 JSON, or not valid against nbformat's schema."""
    if not data.strip():
        return None, "not a notebook: the file is empty"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None, "not a notebook: the file is not UTF-8 text"
    try:
        with warnings.catch_warnings():  # duplicate cell ids: nbformat repairs them, and says so on stderr
            warnings.simplefilter("ignore", nbformat.warnings.DuplicateCellId)
            nb = nbformat.reads(text, as_version=4)
            nbformat.validate(nb)
    except nbformat.ValidationError as err:
        where = "/".join(map(str, getattr(err, "absolute_path", []) or [])) or "the top level"
        return None, f"not a notebook nbformat accepts: at {where}, {_first_line(err.message)}"
    except Exception as err:  # nbformat raises several kinds for bad JSON and bad structure
        return None, f"not a notebook ({type(err).__name__}: {_first_line(str(err))})"
    return nb, None


def _first_line(text: str) -> str:
    lines = str(text).strip().splitlines()
    return lines[0][:150] if lines else "no details"


def grade(paths: list[Path], assignment_id: str, out: Path, *, solutions: Path = Path("solutions"),
          workers: int | None = None, limits: sandbox.Limits | None = None, regrade: bool = False,
          cluster: str | None = None, seed: int | None = None, progress: bool = True,
          deadline: dict | None = None, roster_csv: Path | None = None, run_demos: bool = False,
          public_only: bool = False) -> list[dict]:
    """Grade the submissions in ``paths`` against ``solutions/<assignment_id>.ipynb`` into ``out``.

    ``deadline``: the keyword arguments of :func:`course.grade.late.deadline_for` but ``subs``
    (``deadline``, ``penalty``, ``cap``, ``submitted_at``); ``roster_csv``: see
    :mod:`course.grade.roster`. Both are kept in ``out/grading.json`` for the next run.
    ``run_demos`` runs every cell in full, the ``demo`` cells grading does not need included
    (:mod:`course.grade.demos`); the verdicts are the same, only slower.

    Returns the records of every submission graded in ``out`` (this run's and earlier runs').
    Whatever a submission holds, it gets its own record; see docs/instructors.md for the files written.
    With ``public_only`` only the public cases are graded (``course validate``; see :class:`Assignment`).
    """
    from tqdm import tqdm

    out = Path(out).resolve()
    limits = limits or sandbox.Limits()
    settings = _settings(out, assignment_id, seed, regrade)
    assignment = Assignment(Path(solutions) / f"{assignment_id}.ipynb", settings["seed"], public_only=public_only)
    try:
        subs = collect(paths)
        deadline, roster_csv = late.remember(settings, deadline), roster.remember(settings, roster_csv)
        due = late.deadline_for(subs, **deadline) if deadline else None
        students = roster.read_roster(roster_csv) if roster_csv else None

        def finish(record: dict) -> None:
            if due is not None:
                record["late"] = due.entry(record["submission"])
            _finish(out, records, record)

        code_ids = [q.id for q in assignment.code]
        manual = {q.id: float(q.points) for q in assignment.manual}
        report.write_atomic(out / "grading.json", json.dumps(settings, indent=1))
        os.chmod(out, 0o700)  # grades and hidden-case messages are the instructor's alone
        records = _load_records(out)
        inputs = {**assignment.inputs(), **_sample_cache(), **_font_list()}
        sandbox.byte_compile_package()
        secrets = (assignment.solution.resolve(), assignment.solution.resolve().parents[1] / ".git")
        todo = []
        for sub in subs:
            digest = hashlib.sha256(sub.data or b"").hexdigest()
            old = records.get(sub.name)
            if old and old.get("sha256") == digest and not regrade:
                if due is not None and old.get("late") != due.entry(sub.name):
                    finish(old)   # a new deadline or time: its feedback and row say so
                continue
            nb, problem = (None, f"not read: {sub.problem}") if sub.data is None else read_notebook(sub.data)
            if nb is None:
                finish(_record(sub, digest, assignment, "invalid", problem, {}, {}, None))
            else:
                todo.append((sub, digest, nb))

        def finish_all():
            names = [s.name for s in subs] + list(records)
            points = written.manual_points(out / "manual_points.csv", manual, names)
            report.write_atomic(out / "gradebook.csv", report.gradebook_csv(
                list(records.values()), [q.id for q in assignment.questions], points, students))

        executor, close = _executor(workers, cluster)
        # a cluster gets the inputs once per worker, not once per submission
        shipped_inputs = close.scatter([inputs], broadcast=True)[0] if close is not None else inputs
        try:
            futures = {}
            n_workers = workers or os.cpu_count() or 1
            for index, (sub, digest, nb) in enumerate(todo):
                job = {"notebook": sub.data, "questions": code_ids, "limits": asdict(limits),
                       "skip_demos": not run_demos,
                       # a sandbox started ahead on this thread, while more submissions are to come
                       "warm": cluster is None and index < len(todo) - n_workers}
                futures[executor.submit(_execute_timed, job, shipped_inputs)] = (sub, digest, nb)
            with tqdm(total=len(futures), unit="notebook", disable=not progress, desc=f"grading {assignment_id}") as bar:
                pending = set(futures)
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        sub, digest, nb = futures[future]
                        started = time.monotonic()
                        record = _graded_record(future, sub, digest, nb, assignment, manual, limits, secrets)
                        record["grading_seconds"] = _grading_seconds(future, time.monotonic() - started)
                        finish(record)
                        finish_all()
                        bar.update()
        except BaseException:
            sandbox.kill_all()
            raise
        finally:
            close_warm()
            if close is None:
                executor.shutdown(wait=False, cancel_futures=True)
            else:  # Dask's ClientExecutor: cancel what is left, then close the client
                for future in futures:
                    future.cancel()
            if close is not None:
                close.close()
            finish_all()
        written.write_pages(out, assignment_id, manual, list(records.values()))
        roster_lines = roster.describe(*roster.reconcile(students, list(records))) if students is not None else []
        pairs = similarity.write(out, assignment, subs)
        summary.write(out, assignment, list(records.values()), roster_lines, len(pairs))
        return list(records.values())
    finally:
        assignment.close()


def _graded_record(future, sub, digest, nb, assignment: Assignment, manual: dict, limits, secrets) -> dict:
    """The record of one submission whose sandbox has finished: every step guarded, so that
    whatever the notebook holds, it gets a record with a reason and the class goes on."""
    try:
        answers = written.collect_answers(nb, list(manual))
    except Exception as err:  # a notebook odd enough to defeat the answer reader: no answers
        answers = {q: None for q in manual}
        answer_note = [f"its written answers could not be read ({type(err).__name__})"]
    else:
        answer_note = []
    try:
        raw = future.result()
    except Exception as err:  # the worker itself failed: say so, keep going
        return _record(sub, digest, assignment, "error", f"the grader failed to run it: {type(err).__name__}: {err}"[:300],
                       {}, answers, None, answer_note)
    try:
        return _judge(sub, digest, assignment, raw, answers, limits, answer_note, secrets)
    except Exception as err:  # a bug of the grader's, met on this submission only
        return _record(sub, digest, assignment, "error", f"the grader could not judge it: {type(err).__name__}: "
                       f"{_first_line(str(err))}", {}, answers, None, answer_note)


def _execute_timed(job: dict, inputs: dict[str, bytes]) -> dict:
    """:func:`execute_submission`, with ``worker_seconds``: from the worker taking the job to its answer."""
    start = time.monotonic()
    raw = execute_submission(job, inputs)
    raw["worker_seconds"] = time.monotonic() - start
    return raw


def _grading_seconds(future, judging: float) -> float | None:
    """A submission's grading time: its worker's seconds (sandbox and all) plus the judging here."""
    try:
        return round(future.result()["worker_seconds"] + judging, 2)
    except Exception:   # the worker failed: its time is unknown
        return None


def _font_list() -> dict[str, bytes]:
    """matplotlib's list of the fonts it found, as its cache file in the sandbox's MPLCONFIGDIR, so that
    no sandbox has to look through the fonts again (0.3 s of each kernel's start here). The sandbox
    sees the same fonts at the same paths; a list that matplotlib cannot use it makes again."""
    import matplotlib as mpl
    from matplotlib import font_manager

    path = Path(mpl.get_cachedir()) / f"fontlist-v{font_manager.FontManager.__version__}.json"
    try:
        return {f"home/mpl/{path.name}": path.read_bytes()}
    except OSError:  # no cache folder here: each sandbox makes its own list
        return {}


def _sample_cache() -> dict[str, bytes]:
    """The embedded MNIST sample as the data module caches it, so that no sandbox has to decode it again."""
    from .. import data
    for split in ("train", "test"):
        data.resolve("mnist", split, source="sample")
    folder = data.cache_dir() / "sample"
    return {f"cache/sample/{p.name}": p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _executor(workers: int | None, cluster: str | None):
    """A standard executor and the object to close after: threads driving sandbox subprocesses,
    or a Dask distributed client's executor for ``cluster``."""
    if cluster:
        from distributed import Client
        client = Client(cluster)
        return client.get_executor(pure=False), client
    return ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1), None


def _settings(out: Path, assignment_id: str, seed: int | None, regrade: bool) -> dict:
    """``out/grading.json``: the assignment and the grading seed, made once and kept (students never see it)."""
    path = out / "grading.json"
    if path.is_file():
        settings = json.loads(path.read_text())
        if settings.get("assignment") != assignment_id:
            raise GradeError(f"{out} holds the grades of {settings.get('assignment')!r}, not {assignment_id!r}: "
                             "choose another --out folder")
        if seed is not None and seed != settings["seed"]:
            if not regrade:
                raise GradeError(f"{path} has grading seed {settings['seed']}, you gave {seed}: "
                                 "add --regrade to grade everything again with the new seed")
            settings["seed"] = seed
        return settings
    out.mkdir(parents=True, exist_ok=True)
    return {"assignment": assignment_id, "seed": seed if seed is not None else secrets.randbits(32)}


def _load_records(out: Path) -> dict[str, dict]:
    records = {}
    for path in sorted((out / "records").glob("*.json")):
        try:
            record = json.loads(path.read_text())
            records[record["submission"]] = record
        except (ValueError, KeyError):
            continue  # a record from an older format or damaged: it gets graded again
    return records


def _finish(out: Path, records: dict, record: dict) -> None:
    name = record["submission"]
    report.write_submission(out / "students" / name, record)
    report.write_atomic(out / "records" / f"{name}.json", json.dumps(record, indent=1))
    records[name] = record


def _record(sub: Submission, digest: str, assignment: Assignment, status: str, reason: str,
            questions: dict, answers: dict, protections: list[str] | None, notes=(), extra=None) -> dict:
    if not questions:  # nothing ran: every code question gets 0 with the submission's reason
        questions = {q.id: {"points": float(q.points), "score": 0.0, "reason": "not graded", "cases": []}
                     for q in assignment.code}
    return {"submission": sub.name, "sha256": digest, "assignment": assignment.id, "status": status,
            "reason": reason, "questions": questions, "max_total": assignment.max_points,
            "manual_points": {q.id: float(q.points) for q in assignment.manual}, "answers": answers,
            "notes": list(notes), "protections": protections or ["none: it was not run in a sandbox"],
            "graded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), **(extra or {})}


def _judge(sub, digest, assignment: Assignment, raw: dict, answers: dict, limits, notes, secrets=()) -> dict:
    """Judge the raw results of one submission, here, in the grader's process. The status and its
    reason come from what the grader saw of the sandbox, never from the submission."""
    run, log = raw["sandbox"], raw["log"]
    questions = {}
    for q in assignment.code:
        files = raw["results"].get(q.id)
        try:
            value = plain.loads(*files) if files else None
        except plain.NotPlain as err:
            value = err
        v = assignment.judge(q, value)
        questions[q.id] = {"points": float(v.points), "score": v.score, "reason": v.reason,
                           "cases": [asdict(c) for c in v.cases]}
        if v.groups:  # a partial-credit question: the points of each group of cases
            questions[q.id]["groups"] = [asdict(g) for g in v.groups]
    notes = [*notes, *(str(n)[:300] for n in log.get("notes", [])[:10])]
    if log.get("output_truncated"):
        notes.append("the notebook printed more output than the grader keeps; the rest was dropped")
    if run["oom_kills"]:
        notes.append(f"the sandbox reached its {limits.memory_bytes / 2**30:g} GiB of memory: "
                     f"the kernel killed {run['oom_kills']} of its processes")
    if run["channel_error"]:
        notes.append(f"what the sandbox sent back was cut: {run['channel_error']}")
    walls = sandbox.Walls(run["walls"]["level"], run["walls"]["cgroup"], tuple(run["walls"]["why_not"]))
    status, reason = "graded", ""
    if not run["started"]:
        status, protections = "error", None
        stderr = raw.get("stderr", "").strip().splitlines()
        reason = "the sandbox did not start" + (f" ({stderr[-1][:200]})" if stderr else "")
    else:
        protections = sandbox.protections(limits, len(assignment.code), walls, secrets)
        if run["timed_out"]:
            status, reason = "timeout", f"the sandbox ran past its {run['wall_seconds']:g} s and was stopped"
        elif isinstance(log.get("failed"), str):  # the runner (out of the notebook's reach) could not run it
            status, reason = "error", log["failed"][:300]
    extra = {"seconds": round(run["seconds"], 2), "ready_seconds": run.get("ready_seconds"),
             "demo_cells": log.get("demos", {}), "cell_errors": [str(e)[:200] for e in log.get("cell_errors", [])[:10]],
             "memory_peak": run["memory_peak"], "walls": run["walls"]}
    return _record(sub, digest, assignment, status, reason, questions, answers, protections, notes, extra)
