"""Which demonstration cells a grading run may cut down to their imports and definitions.

The solution tags cells that only show things (training runs, plots, timings, self-checks) with
``demo``; the student notebook keeps the tag. Grading needs the graded functions, not what
those cells print, so a tagged cell runs as its imports and definitions only, unless something the
grading needs could depend on it. That is decided before any kernel starts, from the source alone,
and errs on the side of running the cell:

* the names *needed* are those the graded functions read (through every function and class
  the notebook defines, transitively), and those read by every cell that runs in full;
* a ``demo`` cell runs in full when its statements bind a needed name (an assignment, a loop
  target, a function that declares it ``global`` and that the cell calls, ...), or read a needed
  name that some statement binds to data (it may change that object in place), or when the
  analysis cannot be sure: the cell or a needed function does not parse, or uses ``globals``,
  ``exec``, ``eval``, ``vars``, ``setattr``, ``__dict__`` or IPython magics (``get_ipython``);
* a cell that runs in full adds what it reads to the needed names, until nothing changes.
"""
from __future__ import annotations

import ast
import symtable
from dataclasses import dataclass, field

DEMO_TAG = "demo"
_DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_DYNAMIC = {"globals", "exec", "eval", "vars", "setattr", "delattr", "__dict__", "__builtins__", "get_ipython"}


@dataclass
class _Cell:
    parsed: bool
    binds: set[str] = field(default_factory=set)    # bound by its statements (not by definitions)
    reads: set[str] = field(default_factory=set)    # read by its statements (not inside definitions)
    dynamic: bool = False


@dataclass
class _Function:
    reads: set[str] = field(default_factory=set)    # free names read, nested scopes included
    writes: set[str] = field(default_factory=set)   # names it declares global and may rebind
    dynamic: bool = False


def _parse(source: str) -> tuple[ast.Module, symtable.SymbolTable] | None:
    try:
        from IPython.core.inputtransformer2 import TransformerManager
        source = TransformerManager().transform_cell(source)  # %magics and !shell as Python
    except Exception:  # IPython missing or the transform failed: the source as it is
        pass
    try:
        return ast.parse(source), symtable.symtable(source, "cell", "exec")
    except (SyntaxError, ValueError, TypeError, SystemError, RecursionError, MemoryError):
        return None


def _names(nodes) -> tuple[set[str], set[str], bool]:
    """(bound, read, dynamic) when ``nodes`` run: the bodies of functions are not entered (they
    run only when called), their decorators and defaults are; lambdas count as read where they stand."""
    bound, read, dynamic = set(), set(), False
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name):
            (bound if isinstance(node.ctx, (ast.Store, ast.Del)) else read).add(node.id)
            dynamic |= node.id in _DYNAMIC
        elif isinstance(node, ast.Attribute) and node.attr in _DYNAMIC:
            dynamic = True
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            stack.extend(node.decorator_list + node.args.defaults + [d for d in node.args.kw_defaults if d])
            stack.extend([node.returns] if node.returns else [])
            continue
        stack.extend(ast.iter_child_nodes(node))
    return bound, read, dynamic


def _scopes(table, functions: dict[str, list[_Function]]) -> None:
    """Each function and class of a symbol table, at any depth, by its name: the global names its
    body (nested scopes included) reads, and those it declares ``global`` and assigns."""
    for child in table.get_children():
        if child.get_type() in ("function", "class"):
            f = _Function()
            for scope in _nested(child):
                for sym in scope.get_symbols():
                    if sym.is_global() and sym.is_referenced():
                        f.reads.add(sym.get_name())
                    if sym.is_declared_global() and sym.is_assigned():
                        f.writes.add(sym.get_name())
                    f.dynamic |= sym.get_name() in _DYNAMIC
            functions.setdefault(child.get_name(), []).append(f)
        _scopes(child, functions)


def _nested(table):
    yield table
    for child in table.get_children():
        yield from _nested(child)


def cells_to_run(cells: list[tuple[int, str, bool]], graded: list[str]) -> set[int]:
    """The indexes of the ``demo`` cells that must run in full.

    ``cells`` is ``[(index, source, tagged demo), ...]`` for the code cells; ``graded`` the
    names of the graded functions.
    """
    parsed: dict[int, _Cell] = {}
    functions: dict[str, list[_Function]] = {}
    always: set[str] = set()   # read by definitions as they are made (decorators, defaults, class bodies)
    for index, source, _ in cells:
        got = _parse(source)
        if got is None:
            parsed[index] = _Cell(parsed=False)
            continue
        tree, table = got
        binds, reads, dynamic = _names([n for n in tree.body if not isinstance(n, _DEFINITIONS)])
        parsed[index] = _Cell(True, binds, reads, dynamic)
        always |= _names([n for n in tree.body if isinstance(n, _DEFINITIONS)])[1]
        _scopes(table, functions)
    data = set().union(*(c.binds for c in parsed.values()))  # names some statement binds
    for cell in parsed.values():  # a function's global rewrites are effects of the cells that call it
        cell.binds |= {w for name in _reach(cell.reads, functions) for f in functions.get(name, []) for w in f.writes}

    needed = _reach(set(graded) | always, functions)
    demos = [i for i, _, demo in cells if demo]
    full = {i for i, _, demo in cells if not demo}
    while True:
        for i in full:
            needed |= _reach(parsed[i].reads, functions)
        dynamic = any(f.dynamic for name in needed for f in functions.get(name, []))
        more = {i for i in demos if i not in full and (
            dynamic or not parsed[i].parsed or parsed[i].dynamic or parsed[i].binds & needed
            or parsed[i].reads & needed & data)}
        if not more:
            return full & set(demos)
        full |= more


def _reach(names: set[str], functions: dict[str, list[_Function]]) -> set[str]:
    """``names`` and every name read by the functions they name, transitively."""
    reached, todo = set(), set(names)
    while todo:
        name = todo.pop()
        reached.add(name)
        for f in functions.get(name, []):
            todo |= f.reads - reached
    return reached
