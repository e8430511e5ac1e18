"""The public cases of assignment 02 (course/checks/a02_softmax_regression.py), rewritten as the plain
``assert`` tests that nbgrader's test cells and otter's test cells run: the same inputs, the same
expected values and tolerances, the same dtype, shape and finiteness checks (``np.isclose`` is what
``course.checks.expect_array`` uses). One string per public case, in the order of the checks module;
each is run inside a function of its own, so that its names do not change the notebook's.
"""
from __future__ import annotations

# helpers repeated inside the tests (each test is self-contained): an array like `expected`, and one number
_ARRAY = """def same_array(got, expected, rtol=1e-6, atol=1e-6):
    assert isinstance(got, np.ndarray), f"expected a numpy array, got {type(got).__name__}"
    assert got.dtype == expected.dtype and got.shape == expected.shape, f"got {got.dtype} {got.shape}"
    assert np.all(np.isfinite(got)) and np.all(np.isclose(got, expected, rtol=rtol, atol=atol))
"""
_NUMBER = """def same_number(got, expected, rtol=1e-6, atol=1e-6):
    assert not isinstance(got, (bool, np.bool_)) and np.ndim(got) == 0, f"expected one number, got {got!r}"
    assert isinstance(got, (int, float, np.integer, np.floating, np.ndarray)), type(got).__name__
    assert np.isfinite(float(got)) and abs(float(got) - expected) <= atol + rtol * abs(expected)
"""
# a float32 array of `shape`, finite, whose rows sum to `row_sum` within 1e-5 of their absolute sums
_ROWS = """def rows_sum_to(got, shape, row_sum):
    assert isinstance(got, np.ndarray) and got.dtype == np.float32 and got.shape == shape
    assert np.all(np.isfinite(got))
    sizes = np.abs(got).sum(axis=1, dtype=np.float64)
    assert np.all(np.abs(got.sum(axis=1, dtype=np.float64) - row_sum) <= 1e-5 * sizes + 1e-12)
    return sizes
"""
_EXACT = """L2, L3, L4 = np.log(2.0), np.log(3.0), np.log(4.0)
Z_EXACT = np.array([[0.0, L2, L3], [L4, 0.0, L4], [0.0, 0.0, 0.0]])
P_EXACT = np.array([[1 / 6, 1 / 3, 1 / 2], [4 / 9, 1 / 9, 4 / 9], [1 / 3, 1 / 3, 1 / 3]])
Y_EXACT = np.array([2, 1, 0], dtype=np.uint8)
"""
_HUGE = """Z_HUGE = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 1000.0]], dtype=np.float32)
Y_HUGE = np.array([0, 0], dtype=np.uint8)
"""
_GRAD_EXACT = _EXACT + "G_EXACT = (P_EXACT - np.eye(3)[Y_EXACT]) / 3\n"
_THETA = """X2 = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
THETA2 = np.array([[0.0, np.log(2.0), np.log(3.0)], [np.log(4.0), 0.0, np.log(4.0)]])
G2 = np.array([[-11, 8, 3], [-6, -14, 20]]) / 54
"""
#: question -> one (helpers, body) pair per public case
CASES: dict[str, list[tuple[tuple[str, ...], str]]] = {
    "softmax": [
        ((_ARRAY,), "same_array(softmax(np.zeros((2, 10), np.float32)), np.full((2, 10), 0.1, np.float32))"),
        ((_ARRAY,), "same_array(softmax(np.array([[1, 2, 3]], np.float32)), "
                 "np.array([[0.09003057, 0.24472847, 0.66524096]], np.float32))"),
        ((_ARRAY, _EXACT,), "same_array(softmax(Z_EXACT.astype(np.float32)), P_EXACT.astype(np.float32))"),
        ((_ARRAY, _EXACT,), "same_array(softmax((Z_EXACT + 100).astype(np.float32)), P_EXACT.astype(np.float32), atol=1e-5)"),
        ((_ARRAY, _HUGE,), "same_array(softmax(Z_HUGE.copy()), np.array([[1, 0, 0], [0, 0.5, 0.5]], np.float32))"),
        ((_ARRAY, _EXACT,), "same_array(softmax(Z_EXACT.copy()), P_EXACT, rtol=1e-12, atol=1e-15)"),
        ((_ROWS,), "big = np.random.default_rng(20).normal(0, 5, size=(1000, 10)).astype(np.float32)\n"
                "got = softmax(big)\nsizes = rows_sum_to(got, (1000, 10), 1.0)\nassert got.min() >= 0"),
    ],
    "softmax_loss": [
        ((_NUMBER,), "same_number(softmax_loss(np.zeros((5, 10), np.float32), np.arange(5, dtype=np.uint8)), np.log(10.0))"),
        ((_NUMBER,), "same_number(softmax_loss(np.array([[1, 2, 3]], np.float32), np.array([2], np.uint8)), 0.40760596444)"),
        ((_NUMBER, _EXACT,), "same_number(softmax_loss(Z_EXACT.astype(np.float32), Y_EXACT.copy()), np.log(54.0) / 3)"),
        ((_NUMBER, _HUGE,), "same_number(softmax_loss(Z_HUGE.copy(), Y_HUGE.copy()), 1000 + np.log(2.0) / 2)"),
        ((_NUMBER,), "same_number(softmax_loss(np.array([[0.0, 1e-7]]), np.array([0], np.uint8)), 0.6931472305599465, "
                  "rtol=1e-12, atol=0)"),
    ],
    "softmax_loss_grad": [
        ((_ARRAY,), "same_array(softmax_loss_grad(np.zeros((2, 3), np.float32), np.array([0, 2], np.uint8)), "
                 "np.array([[-1 / 3, 1 / 6, 1 / 6], [1 / 6, 1 / 6, -1 / 3]], np.float32))"),
        ((_ARRAY, _GRAD_EXACT,), "same_array(softmax_loss_grad(Z_EXACT.astype(np.float32), Y_EXACT.copy()), "
                               "G_EXACT.astype(np.float32))"),
        ((_ARRAY, _HUGE,), "same_array(softmax_loss_grad(Z_HUGE.copy(), Y_HUGE.copy()), "
                         "np.array([[0, 0, 0], [-0.5, 0.25, 0.25]], np.float32))"),
        ((_ARRAY, _GRAD_EXACT,), "same_array(softmax_loss_grad(Z_EXACT.copy(), Y_EXACT.copy()), G_EXACT, rtol=1e-12, atol=1e-15)"),
        ((_ROWS,), "big = np.random.default_rng(21).normal(0, 4, size=(500, 10)).astype(np.float32)\n"
                "y = np.random.default_rng(22).integers(0, 10, size=500).astype(np.uint8)\n"
                "sizes = rows_sum_to(softmax_loss_grad(big, y), (500, 10), 0.0)\n"
                "assert np.all(sizes <= (2 / 500) * (1 + 1e-5))"),
    ],
    "softmax_regression_grad": [
        ((_ARRAY,), "X1 = np.array([[1, 2, 0], [0, 1, -1]], np.float32)\n"
                 "G1 = np.array([[1, -3, 1, 1], [3, -5, 3, -1], [-1, -1, -1, 3]]) / 8\n"
                 "same_array(softmax_regression_grad(X1, np.array([1, 3], np.uint8), np.zeros((3, 4), np.float32)), "
                 "G1.astype(np.float32))"),
        ((_ARRAY, _THETA,), "same_array(softmax_regression_grad(X2.astype(np.float32), np.array([2, 1, 0], np.uint8), "
                          "THETA2.astype(np.float32)), G2.astype(np.float32))"),
        ((_ARRAY, _THETA,), "same_array(softmax_regression_grad(X2, np.array([2, 1, 0], np.uint8), THETA2), G2, "
                          "rtol=1e-12, atol=1e-15)"),
        ((_ROWS,), "rng = np.random.default_rng(23)\nX3 = rng.random((200, 784), dtype=np.float32)\n"
                "y = rng.integers(0, 10, size=200).astype(np.uint8)\n"
                "sizes = rows_sum_to(softmax_regression_grad(X3, y, np.zeros((784, 10), np.float32)), (784, 10), 0.0)\n"
                "assert np.all(sizes <= 2 * np.abs(X3).sum(axis=0, dtype=np.float64) / 200 * (1 + 1e-5))"),
    ],
}



def _wrapped(name: str, lines: list[str]) -> str:
    """``lines`` as the body of a function ``name`` and its call: the test's names stay out of the notebook."""
    body = "\n".join(("    " + line if line.strip() else "") for text in lines for line in text.splitlines())
    return f"import numpy as np\n\n\ndef {name}():\n{body}\n\n\n{name}()\n"


def otter_tests(question: str) -> list[str]:
    """One self-contained test cell per public case of ``question``."""
    return [_wrapped(f"check_{question}_{i}", [*helpers, body]) for i, (helpers, body) in enumerate(CASES[question], 1)]


def nbgrader_test(question: str) -> str:
    """One test cell for all public cases of ``question`` (its helpers written once)."""
    helpers = dict.fromkeys(h for hs, _ in CASES[question] for h in hs)
    return _wrapped(f"check_{question}", [*helpers, *(body + "\n" for _, body in CASES[question])])
