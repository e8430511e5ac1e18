"""Public and hidden checks of assignment 03 (stochastic gradient descent).

The expected numbers below were computed once by the reference solution and written down.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import Case, batch_of_each_example, batch_scale_problem, expect_array, register, register_hidden

TINY_X = np.array([[1, 0, 2], [0, 1, 1], [2, 1, 0], [1, 1, 1], [0, 2, 1]], dtype=np.float32)
TINY_Y = np.array([0, 1, 2, 1, 0], dtype=np.uint8)


def _loss(H: np.ndarray, y: np.ndarray) -> float:
    """Average cross-entropy of logits H (float64 arithmetic), for judging results."""
    H = H.astype(np.float64)
    top = H.max(axis=1, keepdims=True)
    return float(np.mean(np.log(np.exp(H - top).sum(axis=1)) + top[:, 0] - H[np.arange(len(y)), y]))


def _random_problem(seed: int, n: int, d: int, k: int, scale: float = 1.0):
    rng = np.random.default_rng(seed)
    X = (rng.random((n, d), dtype=np.float32) * np.float32(scale)).astype(np.float32)
    return X, rng.integers(0, k, n).astype(np.uint8)


def _float32_array(got, shape: tuple, name: str) -> str | None:
    """None if ``got`` is a finite float32 array of ``shape``, else what is wrong."""
    if not isinstance(got, np.ndarray):
        return f"{name}: expected a numpy array, got {type(got).__name__}"
    if got.dtype != np.float32 or got.shape != shape:
        return f"{name}: expected float32 of shape {shape}, got {got.dtype} of shape {got.shape}"
    if not np.isfinite(got).all():
        return f"{name}: expected finite values, got {int(np.sum(~np.isfinite(got)))} NaN/inf"
    return None


def _not_in_place(name: str, got, before: np.ndarray) -> str | None:
    """The message for an array the epoch had to update in place but left as it was."""
    if isinstance(got, np.ndarray) and got.shape == before.shape and np.array_equal(got, before):
        return (f"{name}: unchanged after the epoch; update it in place ({name} -= ...), "
                f"not {name} = {name} - ... (that makes a new array the caller never sees)")
    return None


def _updated(name: str, got: np.ndarray, expected: np.ndarray, before: np.ndarray, *, rtol=1e-5, atol=1e-6,
             mistakes: dict | None = None) -> str | None:
    """Judge an array the function had to update in place, starting from ``before``."""
    return _not_in_place(name, got, before) or expect_array(got, expected, name, rtol=rtol, atol=atol,
                                                             mistakes=mistakes)


#: 11 examples with one feature each (X = I): example i moves only row i of theta, and from theta = 0 its
#: logits are still 0 when its batch comes, so row i ends at -lr (1/k - e_{y_i}) / (size of i's batch).
#: With batch 4 that size is 4 for rows 0-7 and 3 for rows 8-10, when the batches go in order.
ORDER_Y = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 2, 1], dtype=np.uint8)


def _order_judge(lr: float, batch: int, k: int = 3):
    n = len(ORDER_Y)
    unit = np.full((n, k), 1 / k) - np.eye(k)[ORDER_Y]  # each example's gradient at theta = 0
    sizes = batch_of_each_example(n, batch)
    expected = (-lr * unit / sizes[:, None]).astype(np.float32)

    def judge(args):
        theta = args[2]
        problem = _float32_array(theta, (n, k), "theta") or _not_in_place("theta", theta, np.zeros((n, k), np.float32))
        if problem:
            return problem
        scales = -(theta.astype(np.float64) * unit).sum(axis=1) / (lr * (unit * unit).sum(axis=1))
        if np.allclose(theta, -lr * scales[:, None] * unit, rtol=1e-3, atol=1e-6):  # each row along its gradient
            problem = batch_scale_problem(scales, batch)
            if problem:
                return f"theta: {problem}"
        return expect_array(theta, expected, "theta", rtol=1e-5, atol=1e-7)
    return judge


@register("softmax_regression_epoch")
def epoch_cases(scratch: Path) -> list[Case]:
    tiny_theta = np.array([[-0.15400133, -0.08306982, 0.2370711],
                           [0.51422906, -0.32331172, -0.19091737],
                           [0.54565805, -0.1224215, -0.4232366]], dtype=np.float32)
    X, y = _random_problem(3, 200, 20, 4)

    def judge_random(args):
        theta = args[2]
        problem = _float32_array(theta, (20, 4), "theta") or _not_in_place("theta", theta, np.zeros((20, 4), np.float32))
        if problem:
            return problem
        loss = _loss(X @ theta, y)
        if abs(loss - 1.3806187) <= 2e-5:
            return None
        hint = " (that is what summing instead of averaging the batch gradient gives)" if abs(loss - 6.2100887) < 1e-3 else ""
        return f"loss after the epoch: expected 1.380619, got {loss:.6f}{hint}"

    large_theta = np.array([[112.43023, 54.317657, -166.74785],
                            [152.51297, 165.22743, -317.74048],
                            [144.6086, -61.95485, -82.65373],
                            [157.17755, -66.72244, -90.455124],
                            [205.81075, -90.045166, -115.76564],
                            [200.52463, -5.734955, -194.78972]], dtype=np.float32)
    rng = np.random.default_rng(3)
    rng.random((200, 20), dtype=np.float32), rng.integers(0, 4, 200)  # same stream as when written down
    X_large = (rng.random((30, 6), dtype=np.float32) * 1000).astype(np.float32)
    y_large = rng.integers(0, 3, 30).astype(np.uint8)
    return [
        Case("5 examples, batch 2 (the last batch has 1), lr 0.5", (TINY_X.copy(), TINY_Y, np.zeros((3, 3), np.float32)),
             lambda args: _updated("theta", args[2], tiny_theta, np.zeros((3, 3), np.float32)),
             kwargs={"lr": 0.5, "batch": 2}, judge_args=True),
        Case("11 one-feature examples, batch 4: batches in order (rows 0-3, 4-7, 8-10), each averaged over its size",
             (np.eye(11, dtype=np.float32), ORDER_Y, np.zeros((11, 3), np.float32)), _order_judge(0.6, 4),
             kwargs={"lr": 0.6, "batch": 4}, judge_args=True),
        Case("200 x 20, 4 classes, batch 50: the loss after one epoch",
             (X, y, np.zeros((20, 4), np.float32)), judge_random, kwargs={"lr": 0.1, "batch": 50}, judge_args=True),
        Case("inputs up to 1000 (logits in the 100,000s): stays finite with the row max subtracted",
             (X_large, y_large, np.zeros((6, 3), np.float32)),
             lambda args: _updated("theta", args[2], large_theta, np.zeros((6, 3), np.float32), rtol=1e-4, atol=1e-3),
             kwargs={"lr": 1.0, "batch": 10}, judge_args=True),
    ]


@register("softmax_regression_epoch_l2")
def epoch_l2_cases(scratch: Path) -> list[Case]:
    tiny_W = np.array([[-0.17122093, -0.08819996, 0.25942084],
                       [0.5606001, -0.3894116, -0.17118856],
                       [0.5409616, -0.15316375, -0.38779792]], dtype=np.float32)
    tiny_b = np.array([0.28179353, -0.14835387, -0.1334397], dtype=np.float32)
    zeros_b = np.array([-0.07761818, -0.21119094, 0.28880906], dtype=np.float32)

    def judge_tiny(args):
        return (_updated("W", args[2], tiny_W, np.zeros((3, 3), np.float32))
                or _updated("b", args[3], tiny_b, np.zeros(3, np.float32)))

    def judge_decay(args):
        # X = 0: the data gradient of W vanishes, so W only decays by (1 - lr * l2) per batch: 0.9^3
        return (_updated("W (decayed by 0.9 per batch)", args[2], np.full((4, 3), 0.729, np.float32),
                         np.ones((4, 3), np.float32), mistakes={"no L2 term in W's step": np.ones((4, 3))})
                or _updated("b (not decayed)", args[3], zeros_b, np.zeros(3, np.float32)))

    return [
        Case("5 examples, batch 2, lr 0.5, l2 0.1", (TINY_X.copy(), TINY_Y, np.zeros((3, 3), np.float32),
                                                     np.zeros(3, np.float32)),
             judge_tiny, kwargs={"lr": 0.5, "batch": 2, "l2": 0.1}, judge_args=True),
        Case("all-zero inputs, W = 1: the penalty shrinks W, not b", (np.zeros((6, 4), np.float32),
             np.array([0, 0, 1, 2, 2, 2], np.uint8), np.ones((4, 3), np.float32), np.zeros(3, np.float32)),
             judge_decay, kwargs={"lr": 0.5, "batch": 2, "l2": 0.2}, judge_args=True),
    ]


def _train_problem():
    rng = np.random.default_rng(7)
    X = rng.random((60, 8), dtype=np.float32)
    Xv = rng.random((20, 8), dtype=np.float32)
    label = lambda A: ((A[:, 0] > 0.5).astype(np.uint8) + (A[:, 1] > 0.5).astype(np.uint8))  # noqa: E731
    return X, label(X), Xv, label(Xv)


@register("train")
def train_cases(scratch: Path) -> list[Case]:
    X, y, Xv, yv = _train_problem()
    expected = {"train_loss": [1.28092, 1.16264, 1.04847], "train_error": [0.716667, 0.533333, 0.5],
                "val_loss": [1.35085, 1.23713, 1.13187], "val_error": [0.75, 0.6, 0.5]}

    def judge(got):
        if not (isinstance(got, tuple) and len(got) == 3):
            return f"expected a tuple (W, b, history), got {type(got).__name__}"
        W, b, history = got
        problem = _float32_array(W, (8, 3), "W") or _float32_array(b, (3,), "b")
        if problem:
            return problem
        if not isinstance(history, dict) or set(history) != set(expected):
            return f"history: expected a dict with keys {sorted(expected)}, got {history!r}"[:200]
        for key, values in expected.items():
            got_values = history[key]
            if len(got_values) != 3:
                return f"history[{key!r}]: expected one value per epoch (3), got {len(got_values)}"
            if not np.allclose(np.asarray(got_values, dtype=float), values, rtol=1e-4, atol=1e-5):
                return (f"history[{key!r}]: expected {values}, "
                        f"got {[float(f'{v:.6g}') for v in got_values]}")
        return None

    def bad(**kwargs):
        return {"epochs": 3, "lr": 2.0, "batch": 16, "l2": 1e-3, "num_classes": 3, **kwargs}

    return [
        Case("60 training, 20 validation examples, 3 epochs", (X, y, Xv, yv), judge, kwargs=bad()),
        Case("lr = 0 is refused, naming lr", (X, y, Xv, yv), kwargs=bad(lr=0.0), **_refused("lr")),
        Case("lr < 0 is refused, naming lr", (X, y, Xv, yv), kwargs=bad(lr=-0.1), **_refused("lr")),
        Case("batch = 0 is refused, naming batch", (X, y, Xv, yv), kwargs=bad(batch=0), **_refused("batch")),
        Case("batch larger than the training set is refused, naming batch", (X, y, Xv, yv), kwargs=bad(batch=61),
             **_refused("batch")),
        Case("negative L2 is refused, naming l2", (X, y, Xv, yv), kwargs=bad(l2=-1e-4), **_refused("l2")),
        Case("epochs = 0 is refused, naming epochs", (X, y, Xv, yv), kwargs=bad(epochs=0), **_refused("epochs")),
    ]


#: What a refusal of each hyperparameter must name (so that numpy's or range()'s own errors do not pass).
_NAMES = {"lr": r"\blr\b|learning.rate", "batch": r"batch", "l2": r"\bl2\b|lambda|regulari|penalt",
          "epochs": r"epoch"}


def _refused(name: str) -> dict:
    """The ``Case`` fields of a refusal: a ValueError whose message names the hyperparameter."""
    return {"raises": ValueError, "match": _NAMES[name], "match_what": f"the hyperparameter ({name})"}


# ---------------------------------------------------------------- hidden cases (graders)

def _random_hidden_problem(rng: np.random.Generator):
    """Sizes n, d, k and a random float32 X (n, d), uint8 y (n,) and small W (d, k)."""
    n, d, k = int(rng.integers(20, 80)), int(rng.integers(3, 15)), int(rng.integers(2, 7))
    X = rng.random((n, d), dtype=np.float32)
    y = rng.integers(0, k, n).astype(np.uint8)
    W = (rng.normal(size=(d, k)) * 0.1).astype(np.float32)
    return n, d, k, X, y, W


@register_hidden("softmax_regression_epoch")
def epoch_hidden(rng: np.random.Generator, scratch: Path) -> list[Case]:
    cases = []
    for i in range(3):
        n, d, k, X, y, theta = _random_hidden_problem(rng)
        cases.append(Case(f"random {n} x {d}, {k} classes", (X, y, theta), None, judge_args=True, rtol=1e-4, atol=1e-5,
                          kwargs={"lr": float(rng.uniform(0.05, 1.0)), "batch": int(rng.integers(1, n + 1))}))
    return cases


@register_hidden("softmax_regression_epoch_l2")
def epoch_l2_hidden(rng: np.random.Generator, scratch: Path) -> list[Case]:
    cases = []
    for i in range(3):
        n, d, k, X, y, W = _random_hidden_problem(rng)
        b = (rng.normal(size=k) * 0.1).astype(np.float32)
        cases.append(Case(f"random {n} x {d}, {k} classes", (X, y, W, b), None, judge_args=True, rtol=1e-4, atol=1e-5,
                          kwargs={"lr": float(rng.uniform(0.05, 1.0)), "batch": int(rng.integers(1, n + 1)),
                                  "l2": float(rng.choice([0.0, 1e-3, 0.1]))}))
    return cases


@register_hidden("train")
def train_hidden(rng: np.random.Generator, scratch: Path) -> list[Case]:
    n, d = int(rng.integers(30, 90)), int(rng.integers(4, 12))
    X = rng.random((n, d), dtype=np.float32)
    Xv = rng.random((25, d), dtype=np.float32)
    y = (X[:, 0] > 0.5).astype(np.uint8)
    yv = (Xv[:, 0] > 0.5).astype(np.uint8)
    kwargs = {"epochs": int(rng.integers(1, 5)), "lr": float(rng.uniform(0.1, 1.0)),
              "batch": int(rng.integers(1, n + 1)), "l2": float(rng.choice([0.0, 1e-3])), "num_classes": 2}
    return [Case(f"random {n} x {d}, 2 classes", (X, y, Xv, yv), None, kwargs=kwargs, rtol=1e-4, atol=1e-5),
            Case("batch 0 is refused", (X, y, Xv, yv), kwargs={**kwargs, "batch": 0}, **_refused("batch")),
            Case("a batch of n + 1 is refused", (X, y, Xv, yv), kwargs={**kwargs, "batch": n + 1}, **_refused("batch"))]
