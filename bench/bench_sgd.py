"""Notebook 03 (SGD for softmax regression): accuracy, speed of one model, speed of many models
(64 models side by side, and the seed's 4,096-configuration search, exhaustive and by successive
halving), Optuna's pruned search as a peer, and the explorer's responsiveness.

    pip install -r bench/requirements.txt     # the peers: PyTorch (CPU), JAX (CPU), Optuna; benchmark only
    python bench/bench_sgd.py            # everything (the exhaustive search takes minutes)
    python bench/bench_sgd.py --quick    # a 128-configuration search, to try the script
    python bench/bench_sgd.py --only one,many,search,optuna,accuracy,responsiveness   # some sections only

Prints Markdown tables with the measurement, the target and the peer side by side, and the load
average at the start and end of each section. Every ratio is taken against numbers measured in
the same run (this machine is shared and noisy).

Data. The full MNIST/Fashion-MNIST training sets are used when present (COURSE_DATA_DIR or the
cache, never downloaded here); otherwise their rows say "not available here". What runs offline:
* accuracy: the embedded 5,000-digit sample (from the MNIST training set) as training data, split
  80/20 for the search, and the real 10,000 MNIST test images in ../shared/data/mnist as test data;
* speed of one model: 60,000 x 784 float32 made of the real 10,000 test images, six times over
  (the time does not depend on the pixel values, only on the shapes);
* many models, the search and Optuna: 48,000 training / 12,000 validation images of the same shape
  as the seed's Fashion-MNIST split, made of real MNIST digits: test images 0-7,999 and 8,000-9,999,
  each with five shifted copies (by one or two pixels); its test set is the 5,000 sample digits.
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import best_time, interleaved_best, load, machine, table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# ../shared/data/mnist beside the checkout (or beside the folder of worktrees)
SHARED = next((p / "shared" / "data" / "mnist" for p in (ROOT.parent, ROOT.parent.parent)
               if (p / "shared" / "data" / "mnist").is_dir()), ROOT.parent / "shared" / "data" / "mnist")

from course import data, search  # noqa: E402
from course.questions import load_definitions  # noqa: E402

REF = load_definitions(ROOT / "solutions" / "03_sgd.ipynb")
SEED_HOURS = 30
GRID = dict(lrs=np.logspace(-3, 0, 8), l2s=np.r_[0.0, np.logspace(-5, -1, 7)],
            batches=[16, 32, 64, 128, 256, 512, 1024, 2048], epochs=[1, 2, 3, 5, 8, 12, 20, 30])
QUICK_GRID = dict(lrs=np.logspace(-3, 0, 4), l2s=[0.0, 1e-4, 1e-2, 1e-1], batches=[64, 512],
                  epochs=[1, 2, 4, 8])


def sgemm_rate(repeat: int = 10) -> float:
    """FLOP/s of a 1024 x 1024 by 1024 x 1024 float32 product (all cores)."""
    rng = np.random.default_rng(0)
    A, B = rng.random((1024, 1024), dtype=np.float32), rng.random((1024, 1024), dtype=np.float32)
    return 2 * 1024 ** 3 / best_time(lambda: A @ B, repeat)


def sgemm_rate_per_core_times_cores(repeat: int = 10) -> float:
    """The single-threaded 1024^3 SGEMM rate times the number of cores: the search's own
    ceiling (its workers each run a single-threaded BLAS), less hurt by other users' load."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1, user_api="blas"):
        return sgemm_rate(repeat) * (os.cpu_count() or 1)


def real_test_images() -> tuple[np.ndarray, np.ndarray]:
    return data.load_dataset("mnist", "test", data_dir=SHARED, verbose=False)


def shifted(X: np.ndarray, rng: np.random.Generator, copies: int) -> np.ndarray:
    """X (n, 784) followed by ``copies`` copies, each image moved by -2..2 pixels in x and y."""
    images = X.reshape(-1, 28, 28)
    out = [X]
    for _ in range(copies):
        moved = np.empty_like(images)
        for i, (dx, dy) in enumerate(rng.integers(-2, 3, size=(len(images), 2))):
            moved[i] = np.roll(np.roll(images[i], dy, axis=0), dx, axis=1)
        out.append(moved.reshape(len(X), -1))
    return np.concatenate(out)


