"""Grade a class: collect the submissions, run them on an executor (threads here, or a Dask
cluster's executor), judge each one in this process as it comes back, and write its files at
once, so an interrupted run loses nothing already graded and a rerun skips it."""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import zipfile
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import nbformat

from . import plain, report, sandbox, written
from .assignment import Assignment, GradeError
from .worker import execute_submission

MAX_NOTEBOOK_BYTES = 50 * 2**20


@dataclass
class Submission:
    """A submitted file: a unique ``name`` (its file name), its bytes (or why it could not be
    read), and the folder it came from (hidden from every sandbox)."""
    name: str
    data: bytes | None
    folder: Path
    problem: str | None = None


def collect(paths: list[Path]) -> list[Submission]:
    """The submissions among ``paths``: files as given, ``*.ipynb`` below folders (checkpoints
    skipped), and ``*.ipynb`` members of zip files. A submission is named by its file name, or by
    its path inside the folder or zip (``alice/hw.ipynb`` -> ``alice_hw.ipynb``) when names repeat."""
    found: list[tuple[str, Path, int, callable]] = []  # (relative path, folder, size, read)
    for path in map(Path, paths):
        if path.is_dir():
            for nb in sorted(path.rglob("*.ipynb")):
                if ".ipynb_checkpoints" not in nb.parts and nb.is_file():
                    found.append((str(nb.relative_to(path)), path, nb.stat().st_size, nb.read_bytes))
        elif path.suffix.lower() == ".zip" and zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                for info in z.infolist():
                    if info.filename.endswith(".ipynb") and "__MACOSX" not in info.filename and not info.is_dir():
                        data = z.read(info) if info.file_size <= MAX_NOTEBOOK_BYTES else b""
                        found.append((info.filename, path.parent, info.file_size, lambda d=data: d))
        elif path.is_file():
            found.append((path.name, path.parent, path.stat().st_size, path.read_bytes))
        else:
            raise GradeError(f"submission {path}: expected a notebook, a folder or a zip file, but it does not exist")
    counts: dict[str, int] = {}
    for rel, *_ in found:
        counts[Path(rel).name] = counts.get(Path(rel).name, 0) + 1
    subs, taken = [], set()
    for rel, folder, size, read in found:
        name = Path(rel).name if counts[Path(rel).name] == 1 else rel.strip("/").replace("/", "_")
        while name in taken:
            name = f"{Path(name).stem}-2{Path(name).suffix}"
        taken.add(name)
        if size > MAX_NOTEBOOK_BYTES:
            subs.append(Submission(name, None, folder.resolve(), f"larger than {MAX_NOTEBOOK_BYTES // 2**20} MiB"))
            continue
        try:
            subs.append(Submission(name, read(), folder.resolve()))
        except OSError as err:
            subs.append(Submission(name, None, folder.resolve(), f"could not be read: {err.strerror}"))
    return subs


def read_notebook(data: bytes) -> tuple[nbformat.NotebookNode | None, str | None]:
    """The notebook in ``data``, or None and one line saying why it is not a notebook."""
    if not data.strip():
        return None, "not a notebook: the file is empty"
    try:
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
    except UnicodeDecodeError:
        return None, "not a notebook: the file is not UTF-8 text"
    except Exception as err:  # nbformat raises several kinds for bad JSON and bad structure
        first = str(err).strip().splitlines()[0][:150] if str(err).strip() else type(err).__name__
        return None, f"not a notebook ({type(err).__name__}: {first})"
    if not isinstance(nb.get("cells"), list):
        return None, "not a notebook: no list of cells"
    return nb, None


