"""Finite-difference checks of derivatives: gradients, Jacobians and Hessians.

Central differences in float64. Each ``check_*`` compares an analytic derivative with the
numerical one and returns a :class:`DerivativeCheck` whose ``str`` is one pass/fail line and
whose ``.table()`` lists the worst entries. Evaluate the functions in float64: float32
rounding (about 1e-7) swamps a difference quotient.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from .guard import refuses_while_grading

__all__ = ["numerical_gradient", "numerical_jacobian", "numerical_hessian",
           "check_gradient", "check_jacobian", "check_hessian", "DerivativeCheck"]


@refuses_while_grading
def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of a scalar function: float64 array of x's shape."""
    return numerical_jacobian(lambda z: np.asarray(f(z), dtype=np.float64).reshape(()), x, eps)


@refuses_while_grading
def numerical_jacobian(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central-difference Jacobian: float64 array of shape ``f(x).shape + x.shape``.

    Entry ``[i..., j...]`` is d f(x)[i...] / d x[j...].
    """
    x = np.array(x, dtype=np.float64)
    out_shape = np.shape(f(x.copy()))
    jac = np.empty((int(np.prod(out_shape)), x.size))
    flat = x.reshape(-1)
    for j in range(x.size):
        saved = flat[j]
        flat[j] = saved + eps
        plus = np.asarray(f(x.copy()), dtype=np.float64).reshape(-1)
        flat[j] = saved - eps
        minus = np.asarray(f(x.copy()), dtype=np.float64).reshape(-1)
        flat[j] = saved
        jac[:, j] = (plus - minus) / (2 * eps)
    return jac.reshape(out_shape + x.shape)


@refuses_while_grading
def numerical_hessian(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-4,
                      grad: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """Numerical Hessian, float64 of shape ``x.shape + x.shape``.

    With ``grad`` (an analytic gradient) it is the central-difference Jacobian of ``grad``;
    otherwise second differences of ``f``. The result is symmetrised.
    """
    x = np.array(x, dtype=np.float64)
    if grad is not None:
        hess = numerical_jacobian(lambda z: grad(z), x, eps).reshape(x.size, x.size).T
    else:
        n = x.size
        hess = np.empty((n, n))
        flat = x.reshape(-1)

        def at(i, di, j, dj):
            z = flat.copy()
            z[i] += di
            z[j] += dj
            return float(f(z.reshape(x.shape)))

        for i in range(n):
            for j in range(i, n):
                hess[i, j] = hess[j, i] = (at(i, eps, j, eps) - at(i, eps, j, -eps)
                                           - at(i, -eps, j, eps) + at(i, -eps, j, -eps)) / (4 * eps * eps)
    hess = (hess + hess.T) / 2
    return hess.reshape(x.shape + x.shape)


@dataclass
class DerivativeCheck:
    """Analytic versus numerical derivative, entry by entry.

    ``relative`` holds |a - n| / max(|a|, |n|, floor) per entry; ``overall`` is
    ||a - n|| / max(||a||, ||n||, floor). The check passes when ``overall <= tol``.
    ``problem`` says why the two could not be compared (shapes that differ): then it fails.
    """
    name: str
    analytic: np.ndarray
    numerical: np.ndarray
    relative: np.ndarray
    overall: float
    tol: float
    problem: str | None = None

    @property
    def passed(self) -> bool:
        return bool(self.overall <= self.tol)

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        if self.problem:
            return f"FAIL  {self.name}: {self.problem}"
        # Where the worst entry is matters only on a FAIL: on a PASS it is rounding noise (and CPU-dependent).
        where = ""
        if not self.passed and self.relative.size:
            where = " [" + ", ".join(map(str, np.unravel_index(np.argmax(self.relative), self.relative.shape))) + "]"
        return (f"{'PASS' if self.passed else 'FAIL'}  {self.name}: shape {self.analytic.shape}, "
                f"relative error {self.overall:.1e} (tolerance {self.tol:.0e}), "
                f"worst entry{where}: {self.relative.max():.1e}")

    __repr__ = __str__

    def table(self, rows: int = 5) -> str:
        """The ``rows`` entries with the largest relative error, as aligned text."""
        if self.problem:
            return str(self)
        order = np.argsort(self.relative, axis=None)[::-1][:rows]
        lines = [f"{'entry':>14s} {'analytic':>13s} {'numerical':>13s} {'rel. error':>10s}"]
        for flat in order:
            idx = np.unravel_index(flat, self.relative.shape)
            lines.append(f"{str(list(map(int, idx))):>14s} {self.analytic[idx]:13.6e} "
                         f"{self.numerical[idx]:13.6e} {self.relative[idx]:10.1e}")
        return "\n".join(lines)


def _compare(name, analytic, numerical, tol, floor=1e-10) -> DerivativeCheck:
    analytic = np.asarray(analytic, dtype=np.float64)
    if analytic.shape != numerical.shape:
        transposed = " (transposed?)" if analytic.ndim == 2 and analytic.shape == numerical.shape[::-1] else ""
        problem = (f"the analytic derivative has shape {analytic.shape}, expected {numerical.shape} "
                   f"(the numerical one's: output shape, then the shape of what it differentiates){transposed}")
        return DerivativeCheck(name, analytic, numerical, np.zeros(0), float("inf"), tol, problem)
    diff = np.abs(analytic - numerical)
    relative = diff / np.maximum(np.maximum(np.abs(analytic), np.abs(numerical)), floor)
    scale = max(np.linalg.norm(analytic), np.linalg.norm(numerical), floor)
    overall = float(np.linalg.norm(analytic - numerical) / scale)
    if not np.all(np.isfinite(analytic)):
        overall = float("inf")
    return DerivativeCheck(name, analytic, numerical, relative, overall, tol)


def check_gradient(f: Callable[[np.ndarray], float], grad: np.ndarray | Callable, x: np.ndarray, *,
                   name: str = "gradient", tol: float = 1e-6, eps: float = 1e-6) -> DerivativeCheck:
    """Compare ``grad`` (an array, or a function of x) with the central-difference gradient of f at x."""
    analytic = grad(np.array(x, dtype=np.float64)) if callable(grad) else grad
    return _compare(name, analytic, numerical_gradient(f, x, eps), tol)


def check_jacobian(f: Callable[[np.ndarray], np.ndarray], jac: np.ndarray | Callable, x: np.ndarray, *,
                   name: str = "Jacobian", tol: float = 1e-6, eps: float = 1e-6) -> DerivativeCheck:
    """Compare ``jac`` (shape ``f(x).shape + x.shape``) with the central-difference Jacobian."""
    analytic = jac(np.array(x, dtype=np.float64)) if callable(jac) else jac
    return _compare(name, analytic, numerical_jacobian(f, x, eps), tol)


def check_hessian(f: Callable[[np.ndarray], float], hess: np.ndarray | Callable, x: np.ndarray, *,
                  grad: Callable[[np.ndarray], np.ndarray] | None = None, name: str = "Hessian",
                  tol: float = 1e-5, eps: float = 1e-4) -> DerivativeCheck:
    """Compare ``hess`` (shape ``x.shape + x.shape``) with a numerical Hessian of f
    (differences of ``grad`` when given, else second differences of f)."""
    analytic = hess(np.array(x, dtype=np.float64)) if callable(hess) else hess
    return _compare(name, analytic, numerical_hessian(f, x, eps, grad), tol)