def full_data(name: str):
    """(X_train, y_train, X_test, y_test) of a full dataset if a folder or the cache has it, else None."""
    try:
        source = "folder" if os.environ.get("COURSE_DATA_DIR") else "cache"
        train = data.load_dataset(name, "train", source=source, verbose=False)
        test = data.load_dataset(name, "test", source=source, verbose=False)
    except data.DataError:
        return None
    return (*train, *test) if len(train[1]) == 60000 else None


# ------------------------------------------------------------------ accuracy

ACCURACY_GRID = dict(lrs=[0.03, 0.1, 0.3, 1.0], l2s=[0.0, 1e-5, 1e-4, 1e-3], batches=[32, 128, 512],
                     epochs=[5, 10, 20, 30])


def tuned_test_accuracy(X, y, X_test, y_test):
    """Seed-003 methodology: 80/20 split, vectorised search on validation loss, retrain the best
    configuration one at a time (the reference `train`), then the test set once."""
    X_train, y_train, X_val, y_val = search.train_validation_split(X, y, 0.2, seed=0)
    result = search.search(X_train, y_train, X_val, y_val, **ACCURACY_GRID)
    best = result.config(result.best())
    W, b, history = REF["train"](X_train, y_train, X_val, y_val, **best)
    accuracy = float(np.mean((X_test @ W + b).argmax(axis=1) == y_test))
    return accuracy, best, 1 - history["val_error"][-1]


def accuracy_rows():
    rows = []
    images, labels = data.load_sample()
    X = images.reshape(len(images), -1).astype(np.float32) / np.float32(255)
    X_test, y_test = real_test_images()
    acc, best, val = tuned_test_accuracy(X, labels, X_test, y_test)
    rows.append(["MNIST, offline: 5,000 sample digits to train (4,000 + 1,000 validation), real 10,000 test images",
                 f"{100 * acc:.2f} % test ({_config(best)}; validation {100 * val:.2f} %)", "about 88 %",
                 "seed 001 target: 85 %"])
    for name, title, target, peer in [("mnist", "MNIST", 0.920, "logistic regression, published: 91.7-92 %"),
                                      ("fashion-mnist", "Fashion-MNIST", 0.845, "seed 004: 84.26 % after 30 h")]:
        full = full_data(name)
        if full is None:
            rows.append([f"{title}, full 60,000 / 10,000", "not available here (no folder, nothing cached)",
                         f">= {100 * target:.1f} %", peer])
            continue
        acc, best, val = tuned_test_accuracy(*full)
        verdict = "meets" if acc >= target else "MISSES"
        rows.append([f"{title}, full 60,000 / 10,000", f"{100 * acc:.2f} % test ({_config(best)}) {verdict}",
                     f">= {100 * target:.1f} %", peer])
    return rows


def _config(c: dict) -> str:
    return f"lr {c['lr']:.3g}, L2 {c['l2']:.2g}, batch {c['batch']}, {c['epochs']} epochs"


# ------------------------------------------------------------------ speed of one model

def torch_epoch(torch, X, y, theta, lr=0.1, batch=100):
    """The same loop in PyTorch (CPU, float32)."""
    with torch.no_grad():
        for start in range(0, X.shape[0], batch):
            Xb, yb = X[start:start + batch], y[start:start + batch]
            Z = torch.softmax(Xb @ theta, dim=1)
            Z[torch.arange(len(yb)), yb] -= 1
            theta -= (lr / len(Xb)) * (Xb.T @ Z)


def jax_epoch():
    """The same epoch in JAX: one jitted ``lax.scan`` over the batches (X as (batches, B, D), one-hot labels)."""
    import jax
    import jax.numpy as jnp

    @jax.jit
    def epoch(theta, Xs, Ys, lr):
        def step(theta, batch):
            Xb, Yb = batch
            Z = jax.nn.softmax(Xb @ theta, axis=1)
            return theta - (lr / Xb.shape[0]) * (Xb.T @ (Z - Yb)), None
        return jax.lax.scan(step, theta, (Xs, Ys))[0]

    return jax, jnp, epoch


