"""Similar code across a class: ``DIR/similarity.html``, the pairs of submissions whose code for a
question shares much that neither the reference solution nor the stub has.

For each code question, a submission's code is the question's function and the notebook's own
top-level functions it calls (directly or through one another). Each function is normalised with
:mod:`ast`: docstrings, comments, annotations and layout go; the names of arguments and
variables become ``v`` and the names of the notebook's own functions ``f`` (so renaming hides
nothing), while builtins, imported modules and attributes (``np.eye``) keep theirs. The
normalised code is cut into tokens (:mod:`tokenize`), and **winnowing** (Schleimer, Wilkerson and
Aiken, SIGMOD 2003: hashes of every K consecutive tokens, the smallest of every W consecutive
hashes kept) gives each function a set of fingerprints; a submission's set is the union over its
functions, so the order of helpers does not matter. Fingerprints of the reference solution and
of the stub (the student notebook ``course assign`` makes) are removed first: code that matches
them is not evidence. The score of a pair is the share of the smaller set found in the other.

A flag is a lead for a person to read, not a verdict: short, idiomatic code written alike by two
students is flagged too. (copydetect and pycode_similar on PyPI were considered: both compare
whole files with their own normalisation, and what is needed here, one question's function with
its helpers, compared after removing what the reference and the stub share, is the larger part.)
"""
from __future__ import annotations

import ast
import builtins
import hashlib
import html
import io
import itertools
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ..assign import student_notebook
from ..questions import definitions_source
from .report import write_atomic

K = 12            # tokens per fingerprinted run
W = 6             # winnowing window: every run of K + W - 1 shared tokens is found
THRESHOLD = 0.6   # pairs at or above this score are listed
MIN_FINGERPRINTS = 4   # a submission with fewer own fingerprints for a question is not compared
SIDE_BY_SIDE = 25      # pairs per question shown side by side; the rest are listed
MAX_SOURCE = 2_000_000  # characters of a notebook's definitions: a longer one is not compared
_BUILTINS = set(dir(builtins))


@dataclass
class Code:
    """One submission's code for one question: its source (the functions, as written) and fingerprints."""
    source: str
    fingerprints: set[int] = field(default_factory=set)


def question_code(source: str, question: str) -> Code | None:
    """The code for ``question`` in ``source`` (a notebook's definitions): None when the notebook
    defines no such function, its code cannot be parsed, or it is longer than :data:`MAX_SOURCE`."""
    if len(source) > MAX_SOURCE:
        return None
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, TypeError, SystemError, RecursionError, MemoryError):
        return None
    functions = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    if question not in functions:
        return None
    imported = {(a.asname or a.name).split(".")[0] for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))
                for a in n.names}
    used, todo = [], [question]
    while todo:   # the question's function and the notebook's functions it reaches
        name = todo.pop()
        if name in used:
            continue
        used.append(name)
        todo += sorted({n.id for n in ast.walk(functions[name]) if isinstance(n, ast.Name) and n.id in functions} - set(used))
    code = Code("\n\n".join(ast.get_source_segment(source, functions[n]) or "" for n in used))
    try:
        for name in used:
            code.fingerprints |= fingerprints(normalised(functions[name], set(functions), imported))
    except (RecursionError, MemoryError, ValueError, SyntaxError, tokenize.TokenError):
        return None
    return code


class _Canonical(ast.NodeTransformer):
    def __init__(self, own_functions: set[str], imported: set[str]):
        self.own, self.kept = own_functions, imported | _BUILTINS

    def visit_Name(self, node):
        if node.id in self.own:
            return ast.copy_location(ast.Name("f", node.ctx), node)
        if node.id in self.kept:
            return node
        return ast.copy_location(ast.Name("v", node.ctx), node)

    def visit_arg(self, node):
        return ast.copy_location(ast.arg("v"), node)

    def _function(self, node):
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                and isinstance(body[0].value.value, str):
            body = body[1:] or [ast.Pass()]
        node.body, node.returns, node.name = body, None, "f"
        node.decorator_list = []
        self.generic_visit(node)
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = _function


def normalised(function: ast.AST, own_functions: set[str], imported: set[str]) -> str:
    """``function`` as text with docstring, annotations and names normalised (see the module's doc)."""
    import copy
    return ast.unparse(_Canonical(own_functions, imported).visit(copy.deepcopy(function)))


def fingerprints(text: str, k: int = K, w: int = W) -> set[int]:
    """The winnowed fingerprints of ``text``'s tokens (a 64-bit hash of each run of ``k`` tokens;
    the smallest hash of each window of ``w`` runs, the rightmost on ties)."""
    skip = {tokenize.ENCODING, tokenize.NL, tokenize.COMMENT, tokenize.ENDMARKER}
    tokens = [{tokenize.NEWLINE: ";", tokenize.INDENT: "{", tokenize.DEDENT: "}"}.get(t.type, t.string)
              for t in tokenize.generate_tokens(io.StringIO(text).readline) if t.type not in skip]
    hashes = [int.from_bytes(hashlib.blake2b("\x00".join(tokens[i:i + k]).encode(), digest_size=8).digest(), "big")
              for i in range(max(1, len(tokens) - k + 1))]
    kept = set()
    for i in range(max(1, len(hashes) - w + 1)):
        window = hashes[i:i + w]
        kept.add(min(window))
    return kept


