"""Self-checks of notebook 03: typical wrong answers fail with one precise line each."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

from course.checks import hidden_cases, run_check, same_result
from course.questions import load_definitions

from conftest import ROOT


@pytest.fixture(scope="module")
def ref():
    return load_definitions(ROOT / "solutions" / "03_sgd.ipynb")


def failing_lines(question, fn):
    report = run_check(question, fn)
    assert not report.passed
    return [line for line in str(report).splitlines() if "FAIL" in line]


def summed_gradient(X, y, theta, lr=0.1, batch=100):
    one_hot = np.eye(theta.shape[1], dtype=np.float32)[y]
    for s in range(0, len(X), batch):
        Xb = X[s:s + batch]
        H = Xb @ theta
        Z = np.exp(H - H.max(axis=1, keepdims=True))
        Z /= Z.sum(axis=1, keepdims=True)
        theta -= lr * Xb.T @ (Z - one_hot[s:s + batch])


def no_max_trick(X, y, theta, lr=0.1, batch=100):
    one_hot = np.eye(theta.shape[1], dtype=np.float32)[y]
    with np.errstate(over="ignore", invalid="ignore"):
        for s in range(0, len(X), batch):
            Xb = X[s:s + batch]
            Z = np.exp(Xb @ theta)
            Z /= Z.sum(axis=1, keepdims=True)
            theta -= lr / len(Xb) * Xb.T @ (Z - one_hot[s:s + batch])


def returns_new_theta(X, y, theta, lr=0.1, batch=100):
    theta = theta.copy()
    summed_gradient(X, y, theta, lr, batch)
    return theta


def test_summed_gradient_is_named(ref):
    lines = failing_lines("softmax_regression_epoch", summed_gradient)
    assert any("expected 1.380619" in line and "summing instead of averaging" in line for line in lines)


def test_overflow_without_the_max_trick(ref):
    lines = failing_lines("softmax_regression_epoch", no_max_trick)
    assert any("stays finite" in line and "NaN/inf" in line for line in lines)


def test_not_in_place_is_named(ref):
    lines = failing_lines("softmax_regression_epoch", returns_new_theta)
    assert len(lines) == 4
    assert all("theta: unchanged after the epoch; update it in place (theta -= ...), not theta = theta - ..." in line
               for line in lines)


def rebinds_theta(X, y, theta, lr=0.1, batch=100):
    for s in range(0, len(X), batch):
        Xb = X[s:s + batch]
        H = Xb @ theta
        Z = np.exp(H - H.max(axis=1, keepdims=True))
        Z /= Z.sum(axis=1, keepdims=True)
        theta = theta - lr / len(Xb) * Xb.T @ (Z - np.eye(theta.shape[1], dtype=theta.dtype)[y[s:s + batch]])


def epoch_variant(*, order=None, divide_by_batch=False):
    """The right epoch, but over the rows in ``order`` (a shuffle) or dividing every batch by ``batch``."""
    def epoch(X, y, theta, lr=0.1, batch=100):
        rows = np.arange(len(X)) if order is None else order(len(X))
        one_hot = np.eye(theta.shape[1], dtype=theta.dtype)[y]
        for s in range(0, len(X), batch):
            idx = rows[s:s + batch]
            H = X[idx] @ theta
            Z = np.exp(H - H.max(axis=1, keepdims=True))
            Z /= Z.sum(axis=1, keepdims=True)
            theta -= (lr / (batch if divide_by_batch else len(idx))) * X[idx].T @ (Z - one_hot[idx])
    return epoch


def test_rebound_theta_is_named_on_every_row_not_as_a_sum():
    lines = failing_lines("softmax_regression_epoch", rebinds_theta)
    assert len(lines) == 4 and all("theta: unchanged after the epoch; update it in place" in line for line in lines)
    assert not any("summing" in line for line in lines)


def test_shuffled_batches_are_named():
    shuffled = epoch_variant(order=lambda n: np.random.default_rng(5).permutation(n))
    lines = failing_lines("softmax_regression_epoch", shuffled)
    order_line = next(line for line in lines if "11 one-feature examples" in line)
    assert "theta: the examples in the short last batch were rows " in order_line
    assert "not rows 8 to 10: take the batches in order, X[0:4], X[4:8], ..., without shuffling" in order_line


def test_last_batch_divided_by_the_batch_size_is_named():
    lines = failing_lines("softmax_regression_epoch", epoch_variant(divide_by_batch=True))
    assert any("theta: the last batch has 3 examples (rows 8 to 10): average its gradient over those 3, not over "
               "batch = 4" in line for line in lines)


def test_summed_batches_are_named_on_the_order_case():
    lines = failing_lines("softmax_regression_epoch", summed_gradient)
    assert any("11 one-feature examples" in line and "the sum over the batch, not its average" in line
               for line in lines)


def test_penalising_the_bias_fails(ref):
    def l2_on_bias(X, y, W, b, lr=0.1, batch=100, l2=0.0):
        ref["softmax_regression_epoch_l2"](X, y, W, b, lr=lr, batch=batch, l2=l2)
        b *= np.float32(1 - lr * l2)

    lines = failing_lines("softmax_regression_epoch_l2", l2_on_bias)
    assert any("b (not decayed)" in line for line in lines)


def test_train_without_checks_fails_the_bad_input_cases(ref):
    def train(X_train, y_train, X_val, y_val, epochs=10, lr=0.1, batch=100, l2=0.0, num_classes=10):
        W = np.zeros((X_train.shape[1], num_classes), np.float32)
        b = np.zeros(num_classes, np.float32)
        return W, b, {"train_loss": [], "train_error": [], "val_loss": [], "val_error": []}

    lines = failing_lines("train", train)
    assert any("lr = 0 is refused, naming lr: expected ValueError, but it returned tuple of 3" in line for line in lines)
    assert any("expected one value per epoch (3), got 0" in line for line in lines)


@pytest.mark.parametrize("question", ["softmax_regression_epoch", "softmax_regression_epoch_l2", "train"])
def test_hidden_cases_accept_the_reference_and_reject_a_wrong_answer(ref, question):
    with tempfile.TemporaryDirectory() as scratch:
        cases = hidden_cases(question, seed=11, scratch=Path(scratch))
    assert cases
    for case in cases:
        if case.raises:
            with pytest.raises(case.raises):
                ref[question](*case.args, **case.kwargs)
            continue
        import copy
        args_a, args_b = copy.deepcopy(case.args), copy.deepcopy(case.args)
        out_a = ref[question](*args_a, **case.kwargs)
        out_b = ref[question](*args_b, **case.kwargs)
        a, b = (args_a, args_b) if case.judge_args else (out_a, out_b)
        assert same_result(a, b, rtol=case.rtol, atol=case.atol) is None
        if question != "train":
            args_c = copy.deepcopy(case.args)
            summed_kwargs = dict(case.kwargs, lr=case.kwargs["lr"] * 3)
            ref[question](*args_c, **summed_kwargs)
            assert same_result(args_a, args_c, rtol=case.rtol, atol=case.atol) is not None