def one_model_rows(rounds: int = 8):
    """Each timing is the fastest of ``rounds``, taken in turns with the others (SGEMM included),
    so that a burst of load from other programs hits all of them alike."""
    from threadpoolctl import threadpool_limits

    X10, y10 = real_test_images()
    X, y = np.tile(X10, (6, 1)), np.tile(y10, 6)                  # 60,000 x 784 float32
    N = len(X)
    theta = np.zeros((784, 10), np.float32)
    epoch = REF["softmax_regression_epoch"]
    G = np.random.default_rng(0).random((N, 10), dtype=np.float32)
    rng = np.random.default_rng(0)
    A, B = rng.random((1024, 1024), dtype=np.float32), rng.random((1024, 1024), dtype=np.float32)

    def single_thread_epoch():
        with threadpool_limits(limits=1, user_api="blas"):
            epoch(X, y, theta, lr=0.1, batch=100)

    timings = {
        "sgemm": lambda: [A @ B for _ in range(3)],
        "epoch": lambda: epoch(X, y, theta, lr=0.1, batch=100),
        "single": single_thread_epoch,
        # what limits it: the two skinny products alone, the same two products once over all rows, reading X
        "products": lambda: [(X[s:s + 100] @ theta, X[s:s + 100].T @ G[s:s + 100]) for s in range(0, N, 100)],
        "whole": lambda: (X @ theta, X.T @ G),
        "stream": lambda: X.sum(axis=0),
    }
    peers = {}
    try:
        import torch
        Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
        tt = torch.zeros((784, 10), dtype=torch.float32)
        timings["torch"] = lambda: torch_epoch(torch, Xt, yt, tt)
        peers["torch"] = f"PyTorch {torch.__version__} CPU, same loop"
    except ImportError:
        pass
    try:
        jax, jnp, jepoch = jax_epoch()
        Xs, Ys = jnp.asarray(X.reshape(N // 100, 100, 784)), jnp.asarray(np.eye(10, dtype=np.float32)[y].reshape(N // 100, 100, 10))
        jt = jnp.zeros((784, 10), jnp.float32)
        jepoch(jt, Xs, Ys, 0.1).block_until_ready()                   # compile once, outside the timing
        timings["jax"] = lambda: jepoch(jt, Xs, Ys, 0.1).block_until_ready()
        peers["jax"] = f"JAX {jax.__version__} CPU, jit + lax.scan over the batches"
    except ImportError:
        pass
    best = interleaved_best(timings, rounds)
    rate = 3 * 2 * 1024 ** 3 / best["sgemm"]
    floor = 4 * N * 784 * 10 / rate
    ours, products = best["epoch"], best["products"]
    ahead = all(best[k] > ours for k in peers)
    rows = [["one epoch, 60,000 x 784, batch 100 (reference solution)",
             f"{ours * 1e3:.1f} ms = {ours / products:.2f}x its products",
             f"<= 1.3x its products ({1.3 * products * 1e3:.1f} ms): {'met' if ours <= 1.3 * products else 'MISSED'}",
             "", ""]]
    for key, label in peers.items():
        rows.append([f"peer: {label}", f"{best[key] * 1e3:.1f} ms", "slower than the reference",
                     f"{best[key] / ours:.2f}x the reference's time", "reference ahead" if best[key] > ours else "PEER AHEAD"])
    if not peers:
        rows.append(["peers", "PyTorch and JAX not installed (pip install -r bench/requirements.txt)", "", "", ""])
    rows[0][3] = "ahead of every peer" if ahead and peers else ("behind a peer" if peers else "")
    for label, key in [("the same epoch with a single-threaded BLAS", "single"),
                       ("its BLAS products alone: the 1,200 skinny products", "products"),
                       ("the same two products over all 60,000 rows at once", "whole")]:
        rows.append([label, f"{best[key] * 1e3:.1f} ms = {best[key] / floor:.1f}x floor", "", "", ""])
    rows.append([f"compute floor (information): 4 N 784 10 FLOP / SGEMM rate ({rate / 1e9:.0f} GFLOP/s)",
                 f"{floor * 1e3:.1f} ms; the epoch = {ours / floor:.1f}x floor", "", "", ""])
    rows.append(["reading X once (X.sum(axis=0), 188 MB)", f"{best['stream'] * 1e3:.1f} ms", "", "", ""])
    return rows


# ------------------------------------------------------------------ speed of many models

def search_data():
    rng = np.random.default_rng(0)
    X10, y10 = real_test_images()
    X_train, y_train = shifted(X10[:8000], rng, 5), np.tile(y10[:8000], 6)
    X_val, y_val = shifted(X10[8000:], rng, 5), np.tile(y10[8000:], 6)
    images, labels = data.load_sample()
    X_test = images.reshape(len(images), -1).astype(np.float32) / np.float32(255)
    return X_train, y_train, X_val, y_val, X_test, labels


def numpy_side_by_side(X, y, X_val, y_val, lrs, l2s, batch, K=10):
    """The plain side-by-side loop: C models' weights as the column blocks of one (D, C*K) matrix
    (model-major), one epoch, then the validation loss and error of each; no blocks of steps, no
    decay scale."""
    C, (N, D) = len(lrs), X.shape
    W, b = np.zeros((D, C * K), np.float32), np.zeros(C * K, np.float32)
    rate, decay = np.repeat(lrs, K).astype(np.float32), np.repeat(1 - lrs * l2s, K).astype(np.float32)
    models = np.arange(C)
    for start in range(0, N, batch):
        Xb, yb = X[start:start + batch], y[start:start + batch].astype(np.intp)
        m = len(Xb)
        Z = (Xb @ W + b).reshape(m, C, K)
        Z = np.exp(Z - Z.max(axis=2, keepdims=True))
        Z /= Z.sum(axis=2, keepdims=True)
        Z[np.arange(m)[:, None], models, yb[:, None]] -= 1
        G = Z.reshape(m, C * K) * (rate / np.float32(m))
        W *= decay
        W -= Xb.T @ G
        b -= G.sum(axis=0)
    H = (X_val @ W + b).reshape(len(X_val), C, K)
    top = H.max(axis=2, keepdims=True)
    log_sum = np.log(np.exp(H - top).sum(axis=2)) + top[..., 0]
    picked = np.take_along_axis(H, y_val.astype(np.intp)[:, None, None].repeat(C, 1), axis=2)[..., 0]
    return (log_sum - picked).mean(axis=0), (H.argmax(axis=2) != y_val[:, None]).mean(axis=0)


def jax_many():
    """C models, one epoch, in JAX: ``vmap`` of one model's SGD step over the configurations, inside one
    jitted ``lax.scan`` over the batches; then the validation loss and error of each model."""
    import jax
    import jax.numpy as jnp

    def one_step(W, b, lr, l2, Xb, Yb):
        G = (jax.nn.softmax(Xb @ W + b, axis=1) - Yb) / Xb.shape[0]
        return W - lr * (Xb.T @ G + l2 * W), b - lr * G.sum(axis=0)

    def one_score(W, b, X, Y):
        H = X @ W + b
        return jnp.mean(jax.nn.logsumexp(H, axis=1) - jnp.sum(H * Y, axis=1)), jnp.mean(H.argmax(1) != Y.argmax(1))

    @jax.jit
    def epoch(W, b, lrs, l2s, Xs, Ys, X_val, Y_val):
        step_all = jax.vmap(one_step, in_axes=(0, 0, 0, 0, None, None))

        def step(carry, batch):
            return step_all(*carry, lrs, l2s, *batch), None
        W, b = jax.lax.scan(step, (W, b), (Xs, Ys))[0]
        return jax.vmap(one_score, in_axes=(0, 0, None, None))(W, b, X_val, Y_val)

    return jax, jnp, epoch


def agreement(theirs: np.ndarray, ours: np.ndarray, lrs: np.ndarray, l2s: np.ndarray) -> str:
    """How closely two runs' validation losses agree: the median and the largest relative difference,
    and the model of the largest (float32 rounding sends runs that jump about at large rates apart)."""
    d = np.abs(theirs - ours) / ours
    k = int(np.argmax(d))
    return f"validation losses agree: median {np.median(d):.0e}, max {d[k]:.0e} (lr {lrs[k]:.2g}, L2 {l2s[k]:.2g})"


def many_model_rows(rounds: int = 3):
    """64 models (8 learning rates x 8 L2 strengths of the search grid) at batch 128, one epoch over the
    48,000 training images and one validation pass: ``train_many`` beside JAX and the plain loop."""
    X, y, X_val, y_val, _, _ = search_data()
    lr_grid, l2_grid = (a.ravel() for a in np.meshgrid(GRID["lrs"], GRID["l2s"], indexing="ij"))
    C, batch = len(lr_grid), 128
    ours = search.train_many(X, y, X_val, y_val, lrs=lr_grid, l2s=l2_grid, batch=batch, epochs=[1])
    plain = numpy_side_by_side(X, y, X_val, y_val, lr_grid, l2_grid, batch)
    timings = {"train_many": lambda: search.train_many(X, y, X_val, y_val, lrs=lr_grid, l2s=l2_grid, batch=batch, epochs=[1]),
               "plain": lambda: numpy_side_by_side(X, y, X_val, y_val, lr_grid, l2_grid, batch)}
    rng = np.random.default_rng(0)
    A, B = rng.random((1024, 1024), dtype=np.float32), rng.random((1024, 1024), dtype=np.float32)
    timings["sgemm"] = lambda: [A @ B for _ in range(3)]
    jax_line = None
    try:
        jax, jnp, jepoch = jax_many()
        onehot = np.eye(10, dtype=np.float32)
        args = (jnp.zeros((C, 784, 10), jnp.float32), jnp.zeros((C, 10), jnp.float32),
                jnp.asarray(lr_grid, jnp.float32), jnp.asarray(l2_grid, jnp.float32),
                jnp.asarray(X.reshape(-1, batch, 784)), jnp.asarray(onehot[y].reshape(-1, batch, 10)),
                jnp.asarray(X_val), jnp.asarray(onehot[y_val]))
        jloss, _ = jepoch(*args)                                  # compile once, outside the timing
        timings["jax"] = lambda: jax.block_until_ready(jepoch(*args))
        jax_line = f"JAX {jax.__version__} CPU, vmap over the models inside a jitted lax.scan"
        jax_diff = agreement(np.asarray(jloss), ours.val_loss[0], lr_grid, l2_grid)
    except ImportError:
        pass
    best = interleaved_best(timings, rounds)
    rate = 3 * 2 * 1024 ** 3 / best["sgemm"]
    flops = search.search_flops(len(y), len(y_val), 784, C, 1, 1, 1)
    t = best["train_many"]
    plain_diff = agreement(plain[0], ours.val_loss[0], lr_grid, l2_grid)
    rows = [[f"{C} models, batch {batch}, one epoch over {len(y):,} images + one validation pass: course.search.train_many",
             f"{t:.2f} s = {100 * flops / t / rate:.0f} % of SGEMM", ">= 1.2x JAX's throughput", "", ""],
            ["peer: the plain numpy side-by-side loop (one (784, 640) matrix, a step per batch)",
             f"{best['plain']:.2f} s = {100 * flops / best['plain'] / rate:.0f} % of SGEMM", "",
             plain_diff, f"train_many {best['plain'] / t:.2f}x its throughput"]]
    if jax_line:
        ratio = best["jax"] / t
        rows.append([f"peer: {jax_line}", f"{best['jax']:.2f} s = {100 * flops / best['jax'] / rate:.0f} % of SGEMM",
                     "", jax_diff, f"train_many {ratio:.2f}x its throughput"])
        rows[0][3] = f"{ratio:.2f}x JAX's throughput: {'met' if ratio >= 1.2 else 'MISSED'}"
    else:
        rows.append(["peer: JAX", "not installed (pip install -r bench/requirements.txt)", "", "", ""])
    rows.append([f"SGEMM 1024^3, all cores, this section", f"{rate / 1e9:.0f} GFLOP/s", "", "", ""])
    return rows


# ------------------------------------------------------------------ the search: exhaustive and by successive halving

def search_rows(grid: dict, rate_before: float):
    X_train, y_train, X_val, y_val, X_test, y_test = search_data()
    n_configs = len(grid["lrs"]) * len(grid["l2s"]) * len(grid["batches"]) * len(grid["epochs"])
    results = {}
    for strategy in ("halving", "exhaustive"):
        print(f"{strategy} search: {n_configs:,} configurations on {len(y_train):,} training / {len(y_val):,} "
              f"validation images ({load()}) ...", flush=True)
        results[strategy] = search.search(X_train, y_train, X_val, y_val, **grid, strategy=strategy,
                                          progress=lambda line: print("  " + line, flush=True))
    full, half = results["exhaustive"], results["halving"]
    rate_after = sgemm_rate()
    per_core = sgemm_rate_per_core_times_cores()
    rate = max(rate_before, rate_after, per_core)   # the largest, so that the fraction is not flattered
    flops = search.search_flops(len(y_train), len(y_val), 784, len(grid["lrs"]) * len(grid["l2s"]),
                                len(grid["batches"]), max(grid["epochs"]), len(grid["epochs"]))
    achieved = flops / full.seconds
    i, j = full.best(), half.best()
    best = full.config(i)
    W, b, history = REF["train"](X_train, y_train, X_val, y_val, **best)
    test_acc = float(np.mean((X_test @ W + b).argmax(axis=1) == y_test))
    # vectorised = one at a time: the best and two more, at every epoch count of the grid
    picks = [best, dict(lr=float(grid["lrs"][-2]), l2=float(grid["l2s"][-1]), batch=int(grid["batches"][-1]),
                        epochs=max(grid["epochs"])),
             dict(lr=float(grid["lrs"][2]), l2=float(grid["l2s"][1]), batch=int(grid["batches"][0]),
                  epochs=max(grid["epochs"]))]
    worst = 0.0
    for k, pick in enumerate(picks):
        hist = history if k == 0 else REF["train"](X_train, y_train, X_val, y_val, **pick)[2]
        for e in grid["epochs"]:
            if e > pick["epochs"]:
                continue
            row = np.flatnonzero((full.lr == pick["lr"]) & (full.l2 == pick["l2"]) &
                                 (full.batch == pick["batch"]) & (full.epochs == e))[0]
            worst = max(worst, abs(full.val_loss[row] - hist["val_loss"][e - 1]) / hist["val_loss"][e - 1],
                        abs(full.val_error[row] - hist["val_error"][e - 1]))
    seed_seconds = SEED_HOURS * 3600 * n_configs / 4096
    gap = half.val_loss[j] / full.val_loss[i] - 1
    same = half.config(j) == best
    trained = lambda r: ", ".join(f"{int(((r.epochs == e) & ~r.dropped).sum())}" for e in sorted(grid["epochs"]))  # noqa: E731
    rows = [
        [f"{n_configs:,}-configuration search by successive halving, 48,000 train / 12,000 validation",
         f"{half.seconds:.0f} s ({full.seconds / half.seconds:.1f}x faster than exhaustive)",
         f"<= 60 s: {'met' if half.seconds <= 60 else 'MISSED'}",
         f"seed 004: {SEED_HOURS} h for 4,096" + ("" if n_configs == 4096 else f" (~{seed_seconds / 3600:.1f} h pro rata)"),
         f"{seed_seconds / half.seconds:.0f}x faster"],
        ["its best configuration", _config(half.config(j)),
         "the exhaustive search's, or within 0.5 % of its validation loss",
         f"validation loss {half.val_loss[j]:.4f}", "same configuration" if same else f"{100 * gap:+.2f} % "
         f"({'met' if gap <= 0.005 else 'MISSED'})"],
        [f"configurations trained per epoch count ({', '.join(map(str, sorted(grid['epochs'])))})",
         f"halving: {trained(half)}", "", f"exhaustive: {trained(full)}", ""],
        ["training work (model-epochs)", f"halving: {half.model_epochs():,}", "", f"exhaustive: {full.model_epochs():,}",
         f"{full.model_epochs() / half.model_epochs():.1f}x less"],
        [f"{n_configs:,}-configuration search, exhaustive", f"{full.seconds:.0f} s ({full.seconds / 60:.1f} min)",
         "<= 5 min (>= 360x the seed)", "", f"{seed_seconds / full.seconds:.0f}x faster than the seed"],
        ["its matrix products: achieved rate", f"{achieved / 1e9:.0f} GFLOP/s = {100 * achieved / rate:.0f} % of SGEMM",
         ">= 50 % of SGEMM", f"SGEMM 1024^3, all cores: {rate_before / 1e9:.0f} before, {rate_after / 1e9:.0f} after; "
         f"1 core x {os.cpu_count()}: {per_core / 1e9:.0f} GFLOP/s", "of the largest"],
        ["its best configuration (lowest validation loss)", _config(best),
         "", f"seed 004: lr 5e-07, alpha 1, batch 32, 35 epochs", ""],
        ["its validation loss / accuracy", f"{full.val_loss[i]:.4f} / {100 * (1 - full.val_error[i]):.2f} %",
         "", "seed 004: 0.4336 (Fashion-MNIST)", ""],
        ["its test accuracy (5,000 sample digits, retrained one at a time)", f"{100 * test_acc:.2f} %", "", "", ""],
        ["vectorised vs one at a time (3 configurations, every epoch count)",
         f"max difference {worst:.1e} (relative loss / absolute error rate)", "float32 tolerance", "", ""],
        ["diverged (NaN/inf), excluded", full.divergence_summary().split(": ", 1)[1], "reported, never a crash", "", ""],
    ]
    return rows


# ------------------------------------------------------------------ Optuna with its pruner, one configuration at a time

def optuna_rows(grid: dict):
    """Optuna's grid sampler and successive-halving pruner on ``grid`` (every learning rate, L2 and batch
    size a trial, reporting the validation loss at each epoch count), training with the reference
    ``softmax_regression_epoch_l2`` one configuration at a time, beside course.search on the same grid."""
    try:
        import optuna
    except ImportError:
        return [["Optuna", "not installed (pip install -r bench/requirements.txt)", "", "", ""]]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    X, y, X_val, y_val, _, _ = search_data()
    epoch_fn, epochs = REF["softmax_regression_epoch_l2"], sorted(grid["epochs"])
    space = {"lr": [float(v) for v in grid["lrs"]], "l2": [float(v) for v in grid["l2s"]],
             "batch": [int(v) for v in grid["batches"]]}

    def objective(trial):
        lr, l2, batch = (trial.suggest_categorical(k, v) for k, v in space.items())
        W, b = np.zeros((784, 10), np.float32), np.zeros(10, np.float32)
        for e in range(1, epochs[-1] + 1):
            epoch_fn(X, y, W, b, lr=lr, batch=batch, l2=l2)
            if e in epochs:
                loss = float(search.evaluate_models(X_val, y_val, W, b, 1, 10)[0][0])
                trial.report(loss, e)
                if trial.should_prune():
                    raise optuna.TrialPruned()
        return loss

    study = optuna.create_study(sampler=optuna.samplers.GridSampler(space, seed=0),
                                pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=2))
    start = time.perf_counter()
    study.optimize(objective, n_trials=int(np.prod([len(v) for v in space.values()])))
    seconds = time.perf_counter() - start
    # the best of every reported value, pruned trials included (as course.search scores its stopped runs)
    value, trial, e = min((v, t, s) for t in study.trials for s, v in t.intermediate_values.items())
    pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
    rows = []
    for strategy in ("halving", "exhaustive"):
        r = search.search(X, y, X_val, y_val, **grid, strategy=strategy)
        k = r.best()
        rows.append([f"{len(r)}-configuration grid ({len(r) // len(epochs)} runs), course.search, {strategy}",
                     f"{r.seconds:.1f} s, best {_config(r.config(k))}: validation loss {r.val_loss[k]:.4f}",
                     "faster than Optuna, as good a best", "", f"{seconds / r.seconds:.1f}x faster than Optuna"])
    rows.append([f"peer: Optuna {optuna.__version__}, grid sampler + SuccessiveHalvingPruner (reduction 2), "
                 f"reference epoch function, one configuration at a time",
                 f"{seconds:.1f} s, best {_config({**trial.params, 'epochs': e})}: validation loss {value:.4f}", "",
                 f"{pruned} of {len(study.trials)} trials pruned", ""])
    return rows


# ------------------------------------------------------------------ responsiveness

def responsiveness_rows(changes: int = 10):
    """The explorer in process: a control's value set, until the PNG is encoded (no kernel: the change
    retrains and redraws before it returns), the median of ``changes`` moves at the default settings;
    beside what each change did before (a new figure, tight_layout, a tight-bbox PNG)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from course import explorer as ex

    os.environ["COURSE_DATA_SOURCE"] = "sample"   # as in the notebooks under test; no download attempts
    app = ex.Explorer(REF["softmax_regression_epoch_l2"], background=False)
    del os.environ["COURSE_DATA_SOURCE"]
    lr = app.controls["lr"]
    values = [0.1 * 10 ** (0.25 * ((k + 1) % 2)) for k in range(changes)]   # one slider step up, back, up...
    times, training, new_frame = [], [], []
    for value in values:
        frames = app._curves.frames_drawn
        start = time.perf_counter()
        lr.value = value
        times.append(time.perf_counter() - start)
        training.append(app.result.seconds)
        new_frame.append(app._curves.frames_drawn > frames)
    assert app.result.message is None
    drawing = {}                                    # the redraw alone: over a kept frame, and with a new frame
    for kept in (True, False):
        ts = []
        for _ in range(5):
            if not kept:
                app._curves._frames.clear()
            t = time.perf_counter()
            app._curves.png(app.result.history)
            ts.append(time.perf_counter() - t)
        drawing[kept] = float(np.median(ts))

    def before():   # what a change did before: a new figure, tight_layout, a tight-bbox PNG (IPython's inline display)
        result = ex.train_and_score(app.settings(), app.epoch_fn, app.data("mnist"))
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
        ex.draw(result, axes)
        fig.savefig(io.BytesIO(), format="png", bbox_inches="tight")
        plt.close(fig)

    old = sorted(best_time(before, 1) for _ in range(5))[2]
    median = float(np.median(times))
    rows = [[f"explorer: one slider change in process (default settings), until the PNG is encoded: median of {changes}",
             f"{median * 1e3:.0f} ms (min {min(times) * 1e3:.0f})", f"<= 150 ms: {'met' if median <= 0.150 else 'MISSED'}",
             f"before (a new figure, tight_layout, tight-bbox PNG): {old * 1e3:.0f} ms, median of 5",
             f"{old / median:.1f}x faster"],
            ["of which: training with the reference epoch function, curves scored at the end",
             f"{np.median(training) * 1e3:.0f} ms", "", "", ""],
            [f"of which: redrawing the kept figure and encoding the PNG (a new frame, the axes' limits changed, in "
             f"{sum(new_frame)} of the {changes} changes)",
             f"{drawing[True] * 1e3:.0f} ms over a kept frame, {drawing[False] * 1e3:.0f} ms with a new frame", "", "", ""]]
    from course.execute import execute
    start = time.perf_counter()
    execute(ROOT / "solutions" / "03_sgd.ipynb")
    rows.append(["solutions/03_sgd.ipynb executed (kernel start included, data pinned to the sample)",
                 f"{time.perf_counter() - start:.1f} s", "<= 60 s", "", ""])
    return rows


SECTIONS = "one,many,search,optuna,accuracy,responsiveness"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a 128-configuration search instead of 4,096")
    parser.add_argument("--only", default=SECTIONS, help=f"comma-separated sections to run (default: all): {SECTIONS}")
    args = parser.parse_args()
    wanted = set(args.only.split(","))
    unknown = wanted - set(SECTIONS.split(","))
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; expected some of {SECTIONS}")
    os.environ.setdefault("COURSE_CACHE_DIR", str(Path.home() / ".cache" / "course-pack"))
    rate = sgemm_rate()
    print(f"Notebook 03, SGD ({machine()}; {load()} at the start; SGEMM 1024^3 {rate / 1e9:.0f} GFLOP/s)\n", flush=True)
    headers = ["what", "course", "target", "peer", "ratio"]
    sections = [("one", "Speed of one model", one_model_rows),
                ("many", "Speed of many models: 64 side by side", many_model_rows),
                ("search", "The hyperparameter search: successive halving and exhaustive",
                 lambda: search_rows(QUICK_GRID if args.quick else GRID, sgemm_rate())),
                ("optuna", "Optuna's pruned search, one configuration at a time", lambda: optuna_rows(QUICK_GRID)),
                ("accuracy", "Accuracy", lambda: [r + [""] for r in accuracy_rows()]),
                ("responsiveness", "Responsiveness", responsiveness_rows)]
    for key, title, rows in sections:
        if key not in wanted:
            continue
        start = load()
        body = rows()
        print(f"\n### {title}\n\n({start} at the start, {load()} at the end)\n\n{table(headers, body)}\n", flush=True)
    print(f"{load()} at the end")


if __name__ == "__main__":
    main()
