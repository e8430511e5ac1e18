"""Assignment 05 (Newton's method): the reference solution's derivatives against finite differences,
the singular-Hessian handling, Newton's method, and the checks catching broken answers."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from course.checks import hidden_cases, run_check, same_result
from course.gradcheck import check_gradient, check_hessian
from course.questions import load_definitions

from conftest import ROOT

QUESTIONS = ["mse_gradient", "mse_hessian", "newton_step", "logistic_loss", "logistic_gradient",
             "logistic_hessian", "newton_method"]


@pytest.fixture(scope="module")
def ref():
    return load_definitions(ROOT / "solutions" / "05_newton.ipynb")


def logistic_problem(seed, n=40, d=6, scale=1.0):
    rng = np.random.default_rng(seed)
    X = np.hstack([rng.standard_normal((n, d - 1)), np.ones((n, 1))])
    y = (rng.random(n) < 0.5).astype(np.float64)
    return X, y, scale * rng.standard_normal(d)


# --- derivatives against finite differences ------------------------------------------------------

@pytest.mark.parametrize("seed", range(3))
def test_mse_gradient_and_hessian_match_finite_differences(ref, seed):
    rng = np.random.default_rng(seed)
    X, y, w = rng.standard_normal((30, 4)), rng.standard_normal(30), rng.standard_normal(4)
    loss = lambda w: ref["mse_loss"](w, X, y)  # noqa: E731
    grad = lambda w: ref["mse_gradient"](w, X, y)  # noqa: E731
    assert check_gradient(loss, grad, w).passed
    assert check_hessian(loss, ref["mse_hessian"](X), w, grad=grad).passed
    assert check_hessian(loss, ref["mse_hessian"](X), w).passed  # second differences of the loss alone


@pytest.mark.parametrize("seed, scale, lam", [(0, 0.1, 0.0), (1, 1.0, 1e-2), (2, 5.0, 0.5)])
def test_logistic_gradient_and_hessian_match_finite_differences(ref, seed, scale, lam):
    X, y, w = logistic_problem(seed, scale=scale)  # scale 5: many logits beyond +-10
    loss = lambda w: ref["logistic_loss"](w, X, y, lam)  # noqa: E731
    grad = lambda w: ref["logistic_gradient"](w, X, y, lam)  # noqa: E731
    hess = lambda w: ref["logistic_hessian"](w, X, y, lam)  # noqa: E731
    assert check_gradient(loss, grad, w).passed
    assert check_hessian(loss, hess, w, grad=grad).passed
    assert check_hessian(loss, hess, w, tol=1e-4).passed  # second differences of the loss alone


def test_logistic_loss_is_finite_for_huge_logits(ref):
    X = np.array([[1e4], [-1e4]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no overflow, not even a silent one
        assert ref["logistic_loss"](np.ones(1), X, np.array([0.0, 1.0]), 0.0) == 1e4
        assert np.all(np.isfinite(ref["logistic_gradient"](np.ones(1), X, np.array([0.0, 1.0]), 0.0)))
        np.testing.assert_array_equal(ref["logistic_hessian"](np.ones(1), X, np.zeros(2), 0.25), [[0.25]])


# --- the Newton step and a singular Hessian -----------------------------------------------------

def singular_hessians():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((20, 4))
    yield "duplicated feature", np.hstack([X, X[:, :1]])
    yield "more features than examples", rng.standard_normal((3, 6))
    zero = X.copy()
    zero[:, 2] = 0
    yield "always-zero feature", zero


@pytest.mark.parametrize("name, X", list(singular_hessians()), ids=lambda v: v if isinstance(v, str) else "")
def test_singular_hessian_is_one_clear_error(ref, name, X):
    H = ref["mse_hessian"](X)
    g = ref["mse_gradient"](np.ones(X.shape[1]), X, np.ones(len(X)))
    with pytest.raises(np.linalg.LinAlgError) as err:
        ref["newton_step"](g, H)
    message = str(err.value)
    assert f"{X.shape[1]}x{X.shape[1]} Hessian is singular" in message
    assert "L2 term" in message and "np.linalg.lstsq" in message


def test_the_stated_ways_out_work(ref):
    X = np.hstack([np.eye(4), np.eye(4)[:, :1]])  # feature 0 duplicated
    y = np.arange(4.0)
    g, H = ref["mse_gradient"](np.zeros(5), X, y), ref["mse_hessian"](X)
    ridge = ref["newton_step"](g, H + 1e-8 * np.eye(5))
    min_norm = np.linalg.lstsq(H, -g, rcond=1e-12)[0]
    for p in (ridge, min_norm):
        assert np.all(np.isfinite(p))
        assert np.linalg.norm(ref["mse_gradient"](p, X, y)) < 1e-6
        assert p[0] == pytest.approx(p[4])  # the weight is split evenly between the two copies


@pytest.mark.parametrize("args, message", [
    ((np.ones(3), np.eye(2)), r"expected grad of shape \(d,\) and hess of shape \(d, d\), got \(3,\) and \(2, 2\)"),
    ((np.ones((2, 1)), np.eye(2)), r"got \(2, 1\) and \(2, 2\)"),
    ((np.array([1.0, np.inf]), np.eye(2)), "expected finite grad and hess"),
    ((np.ones(2), np.array([[1.0, np.nan], [np.nan, 1.0]])), "expected finite grad and hess"),
    ((np.ones(2), np.array([[2.0, 1.0], [0.0, 2.0]])), "expected a symmetric hess"),
])
def test_bad_input_to_newton_step_names_what_is_wrong(ref, args, message):
    with pytest.raises(ValueError, match=message):
        ref["newton_step"](*args)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 8), d=st.integers(1, 8), duplicate=st.booleans(), lam=st.sampled_from([0.0, 1e-8, 1e-2]),
       seed=st.integers(0, 2**32 - 1))
def test_newton_step_never_returns_nan_or_garbage(ref, n, d, duplicate, lam, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    if duplicate and d > 1:
        X[:, -1] = X[:, 0]
    H = X.T @ X / n + lam * np.eye(d)
    g = rng.standard_normal(d)
    try:
        p = ref["newton_step"](g, H)
    except np.linalg.LinAlgError:
        eigenvalues = np.linalg.eigvalsh(H)
        assert eigenvalues[0] <= 1e-10 * eigenvalues[-1]  # refused only when (nearly) singular
        return
    assert np.all(np.isfinite(p))
    assert np.linalg.norm(H @ p + g) <= 1e-8 * max(1.0, np.linalg.norm(H) * np.linalg.norm(p))


# --- Newton's method -----------------------------------------------------------------------------

def test_one_newton_step_solves_least_squares_from_any_start(ref):
    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((50, 6)), rng.standard_normal(50)
    w_star = np.linalg.lstsq(X, y, rcond=None)[0]
    loss = lambda w: ref["mse_loss"](w, X, y)  # noqa: E731
    grad = lambda w: ref["mse_gradient"](w, X, y)  # noqa: E731
    for scale in (1.0, 1e3):
        w, losses, grad_norms, steps = ref["newton_method"](loss, grad, lambda w: ref["mse_hessian"](X),
                                                            scale * rng.standard_normal(6), tol=1e-9)
        assert len(steps) == 1 and steps[0] == 1.0
        np.testing.assert_allclose(w, w_star, rtol=1e-12, atol=1e-12 * scale)


def test_newton_converges_quadratically_on_logistic_regression(ref):
    X, y, _ = logistic_problem(5, n=200, d=8)
    lam = 1e-3
    args = (lambda w: ref["logistic_loss"](w, X, y, lam), lambda w: ref["logistic_gradient"](w, X, y, lam),
            lambda w: ref["logistic_hessian"](w, X, y, lam))
    w, losses, grad_norms, steps = ref["newton_method"](*args, np.zeros(8), tol=1e-12)
    assert grad_norms[-1] <= 1e-12 and len(steps) <= 10
    assert np.all(np.diff(losses) <= 1e-15)
    # quadratic convergence: |g_{k+1}| <= C |g_k|^2 over the last steps, with a moderate C
    tail = grad_norms[-4:]
    assert np.all(tail[1:] <= 50 * tail[:-1] ** 2 + 1e-15)
    # gradient descent with step 1/L is far from there after as many iterations
    L = np.linalg.eigvalsh(X.T @ X / len(y))[-1] / 4 + lam
    _, _, gd_norms = ref["gradient_descent"](args[0], args[1], np.zeros(8), 1 / L, max_iter=len(steps))
    assert gd_norms[-1] > 1e3 * grad_norms[-1]


def test_line_search_rescues_an_overshooting_start(ref):
    X, y, _ = logistic_problem(6, n=100, d=5)
    lam = 1e-3
    args = (lambda w: ref["logistic_loss"](w, X, y, lam), lambda w: ref["logistic_gradient"](w, X, y, lam),
            lambda w: ref["logistic_hessian"](w, X, y, lam))
    w_bad = np.full(5, 8.0)
    _, plain_losses, _, _ = ref["newton_method"](*args, w_bad, line_search=False, max_iter=5)
    assert plain_losses[1] > plain_losses[0]  # the full step overshoots from this start
    w, losses, grad_norms, steps = ref["newton_method"](*args, w_bad, line_search=True)
    assert grad_norms[-1] <= 1e-10 and np.all(np.diff(losses) <= 0) and steps[0] < 1 and steps[-1] == 1


def test_line_search_treats_a_nan_loss_as_no_decrease(ref):
    def loss(w):  # sqrt(1 + w^2), undefined (NaN) for w > 2
        return float(np.sqrt(1 + w @ w)) if w[0] <= 2 else float("nan")
    grad = lambda w: w / np.sqrt(1 + w @ w)  # noqa: E731
    hess = lambda w: np.eye(1) * (1 + w @ w) ** -1.5  # noqa: E731
    w, losses, _, steps = ref["newton_method"](loss, grad, hess, np.array([-1.5]))  # full step lands at 3.375
    assert abs(w[0]) < 1e-12 and np.all(np.isfinite(losses)) and steps[0] < 1


def test_diverging_plain_newton_raises_instead_of_returning_nan(ref):
    f = lambda w: float(np.sqrt(1 + w @ w))  # noqa: E731
    g = lambda w: w / np.sqrt(1 + w @ w)  # noqa: E731
    h = lambda w: np.eye(1) * (1 + w @ w) ** -1.5  # noqa: E731
    with np.errstate(over="ignore", invalid="ignore"), \
            pytest.raises((FloatingPointError, np.linalg.LinAlgError)):
        ref["newton_method"](f, g, h, np.array([1.5]), line_search=False, max_iter=100)


# --- the checks: hidden cases run, broken answers fail -------------------------------------------

@pytest.mark.parametrize("question", QUESTIONS)
def test_hidden_cases_run_on_the_reference(ref, question, tmp_path):
    for seed in range(3):
        cases = hidden_cases(question, seed, tmp_path)
        assert cases, f"{question} has no hidden cases"
        for case in cases:
            assert case.judge is None
            if case.raises:
                with pytest.raises(case.raises):
                    ref[question](*case.args, **case.kwargs)
            else:
                result = ref[question](*case.args, **case.kwargs)
                parts = result if isinstance(result, tuple) else (result,)
                assert all(np.all(np.isfinite(part)) for part in parts), f"{question}, {case.name}: NaN or inf"


def broken(ref):
    """One wrong answer per question, the kind a student might write."""
    def solve_only(grad, hess, rcond=1e-12):
        return np.linalg.solve(hess, -grad)

    def naive_loss(w, X, y, lam):
        z = X @ w
        with np.errstate(over="ignore"):
            return float(np.mean(np.log(1 + np.exp(z)) - y * z) + lam / 2 * w @ w)

    def naive_hessian(w, X, y, lam):
        p = ref["sigmoid"](X @ w)
        return X.T @ (X * (p * (1 - p))[:, None]) / len(y) + lam * np.eye(X.shape[1])

    def always_full_step(loss, grad, hess, w0, *, max_iter=50, tol=1e-10, line_search=True):
        with np.errstate(over="ignore", invalid="ignore"):
            return ref["newton_method"](loss, grad, hess, w0, max_iter=max_iter, tol=tol, line_search=False)

    def nan_accepting(loss, grad, hess, w0, *, max_iter=50, tol=1e-10, line_search=True):
        w = np.array(w0, dtype=np.float64)
        losses, norms, steps = [loss(w)], [np.linalg.norm(grad(w))], []
        while norms[-1] > tol and len(steps) < max_iter:
            p, t = ref["newton_step"](grad(w), hess(w)), 1.0
            while line_search and loss(w + t * p) > losses[-1] + 1e-4 * t * (grad(w) @ p):  # NaN > x is False
                t /= 2
            w = w + t * p
            steps.append(t)
            losses.append(loss(w))
            norms.append(np.linalg.norm(grad(w)))
        return w, np.array(losses), np.array(norms), np.array(steps)

    def inverse(grad, hess, rcond=1e-12):  # validates like the reference, then multiplies by the inverse
        ref["newton_step"](grad, hess, rcond)
        return -np.linalg.inv(hess) @ grad

    def numpy_refusals(grad, hess, rcond=1e-12):  # the right refusals, in numpy's words
        if np.linalg.eigvalsh(hess)[0] <= rcond * np.linalg.eigvalsh(hess)[-1]:
            raise np.linalg.LinAlgError("Singular matrix")
        return ref["newton_step"](grad, hess, rcond)

    def hessian_without_l2(w, X, y, lam):
        return ref["logistic_hessian"](w, X, y, 0.0)

    return {
        "newton_method_nan": (nan_accepting, "a NaN loss is no decrease, so t = 1/2: expected a result"),
        "mse_gradient": (lambda w, X, y: X.T @ (X @ w - y), "values differ; at [0] expected -12.5, got -37.5 (3 times "
                                                            "too big: the sum over the 3 examples instead of their "
                                                            "average, a missing 1/3?)"),
        "mse_hessian": (lambda X: X.T @ X, "(3 times too big: the sum over the 3 examples instead of their average"),
        "mse_hessian_twice": (lambda X: X.T @ X / len(X) ** 2, "(3 times too small: divided by the number of "
                                                               "examples twice?)"),
        "newton_step": (solve_only, "expected LinAlgError, but it returned array of float64"),
        "newton_step_inverse": (inverse, "residual |H p + g| / |g| = "),
        "newton_step_numpy_words": (numpy_refusals, "raised LinAlgError, but its message does not name what to do "
                                                    "(an L2 term, or np.linalg.lstsq): 'Singular matrix'"),
        "logistic_loss": (naive_loss, "expected 1000, got inf"),
        "logistic_loss_l2": (lambda w, X, y, lam: ref["logistic_loss"](w, X, y, 0.0),
                             "loss: expected 0.5295927315, got 0.5139677315 (that is what leaving out the L2 term gives)"),
        "logistic_gradient": (lambda w, X, y, lam: X.T @ (ref["sigmoid"](X @ w) - y) / len(y),
                              "(that is what leaving out the L2 term gives)"),
        "logistic_gradient_summed": (lambda w, X, y, lam: X.T @ (ref["sigmoid"](X @ w) - y) + lam * w,
                                     "(that is what the sum over the 3 examples instead of their average gives)"),
        "logistic_hessian": (naive_hessian, "expected 6.79737e-15, got 0"),
        "logistic_hessian_l2": (hessian_without_l2, "Hessian: 2 of 4 values differ; at [0, 0] expected 0.674167, got "
                                                    "0.174167 (that is what leaving out the L2 term gives)"),
        "newton_method": (always_full_step, "t = 1/4, then full steps: expected a result, but it raised FloatingPointError"),
    }


VARIANTS = QUESTIONS + ["newton_method_nan", "mse_hessian_twice", "newton_step_inverse", "newton_step_numpy_words",
                        "logistic_loss_l2", "logistic_gradient_summed", "logistic_hessian_l2"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_broken_answers_fail_public_and_hidden_checks(ref, variant, tmp_path):
    fn, message = broken(ref)[variant]
    question = next(q for q in sorted(QUESTIONS, key=len, reverse=True) if variant.startswith(q))
    report = run_check(question, fn)
    failing = [line for line in str(report).splitlines() if "FAIL" in line]
    assert failing and any(message in line for line in failing), str(report)
    hidden_problems = []
    for case in hidden_cases(question, 0, tmp_path):
        if case.raises:
            continue
        try:
            got = fn(*case.args, **case.kwargs)
        except Exception as err:  # noqa: BLE001 - a crash counts as a caught answer
            hidden_problems.append(repr(err))
            continue
        problem = same_result(ref[question](*case.args, **case.kwargs), got, rtol=case.rtol, atol=case.atol)
        if problem:
            hidden_problems.append(problem)
    if variant not in ("newton_step", "logistic_loss", "logistic_hessian", "newton_method_nan", "newton_step_inverse",
                       "newton_step_numpy_words"):  # wrong on edge cases only
        assert hidden_problems, f"the hidden cases of {question} do not catch {fn}"
