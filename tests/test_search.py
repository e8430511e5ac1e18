"""The vectorised hyperparameter search: same numbers as one model at a time, divergence, bad input."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from course import search


def one_at_a_time(X, y, X_val, y_val, lr, l2, batch, epochs, k=10):
    """Plain SGD for softmax regression with biases and L2 on the weights: the specification."""
    W, b = np.zeros((X.shape[1], k), np.float32), np.zeros(k, np.float32)
    one_hot = np.eye(k, dtype=np.float32)[y]
    losses = []
    for _ in range(epochs):
        for start in range(0, len(X), batch):
            Xb = X[start:start + batch]
            H = Xb @ W + b
            Z = np.exp(H - H.max(axis=1, keepdims=True))
            Z /= Z.sum(axis=1, keepdims=True)
            G = (Z - one_hot[start:start + batch]) / len(Xb)
            grad_W, grad_b = Xb.T @ G + np.float32(l2) * W, G.sum(axis=0)
            W -= np.float32(lr) * grad_W
            b -= np.float32(lr) * grad_b
        H = (X_val @ W + b).astype(np.float64)
        top = H.max(axis=1, keepdims=True)
        losses.append(float(np.mean(np.log(np.exp(H - top).sum(axis=1)) + top[:, 0] - H[np.arange(len(y_val)), y_val])))
    return W, b, losses


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(10, 30)).astype(np.float32)
    y = rng.integers(0, 10, 250).astype(np.uint8)
    X = (centres[y] + rng.normal(size=(250, 30)).astype(np.float32)) / 4
    y_val = rng.integers(0, 10, 80).astype(np.uint8)
    X_val = (centres[y_val] + rng.normal(size=(80, 30)).astype(np.float32)) / 4
    return X.astype(np.float32), y, X_val.astype(np.float32), y_val


def test_side_by_side_equals_one_at_a_time(problem):
    X, y, X_val, y_val = problem
    lrs, l2s = [0.05, 0.2, 0.5, 0.2], [0.0, 0.0, 1e-3, 0.1]
    run = search.train_many(X, y, X_val, y_val, lrs=lrs, l2s=l2s, batch=16, epochs=[1, 3, 4])  # 250 = 15 x 16 + 10
    assert run.epochs == [1, 3, 4] and run.val_loss.shape == (3, 4)
    for c, (lr, l2) in enumerate(zip(lrs, l2s)):
        W, b, losses = one_at_a_time(X, y, X_val, y_val, lr, l2, 16, 4)
        np.testing.assert_allclose(run.W[:, c], W, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(run.b[c], b, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(run.val_loss[:, c], [losses[0], losses[2], losses[3]], rtol=1e-5)
    assert (run.diverged_at == 0).all()


@pytest.mark.parametrize("l2s, block_rows", [
    ([0.1, 0.02, 0.0, 0.3], 1), ([0.1, 0.02, 0.0, 0.3], 48), ([0.1, 0.02, 0.0, 0.3], 128),  # 1, 3, 8 steps a block
    ([1.0, 1.0, 3.0, 0.0], 128)])          # decay 1 - lr l2 of 0.5, 0, -0.2: one step a block, scale folded back
def test_blocks_of_steps_and_strong_decay_equal_one_at_a_time(problem, l2s, block_rows):
    X, y, X_val, y_val = problem
    lrs = [0.5, 1.0, 0.4, 0.1]
    run = search.train_many(X, y, X_val, y_val, lrs=lrs, l2s=l2s, batch=16, epochs=[2], block_rows=block_rows)
    for c, (lr, l2) in enumerate(zip(lrs, l2s)):
        W, b, losses = one_at_a_time(X, y, X_val, y_val, lr, l2, 16, 2)
        np.testing.assert_allclose(run.W[:, c], W, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(run.val_loss[0, c], losses[1], rtol=1e-5)


def test_every_epoch_count_is_read_off_one_run(problem):
    X, y, X_val, y_val = problem
    result = search.search(X, y, X_val, y_val, lrs=[0.1, 0.3], l2s=[0.0, 1e-2], batches=[32, 250], epochs=[2, 1, 3])
    assert len(result) == 2 * 2 * 2 * 3
    for e in (1, 2, 3):
        alone = search.train_many(X, y, X_val, y_val, lrs=[0.3], l2s=[1e-2], batch=250, epochs=[e])
        i = np.flatnonzero((result.lr == 0.3) & (result.l2 == 1e-2) & (result.batch == 250) & (result.epochs == e))
        assert i.size == 1
        np.testing.assert_allclose(result.val_loss[i[0]], alone.val_loss[0, 0], rtol=1e-6)
        np.testing.assert_allclose(result.val_error[i[0]], alone.val_error[0, 0])
    best = result.best()
    assert result.val_loss[best] == np.nanmin(result.val_loss)
    assert set(result.config(best)) == {"lr", "l2", "batch", "epochs"}


def test_diverging_configurations_are_reported_and_excluded(problem):
    X, y, X_val, y_val = problem
    X, X_val = X * np.float32(100), X_val * np.float32(100)  # so that a step of lr 1e38 overflows float32
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings either
        result = search.search(X, y, X_val, y_val, lrs=[0.1, 1e38], l2s=[0.0], batches=[50], epochs=[1, 2])
    bad = result.lr == 1e38
    assert result.diverged[bad].all() and not result.diverged[~bad].any()
    assert np.isnan(result.val_loss[bad]).all() and np.isfinite(result.val_loss[~bad]).all()
    assert result.lr[result.best()] == 0.1
    text = result.table()
    assert "diverged (NaN/inf), excluded: 2 of 4 configurations" in text and "lr=1e+38" in text
    with pytest.raises(ValueError, match="every configuration diverged"):
        search.search(X, y, X_val, y_val, lrs=[1e38], l2s=[0.0], batches=[50], epochs=[1]).best()


@pytest.mark.parametrize("bad, message", [
    (dict(lrs=[0.1, 0.0]), r"lr \(learning rate\) must be a finite number > 0, got 0.0"),
    (dict(lrs=[-1.0]), r"lr .* got -1.0"),
    (dict(lrs=[float("nan")]), r"lr .* got nan"),
    (dict(batches=[0]), r"batch \(batch size\) must be between 1 and the number of training examples \(250\), got 0"),
    (dict(batches=[10, 251]), r"got 251"),
    (dict(batches=[2.5]), r"batch must be an integer, got float 2.5"),
    (dict(l2s=[-1e-3]), r"l2 \(L2 strength\) must be a finite number >= 0, got -0.001"),
    (dict(epochs=[0, 3]), r"epochs must be at least 1, got 0"),
    (dict(epochs=[]), r"at least one value"),
])
def test_bad_hyperparameters_fail_before_any_training(problem, monkeypatch, bad, message):
    X, y, X_val, y_val = problem

    def no_training(*args, **kwargs):
        raise AssertionError("training started before the hyperparameters were checked")

    monkeypatch.setattr(search, "train_many", no_training)
    grid = dict(lrs=[0.1], l2s=[0.0], batches=[10], epochs=[1]) | bad
    with pytest.raises(ValueError, match=message):
        search.search(X, y, X_val, y_val, **grid)


def test_check_hyperparameters_accepts_good_values():
    search.check_hyperparameters(n=10, lr=1e-6, batch=10, l2=0.0, epochs=1)
    search.check_hyperparameters(n=10, lr=np.float32(0.5), batch=np.int64(1), l2=np.float64(1e-3), epochs=np.int32(3))
    with pytest.raises(ValueError, match="batch must be an integer, got bool"):
        search.check_hyperparameters(n=10, batch=True)


def test_train_validation_split_is_seeded_and_disjoint():
    X = np.arange(100, dtype=np.float32).reshape(50, 2)
    y = np.arange(50, dtype=np.uint8)
    Xt, yt, Xv, yv = search.train_validation_split(X, y, 0.2, seed=1)
    assert len(yt) == 40 and len(yv) == 10
    assert sorted(np.r_[yt, yv]) == list(range(50))
    np.testing.assert_array_equal(Xt[:, 0], 2 * yt.astype(np.float32))
    again = search.train_validation_split(X, y, 0.2, seed=1)
    np.testing.assert_array_equal(again[3], yv)
    with pytest.raises(ValueError, match="validation must be a fraction"):
        search.train_validation_split(X, y, 1.5)
    with pytest.raises(ValueError, match="X has 50 rows but y has 49 labels"):
        search.train_validation_split(X, y[:49])


def test_flops_formula():
    assert search.search_flops(48000, 12000, 784, 64, 8, 30, 8) == 8 * (30 * 4 * 48000 * 784 * 640 + 8 * 2 * 12000 * 784 * 640)


def test_labels_out_of_range_and_length_mismatch_are_refused(problem):
    X, y, X_val, y_val = problem
    with pytest.raises(ValueError, match=r"labels must be integers in 0..9 \(num_classes=10\), got 0..12"):
        search.train_many(X, np.where(y == 3, 12, y).astype(np.uint8), X_val, y_val, lrs=[0.1], l2s=[0.0], batch=10, epochs=[1])
    with pytest.raises(ValueError, match="X and y must have the same length, got 250 and 249"):
        search.train_many(X, y[:-1], X_val, y_val, lrs=[0.1], l2s=[0.0], batch=10, epochs=[1])


def test_halving_keeps_the_better_part_and_trains_it_exactly(problem):
    """Successive halving with reduction r: a cut after the first epoch count and after each one at least
    r times the previous cut keeps the best ceil(n / r) of the models still training; their numbers are
    those of the exhaustive run, and a stopped model's weights are those of one-at-a-time SGD for the
    epochs it was trained."""
    X, y, X_val, y_val = problem
    lrs, l2s = [0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 0.3], [0.0, 1e-3, 0.0, 0.1, 0.0, 1e-2, 0.0]
    epochs = [1, 2, 3, 5, 6]                 # with r = 2, the cuts come after 1, 2 and 5 epochs (not 3, not the last)
    full = search.train_many(X, y, X_val, y_val, lrs=lrs, l2s=l2s, batch=16, epochs=epochs)
    half = search.train_many(X, y, X_val, y_val, lrs=lrs, l2s=l2s, batch=16, epochs=epochs, reduction=2)
    alive = np.arange(7)
    for row, epoch in enumerate(epochs):
        trained = np.flatnonzero(np.isfinite(half.val_loss[row]))
        np.testing.assert_array_equal(trained, alive)
        np.testing.assert_allclose(half.val_loss[row, alive], full.val_loss[row, alive], rtol=1e-5)
        if epoch in (1, 2, 5):  # the best ceil(n / 2) by the exhaustive run's loss go on
            best = np.sort(alive[np.argsort(full.val_loss[row, alive], kind="stable")[:int(np.ceil(len(alive) / 2))]])
            assert (half.stopped_at[np.setdiff1d(alive, best)] == epoch).all()
            assert ((half.stopped_at[best] == 0) | (half.stopped_at[best] > epoch)).all()
            alive = best
    assert [len(np.flatnonzero(np.isfinite(r))) for r in half.val_loss] == [7, 4, 2, 2, 1]
    assert (half.stopped_at[alive] == 0).all() and (half.diverged_at == 0).all()
    for c in (int(np.flatnonzero(half.stopped_at == 1)[0]), int(np.flatnonzero(half.stopped_at == 5)[0]), int(alive[0])):
        W, b, _ = one_at_a_time(X, y, X_val, y_val, lrs[c], l2s[c], 16, half.stopped_at[c] or 6)
        np.testing.assert_allclose(half.W[:, c], W, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(half.b[c], b, rtol=1e-4, atol=1e-5)
    third = search.train_many(X, y, X_val, y_val, lrs=lrs, l2s=l2s, batch=16, epochs=epochs, reduction=3)
    assert [len(np.flatnonzero(np.isfinite(r))) for r in third.val_loss] == [7, 3, 3, 1, 1]   # cuts after 1 and 3


def test_halving_search_reports_what_it_dropped_and_when(problem):
    X, y, X_val, y_val = problem
    grid = dict(lrs=[0.03, 0.1, 0.3], l2s=[0.0, 1e-2], batches=[25, 50], epochs=[1, 2, 4])
    full = search.search(X, y, X_val, y_val, **grid)
    half = search.search(X, y, X_val, y_val, **grid, strategy="halving")
    assert half.strategy == "halving" and full.strategy == "exhaustive" and not full.dropped.any()
    assert len(half) == len(full) == 36
    # per batch size: 6 runs to 1 epoch, 3 to 2 epochs, 2 to 4 epochs
    assert [int((~half.dropped & (half.epochs == e)).sum()) for e in (1, 2, 4)] == [12, 6, 4]
    assert np.isnan(half.val_loss[half.dropped]).all()
    np.testing.assert_allclose(half.val_loss[~half.dropped], full.val_loss[~half.dropped], rtol=1e-5)
    stopped = half.dropped & (half.epochs == 4)
    assert set(half.dropped_at[stopped]) == {1, 2}
    assert half.model_epochs() == 2 * (3 * 1 + 1 * 2 + 2 * 4) and full.model_epochs() == 2 * 6 * 4
    assert not half.dropped[half.best()] and half.val_loss[half.best()] == np.nanmin(half.val_loss)
    runs = half.runs()
    assert len(runs) == 12 and sorted(r["stopped_after"] for r in runs) == [0] * 4 + [1] * 6 + [2] * 2
    for run in runs:
        assert len(run["epochs"]) == len(run["val_loss"]) == {0: 3, 1: 1, 2: 2}[run["stopped_after"]]
    assert half.halving_table().splitlines()[1:] == [
        f"     1           12            6 {np.nanmin(half.val_loss[half.epochs == 1]):13.4f}",
        f"     2            6            2 {np.nanmin(half.val_loss[half.epochs == 2]):13.4f}",
        f"     4            4            - {np.nanmin(half.val_loss[half.epochs == 4]):13.4f}"]
    assert "stopped early by successive halving: 14 of 36 configurations never trained" in half.table()


def test_halving_drops_diverged_models_at_once(problem):
    X, y, X_val, y_val = problem
    X, X_val = X * np.float32(100), X_val * np.float32(100)
    run = search.train_many(X, y, X_val, y_val, lrs=[1e38, 0.1, 0.01, 1e38], l2s=[0.0] * 4, batch=50,
                            epochs=[1, 2, 3], reduction=2)
    assert list(run.diverged_at) == [1, 0, 0, 1] and np.isnan(run.val_loss[:, [0, 3]]).all()
    assert (run.W[:, [0, 3]] == 0).all()
    # of the two that did not diverge, the better half (one) goes on
    assert sorted(run.stopped_at[[1, 2]]) == [0, 1] and np.isfinite(run.val_loss[2, [1, 2]]).sum() == 1


def test_a_strategy_or_reduction_that_does_not_exist_is_refused(problem, monkeypatch):
    X, y, X_val, y_val = problem
    monkeypatch.setattr(search, "train_many", lambda *a, **k: pytest.fail("trained before checking the strategy"))
    with pytest.raises(ValueError, match=r"strategy must be one of 'exhaustive', 'halving', got 'hyperband'"):
        search.search(X, y, X_val, y_val, lrs=[0.1], l2s=[0.0], batches=[10], epochs=[1], strategy="hyperband")
    monkeypatch.undo()
    for reduction in (1, 0, 2.5, True):
        with pytest.raises(ValueError, match=rf"reduction must be None or an integer >= 2, got {reduction}"):
            search.train_many(X, y, X_val, y_val, lrs=[0.1], l2s=[0.0], batch=10, epochs=[1], reduction=reduction)
