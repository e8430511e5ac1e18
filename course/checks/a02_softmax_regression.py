"""Checks of assignment 02 (softmax regression): public cases with numbers worked out by hand,
and randomised hidden cases for the grader.

Most expected values are exact fractions: logits such as (0, log 2, log 3) give the
probabilities (1/6, 1/3, 1/2).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import Case, expect_array, likely_mistake, register, register_hidden

LOG2, LOG3, LOG4 = np.log(2.0), np.log(3.0), np.log(4.0)
#: Logits whose softmax rows are (1/6, 1/3, 1/2), (4/9, 1/9, 4/9) and (1/3, 1/3, 1/3).
Z_EXACT = np.array([[0.0, LOG2, LOG3], [LOG4, 0.0, LOG4], [0.0, 0.0, 0.0]])
P_EXACT = np.array([[1 / 6, 1 / 3, 1 / 2], [4 / 9, 1 / 9, 4 / 9], [1 / 3, 1 / 3, 1 / 3]])
Y_EXACT = np.array([2, 1, 0], dtype=np.uint8)
#: Logits of +-1000: exp overflows (even in float64) unless the row maximum is subtracted first.
Z_HUGE = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 1000.0]], dtype=np.float32)
Y_HUGE = np.array([0, 0], dtype=np.uint8)


def _f32(a) -> np.ndarray:
    return np.array(a, dtype=np.float32)


def _labels(m: int, k: int, rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, k, size=m).astype(np.uint8)


def expect_number(got, expected: float, what: str = "loss", *, rtol: float = 1e-6, atol: float = 1e-6,
                  batch: int | None = None, mistakes: dict[str, float] | None = None) -> str | None:
    """None if ``got`` is one real number close to ``expected``, else why not (one line).

    A float, a numpy scalar or a 0-d array passes the type test; with ``batch`` (the number of
    examples) a result ``batch`` times too big is reported as a sum instead of a mean, and
    ``mistakes`` name what other typical mistakes give (see :func:`course.checks.likely_mistake`).
    """
    if isinstance(got, np.ndarray) and got.ndim > 0:
        return f"{what}: expected one number (the average over the batch), got an array of {got.dtype} with shape {got.shape}"
    if isinstance(got, (bool, np.bool_)) or not isinstance(got, (int, float, np.integer, np.floating, np.ndarray)):
        return f"{what}: expected a number, got {type(got).__name__}"
    value = float(got)
    if not np.isfinite(value):
        return f"{what}: expected the finite number {expected:.10g}, got {value}"
    if abs(value - expected) <= atol + rtol * abs(expected):
        return None
    hint = likely_mistake(value, expected, batch=batch, mistakes=mistakes)
    if not hint and abs(value - expected) <= 1e-6 * abs(expected):
        hint = " (right to float32 precision only: compute in the dtype of the logits)"
    return f"{what}: expected {expected:.10g}, got {value:.10g}{hint}"


def _properties(shape: tuple, dtype, *, row_sum: float, what: str, nonnegative: bool = False,
                row_bound: np.ndarray | None = None, batch: int | None = None):
    """A judge: an array of ``shape`` and ``dtype``, finite, whose rows sum to ``row_sum`` (to float32
    rounding of the row's entries: 1e-5 of their absolute sum) and, with ``row_bound``, whose row i has
    an absolute sum of at most ``row_bound[i]``; ``batch`` names a result ``batch`` times too big."""
    def judge(got):
        if not isinstance(got, np.ndarray):
            return f"{what}: expected a numpy array, got {type(got).__name__}"
        if got.dtype != dtype or got.shape != shape:
            transposed = " (transposed?)" if got.shape == shape[::-1] else ""
            return f"{what}: expected {np.dtype(dtype)} of shape {shape}, got {got.dtype} of shape {got.shape}{transposed}"
        if not np.all(np.isfinite(got)):
            return f"{what}: expected finite values, got {int(np.sum(~np.isfinite(got)))} NaN/inf"
        if nonnegative and got.min() < 0:
            return f"{what}: expected values >= 0, got {got.min():.6g}"
        sizes = np.abs(got).sum(axis=1, dtype=np.float64)
        if row_bound is not None:
            ratio = sizes / row_bound
            worst = int(np.argmax(ratio))
            if ratio[worst] > 1 + 1e-5:
                hint = f": the sum over the {batch} examples instead of their average (a missing 1/{batch})?" if batch else ""
                return (f"{what}: row {worst}'s entries add up to {sizes[worst]:.4g} in absolute value, "
                        f"{ratio[worst]:.3g} times what an average over the batch can give ({row_bound[worst]:.4g}){hint}")
        error = np.abs(got.sum(axis=1, dtype=np.float64) - row_sum)
        worst = int(np.argmax(error - 1e-5 * sizes))
        if error[worst] > 1e-5 * sizes[worst] + 1e-12:
            return (f"{what}: expected every row to sum to {row_sum:g}, row {worst} sums to "
                    f"{got[worst].sum(dtype=np.float64):.6g} (its entries' absolute sum is {sizes[worst]:.3g})")
        return None
    return judge


# ---------------------------------------------------------------------------------- softmax
@register("softmax")
def softmax_cases(scratch: Path) -> list[Case]:
    def expect(P, **tol):
        return lambda got: expect_array(got, P, "probabilities", **tol)

    big = np.random.default_rng(20).normal(0, 5, size=(1000, 10)).astype(np.float32)
    return [
        Case("zero logits (2, 10): every probability 0.1", (np.zeros((2, 10), np.float32),),
             expect(np.full((2, 10), 0.1, np.float32))),
        Case("logits (1, 2, 3) -> (0.0900306, 0.244728, 0.665241)", (_f32([[1, 2, 3]]),),
             expect(_f32([[0.09003057, 0.24472847, 0.66524096]]))),
        Case("3 rows of exact fractions: (1/6, 1/3, 1/2), (4/9, 1/9, 4/9), (1/3, 1/3, 1/3)",
             (_f32(Z_EXACT),), expect(_f32(P_EXACT))),
        Case("adding 100 to every logit changes nothing", (_f32(Z_EXACT + 100),), expect(_f32(P_EXACT), atol=1e-5)),
        Case("logits of +-1000 stay finite: (1, 0, 0) and (0, 0.5, 0.5)", (Z_HUGE.copy(),),
             expect(_f32([[1, 0, 0], [0, 0.5, 0.5]]))),
        Case("float64 logits give float64 probabilities (to 1e-12)", (Z_EXACT.copy(),),
             expect(P_EXACT, rtol=1e-12, atol=1e-15)),
        Case("1,000 x 10 random logits: float32 rows of probabilities summing to 1", (big,),
             _properties((1000, 10), np.float32, row_sum=1.0, what="probabilities", nonnegative=True)),
    ]


@register_hidden("softmax")
def softmax_hidden(rng: np.random.Generator, scratch: Path) -> list[Case]:
    cases = []
    for scale in (1.0, 30.0, 800.0):
        m, k = int(rng.integers(1, 60)), int(rng.integers(2, 12))
        cases.append(Case(f"random logits, scale {scale:g}", (rng.normal(0, scale, (m, k)).astype(np.float32),),
                          rtol=1e-4, atol=1e-6))
    cases.append(Case("random float64 logits", (rng.normal(0, 3, (7, 5)),), rtol=1e-10, atol=1e-14))
    return cases


# ----------------------------------------------------------------------------- softmax_loss
@register("softmax_loss")
def softmax_loss_cases(scratch: Path) -> list[Case]:
    def expect(value, m=None, **tol):
        return lambda got: expect_number(got, value, batch=m, **tol)

    return [
        Case("zero logits (5, 10): log 10 = 2.302585", (np.zeros((5, 10), np.float32), np.arange(5, dtype=np.uint8)),
             expect(np.log(10.0), m=5)),
        Case("logits (1, 2, 3), label 2: -log 0.665241 = 0.4076060", (_f32([[1, 2, 3]]), np.array([2], np.uint8)),
             expect(0.40760596444)),
        Case("3 examples, labels (2, 1, 0): (log 2 + log 9 + log 3) / 3 = 1.329661",
             (_f32(Z_EXACT), Y_EXACT.copy()), lambda got: expect_number(got, np.log(54.0) / 3, batch=3, mistakes={
                 "the mean of the m x k matrix (the true-class logits divided by m k, not m)": 1.5737974378797743})),
        Case("logits of +-1000 stay finite: (0 + 2000 + log 2) / 2 = 1000.346574", (Z_HUGE.copy(), Y_HUGE.copy()),
             expect(1000 + LOG2 / 2, m=2, rtol=1e-6)),
        Case("float64 precision: logits (0, 1e-7), label 0 -> 0.6931472305599465 (to 1e-12)",
             (np.array([[0.0, 1e-7]]), np.array([0], np.uint8)), expect(0.6931472305599465, rtol=1e-12, atol=0)),
    ]


def _random_logit_cases(rng: np.random.Generator, atol32: float, atol64: float) -> list[Case]:
    """Random float32 logits at three scales (up to 900) and one float64 case, with labels."""
    cases = []
    for scale in (1.0, 20.0, 900.0):
        m, k = int(rng.integers(1, 80)), int(rng.integers(2, 12))
        cases.append(Case(f"random logits, scale {scale:g}",
                          (rng.normal(0, scale, (m, k)).astype(np.float32), _labels(m, k, rng)), rtol=1e-4, atol=atol32))
    cases.append(Case("random float64 logits", (rng.normal(0, 2, (9, 4)), _labels(9, 4, rng)), rtol=1e-10, atol=atol64))
    return cases


@register_hidden("softmax_loss")
def softmax_loss_hidden(rng: np.random.Generator, scratch: Path) -> list[Case]:
    return _random_logit_cases(rng, atol32=1e-5, atol64=1e-12)


def _expect_gradient(G: np.ndarray, m: int, **tol):
    """A judge: the result must be the array G (dtype, shape, values within tol), the average over m examples."""
    return lambda got: expect_array(got, G, "gradient", batch=m, **tol)


# ------------------------------------------------------------------------ softmax_loss_grad
@register("softmax_loss_grad")
def softmax_loss_grad_cases(scratch: Path) -> list[Case]:
    grad_exact = (P_EXACT - np.eye(3)[Y_EXACT]) / 3
    big = np.random.default_rng(21).normal(0, 4, size=(500, 10)).astype(np.float32)
    return [
        Case("zero logits (2, 3), labels (0, 2): [[-1/3, 1/6, 1/6], [1/6, 1/6, -1/3]]",
             (np.zeros((2, 3), np.float32), np.array([0, 2], np.uint8)),
             _expect_gradient(_f32([[-1 / 3, 1 / 6, 1 / 6], [1 / 6, 1 / 6, -1 / 3]]), 2)),
        Case("3 examples, labels (2, 1, 0), exact fractions", (_f32(Z_EXACT), Y_EXACT.copy()),
             _expect_gradient(_f32(grad_exact), 3)),
        Case("logits of +-1000 stay finite: (0, 0, 0) and (-0.5, 0.25, 0.25)", (Z_HUGE.copy(), Y_HUGE.copy()),
             _expect_gradient(_f32([[0, 0, 0], [-0.5, 0.25, 0.25]]), 2)),
        Case("float64 logits give a float64 gradient (to 1e-12)", (Z_EXACT.copy(), Y_EXACT.copy()),
             _expect_gradient(grad_exact, 3, rtol=1e-12, atol=1e-15)),
        Case("500 x 10 random logits: float32 (500, 10), every row sums to 0", (big, _labels(500, 10, np.random.default_rng(22))),
             _properties((500, 10), np.float32, row_sum=0.0, what="gradient", row_bound=np.full(500, 2 / 500),
                         batch=500)),
    ]


@register_hidden("softmax_loss_grad")
def softmax_loss_grad_hidden(rng: np.random.Generator, scratch: Path) -> list[Case]:
    return _random_logit_cases(rng, atol32=1e-7, atol64=1e-14)


# ------------------------------------------------------------------ softmax_regression_grad
@register("softmax_regression_grad")
def softmax_regression_grad_cases(scratch: Path) -> list[Case]:
    X1 = np.array([[1, 2, 0], [0, 1, -1]], np.float32)  # m=2 examples, n=3 inputs, k=4 classes
    grad1 = np.array([[1, -3, 1, 1], [3, -5, 3, -1], [-1, -1, -1, 3]]) / 8
    # X2 @ theta2 has the rows (0, log 2, log 3), (log 4, 0, log 4), (log 4, log 2, log 12)
    X2 = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    theta2 = np.array([[0.0, LOG2, LOG3], [LOG4, 0.0, LOG4]])
    grad2 = np.array([[-11, 8, 3], [-6, -14, 20]]) / 54
    rng = np.random.default_rng(23)
    X3 = rng.random((200, 784), dtype=np.float32)
    return [
        Case("X (2, 3), theta = 0 (3, 4), labels (1, 3): a (3, 4) gradient, not (4, 3)",
             (X1, np.array([1, 3], np.uint8), np.zeros((3, 4), np.float32)), _expect_gradient(_f32(grad1), 2)),
        Case("X (3, 2), theta (2, 3), labels (2, 1, 0): [[-11, 8, 3], [-6, -14, 20]] / 54",
             (_f32(X2), Y_EXACT.copy(), _f32(theta2)), _expect_gradient(_f32(grad2), 3)),
        Case("the same in float64 (to 1e-12)", (X2, Y_EXACT.copy(), theta2),
             _expect_gradient(grad2, 3, rtol=1e-12, atol=1e-15)),
        Case("X (200, 784), theta = 0 (784, 10): float32 (784, 10), rows sum to 0",
             (X3, _labels(200, 10, rng), np.zeros((784, 10), np.float32)),
             # row p of the average gradient: (1/m) sum_i X[i, p] (z_i - e_y_i), and each |z_i - e_y_i| sums to <= 2
             _properties((784, 10), np.float32, row_sum=0.0, what="gradient",
                         row_bound=2 * np.abs(X3).sum(axis=0, dtype=np.float64) / 200, batch=200)),
    ]


@register_hidden("softmax_regression_grad")
def softmax_regression_grad_hidden(rng: np.random.Generator, scratch: Path) -> list[Case]:
    cases = []
    for _ in range(3):
        m, n, k = int(rng.integers(1, 60)), int(rng.integers(1, 40)), int(rng.integers(2, 12))
        X = rng.random((m, n), dtype=np.float32)
        theta = rng.normal(0, 1, (n, k)).astype(np.float32)
        cases.append(Case(f"random X ({m}, {n}), theta ({n}, {k})", (X, _labels(m, k, rng), theta),
                          rtol=1e-4, atol=1e-6))
    cases.append(Case("random float64", (rng.random((8, 5)), _labels(8, 3, rng), rng.normal(0, 1, (5, 3))),
                      rtol=1e-10, atol=1e-13))
    return cases
