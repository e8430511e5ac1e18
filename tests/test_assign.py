"""Solution -> student generation: markers, metadata, and committed notebooks kept in sync."""
from __future__ import annotations

import shutil

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course.assign import STUB_WIDTH, AssignError, assign, student_notebook, wrap_hint
from course.cli import main as course_main
from course.questions import questions

from conftest import ROOT


def test_committed_student_notebooks_are_what_assign_generates():
    stale = assign(ROOT / "solutions", ROOT / "notebooks", check=True)
    assert stale == [], f"run `course assign`: out of date {[p.name for p in stale]}"


@pytest.mark.parametrize("path", sorted((ROOT / "solutions").glob("*.ipynb")), ids=lambda p: p.stem)
def test_solutions_carry_outputs_without_errors_or_warnings(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "execute it: `course assign --execute`"
    for c in code:
        for out in c.outputs:
            assert out.output_type != "error", f"{path.name}: {out.ename}: {out.evalue}"
            assert not (out.output_type == "stream" and out.name == "stderr"), f"{path.name}: stderr: {out.text[:300]}"
        for line in c.source.splitlines():
            assert not line.rstrip().endswith(";"), f"{path.name}: trailing ';' in {line!r}: use `_ = ...`"


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.stem)
def test_student_notebooks_have_stubs_and_no_answers(path):
    student = nbformat.read(path, as_version=4)
    solution = nbformat.read(ROOT / "solutions" / path.name, as_version=4)
    assert [q.id for q in questions(student)] == [q.id for q in questions(solution)]
    text = "\n".join(c.source for c in student.cells)
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    for c in student.cells:
        if c.cell_type == "code":
            assert c.outputs == [] and c.execution_count is None and "execution" not in c.metadata
    for q in questions(student):
        cell = student.cells[q.cell]
        if q.manual:
            assert "*Write your answer here.*" in cell.source
        else:
            assert f"raise NotImplementedError('Write {q.id}" in cell.source
            stub = [line for line in cell.source.splitlines() if line.lstrip().startswith("#  ")
                    or "# Hint:" in line or "NotImplementedError" in line]
            assert max(map(len, stub)) <= STUB_WIDTH, f"{q.id}: a stub line is longer than {STUB_WIDTH}"


def nb(*cells):
    return new_notebook(cells=list(cells))


def test_code_markers_become_an_indented_stub_with_the_hint():
    cell = new_code_cell("def f(x):\n    '''doc'''\n    # BEGIN SOLUTION hint: use np.sum\n    return x.sum()\n"
                         "    # END SOLUTION\n\nprint(f)", metadata={"course": {"question": "f", "points": 2}},
                         execution_count=3, outputs=[{"output_type": "stream", "name": "stdout", "text": "x"}])
    out = student_notebook(nb(cell)).cells[0]
    assert out.source == ("def f(x):\n    '''doc'''\n    # Hint: use np.sum\n"
                          "    raise NotImplementedError('Write f: see the hint above')\n\nprint(f)")
    assert out.outputs == [] and out.execution_count is None
    assert out.metadata["course"] == {"question": "f", "points": 2}


def test_a_long_hint_is_wrapped_into_short_comment_lines_above_a_short_raise():
    hint = ("for each slice X[i:i+batch]: logits, row-wise softmax (subtract the row max), subtract the one-hot "
            "labels, then theta -= lr * X_b.T @ (Z - I_y) / len(X_b)")
    cell = new_code_cell(f"def g(X):\n    for i in X:\n        # BEGIN SOLUTION hint: {hint}\n        pass\n"
                         "        # END SOLUTION\n    return X", metadata={"course": {"question": "g", "points": 1}})
    lines = student_notebook(nb(cell)).cells[0].source.splitlines()
    comment = lines[2:-2]
    assert lines[:2] == ["def g(X):", "    for i in X:"] and lines[-1] == "    return X"
    assert lines[-2] == "        raise NotImplementedError('Write g: see the hint above')"
    assert len(comment) == 3 and comment[0].startswith("        # Hint: for each slice")
    assert all(line.startswith("        #       ") for line in comment[1:])
    assert max(len(line) for line in lines) <= STUB_WIDTH
    assert " ".join(line.strip().lstrip("#").strip() for line in comment) == f"Hint: {hint}"  # no word lost


def test_a_hint_breaks_between_its_clauses_where_they_fit():
    hint = ("for each minibatch in order: Z1 = ReLU(Xb @ W1); G2 = (softmax(Z1 @ W2) - one-hot) / m; "
            "G1 = (Z1 > 0) * (G2 @ W2.T); then W1 -= lr * Xb.T @ G1 and W2 -= lr * Z1.T @ G2")
    assert wrap_hint(hint, "    ") == [
        "    # Hint: for each minibatch in order: Z1 = ReLU(Xb @ W1);",
        "    #       G2 = (softmax(Z1 @ W2) - one-hot) / m; G1 = (Z1 > 0) * (G2 @ W2.T);",
        "    #       then W1 -= lr * Xb.T @ G1 and W2 -= lr * Z1.T @ G2"]
    assert wrap_hint("a; b") == ["# Hint: a; b"]  # short: one line


def test_without_a_hint_the_stub_is_one_line():
    cell = new_code_cell("# BEGIN SOLUTION\nx = 1\n# END SOLUTION", metadata={"course": {"question": "x", "points": 1}})
    assert student_notebook(nb(cell)).cells[0].source == "raise NotImplementedError('Write x')"


def test_markdown_answers_and_solution_only_cells():
    written = new_markdown_cell("Explain.\n<!-- BEGIN SOLUTION -->\nBecause.\n<!-- END SOLUTION -->",
                                metadata={"course": {"question": "why", "points": 1, "manual": True}})
    hidden = new_code_cell("secret = 1", metadata={"tags": ["solution-only"]})
    out = student_notebook(nb(written, hidden))
    assert len(out.cells) == 1 and out.cells[0].source == "Explain.\n*Write your answer here.*"


@pytest.mark.parametrize("source, message", [
    ("# BEGIN SOLUTION\nx = 1", "cell 0: BEGIN SOLUTION without END SOLUTION"),
    ("x = 1\n# END SOLUTION", "cell 0: END SOLUTION without BEGIN SOLUTION"),
    ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION", "inside another solution block"),
])
def test_unbalanced_markers_are_refused(source, message):
    with pytest.raises(AssignError, match=message):
        student_notebook(nb(new_code_cell(source)), "demo.ipynb")


def test_duplicate_question_ids_are_refused():
    meta = {"course": {"question": "f", "points": 1}}
    with pytest.raises(AssignError, match="question id 'f' is used twice"):
        student_notebook(nb(new_code_cell("", metadata=meta), new_code_cell("", metadata=meta)))


def test_course_assign_command_writes_then_checks(tmp_path, capsys):
    shutil.copytree(ROOT / "solutions", tmp_path / "solutions")
    out = tmp_path / "notebooks"
    args = ["--solutions", str(tmp_path / "solutions"), "--out", str(out)]
    assert course_main(["assign", "--check", *args]) == 1
    assert course_main(["assign", *args]) == 0
    assert course_main(["assign", "--check", *args]) == 0
    first = sorted(out.glob("*.ipynb"))[0]
    first.write_text(first.read_text().replace("Write", "Wirte", 1))
    assert course_main(["assign", "--check", *args]) == 1
    assert f"out of date: {first}" in capsys.readouterr().out


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = [line for line in readme.splitlines() if line.startswith("python3 -m venv")]
    test_command = next(c for c in commands if c.endswith("&& pytest"))
    assert test_command in (ROOT / ".ci" / "run").read_text().splitlines()