def grade(paths: list[Path], assignment_id: str, out: Path, *, solutions: Path = Path("solutions"),
          workers: int | None = None, limits: sandbox.Limits | None = None, regrade: bool = False,
          cluster: str | None = None, seed: int | None = None, progress: bool = True) -> list[dict]:
    """Grade the submissions in ``paths`` against ``solutions/<assignment_id>.ipynb`` into ``out``.

    Returns the records of every submission graded in ``out`` (this run's and earlier runs').
    See docs/instructors.md for the files written.
    """
    from tqdm import tqdm

    out = Path(out).resolve()
    limits = limits or sandbox.Limits()
    settings = _settings(out, assignment_id, seed, regrade)
    assignment = Assignment(Path(solutions) / f"{assignment_id}.ipynb", settings["seed"])
    try:
        subs = collect(paths)
        code_ids = [q.id for q in assignment.code]
        manual = {q.id: float(q.points) for q in assignment.manual}
        protections = sandbox.protections(limits, len(code_ids))
        settings["protections"] = protections
        report.write_atomic(out / "grading.json", json.dumps(settings, indent=1))
        records = _load_records(out)
        hide = sorted({str(Path(solutions).resolve()), str(out), *(str(s.folder) for s in subs)})
        inputs = {**assignment.inputs(), **_sample_cache()}
        todo = []
        for sub in subs:
            digest = hashlib.sha256(sub.data or b"").hexdigest()
            old = records.get(sub.name)
            if old and old.get("sha256") == digest and not regrade:
                continue
            nb, problem = (None, f"not read: {sub.problem}") if sub.data is None else read_notebook(sub.data)
            if nb is None:
                _finish(out, records, _record(sub, digest, assignment, "invalid", problem, {}, {}, protections))
            else:
                todo.append((sub, digest, nb))

        def finish_all():
            names = [s.name for s in subs] + list(records)
            points = written.manual_points(out / "manual_points.csv", manual, names)
            report.write_atomic(out / "gradebook.csv", report.gradebook_csv(
                list(records.values()), [q.id for q in assignment.questions], points))

        executor, close = _executor(workers, cluster)
        # a cluster gets the inputs once per worker, not once per submission
        shipped_inputs = close.scatter([inputs], broadcast=True)[0] if close is not None else inputs
        try:
            futures = {}
            for sub, digest, nb in todo:
                job = {"notebook": sub.data, "questions": code_ids, "limits": asdict(limits), "hide": hide}
                futures[executor.submit(execute_submission, job, shipped_inputs)] = (sub, digest, nb)
            with tqdm(total=len(futures), unit="notebook", disable=not progress, desc=f"grading {assignment_id}") as bar:
                pending = set(futures)
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        sub, digest, nb = futures[future]
                        answers = written.collect_answers(nb, list(manual))
                        try:
                            raw = future.result()
                        except Exception as err:  # the worker itself failed: say so, keep going
                            record = _record(sub, digest, assignment, "error",
                                             f"the grader failed to run it: {type(err).__name__}: {err}"[:300],
                                             {}, answers, protections)
                        else:
                            record = _judge(sub, digest, assignment, raw, answers, protections)
                        _finish(out, records, record)
                        finish_all()
                        bar.update()
        except BaseException:
            sandbox.kill_all()
            raise
        finally:
            if close is None:
                executor.shutdown(wait=False, cancel_futures=True)
            else:  # Dask's ClientExecutor: cancel what is left, then close the client
                for future in futures:
                    future.cancel()
            if close is not None:
                close.close()
            finish_all()
        written.write_pages(out, assignment_id, manual, list(records.values()))
        return list(records.values())
    finally:
        assignment.close()


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
            questions: dict, answers: dict, protections: list[str], notes=(), extra=None) -> dict:
    if not questions:  # nothing ran: every code question gets 0 with the submission's reason
        questions = {q.id: {"points": float(q.points), "score": 0.0, "reason": "not graded", "cases": []}
                     for q in assignment.code}
    return {"submission": sub.name, "sha256": digest, "assignment": assignment.id, "status": status,
            "reason": reason, "questions": questions, "max_total": assignment.max_points,
            "manual_points": {q.id: float(q.points) for q in assignment.manual}, "answers": answers,
            "notes": list(notes), "protections": protections,
            "graded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), **(extra or {})}


def _judge(sub, digest, assignment: Assignment, raw: dict, answers: dict, protections) -> dict:
    """Judge the raw results of one submission, here, in the grader's process."""
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
    log, run = raw.get("log", {}), raw["sandbox"]
    notes = [str(n)[:300] for n in log.get("notes", [])][:10]
    if log.get("output_truncated"):
        notes.append("the notebook printed more output than the grader keeps; the rest was dropped")
    status, reason = "graded", ""
    if run["timed_out"]:
        status, reason = "timeout", f"the sandbox ran past its {run['wall_seconds']:g} s and was killed"
    elif not log or any("could not be run" in n for n in notes):
        status, reason = "error", (notes[-1] if notes else "the sandbox did not start") + \
            (f" ({raw.get('stderr', '').strip().splitlines()[-1][:150]})" if raw.get("stderr", "").strip() else "")
    extra = {"seconds": round(run["seconds"], 2), "cell_errors": log.get("cell_errors", [])[:10]}
    return _record(sub, digest, assignment, status, reason, questions, answers, protections, notes, extra)
