"""Public and hidden checks of assignment 05 (Newton's method).

Expected values are literal numbers or properties (a gradient vanishing at a least-squares solution,
a symmetric Hessian). The test functions that ``newton_method`` is run on (a quadratic, the
pseudo-Huber function sqrt(1 + w^2), a pseudo-Huber regression) are not questions of the notebook.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import Case, expect_array, likely_mistake, register, register_hidden

LinAlgError = np.linalg.LinAlgError
LN2 = 0.6931471805599453


def _array(expected, what="result", rtol=1e-9, atol=1e-12, *, batch=None, mistakes=None):
    expected = np.asarray(expected, dtype=np.float64)
    return lambda got: expect_array(got, expected, what, rtol=rtol, atol=atol, batch=batch, mistakes=mistakes)


def _number(expected, what="loss", rtol=1e-9, atol=1e-12, *, mistakes=None):
    def judge(got):
        if not isinstance(got, (float, np.floating)) or np.ndim(got) != 0:
            return f"{what}: expected a float, got {type(got).__name__} {getattr(got, 'shape', '')}"
        if not np.isclose(got, expected, rtol=rtol, atol=atol):
            return f"{what}: expected {expected:.10g}, got {got:.10g}" + likely_mistake(got, expected, mistakes=mistakes)
        return None
    return judge


def _l2_mistakes(value, l2_part, n: int) -> dict:
    """What a result made of an average over n examples plus an L2 part looks like without the L2 part,
    or with the sum over the examples instead of their average."""
    value, l2_part = np.asarray(value, dtype=np.float64), np.asarray(l2_part, dtype=np.float64)
    return {"leaving out the L2 term": value - l2_part,
            f"the sum over the {n} examples instead of their average": n * (value - l2_part) + l2_part}


# --- linear regression -------------------------------------------------------------------------

X3 = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
X43 = np.array([[2.0, -1.0, 0.5], [0.0, 1.0, 1.0], [1.0, 3.0, -2.0], [-1.0, 0.5, 2.0]])
y43 = np.array([1.0, -2.0, 0.5, 3.0])


@register("mse_gradient")
def mse_gradient_cases(scratch: Path) -> list[Case]:
    rng = np.random.default_rng(50)
    X, y = rng.standard_normal((500, 20)), rng.standard_normal(500)
    w_star = np.linalg.lstsq(X, y, rcond=None)[0]

    def vanishes(got):
        if not (isinstance(got, np.ndarray) and got.shape == (20,)):
            return f"expected an array of shape (20,), got {getattr(got, 'shape', type(got).__name__)}"
        norm = float(np.linalg.norm(got))
        return None if norm <= 1e-10 else f"expected a zero gradient at the least-squares solution, got norm {norm:.3g}"

    return [
        Case("3 examples, 2 features", (np.array([0.5, -1.0]), X3, np.array([1.0, 0.0, 2.0])),
             _array([-12.5, -16.0], "gradient", batch=3)),
        Case("4 examples, 3 features, at w = 0", (np.zeros(3), X43, y43), _array([0.125, 0.0, -0.875], "gradient", batch=4)),
        Case("zero where Xw = y exactly", (np.array([1.0, 2.0]), np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]),
                                           np.array([1.0, 2.0, 3.0])), _array([0.0, 0.0], "gradient")),
        Case("500 x 20: zero at the least-squares solution", (w_star, X, y), vanishes),
    ]


@register("mse_hessian")
def mse_hessian_cases(scratch: Path) -> list[Case]:
    X = np.random.default_rng(51).standard_normal((300, 10))

    def properties(got):
        if not (isinstance(got, np.ndarray) and got.shape == (10, 10) and got.dtype == np.float64):
            return f"expected float64 of shape (10, 10), got {getattr(got, 'dtype', type(got).__name__)} {getattr(got, 'shape', '')}"
        if not np.allclose(got, got.T, rtol=0, atol=1e-12):
            return "expected a symmetric matrix"
        if not np.isclose(np.trace(got), np.sum(X * X) / len(X), rtol=1e-10):
            return (f"trace: expected ||X||_F^2 / n = {np.sum(X * X) / len(X):.6g}, got {np.trace(got):.6g}"
                    + likely_mistake(np.trace(got), np.sum(X * X) / len(X), batch=len(X)))
        return None

    return [
        Case("3 examples, 2 features", (X3,), _array([[35 / 3, 44 / 3], [44 / 3, 56 / 3]], "Hessian", batch=3)),
        Case("2 examples, 3 features (singular)", (np.array([[1.0, 0.0, 2.0], [0.0, 1.0, -1.0]]),),
             _array([[0.5, 0.0, 1.0], [0.0, 0.5, -0.5], [1.0, -0.5, 2.5]], "Hessian", batch=2)),
        Case("300 x 10: symmetric, with the right trace", (X,), properties),
    ]


# --- the Newton step -----------------------------------------------------------------------------

# Both are singular up to rounding; np.linalg.solve alone returns steps of size 1e15 for them.
X_DUPLICATED = np.array([[-0.8, 0.7, -0.8], [0.6, -0.5, 0.6], [0.8, -0.9, 0.8],
                         [-0.3, -0.7, -0.3], [-0.1, 0.6, -0.1], [-0.5, -0.9, -0.5]])  # column 2 = column 0
X_WIDE = np.array([[0.8, -0.5, 0.2, -0.8, 0.7], [0.6, -0.5, 0.8, -0.9, -0.3],
                   [-0.7, -0.1, 0.6, -0.5, -0.9]])  # 3 examples, 5 features


@register("newton_step")
def newton_step_cases(scratch: Path) -> list[Case]:
    spd = np.array([[2.0, 1.0], [1.0, 2.0]])
    return [
        Case("2 x 2", (np.array([1.0, -1.0]), spd), _array([-1.0, 1.0], "step")),
        Case("diagonal Hessian", (np.array([2.0, 1.0]), np.diag([4.0, 0.5])), _array([-0.5, -2.0], "step")),
        Case("3 x 3", (np.array([1.0, -2.0, 3.0]), np.array([[4.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 2.0]])),
             _array([-2 / 3, 5 / 3, -7 / 3], "step")),
        Case("condition number 1e9, still solvable", (np.array([1.0, 1e-9]), np.diag([1.0, 1e-9])),
             _array([-1.0, -1.0], "step", rtol=1e-9, atol=0)),
        _solve_not_invert_case(),
        Case("duplicated feature: singular Hessian must raise LinAlgError saying what to do",
             (np.array([0.3, -0.2, 0.1]), X_DUPLICATED.T @ X_DUPLICATED / 6), **_SINGULAR),
        Case("more features than examples: singular Hessian must raise LinAlgError saying what to do",
             (np.array([0.1, 0.2, -0.3, 0.4, 0.5]), X_WIDE.T @ X_WIDE / 3), **_SINGULAR),
        Case("a feature that is always zero: LinAlgError saying what to do (not numpy's 'Singular matrix')",
             (np.array([1.0, 1.0]), np.diag([2.0, 0.0])), **_SINGULAR),
        Case("not positive definite (eigenvalue -1): LinAlgError saying what to do",
             (np.array([1.0, 1.0]), np.diag([1.0, -1.0])), **_SINGULAR),
        Case("grad (3,) with hess (2, 2): ValueError naming both shapes", (np.ones(3), spd), raises=ValueError,
             match=r"\(3,\).*\(2, ?2\)|\(2, ?2\).*\(3,\)", match_what="both shapes, (3,) and (2, 2)"),
        Case("grad of shape (2, 1), which np.linalg.solve would accept, is refused", (np.ones((2, 1)), spd),
             raises=ValueError),
        Case("NaN in grad", (np.array([np.nan, 1.0]), spd), raises=ValueError),
        Case("hess not symmetric", (np.ones(2), np.array([[2.0, 1.0], [0.0, 2.0]])), raises=ValueError),
    ]


#: A singular (or indefinite) Hessian: np.linalg.LinAlgError whose message says what to do, as the notebook asks
#: (numpy's own "Singular matrix" does not, and np.linalg.solve raises it only for an exactly zero pivot).
_SINGULAR = {"raises": LinAlgError, "match": r"\bL2\b|lstsq|\blam|regulari|ridge",
             "match_what": "what to do (an L2 term, or np.linalg.lstsq)"}


def _solve_not_invert_case() -> Case:
    """An ill-conditioned (1e10) symmetric positive definite Hessian: a linear solve leaves a residual
    |H p + g| / |g| of about 1e-16, the product with np.linalg.inv(H) about 1e-8."""
    rng = np.random.default_rng(53)
    Q = np.linalg.qr(rng.standard_normal((20, 20)))[0]
    H = (Q * np.logspace(0, -10, 20)) @ Q.T
    H = (H + H.T) / 2
    g = -H @ rng.standard_normal(20)

    def judge(got):
        if not (isinstance(got, np.ndarray) and got.shape == (20,)):
            return f"step: expected an array of shape (20,), got {getattr(got, 'shape', type(got).__name__)}"
        residual = float(np.linalg.norm(H @ got + g) / np.linalg.norm(g))
        if residual <= 1e-11:
            return None
        if residual < 1e-3:
            return (f"residual |H p + g| / |g| = {residual:.1e}, expected < 1e-11: a linear solve (np.linalg.solve) "
                    f"leaves rounding level (about 1e-16) even on this ill-conditioned H (condition number 1e10); "
                    f"a product with np.linalg.inv(H) loses about that factor; solve the system, don't invert H")
        return f"residual |H p + g| / |g| = {residual:.1e}: p does not solve H p = -g"

    return Case("condition number 1e10: the step solves H p = -g to rounding level, as only a solve (not inv) does",
                (g, H), judge)


# --- logistic regression -------------------------------------------------------------------------

XL = np.array([[1.0, 2.0], [-1.0, 0.5], [0.3, -2.0]])
YL = np.array([1.0, 0.0, 1.0])
WL = np.array([0.5, -0.25])
X_HUGE = np.array([[1000.0], [-1000.0]])  # logits +-1000 at w = 1


@register("logistic_loss")
def logistic_loss_cases(scratch: Path) -> list[Case]:
    return [
        Case("w = 0: log 2 whatever the data", (np.zeros(2), XL, YL, 0.7), _number(LN2)),
        Case("3 examples, lam = 0.1", (WL, XL, YL, 0.1),
             _number(0.5295927315130596, mistakes=_l2_mistakes(0.5295927315130596, 0.05 * (WL @ WL), 3))),
        Case("logits +-1000, every example wrong: loss 1000, not inf", (np.ones(1), X_HUGE, np.array([0.0, 1.0]), 0.0),
             _number(1000.0)),
        Case("logits +-1000, every example right: loss 0, not nan", (np.ones(1), X_HUGE, np.array([1.0, 0.0]), 0.0),
             _number(0.0)),
    ]


@register("logistic_gradient")
def logistic_gradient_cases(scratch: Path) -> list[Case]:
    return [
        Case("w = 0, 3 examples", (np.zeros(2), XL, YL, 0.5),
             _array([-0.38333333333333336, 0.08333333333333334], "gradient", batch=3)),
        Case("3 examples, lam = 0.1", (WL, XL, YL, 0.1), _array([-0.267180665510632, -0.07156611922667494], "gradient",
             mistakes=_l2_mistakes([-0.267180665510632, -0.07156611922667494], 0.1 * WL, 3))),
        Case("logits +-1000: finite", (np.ones(1), X_HUGE, np.array([0.0, 1.0]), 0.0), _array([1000.0])),
        Case("X = 0: only the L2 term is left", (np.array([3.0, -1.0]), np.zeros((4, 2)), np.zeros(4), 0.25),
             _array([0.75, -0.25], "gradient", mistakes={"leaving out the L2 term": np.zeros(2)})),
    ]


@register("logistic_hessian")
def logistic_hessian_cases(scratch: Path) -> list[Case]:
    X = np.random.default_rng(52).standard_normal((50, 6))

    def symmetric_positive_definite(got):
        if not (isinstance(got, np.ndarray) and got.shape == (6, 6)):
            return f"expected shape (6, 6), got {getattr(got, 'shape', type(got).__name__)}"
        if not np.allclose(got, got.T, rtol=0, atol=1e-12):
            return "expected a symmetric matrix"
        smallest = np.linalg.eigvalsh(got)[0]
        if smallest >= 0.1 - 1e-12:
            return None
        hint = " (the L2 term lam I left out?)" if np.linalg.eigvalsh(got + 0.1 * np.eye(6))[0] >= 0.1 - 1e-12 else ""
        return f"expected every eigenvalue >= lam = 0.1, got {smallest:.3g}{hint}"

    at_zero = np.array([[0.6741666666666667, 0.075], [0.075, 1.1875]])
    at_wl = np.array([[0.2657909997523051, 0.08374850625413584], [0.08374850625413584, 0.7527212615598986]])
    return [
        Case("w = 0, lam = 0.5", (np.zeros(2), XL, YL, 0.5),
             _array(at_zero, "Hessian", mistakes=_l2_mistakes(at_zero, 0.5 * np.eye(2), 3))),
        Case("3 examples, lam = 0.1", (WL, XL, YL, 0.1),
             _array(at_wl, "Hessian", mistakes=_l2_mistakes(at_wl, 0.1 * np.eye(2), 3))),
        Case("a confident example (logit 40): s = sigmoid(z) sigmoid(-z), not p (1 - p) = 0",
             (np.ones(1), np.array([[40.0]]), np.ones(1), 0.0), _array([[6.797366808466542e-15]], rtol=1e-9, atol=0)),
        Case("50 x 6, lam = 0.1: symmetric, eigenvalues >= lam", (0.3 * np.ones(6), X, np.ones(50), 0.1),
             symmetric_positive_definite),
    ]


# --- Newton's method -----------------------------------------------------------------------------

A2, B2 = np.array([[2.0, 1.0], [1.0, 2.0]]), np.array([4.0, 5.0])  # minimum at (1, 2), value -7


def _quadratic(A, b):
    return (lambda w: 0.5 * w @ A @ w - b @ w, lambda w: A @ w - b, lambda w: A)


def _pseudo_huber_1d():
    """f(w) = sqrt(1 + w^2) for w of shape (1,): convex, minimum 0, full Newton step w -> -w^3."""
    def f(w):
        with np.errstate(over="ignore"):
            return float(np.sqrt(1 + w @ w))

    def g(w):
        with np.errstate(over="ignore", invalid="ignore"):
            return w / np.sqrt(1 + w @ w)

    def h(w):
        with np.errstate(over="ignore"):
            return np.eye(1) * (1 + w @ w) ** -1.5
    return f, g, h


def _undefined_beyond_2(f):
    return lambda w: f(w) if w[0] <= 2 else float("nan")


def _steps_start_with(got, t0):
    if not (isinstance(got, tuple) and len(got) == 4):
        return f"expected a tuple (w, losses, grad_norms, step_sizes), got {type(got).__name__}"
    w, losses, _, steps = got
    if not np.all(np.isfinite(losses)):
        return f"expected finite losses, got {np.asarray(losses)}"
    if len(steps) == 0 or steps[0] != t0:
        return f"step_sizes: expected the first step to be {t0}, got {np.asarray(steps)[:3]}"
    return None if abs(float(np.asarray(w).ravel()[0])) < 1e-9 else f"w: expected 0, got {np.asarray(w)}"


def _newton_result(expect_w, losses=None, steps=None, *, w_atol=1e-9, rtol=1e-9):
    """Judge (w, losses, grad_norms, step_sizes) against literal values."""
    def judge(got):
        if not (isinstance(got, tuple) and len(got) == 4):
            return f"expected a tuple (w, losses, grad_norms, step_sizes), got {type(got).__name__}"
        w, got_losses, got_norms, got_steps = (np.asarray(v) for v in got)
        if not (got_losses.shape == got_norms.shape == (len(got_steps) + 1,)):
            return (f"expected losses and grad_norms of length k + 1 for k = {len(got_steps)} steps, got lengths "
                    f"{got_losses.shape} and {got_norms.shape}")
        problem = expect_array(np.asarray(w, dtype=np.float64), np.asarray(expect_w, dtype=np.float64), "w",
                               rtol=rtol, atol=w_atol, exact_dtype=False)
        if problem:
            return problem
        if losses is not None:
            problem = expect_array(got_losses.astype(np.float64), np.asarray(losses), "losses", rtol=rtol,
                                   atol=1e-12, exact_dtype=False)
        if not problem and steps is not None:
            problem = expect_array(got_steps.astype(np.float64), np.asarray(steps), "step_sizes", rtol=0, atol=0,
                                   exact_dtype=False)
        return problem
    return judge


@register("newton_method")
def newton_method_cases(scratch: Path) -> list[Case]:
    quad = _quadratic(A2, B2)
    huber = _pseudo_huber_1d()
    wrong_gradient = (lambda w: 0.5 * w @ w, lambda w: -w, lambda w: np.eye(2))  # the "gradient" points uphill
    root = np.sqrt
    return [
        Case("quadratic: one step from (10, -7) to the minimum (1, 2)", (*quad, np.array([10.0, -7.0])),
             _newton_result([1.0, 2.0], [74.0, -7.0], [1.0])),
        Case("max_iter=0: no step", (*quad, np.array([10.0, -7.0])), _newton_result([10.0, -7.0], [74.0], []),
             kwargs={"max_iter": 0}),
        Case("sqrt(1 + w^2) from 0.5, plain: w -> -w^3 converges", (*huber, np.array([0.5])),
             _newton_result([0.0], [root(1.25), root(1 + 0.125 ** 2), root(1 + 0.5 ** 18), 1.0, 1.0], [1.0] * 4,
                            w_atol=1e-20), kwargs={"line_search": False}),
        Case("sqrt(1 + w^2) from 2, plain, 3 steps: overshoots to -512^3", (*huber, np.array([2.0])),
             _newton_result([-134217728.0], [root(5), root(65), root(1 + 512 ** 2), 134217728.0], [1.0] * 3),
             kwargs={"line_search": False, "max_iter": 3}),
        Case("sqrt(1 + w^2) from 2, plain: diverges, must raise FloatingPointError", (*huber, np.array([2.0])),
             raises=FloatingPointError, kwargs={"line_search": False}),
        Case("sqrt(1 + w^2) from 2 with line search: t = 1/4, then full steps",
             (*huber, np.array([2.0])),
             _newton_result([0.0], [root(5), root(1.25), root(1 + 0.125 ** 2), root(1 + 0.5 ** 18), 1.0, 1.0],
                            [0.25, 1.0, 1.0, 1.0, 1.0], w_atol=1e-20)),
        Case("a loss that is NaN beyond w = 2: a NaN loss is no decrease, so t = 1/2",
             (_undefined_beyond_2(huber[0]), huber[1], huber[2], np.array([-1.5])),
             lambda got: _steps_start_with(got, 0.5)),
        Case("an uphill direction: the line search must give up with RuntimeError", (*wrong_gradient, np.array([1.0, 2.0])),
             raises=RuntimeError),
    ]


# --- hidden cases (compared with the reference solution's output) ---------------------------------

@register_hidden("mse_gradient")
def mse_gradient_hidden(rng: np.random.Generator, scratch: Path) -> list[Case]:
    cases = []
    for i in range(3):
        n, d = int(rng.integers(5, 60)), int(rng.integers(1, 12))
        X, y, w = rng.standard_normal((n, d)), rng.standard_normal(n), rng.standard_normal(d)
        cases.append(Case(f"random {n} x {d}", (w, X, y), rtol=1e-9, atol=1e-12))
    return cases


@register_hidden("mse_hessian")
def mse_hessian_hidden(rng: np.random.Generator, scratch: Path) -> list[Case]:
    return [Case(f"random {n} x {d}", (rng.standard_normal((n, d)),), rtol=1e-9, atol=1e-12)
            for n, d in [(int(rng.integers(2, 40)), int(rng.integers(1, 10))) for _ in range(3)]]


@register_hidden("newton_step")
def newton_step_hidden(rng: np.random.Generator, scratch: Path) -> list[Case]:
    cases = []
    for i in range(3):
        d = int(rng.integers(1, 30))
        B = rng.standard_normal((d + 5, d))
        H = B.T @ B / (d + 5) + 0.1 * np.eye(d)
        cases.append(Case(f"random positive definite {d} x {d}", (rng.standard_normal(d), H), rtol=1e-8, atol=1e-10))
    n = int(rng.integers(2, 6))
    X = rng.standard_normal((n, n + int(rng.integers(1, 5))))
    cases.append(Case(f"{X.shape[1]} features, {n} examples", (rng.standard_normal(X.shape[1]), X.T @ X / n),
                      **_SINGULAR))
    return cases


def _logistic_problem(rng):
    n, d = int(rng.integers(5, 80)), int(rng.integers(1, 10))
    X = rng.standard_normal((n, d))
    y = rng.integers(0, 2, n).astype(np.float64)
    w = rng.standard_normal(d) * float(rng.choice([0.1, 1.0, 10.0]))
    return (w, X, y, float(rng.choice([0.0, 1e-3, 0.1])))


@register_hidden("logistic_loss")
def logistic_loss_hidden(rng: np.random.Generator, scratch: Path) -> list[Case]:
    return [Case(f"random problem {i}", _logistic_problem(rng), rtol=1e-9, atol=1e-12) for i in range(4)]


@register_hidden("logistic_gradient")
def logistic_gradient_hidden(rng: np.random.Generator, scratch: Path) -> list[Case]:
    return [Case(f"random problem {i}", _logistic_problem(rng), rtol=1e-9, atol=1e-12) for i in range(4)]


@register_hidden("logistic_hessian")
def logistic_hessian_hidden(rng: np.random.Generator, scratch: Path) -> list[Case]:
    return [Case(f"random problem {i}", _logistic_problem(rng), rtol=1e-9, atol=1e-12) for i in range(4)]


def _pseudo_huber_regression(A, c, mu):
    """f(w) = mean_i sqrt(1 + (a_i.w - c_i)^2) + mu/2 ||w||^2: convex, curvature fading away from the fit."""
    m = len(c)

    def f(w):
        r = A @ w - c
        return float(np.mean(np.sqrt(1 + r * r)) + mu / 2 * (w @ w))

    def g(w):
        r = A @ w - c
        return A.T @ (r / np.sqrt(1 + r * r)) / m + mu * w

    def h(w):
        r = A @ w - c
        return A.T @ (A * ((1 + r * r) ** -1.5)[:, None]) / m + mu * np.eye(A.shape[1])
    return f, g, h


@register_hidden("newton_method")
def newton_method_hidden(rng: np.random.Generator, scratch: Path) -> list[Case]:
    d = int(rng.integers(2, 8))
    B = rng.standard_normal((d + 3, d))
    quad = _quadratic(B.T @ B / (d + 3) + 0.1 * np.eye(d), rng.standard_normal(d))
    cases = [Case(f"random quadratic in {d} dimensions", (*quad, 10 * rng.standard_normal(d)), rtol=1e-6, atol=1e-8)]
    for i in range(2):
        m, d = int(rng.integers(10, 40)), int(rng.integers(2, 6))
        problem = _pseudo_huber_regression(rng.standard_normal((m, d)), rng.standard_normal(m), 0.01)
        cases.append(Case(f"pseudo-Huber regression {i}, far start, line search", (*problem, 20 * rng.standard_normal(d)),
                          rtol=1e-6, atol=1e-8, kwargs={"tol": 1e-8}))
    return cases
