"""Newton's method of notebook 05 (the reference solution) beside scikit-learn, on MNIST 3 vs 8.

    python bench/bench_newton.py [MNIST_DIR]

Prints a Markdown table. The problem is the notebook's: L2-regularised logistic regression with
the bias as a column of ones (regularised too), lam = 1e-2, float64, here on all 785 columns (the
notebook drops the always-blank pixels, which leaves the optimum unchanged). scikit-learn's
LogisticRegression(solver="newton-cholesky", fit_intercept=False, C = 1 / (n lam)) minimises the
same function. Targets: the same optimum (loss within 1e-12, weights within 1e-6 relative), and
a time within 3x of scikit-learn's Newton solver (ours also checks every Hessian's eigenvalues).
Data: the real MNIST test set from MNIST_DIR (default ../shared/data/mnist) when present (about
2,000 threes and eights), else the embedded sample's training part (800).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import best_time, machine, table  # noqa: E402

import course  # noqa: E402
from course.questions import load_definitions  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data" / "mnist"
LAM = 1e-2


def load():
    if (SHARED / "t10k-images-idx3-ubyte.gz").is_file():
        X, y = course.load_dataset("mnist", "test", data_dir=SHARED)
    else:
        os.environ.setdefault("COURSE_DATA_SOURCE", "sample")  # no download attempt
        X, y = course.load_dataset("mnist", "train")
    keep = np.isin(y, (3, 8))
    A = np.hstack([X[keep].astype(np.float64), np.ones((int(keep.sum()), 1))])
    return A, (y[keep] == 8).astype(np.float64)


def main():
    from sklearn.linear_model import LogisticRegression
    import sklearn

    ref = load_definitions(ROOT / "solutions" / "05_newton.ipynb")
    A, t = load()
    n, d = A.shape
    loss = lambda w: ref["logistic_loss"](w, A, t, LAM)  # noqa: E731
    grad = lambda w: ref["logistic_gradient"](w, A, t, LAM)  # noqa: E731
    hess = lambda w: ref["logistic_hessian"](w, A, t, LAM)  # noqa: E731

    ours = lambda: ref["newton_method"](loss, grad, hess, np.zeros(d), tol=1e-10)  # noqa: E731
    model = LogisticRegression(C=1 / (n * LAM), solver="newton-cholesky", fit_intercept=False, tol=1e-10, max_iter=100)
    peer = lambda: model.fit(A, t)  # noqa: E731
    w, losses, grad_norms, steps = ours()
    peer()
    w_sk = model.coef_.ravel()
    # alternate the two, best of 5 each: on a shared machine the load changes between runs
    times = [(best_time(ours, repeat=1), best_time(peer, repeat=1)) for _ in range(5)]
    time_ours, time_peer = min(t[0] for t in times), min(t[1] for t in times)

    rows = [
        ["loss at the optimum", f"{losses[-1]:.15f}", "same as the peer within 1e-12",
         f"{loss(w_sk):.15f}", f"difference {losses[-1] - loss(w_sk):.1e}"],
        ["weights", f"grad norm {grad_norms[-1]:.1e}", "within 1e-6 of the peer's", f"grad norm {np.linalg.norm(grad(w_sk)):.1e}",
         f"relative difference {np.linalg.norm(w - w_sk) / np.linalg.norm(w_sk):.1e}"],
        ["iterations", f"{len(steps)}", "", f"{int(np.ravel(model.n_iter_)[0])}", ""],
        ["time to the optimum", f"{time_ours * 1e3:.0f} ms", "<= 3x the peer", f"{time_peer * 1e3:.0f} ms",
         f"{time_ours / time_peer:.2f}x"],
    ]
    print(f"Newton's method, MNIST 3 vs 8, n = {n}, d = {d}, lam = {LAM} ({machine()}, scikit-learn {sklearn.__version__})\n")
    print(table(["what", "notebook 05 newton_method", "target", "scikit-learn newton-cholesky", "comparison"], rows))


if __name__ == "__main__":
    main()
