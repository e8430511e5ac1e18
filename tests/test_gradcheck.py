"""The finite-difference checker: right on known derivatives, and it catches wrong ones."""
from __future__ import annotations

import numpy as np
import pytest

from course.gradcheck import (check_gradient, check_hessian, check_jacobian, numerical_gradient,
                              numerical_hessian, numerical_jacobian)

rng = np.random.default_rng(0)
A = rng.standard_normal((4, 3))
x0 = rng.standard_normal(3)


def test_gradient_of_a_quadratic_form():
    f = lambda x: 0.5 * x @ A.T @ A @ x  # noqa: E731
    np.testing.assert_allclose(numerical_gradient(f, x0), A.T @ A @ x0, rtol=1e-8)
    report = check_gradient(f, lambda x: A.T @ A @ x, x0, name="grad of x'A'Ax/2")
    assert report.passed and str(report).startswith("PASS  grad of x'A'Ax/2: shape (3,)")


def test_jacobian_layout_is_output_then_input():
    W = rng.standard_normal((2, 3, 4))
    f = lambda x: np.tanh(np.einsum("ijk,k->ij", W, x))  # noqa: E731
    x = rng.standard_normal(4)
    jac = numerical_jacobian(f, x)
    assert jac.shape == (2, 3, 4)
    exact = (1 - f(x) ** 2)[..., None] * W
    np.testing.assert_allclose(jac, exact, rtol=1e-7, atol=1e-10)
    assert check_jacobian(f, exact, x).passed


def test_matrix_argument_shapes():
    f = lambda M: np.sum(np.sin(M))  # noqa: E731
    M = rng.standard_normal((3, 5))
    assert check_gradient(f, np.cos(M), M).passed


@pytest.mark.parametrize("with_grad", [False, True])
def test_hessian_of_logistic_loss(with_grad):
    X, y = rng.standard_normal((20, 3)), rng.integers(0, 2, 20)

    def loss(w):
        z = X @ w
        return np.mean(np.logaddexp(0, z) - y * z)

    def grad(w):
        return X.T @ (1 / (1 + np.exp(-X @ w)) - y) / len(y)

    def hess(w):
        p = 1 / (1 + np.exp(-X @ w))
        return X.T @ (X * (p * (1 - p))[:, None]) / len(y)

    numeric = numerical_hessian(loss, x0, grad=grad if with_grad else None)
    assert numeric.shape == (3, 3)
    np.testing.assert_allclose(numeric, hess(x0), rtol=1e-5, atol=1e-8)
    assert check_hessian(loss, hess, x0, grad=grad if with_grad else None).passed


def test_wrong_derivatives_fail_and_point_at_the_entry():
    f = lambda x: np.sum(x ** 3)  # noqa: E731
    wrong = 3 * x0 ** 2
    wrong[1] *= 1.01
    report = check_gradient(f, wrong, x0)
    assert not report.passed and str(report).startswith("FAIL") and "worst entry [1]" in str(report)
    assert report.table(2).splitlines()[1].strip().startswith("[1]")
    # on a PASS the worst entry's place is rounding noise and is not printed
    assert "worst entry: " in str(check_gradient(f, 3 * x0 ** 2, x0))
    assert not check_gradient(f, np.full(3, np.nan), x0).passed


def test_shape_mismatch_is_a_fail_line_not_a_traceback():
    report = check_gradient(lambda x: x.sum(), np.ones((3, 1)), x0, name="g")
    assert not report.passed and not report
    assert str(report) == ("FAIL  g: the analytic derivative has shape (3, 1), expected (3,) (the numerical one's: "
                           "output shape, then the shape of what it differentiates)")
    assert report.table() == str(report)


def test_a_transposed_matrix_gradient_says_so():
    M = rng.standard_normal((4, 3))
    report = check_gradient(lambda M: np.sum(M ** 2), 2 * M.T, M, name="dW")
    assert str(report).startswith("FAIL  dW: the analytic derivative has shape (3, 4), expected (4, 3)")
    assert str(report).endswith("(transposed?)")


def test_function_is_evaluated_in_float64():
    seen = []
    check_gradient(lambda x: seen.append(x.dtype) or x.sum(), np.ones(3), np.ones(3, np.float32))
    assert set(seen) == {np.dtype(np.float64)}
