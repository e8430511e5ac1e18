"""Which ``demo`` cells grading may cut to their definitions (course.grade.demos): a cell that
something graded could depend on always runs; one that only shows things does not."""
import textwrap

import pytest

from course.grade.demos import cells_to_run

GRADED = "def f(x):\n    return x * SCALE\n"


def run(*cells, graded=("f",)):
    """The indexes of the demo cells that must run, for ``cells`` given as (source, demo)."""
    return cells_to_run([(i, textwrap.dedent(s), d) for i, (s, d) in enumerate(cells)], list(graded))


def test_a_demonstration_nothing_reads_is_cut():
    assert run(("def f(x):\n    return 2 * x", False),
               ("import time\nhistory = [f(i) for i in range(3)]\ntime.sleep(0)\nprint(history)", True)) == set()


@pytest.mark.parametrize("demo", [
    "SCALE = 2.0",                                   # a global the graded function reads
    "for SCALE in [1, 2]:\n    pass",                # a loop target
    "with open('/dev/null') as SCALE:\n    pass",   # a with target
    "SCALE, OTHER = 2.0, 3.0",                       # tuple unpacking
    "if True:\n    def helper():\n        return 1",  # a definition inside a statement, read by f
    "f = lambda x: 0",                               # the graded function itself, rebound
    "globals()['SCALE'] = 2.0",                      # dynamic: cannot be analysed
    "%time SCALE = 2.0",                             # an IPython magic: cannot be analysed
    "this is not Python (",                          # does not parse
])
def test_a_demo_cell_graded_code_may_depend_on_runs(demo):
    graded = "def f(x):\n    return x * SCALE + helper()\n\n\ndef helper():\n    return 0"
    assert run((graded, False), (demo, True)) == {1}


def test_through_helpers_and_lambdas_transitively():
    # f -> helper (a def) -> scale (a lambda in an untagged cell) -> BASE (a demo cell)
    assert run(("def f(x):\n    return helper(x)", False),
               ("def helper(x):\n    return scale(x)", False),
               ("scale = lambda x: x * BASE", False),
               ("BASE = 3\nprint('demo')", True)) == {3}


def test_a_change_in_place_of_data_the_graded_code_reads():
    assert run(("SETTINGS = {'scale': 2}\ndef f(x):\n    return x * SETTINGS['scale']", False),
               ("SETTINGS['scale'] = 1\nprint('demo')", True)) == {1}
    # reading a function (calling it) is not a change of data
    assert run(("def f(x):\n    return x", False), ("print(f(1))", True)) == set()


def test_a_function_that_declares_the_global_and_the_cell_that_calls_it():
    assert run(("def f(x):\n    return x * SCALE", False),
               ("def setup():\n    global SCALE\n    SCALE = 1", False),
               ("setup()\nprint('demo')", True)) == {2}


def test_defaults_and_decorators_run_with_the_definitions():
    assert run(("def f(x, scale=SCALE):\n    return x * scale", False), ("SCALE = 1", True)) == {1}


def test_chains_of_demo_cells_and_cells_that_run_in_full():
    # f reads B; demo 2 binds B from A; demo 1 binds A: both run. Demo 3 is only a plot.
    cells = [("def f(x):\n    return x * B", False), ("A = 2", True), ("B = A + 1", True), ("print(f(1))", True)]
    assert run(*cells) == {1, 2}
    # an untagged cell reads what a demo cell binds: the demo cell runs (so the untagged one can)
    assert run(("def f(x):\n    return x", False), ("data = [1, 2]", True), ("total = sum(data)", False)) == {1}


def test_dynamic_access_in_a_graded_function_runs_every_demo_cell():
    assert run(("def f(x):\n    return x * globals()['SCALE']", False), ("SCALE = 1", True),
               ("print('a plot')", True)) == {1, 2}
