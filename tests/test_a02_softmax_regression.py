"""Assignment 02: the reference softmax functions pass finite differences and their checks;
broken versions fail with one precise line each."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from course.checks import hidden_cases, run_check, same_result
from course.gradcheck import check_gradient, check_jacobian
from course.questions import load_definitions

from conftest import ROOT

QUESTIONS = ["softmax", "softmax_loss", "softmax_loss_grad", "softmax_regression_grad"]


@pytest.fixture(scope="module")
def ref():
    return load_definitions(ROOT / "solutions" / "02_softmax_regression.ipynb")


@pytest.fixture
def problem():
    rng = np.random.default_rng(7)
    m, n, k = 9, 6, 5
    return (rng.normal(0, 3, (m, k)), rng.integers(0, k, m).astype(np.uint8),
            rng.normal(size=(m, n)), rng.normal(size=(n, k)), rng.normal(size=k))


# ------------------------------------------------------------------ the reference solution
def test_gradient_with_respect_to_logits(ref, problem):
    Z, y, *_ = problem
    report = check_gradient(lambda Z: ref["softmax_loss"](Z, y), ref["softmax_loss_grad"](Z, y), Z)
    assert report.passed, str(report)


def test_gradient_with_respect_to_theta(ref, problem):
    _, y, X, theta, _ = problem
    report = check_gradient(lambda t: ref["softmax_loss"](X @ t, y), ref["softmax_regression_grad"](X, y, theta), theta)
    assert report.passed, str(report)
    assert report.analytic.shape == theta.shape


def test_bias_gradient_is_the_column_sum_of_the_logit_gradient(ref, problem):
    _, y, X, theta, b = problem
    grad_b = ref["softmax_loss_grad"](X @ theta + b, y).sum(axis=0)
    report = check_gradient(lambda b: ref["softmax_loss"](X @ theta + b, y), grad_b, b)
    assert report.passed, str(report)


def test_softmax_jacobian_is_diag_minus_outer(ref):
    h = np.array([0.3, -1.2, 2.0, 0.0])
    z = ref["softmax"](h[None])[0]
    report = check_jacobian(lambda v: ref["softmax"](v[None])[0], np.diag(z) - np.outer(z, z), h)
    assert report.passed, str(report)


def test_gradient_at_large_logits(ref):
    # scale 50: exp would overflow float32 without the max trick; the derivative still checks in float64
    rng = np.random.default_rng(8)
    Z, y = rng.normal(0, 50, (4, 3)), np.array([0, 1, 2, 0], np.uint8)
    report = check_gradient(lambda Z: ref["softmax_loss"](Z, y), ref["softmax_loss_grad"](Z, y), Z, eps=1e-5)
    assert report.passed, str(report)


def test_no_warning_at_logits_of_1000(ref):
    Z = np.array([[1000, -1000, 0], [-1000, 1000, 1000]], np.float32)
    y = np.array([0, 0], np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = ref["softmax_loss"](Z, y)
        grad = ref["softmax_loss_grad"](Z, y)
    assert loss == pytest.approx(1000 + np.log(2) / 2, rel=1e-6)
    assert np.all(np.isfinite(grad)) and grad.dtype == np.float32


@pytest.mark.parametrize("question", QUESTIONS)
def test_reference_passes_public_and_hidden_cases(ref, question):
    fn = ref[question]
    assert run_check(question, fn).passed
    for seed in range(3):
        cases = hidden_cases(question, seed, ROOT)
        assert len(cases) >= 3
        for case in cases:
            got = fn(*case.args)
            assert np.all(np.isfinite(got)), case.name
            assert same_result(fn(*case.args), got, rtol=case.rtol, atol=case.atol) is None


def test_hidden_cases_depend_on_the_seed():
    a, b = hidden_cases("softmax_loss", 1, ROOT), hidden_cases("softmax_loss", 2, ROOT)
    assert not np.array_equal(a[0].args[0], b[0].args[0])


# ----------------------------------------------------------------------- broken answers
def _no_max_softmax(Z):
    return np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)


def broken(ref):
    """question -> {variant: (function, the case that must fail, text its FAIL line must hold)}."""
    softmax, loss, loss_grad = ref["softmax"], ref["softmax_loss"], ref["softmax_loss_grad"]
    reg_grad = ref["softmax_regression_grad"]

    def lse_no_max(Z):
        return np.log(np.exp(Z).sum(axis=1))

    return {
        "softmax": {
            "no max trick": (_no_max_softmax, "logits of +-1000", "probabilities: expected finite values, got 3 NaN/inf"),
            "float64 output": (lambda Z: softmax(Z).astype(np.float64), "zero logits",
                               "probabilities: expected dtype float32, got float64"),
            "normalised by column": (lambda Z: np.exp(Z) / np.exp(Z).sum(axis=0), "3 rows of exact fractions",
                                     "probabilities: 8 of 9 values differ; at [0, 1] expected 0.333333, got 0.5"),
            "returns a list": (lambda Z: softmax(Z).tolist(), "zero logits",
                               "probabilities: expected a numpy array, got list"),
        },
        "softmax_loss": {
            "no max trick": (lambda Z, y: np.mean(lse_no_max(Z) - Z[np.arange(len(y)), y]), "logits of +-1000",
                             "loss: expected the finite number 1000.346574, got inf"),
            "sum instead of mean": (lambda Z, y: loss(Z, y) * len(y), "3 examples",
                                    "loss: expected 1.329661349, got 3.988984108 (3 times too big: the sum over the 3 "
                                    "examples instead of their average, a missing 1/3?)"),
            "per-example losses": (lambda Z, y: loss(Z, y) + np.zeros(len(y), Z.dtype), "zero logits",
                                   "expected one number (the average over the batch), got an array of float32 with shape (5,)"),
            "mean over m*k entries": (
                lambda Z, y: np.mean(lse_no_max(Z)[:, None] - Z * np.eye(Z.shape[1])[y]),
                "3 examples", "got 1.573797438 (that is what the mean of the m x k matrix (the true-class logits "
                "divided by m k, not m) gives)"),
            "always float32": (lambda Z, y: loss(Z.astype(np.float32), y), "float64 precision",
                               "loss: expected 0.6931472306, got 0.6931473017 (right to float32 precision only: compute in the dtype of "
                               "the logits)"),
            "NaN": (lambda Z, y: np.float32("nan"), "zero logits", "loss: expected the finite number 2.302585093, got nan"),
            "returns a string": (lambda Z, y: "2.3", "zero logits", "loss: expected a number, got str"),
        },
        "softmax_loss_grad": {
            "no max trick": (lambda Z, y: (_no_max_softmax(Z) - np.eye(Z.shape[1], dtype=Z.dtype)[y]) / len(y),
                             "logits of +-1000", "gradient: expected finite values, got 3 NaN/inf"),
            "sum instead of mean": (lambda Z, y: loss_grad(Z, y) * len(y), "zero logits (2, 3)",
                                    "at [0, 0] expected -0.333333, got -0.666667 (2 times too big: the sum over the 2 "
                                    "examples instead of their average, a missing 1/2?)"),
            "sum instead of mean, 500 examples": (
                lambda Z, y: loss_grad(Z, y) * len(y), "500 x 10 random logits",
                "gradient: row 247's entries add up to 2 in absolute value, 500 times what an average over the batch can "
                "give (0.004): the sum over the 500 examples instead of their average (a missing 1/500)?"),
            "divided twice": (lambda Z, y: loss_grad(Z, y) / len(y), "3 examples",
                              "(3 times too small: divided by the number of examples twice?)"),
            "float64 output": (lambda Z, y: loss_grad(Z, y).astype(np.float64), "zero logits",
                               "gradient: expected dtype float32, got float64"),
            "transposed": (lambda Z, y: loss_grad(Z, y).T, "zero logits (2, 3)",
                           "gradient: expected shape (2, 3), got (3, 2) (transposed?)"),
            "NaN": (lambda Z, y: loss_grad(Z, y) * np.nan, "zero logits",
                    "gradient: expected finite values, got 6 NaN/inf"),
        },
        "softmax_regression_grad": {
            "transposed": (lambda X, y, t: reg_grad(X, y, t).T, "X (2, 3)",
                           "gradient: expected shape (3, 4), got (4, 3) (transposed?)"),
            "float64 output": (lambda X, y, t: reg_grad(X, y, t).astype(np.float64), "X (2, 3)",
                               "gradient: expected dtype float32, got float64"),
            "sum instead of mean": (lambda X, y, t: reg_grad(X, y, t) * len(y), "X (2, 3)",
                                    "gradient: 12 of 12 values differ; at [0, 0] expected 0.125, got 0.25 (2 times too "
                                    "big: the sum over the 2 examples instead of their average, a missing 1/2?)"),
            "sum instead of mean, 200 examples": (
                lambda X, y, t: reg_grad(X, y, t) * len(y), "X (200, 784)",
                "times what an average over the batch can give (0.9521): the sum over the 200 examples instead of their "
                "average (a missing 1/200)?"),
            "forgets the one-hot": (lambda X, y, t: X.T @ ref["softmax"](X @ t) / len(y), "X (3, 2)",
                                    "gradient: 4 of 6 values differ; at [0, 0] expected -0.203704, got 0.12963"),
        },
    }


CASES = [("softmax", v) for v in ["no max trick", "float64 output", "normalised by column", "returns a list"]] + \
    [("softmax_loss", v) for v in ["no max trick", "sum instead of mean", "per-example losses",
                                   "mean over m*k entries", "always float32", "NaN", "returns a string"]] + \
    [("softmax_loss_grad", v) for v in ["no max trick", "sum instead of mean", "sum instead of mean, 500 examples",
                                        "divided twice", "float64 output", "transposed", "NaN"]] + \
    [("softmax_regression_grad", v) for v in ["transposed", "float64 output", "sum instead of mean",
                                              "sum instead of mean, 200 examples", "forgets the one-hot"]]


@pytest.mark.parametrize("question, variant", CASES, ids=lambda v: v.replace(" ", "-"))
def test_broken_answer_fails_with_a_precise_line(ref, question, variant):
    fn, case, message = broken(ref)[question][variant]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the naive versions overflow, as they should
        report = run_check(question, fn)
    lines = str(report).splitlines()
    assert not report.passed
    assert lines[0].startswith(f"{question}: ") and "checks passed" in lines[0]
    failing = [line for line in lines[1:] if line.startswith("  FAIL  ") and case in line]
    assert failing, str(report)
    assert message in failing[0], str(report)


@pytest.mark.parametrize("question", QUESTIONS)
def test_raising_answer_is_one_line_per_case(question):
    def fails(*args):
        raise ValueError("operands could not be broadcast together")
    report = run_check(question, fails)
    lines = str(report).splitlines()
    assert lines[0] == f"{question}: 0/{len(lines) - 1} checks passed"
    assert all("expected a result, but it raised ValueError: operands could not be broadcast" in line
               for line in lines[1:])


@pytest.mark.parametrize("question", QUESTIONS)
def test_stub_reports_not_written(question):
    def stub(*args):
        raise NotImplementedError(f"Write {question}: hint")
    assert str(run_check(question, stub)) == (f"{question}: not written yet (Write {question}: hint); "
                                              "fill in the stub, then run this check again")


def test_hidden_cases_catch_a_missing_max_trick(ref):
    problems = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for case in hidden_cases("softmax", 0, ROOT):
            problems.append(same_result(ref["softmax"](*case.args), _no_max_softmax(*case.args),
                                        rtol=case.rtol, atol=case.atol))
    assert problems[0] is None  # scale 1: the naive formula is fine there
    assert "expected finite values" in problems[2]  # scale 800: it overflows


def test_show_class_weights():
    import matplotlib
    matplotlib.use("Agg")
    from course.plots import show_class_weights
    fig = show_class_weights(np.random.default_rng(0).normal(size=(784, 10)), title="w")
    assert sum(bool(ax.images) for ax in fig.axes) == 10
    with pytest.raises(ValueError, match=r"expected W of shape \(784, K\), got \(10, 784\)"):
        show_class_weights(np.zeros((10, 784)))
