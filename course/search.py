"""Hyperparameter search for softmax regression, many models at once.

The model of notebook 03: logits ``X @ W + b``, average cross-entropy, L2 penalty
``(l2 / 2) * ||W||^2`` on the weights only, minibatch SGD in order over the data, starting from
zero. :func:`train_many` trains C configurations that share a batch size *side by side*: their
weight matrices are the column blocks of one ``(D, C * K)`` matrix, so each step is two large
matrix products instead of 2C small ones; every epoch count is read off the same run by
evaluating on the validation set after each epoch that is asked for. A configuration whose
numbers turn NaN or infinite is dropped, reported and excluded, and the others carry on. With
successive halving, the worse half of the models still training is dropped at a few of those
epoch counts (the columns of the survivors are packed together, so the products shrink with them).

:func:`search` runs a whole grid (learning rate x L2 x batch size x epochs) this way, exhaustively
or by successive halving, and returns a :class:`SearchResult`. :func:`check_hyperparameters` is the ValueError every tool raises, before
any training, for a hyperparameter out of range. :func:`train_validation_split` is the seeded
80/20 split the notebooks use.
"""
from __future__ import annotations

import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from threadpoolctl import threadpool_limits
from .guard import refuses_while_grading

__all__ = ["check_hyperparameters", "train_validation_split", "train_many", "evaluate_models", "Evaluations",
           "search", "SearchResult", "search_flops", "HALVING_REDUCTION"]


def check_hyperparameters(*, n: int, lr=None, batch=None, l2=None, epochs=None) -> None:
    """Raise ValueError naming the first hyperparameter out of range (None = not checked).

    ``lr`` must be a finite number > 0, ``batch`` an integer in 1..n (n = training examples),
    ``l2`` a finite number >= 0, ``epochs`` an integer >= 1.
    """
    def number(name, value):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ValueError(f"{name} must be a number, got {type(value).__name__} {value!r}")
        return float(value)

    def integer(name, value):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
        return int(value)

    if lr is not None:
        value = number("lr", lr)
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"lr (learning rate) must be a finite number > 0, got {lr!r}")
    if batch is not None:
        value = integer("batch", batch)
        if not 1 <= value <= n:
            raise ValueError(f"batch (batch size) must be between 1 and the number of training "
                             f"examples ({n:,}), got {value:,}")
    if l2 is not None:
        value = number("l2", l2)
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"l2 (L2 strength) must be a finite number >= 0, got {l2!r}")
    if epochs is not None:
        value = integer("epochs", epochs)
        if value < 1:
            raise ValueError(f"epochs must be at least 1, got {value}")


def train_validation_split(X: np.ndarray, y: np.ndarray, validation: float = 0.2, seed: int = 0):
    """A seeded random split into training and validation parts.

    Parameters
    ----------
    X : (N, D) array; y : (N,) labels.
    validation : the fraction of the examples held out for validation (default 20 %).
    seed : seed of the permutation (``np.random.default_rng(seed)``).

    Returns
    -------
    X_train, y_train, X_val, y_val : the rows of X and y, shuffled; the validation part has
    ``round(validation * N)`` rows.
    """
    if not 0 < validation < 1:
        raise ValueError(f"validation must be a fraction between 0 and 1, got {validation!r}")
    if len(X) != len(y):
        raise ValueError(f"X has {len(X):,} rows but y has {len(y):,} labels; expected the same count")
    order = np.random.default_rng(seed).permutation(len(y))
    n_val = int(round(validation * len(y)))
    train, val = order[n_val:], order[:n_val]
    return X[train], y[train], X[val], y[val]


#: Successive halving's reduction factor: each cut keeps the best 1/2 of the models still training, and the
#: next cut comes once they have trained at least twice as many epochs.
HALVING_REDUCTION = 2


@dataclass
class Evaluations:
    """What :func:`train_many` measured: one row per evaluated epoch, one column per configuration.

    ``val_loss`` and ``val_error`` are float64 (E, C), NaN where a configuration was not trained
    that far (it diverged, or successive halving stopped it); ``diverged_at`` is int (C,): the
    first epoch with non-finite numbers, 0 if none; ``stopped_at`` is int (C,): the epoch count
    after which successive halving stopped training it, 0 if it was not stopped. ``W`` (D, C, K)
    and ``b`` (C, K) are the parameters where training ended (zero for diverged ones).
    """
    epochs: list[int]
    val_loss: np.ndarray
    val_error: np.ndarray
    diverged_at: np.ndarray
    stopped_at: np.ndarray
    W: np.ndarray
    b: np.ndarray