@dataclass
class Pair:
    question: str
    a: str
    b: str
    score: float
    shared: int


def compare(codes: dict[str, Code], common: set[int], question: str, threshold: float = THRESHOLD) -> list[Pair]:
    """The pairs of ``codes`` ({submission: Code}) scoring at least ``threshold``, highest first,
    once the ``common`` fingerprints (the reference's and the stub's) are removed."""
    own = {name: c.fingerprints - common for name, c in codes.items()}
    own = {name: f for name, f in own.items() if len(f) >= MIN_FINGERPRINTS}
    pairs = []
    for a, b in itertools.combinations(sorted(own), 2):
        shared = len(own[a] & own[b])
        score = shared / min(len(own[a]), len(own[b]))
        if score >= threshold:
            pairs.append(Pair(question, a, b, score, shared))
    return sorted(pairs, key=lambda p: (-p.score, p.a, p.b))


def class_pairs(assignment, notebooks: dict[str, nbformat.NotebookNode],
                threshold: float = THRESHOLD) -> tuple[list[Pair], dict[str, dict[str, Code]]]:
    """Every flagged pair of the class's ``notebooks`` ({submission: notebook}), and each
    question's code per submission."""
    solution = nbformat.read(assignment.solution, as_version=4)
    common_sources = [definitions_source(solution), definitions_source(student_notebook(solution))]
    pairs, codes = [], {}
    for q in assignment.code:
        common = set()
        for source in common_sources:
            c = question_code(source, q.id)
            common |= c.fingerprints if c else set()
        found = {}
        for name, nb in notebooks.items():
            try:
                code = question_code(definitions_source(nb), q.id)
            except Exception:   # a notebook odd enough to defeat the reader: nothing to compare
                code = None
            if code is not None:
                found[name] = code
        codes[q.id] = found
        pairs += compare(found, common, q.id, threshold)
    return pairs, codes


def write(out: Path, assignment, subs: list, threshold: float = THRESHOLD) -> list[Pair]:
    """Write ``out/similarity.html`` for the submissions ``subs`` (:class:`course.grade.batch.Submission`);
    returns the pairs it lists."""
    from .batch import read_notebook
    notebooks = {}
    for sub in subs:
        nb, _ = read_notebook(sub.data) if sub.data is not None else (None, None)
        if nb is not None:
            notebooks[sub.name] = nb
    pairs, codes = class_pairs(assignment, notebooks, threshold)
    e = html.escape
    parts = [f"<h1>{e(assignment.id)}: similar code</h1>",
             f"<p>{len(notebooks)} readable submissions compared question by question. A pair is listed when at least "
             f"{threshold:.0%} of the smaller one's fingerprints (runs of {K} tokens, after renaming variables and "
             f"dropping comments and docstrings) are also in the other's, leaving out what the reference solution or "
             f"the stub already has. It is a lead to read, not a verdict.</p>"]
    for q in assignment.code:
        mine = [p for p in pairs if p.question == q.id]
        parts.append(f"<h2><code>{e(q.id)}</code>: {len(mine)} pair(s)</h2>")
        if not mine:
            parts.append(f"<p>No pair above {threshold:.0%} among {len(codes[q.id])} submissions defining it.</p>")
        for p in mine[:SIDE_BY_SIDE]:
            parts.append(f"<section><h3>{p.score:.0%}: {e(p.a)} and {e(p.b)} ({p.shared} shared fingerprints)</h3>"
                         f"<div class=pair><div><h4>{e(p.a)}</h4><pre>{e(codes[q.id][p.a].source)}</pre></div>"
                         f"<div><h4>{e(p.b)}</h4><pre>{e(codes[q.id][p.b].source)}</pre></div></div></section>")
        if len(mine) > SIDE_BY_SIDE:
            parts.append(f"<p>{len(mine) - SIDE_BY_SIDE} more pair(s), with scores at most those above:</p><table>"
                         + "".join(f"<tr><td>{p.score:.0%}</td><td>{e(p.a)}</td><td>{e(p.b)}</td></tr>"
                                   for p in mine[SIDE_BY_SIDE:]) + "</table>")
    style = ("body{font-family:sans-serif;max-width:96em;margin:2em auto;padding:0 1em;color:#222}"
             ".pair{display:grid;grid-template-columns:1fr 1fr;gap:1em}"
             "pre{background:#f4f4f4;padding:.5em;font-size:.85em;white-space:pre-wrap;overflow-wrap:anywhere}"
             "section{border-top:1px solid #ccc;margin-top:1em}h3{font-size:1em}h4{margin:.3em 0;font-size:.9em;color:#555}"
             "td{padding:.1em .6em}")
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{e(assignment.id)}: similar code</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n")
    write_atomic(out / "similarity.html", page)
    return pairs
