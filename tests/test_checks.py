"""Self-checks: the reference solutions pass them, and broken answers fail them in one line each."""
from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

import course
from course.checks import questions as checked_questions
from course.checks import run_check
from course.questions import load_definitions, questions

from conftest import ROOT

SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))


def all_code_questions():
    import nbformat
    for path in SOLUTIONS:
        for q in questions(nbformat.read(path, as_version=4)):
            if not q.manual:
                yield path, q.id


@pytest.mark.parametrize("path, question", list(all_code_questions()), ids=lambda v: getattr(v, "stem", v))
def test_reference_solution_passes_its_check(path, question):
    reference = load_definitions(path)[question]
    report = run_check(question, reference)
    assert report.passed, str(report)


def test_every_code_question_has_a_check():
    assert {q for _, q in all_code_questions()} <= set(checked_questions())


@pytest.fixture(scope="module")
def ref():
    return load_definitions(ROOT / "solutions" / "01_mnist_loader.ipynb")


def broken_parsers(ref):
    parse = ref["parse_mnist"]

    def float64(a, b):
        X, y = parse(a, b)
        return X.astype(np.float64), y

    def unscaled(a, b):
        X, y = parse(a, b)
        return X * 255, y

    def images_3d(a, b):
        X, y = parse(a, b)
        return X.reshape(-1, 28, 28), y

    def no_magic_check(a, b):
        with gzip.open(a) as f:
            data = f.read()
        n = struct.unpack(">I", data[4:8])[0]
        X = np.frombuffer(data[-n * 784:], np.uint8).reshape(n, 784).astype(np.float32) / 255
        with gzip.open(b) as f:
            labels = f.read()
        return X, np.frombuffer(labels[-n:], np.uint8)

    def returns_list(a, b):
        return list(parse(a, b))

    return {"float64": (float64, "X: expected dtype float32, got float64"),
            "unscaled": (unscaled, "values differ"),
            "images_3d": (images_3d, "X: expected shape (3, 784), got (3, 28, 28)"),
            "no_magic_check": (no_magic_check, "expected ValueError, but it returned tuple of 2"),
            "returns_list": (returns_list, "expected a pair (X, y), got list")}


@pytest.mark.parametrize("variant", ["float64", "unscaled", "images_3d", "no_magic_check", "returns_list"])
def test_broken_parser_fails_with_a_precise_line(ref, variant):
    fn, message = broken_parsers(ref)[variant]
    report = run_check("parse_mnist", fn)
    assert not report.passed
    failing = [line for line in str(report).splitlines() if "FAIL" in line]
    assert failing and any(message in line for line in failing), str(report)


def test_stub_reports_not_written(capsys):
    def parse_mnist(a, b):
        raise NotImplementedError("Write parse_mnist: read both files")
    course.check("parse_mnist", parse_mnist)
    out = capsys.readouterr().out
    assert out == ("parse_mnist: not written yet (Write parse_mnist: read both files); "
                   "fill in the stub, then run this check again\n")


def test_crashing_function_is_one_line_per_case():
    def idx_header(data):
        return {}["missing"]
    report = run_check("idx_header", idx_header)
    lines = str(report).splitlines()
    assert lines[0] == "idx_header: 0/4 checks passed"  # KeyError is not the ValueError the last case wants
    assert "expected a result, but it raised KeyError: 'missing'" in lines[1]
    assert "expected ValueError, but it raised KeyError" in lines[4]


def test_not_a_function_and_unknown_question():
    assert "expected a function, got int" in str(run_check("class_means", 3))
    with pytest.raises(KeyError, match="no check for question 'nope'"):
        run_check("nope", print)


def test_class_means_wrong_values_show_expected_and_got(ref):
    def class_means(X, y, num_classes=10):
        return ref["class_means"](X, y, num_classes) + np.float32(1)
    line = str(run_check("class_means", class_means)).splitlines()[1]
    assert "FAIL" in line and "at [0, 0] expected 2, got 3" in line


def test_same_result_compares_nested_results():
    from course.checks import same_result
    a = np.arange(3, dtype=np.float32)
    assert same_result((a, 1.0), (a + 1e-8, 1.0 + 1e-9)) is None
    assert "result[0]: expected dtype float32, got float64" in same_result((a, 1.0), (a.astype(float), 1.0))
    assert "result[1]: expected 1, got 2" in same_result((a, 1.0), (a, 2.0))
    assert same_result((a, 1.0), a).startswith("result: expected a tuple of 2, got array")
    assert same_result("x", "y") == "result: expected 'x', got str"