@refuses_while_grading
def train_many(X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray, *,
               lrs: Sequence[float], l2s: Sequence[float], batch: int, epochs: Sequence[int],
               num_classes: int = 10, block_rows: int = 128, reduction: int | None = None) -> Evaluations:
    """Train C softmax-regression models that share a batch size, side by side.

    Model c has learning rate ``lrs[c]`` and L2 strength ``l2s[c]``; each does exactly what
    one-at-a-time SGD does (zero start; one pass in order over minibatches per epoch, the
    last one possibly smaller; average batch gradient plus ``l2 * W``; biases not penalised).
    A model whose numbers turn NaN/inf is dropped at the end of that epoch.

    Parameters
    ----------
    X : float32 (N, D) training inputs; y : uint8 (N,) labels in 0..num_classes-1.
    X_val, y_val : the validation set, float32 (M, D) and (M,).
    lrs, l2s : C learning rates and C L2 strengths.
    batch : the shared batch size.
    epochs : the epoch counts to evaluate after (training runs to the largest).
    block_rows : batches smaller than this are run in blocks of about this many rows, k steps
        sharing one forward and one weight-gradient product (the same SGD; only rounding differs).
    reduction : None trains every model to the largest epoch count. An integer r >= 2 is successive
        halving: a cut after the first epoch count, and after each epoch count (but the last) that is
        at least r times that of the previous cut, keeps the best ``ceil(n / r)`` of the n models still
        training (lowest validation loss, ties to the first); the others stop there.

    Returns
    -------
    Evaluations, whose row i is the validation loss and error after ``sorted(epochs)[i]`` epochs.
    """
    lrs, l2s = np.asarray(lrs, dtype=np.float64), np.asarray(l2s, dtype=np.float64)
    if lrs.shape != l2s.shape or lrs.ndim != 1:
        raise ValueError(f"lrs and l2s must be two lists of the same length, got {lrs.shape} and {l2s.shape}")
    if reduction is not None and (isinstance(reduction, bool) or not isinstance(reduction, (int, np.integer))
                                  or reduction < 2):
        raise ValueError(f"reduction must be None or an integer >= 2, got {reduction!r}")
    evaluate_at = sorted({int(e) for e in epochs})
    for lr, l2 in zip(lrs, l2s):
        check_hyperparameters(n=len(X), lr=float(lr), l2=float(l2))
    check_hyperparameters(n=len(X), batch=batch, epochs=evaluate_at[0] if evaluate_at else 0)
    X, X_val = _as_float32(X), _as_float32(X_val)
    C, K, (N, D) = len(lrs), num_classes, X.shape
    if len(y) != N or len(y_val) != len(X_val):
        raise ValueError(f"X and y must have the same length, got {N:,} and {len(y):,} "
                         f"(validation: {len(X_val):,} and {len(y_val):,})")
    if min(np.min(y), np.min(y_val)) < 0 or max(np.max(y), np.max(y_val)) >= K:
        raise ValueError(f"labels must be integers in 0..{K - 1} (num_classes={K}), "
                         f"got {min(np.min(y), np.min(y_val))}..{max(np.max(y), np.max(y_val))}")
    # Column k*n + j of V holds class k of the j-th model still training, live[j] (n = len(live)): the
    # softmax then reduces over axis 1 of a (m, K, n) view, whose contiguous last axis numpy vectorises
    # (axis 2 of (m, n, K) is slow). The weights are kept as W = V * scale (one scale per column): the
    # L2 decay W <- (1 - lr l2) W then costs a multiply of the K*n scales, not a pass over all of W.
    labels = np.asarray(y, dtype=np.intp)
    rows = np.arange(batch)
    live = np.arange(C)
    V = np.zeros((D, K * C), dtype=np.float32)
    scale = np.ones(K * C, dtype=np.float32)
    b = np.zeros(K * C, dtype=np.float32)
    rates = lrs.astype(np.float32)                                 # per model: lr
    decay = np.tile(1 - lrs * l2s, K).astype(np.float32)           # per column: 1 - lr * l2
    any_decay = bool(np.any(l2s > 0))
    grad = np.empty_like(V)                                        # X_block^T G, reused
    diverged_at, stopped_at = np.zeros(C, dtype=np.int64), np.zeros(C, dtype=np.int64)
    val_loss = np.full((len(evaluate_at), C), np.nan)
    val_error = np.full((len(evaluate_at), C), np.nan)
    W_out, b_out = np.zeros((D, C, K), dtype=np.float32), np.zeros((C, K), dtype=np.float32)
    last_cut = 0                                                   # successive halving: epochs at the last cut

    # Small batches: k consecutive steps share one pair of large products (see the loop below): the same
    # SGD, with only the rounding changed. k is capped so that the scales stay above 0.01 within a block.
    steps = max(1, block_rows // batch)
    while steps > 1 and float(np.abs(decay).min()) ** steps < 0.1:
        steps //= 2
    block = steps * batch

    def fold_scale():                                              # V <- W, scale <- 1
        V[...] *= scale
        scale[...] = 1
        _flush_subnormal(V)

    def columns(models):                                           # the columns of these models (indices into live)
        return (np.arange(K)[:, None] * len(live) + models).ravel()

    def save(models):                                              # their W and b into the results
        cols = columns(models).reshape(K, -1)
        W_out[:, live[models]] = (V[:, cols] * scale[cols]).transpose(0, 2, 1)
        b_out[live[models]] = b[cols].T

    def go_on_with(models):                                        # train only these from now on
        nonlocal V, scale, b, rates, decay, grad, live
        cols = columns(models)
        V, scale, b, decay, rates, live = V[:, cols], scale[cols], b[cols], decay[cols], rates[models], live[models]
        grad = np.empty_like(V)

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for epoch in range(1, evaluate_at[-1] + 1):
            if not len(live):
                break
            n = len(live)
            full_step = rates / np.float32(batch)
            for first in range(0, N, block):
                # Step j of the block needs X_j V_j, where V_j = V - sum_{i<j} X_i^T G_i (G_i divided by the
                # scale): so X_j V_j = P_j - sum_{i<j} (X_j X_i^T) G_i, with P = X_block V and the Gram matrix
                # X_block X_block^T; after the k steps, one product X_block^T [G_1; ...; G_k] updates V.
                Xk = X[first:first + block]
                P = Xk @ V
                gram = Xk @ Xk.T if block > batch else None
                for start in range(0, len(Xk), batch):
                    m = min(batch, len(Xk) - start)
                    H = P[start:start + m]                   # becomes this step's G / scale, in place
                    if start:
                        H -= gram[start:start + m, :start] @ P[:start]
                    if any_decay:
                        H *= scale
                    H += b
                    # G = lr * (softmax(H) - I_y) / m for every model, in place in H (viewed as (m, K, n))
                    Z = H.reshape(m, K, n)
                    Z -= Z.max(axis=1, keepdims=True)
                    np.maximum(Z, -60, out=Z)   # no subnormal numbers (exp(-88) is one): they slow products down
                    np.exp(Z, out=Z)
                    step = full_step if m == batch else rates / np.float32(m)
                    Z *= step / Z.sum(axis=1, keepdims=True)
                    Z[rows[:m], labels[first + start:first + start + m]] -= step
                    b -= H.sum(axis=0)
                    if any_decay:                                    # W <- (1 - lr l2) W - X_b^T G
                        scale *= decay
                        if steps == 1 and np.abs(scale).min() < 1e-3:   # (k > 1 steps keep it above 0.01)
                            fold_scale()
                        else:
                            H /= scale
                np.matmul(Xk.T, P, out=grad)
                V -= grad
                if any_decay and np.abs(scale).min() < 0.1:
                    fold_scale()
            if any_decay:
                fold_scale()
            bad = ~(np.isfinite(V.sum(axis=0)) & np.isfinite(b)).reshape(K, n).all(axis=0)
            if bad.any():                                            # dropped at once; their W stays zero
                diverged_at[live[bad]] = epoch
                go_on_with(np.flatnonzero(~bad))
            if epoch in evaluate_at and len(live):
                row = evaluate_at.index(epoch)
                val_loss[row, live], val_error[row, live] = evaluate_models(X_val, y_val, V, b, len(live), K)
                if reduction and epoch < evaluate_at[-1] and epoch >= reduction * last_cut:
                    last_cut = epoch
                    order = np.argsort(val_loss[row, live], kind="stable")
                    kept = math.ceil(len(live) / reduction)
                    save(order[kept:])
                    stopped_at[live[order[kept:]]] = epoch
                    go_on_with(np.sort(order[:kept]))
    save(np.arange(len(live)))
    return Evaluations(evaluate_at, val_loss, val_error, diverged_at, stopped_at, W_out, b_out)


def _flush_subnormal(W: np.ndarray, tiny: float = 1e-30) -> None:
    """Set weights smaller than ``tiny`` in magnitude to zero, in place.

    The L2 decay W *= (1 - lr * l2) drives rarely-updated weights (border pixels) down towards the
    subnormal range (below 1.2e-38), where every matrix product touching them slows down several
    times. Weights of 1e-30 are zero to float32 precision beside the others.
    """
    np.copyto(W, 0, where=np.abs(W) < tiny)


@refuses_while_grading
def evaluate_models(X, y, W, b, C, K, chunk=4096):
    """Average cross-entropy and error rate of C softmax-regression models on (X, y).

    W is float32 (D, K*C) with class k of model c in column k*C + c (for one model: (D, K) as
    usual), b is (K*C,). Returns two float64 arrays of shape (C,): losses and error rates.
    """
    loss, wrong = np.zeros(C), np.zeros(C)
    for start in range(0, len(X), chunk):
        H = (X[start:start + chunk] @ W + b).reshape(-1, K, C)
        yb = y[start:start + chunk].astype(np.intp)
        top = H.max(axis=1, keepdims=True)
        shifted = np.maximum(H - top, -80)                                    # no subnormal exp()
        log_sum = np.log(np.exp(shifted).sum(axis=1)) + top[:, 0]             # log-sum-exp, (n, C)
        picked = np.take_along_axis(H, yb[:, None, None], axis=1)[:, 0]    # h_y, (n, C)
        loss += (log_sum - picked).sum(axis=0, dtype=np.float64)
        wrong += (H.argmax(axis=1) != yb[:, None]).sum(axis=0)
    return loss / len(X), wrong / len(X)


def _as_float32(X):
    X = np.asarray(X)
    if X.dtype != np.float32 or not X.flags.c_contiguous:
        X = np.ascontiguousarray(X, dtype=np.float32)
    return X


STRATEGIES = ("exhaustive", "halving")


@dataclass
class SearchResult:
    """Every configuration of a grid and its validation numbers, one entry per configuration.

    Arrays of equal length: ``lr``, ``l2``, ``batch``, ``epochs``, ``val_loss``, ``val_error``,
    ``diverged_at`` (epoch at which the run went NaN/inf, 0 if it did not), ``dropped_at``
    (successive halving: the epoch count after which the run of this learning rate, L2 strength
    and batch size was stopped, if that is before this configuration's epochs, else 0; its
    validation numbers are then NaN). ``seconds`` is the wall time of the search; ``strategy``
    "exhaustive" or "halving".
    """
    lr: np.ndarray
    l2: np.ndarray
    batch: np.ndarray
    epochs: np.ndarray
    val_loss: np.ndarray
    val_error: np.ndarray
    diverged_at: np.ndarray
    dropped_at: np.ndarray
    seconds: float
    strategy: str = "exhaustive"

    def __len__(self) -> int:
        return len(self.lr)

    @property
    def diverged(self) -> np.ndarray:
        """True for the configurations excluded because their run turned NaN/inf."""
        return self.diverged_at > 0

    @property
    def dropped(self) -> np.ndarray:
        """True for the configurations never trained because successive halving stopped their run earlier."""
        return self.dropped_at > 0

    def best(self) -> int:
        """Index of the configuration with the lowest validation loss among those trained that did not diverge."""
        scored = ~(self.diverged | self.dropped)
        if not scored.any():
            raise ValueError("every configuration diverged (NaN/inf); there is no best one")
        return int(np.nanargmin(np.where(scored, self.val_loss, np.nan)))

    def config(self, i: int) -> dict:
        """Configuration ``i`` as keyword arguments: lr, l2, batch, epochs."""
        return {"lr": float(self.lr[i]), "l2": float(self.l2[i]), "batch": int(self.batch[i]),
                "epochs": int(self.epochs[i])}

    def table(self, top: int = 5) -> str:
        """The ``top`` configurations by validation loss, then one line about the diverged ones."""
        scored = ~(self.diverged | self.dropped)
        order = [i for i in np.argsort(np.where(scored, self.val_loss, np.inf), kind="stable") if scored[i]][:top]
        lines = [f"{'lr':>9} {'L2':>9} {'batch':>6} {'epochs':>6} {'val loss':>9} {'val acc':>8}"]
        for i in order:
            lines.append(f"{self.lr[i]:9.2g} {self.l2[i]:9.2g} {self.batch[i]:6d} {self.epochs[i]:6d} "
                         f"{self.val_loss[i]:9.4f} {100 * (1 - self.val_error[i]):7.2f}%")
        lines.append(self.divergence_summary())
        if self.strategy == "halving":
            lines.append(f"stopped early by successive halving: {int(self.dropped.sum())} of {len(self)} "
                         f"configurations never trained")
        return "\n".join(lines)

    def divergence_summary(self) -> str:
        """One line: how many configurations diverged and which (learning rate, L2, batch size)."""
        if not self.diverged.any():
            return "diverged (NaN/inf): none"
        runs = sorted({(float(self.lr[i]), float(self.l2[i]), int(self.batch[i]))
                       for i in np.flatnonzero(self.diverged)})
        shown = ", ".join(f"lr={lr:.2g} L2={l2:.2g} batch={b}" for lr, l2, b in runs[:4])
        more = f" and {len(runs) - 4} more" if len(runs) > 4 else ""
        return (f"diverged (NaN/inf), excluded: {int(self.diverged.sum())} of {len(self)} configurations, "
                f"from {len(runs)} run{'s' if len(runs) > 1 else ''}: {shown}{more}")

    def runs(self) -> list[dict]:
        """One dict per run (a learning rate, L2 strength and batch size, trained once through the epoch
        counts): ``lr``, ``l2``, ``batch``; ``epochs`` and ``val_loss``, the epoch counts it was scored at
        and its validation losses there (arrays of equal length); ``stopped_after``, the epoch count after
        which successive halving stopped it (0 if it was not); ``diverged_at`` (0 if it did not)."""
        runs = []
        for key in dict.fromkeys(zip(self.lr.tolist(), self.l2.tolist(), self.batch.tolist())):
            rows = np.flatnonzero((self.lr == key[0]) & (self.l2 == key[1]) & (self.batch == key[2]))
            rows = rows[np.argsort(self.epochs[rows], kind="stable")]
            scored = rows[~(self.dropped[rows] | self.diverged[rows])]
            runs.append({"lr": key[0], "l2": key[1], "batch": key[2], "epochs": self.epochs[scored],
                         "val_loss": self.val_loss[scored], "stopped_after": int(self.dropped_at[rows].max()),
                         "diverged_at": int(self.diverged_at[rows].max())})
        return runs

    def model_epochs(self) -> int:
        """The training work done: the epochs each run was trained for, summed over the runs."""
        return sum(run["stopped_after"] or run["diverged_at"] or int(self.epochs.max()) for run in self.runs())

    def halving_table(self) -> str:
        """Per epoch count: the runs trained that far, how many were stopped there, the best validation loss."""
        lines = [f"{'epochs':>6} {'runs trained':>12} {'stopped here':>12} {'best val loss':>13}"]
        for e in np.unique(self.epochs):
            rows = (self.epochs == e) & ~(self.dropped | self.diverged)
            stopped = len({(self.lr[i], self.l2[i], self.batch[i])
                           for i in np.flatnonzero((self.dropped_at == e) & (self.epochs > e))})
            best = f"{np.nanmin(self.val_loss[rows]):13.4f}" if rows.any() else f"{'-':>13}"
            lines.append(f"{e:6d} {int(rows.sum()):12d} {stopped if stopped else '-':>12} {best}")
        return "\n".join(lines)


def search(X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray, *,
           lrs: Sequence[float], l2s: Sequence[float], batches: Sequence[int], epochs: Sequence[int],
           strategy: str = "exhaustive", num_classes: int = 10, progress: Callable[[str], None] | None = None,
           workers: int | None = None) -> SearchResult:
    """Grid search over learning rate x L2 strength x batch size x epochs, vectorised.

    For each batch size one :func:`train_many` run trains all ``len(lrs) * len(l2s)`` models
    together and evaluates them after each epoch count in ``epochs``. ``strategy="exhaustive"``
    trains every model to ``max(epochs)``: ``len(batches)`` runs score all ``len(lrs) * len(l2s) *
    len(batches) * len(epochs)`` configurations. ``strategy="halving"`` is successive halving
    (:data:`HALVING_REDUCTION` = 2): after the first epoch count, and then after each one at least
    twice that of the previous cut, the better half (rounded up, by validation loss) of each batch
    size's models still training go on and the others stop; the configurations of a stopped run
    beyond its last epoch count are reported as dropped, with NaN scores. A model
    that turns NaN/inf is dropped at once under both. Every hyperparameter is checked
    (ValueError) before any training. The batch sizes run in ``workers`` threads (default: one per
    core), each with a single-threaded BLAS. ``progress`` is called with one line after each batch size.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(map(repr, STRATEGIES))}, got {strategy!r}")
    epochs = sorted({int(e) for e in epochs})
    if not (len(lrs) and len(l2s) and len(batches) and epochs):
        raise ValueError("lrs, l2s, batches and epochs must each hold at least one value")
    for lr in lrs:
        check_hyperparameters(n=len(X), lr=lr)
    for l2 in l2s:
        check_hyperparameters(n=len(X), l2=l2)
    for batch in batches:
        check_hyperparameters(n=len(X), batch=batch)
    for e in epochs:
        check_hyperparameters(n=len(X), epochs=e)
    lr_grid, l2_grid = (a.ravel() for a in np.meshgrid(np.asarray(lrs, float), np.asarray(l2s, float), indexing="ij"))
    reduction = HALVING_REDUCTION if strategy == "halving" else None
    columns = {name: [] for name in ("lr", "l2", "batch", "epochs", "val_loss", "val_error", "diverged_at", "dropped_at")}
    start = time.perf_counter()

    def run_batch_size(batch):
        run = train_many(X, y, X_val, y_val, lrs=lr_grid, l2s=l2_grid, batch=int(batch), epochs=epochs,
                         num_classes=num_classes, reduction=reduction)
        if progress is not None:
            trained = ", ".join(f"{int(n)} to {e}" for n, e in zip(np.isfinite(run.val_loss).sum(axis=1), epochs))
            progress(f"batch {batch}: {len(lr_grid)} models ({trained} epochs) "
                     f"done after {time.perf_counter() - start:.1f} s")
        return run

    # One batch size per core, each with a single-threaded BLAS: the cores work on independent runs
    # instead of splitting every (often small) product between them and waiting for each other.
    workers = max(1, min(workers or os.cpu_count() or 1, len(batches)))
    with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(workers) as pool:
        runs = list(pool.map(run_batch_size, batches))  # small batches (the slowest) first in a sorted grid
    for batch, run in zip(batches, runs):
        for row, e in enumerate(run.epochs):
            columns["lr"].append(lr_grid)
            columns["l2"].append(l2_grid)
            columns["batch"].append(np.full(len(lr_grid), int(batch)))
            columns["epochs"].append(np.full(len(lr_grid), e))
            columns["val_loss"].append(run.val_loss[row])
            columns["val_error"].append(run.val_error[row])
            columns["diverged_at"].append(np.where((run.diverged_at > 0) & (run.diverged_at <= e), run.diverged_at, 0))
            columns["dropped_at"].append(np.where((run.stopped_at > 0) & (run.stopped_at < e), run.stopped_at, 0))
    arrays = {name: np.concatenate(parts) for name, parts in columns.items()}
    return SearchResult(**arrays, seconds=time.perf_counter() - start, strategy=strategy)


def search_flops(n_train: int, n_val: int, dim: int, models: int, batches: int, max_epochs: int,
                 evaluations: int, num_classes: int = 10) -> float:
    """The matrix-product FLOPs of a :func:`search`: forward and weight-gradient products
    (2 x 2 N D CK per epoch) and one validation product (2 M D CK) per evaluated epoch."""
    width = models * num_classes
    per_batch_size = max_epochs * 4 * n_train * dim * width + evaluations * 2 * n_val * dim * width
    return float(per_batch_size) * batches
