"""Assignment 04: the reference gradients against finite differences (the same checks as the
notebook), the shape errors of compose/jacobians, broken answers caught by the self-checks in one
line, and the hidden cases."""
from __future__ import annotations

import copy

import numpy as np
import pytest

from course.checks import hidden_cases, run_check, same_result
from course.gradcheck import check_gradient, check_jacobian
from course.questions import load_definitions

from conftest import ROOT

CODE_QUESTIONS = ["relu_norm_grads", "regression_grads", "classifier_grads", "affine", "compose", "jacobians",
                  "mlp_forward", "mlp_backward", "nn_epoch"]


@pytest.fixture(scope="module")
def ref():
    return load_definitions(ROOT / "solutions" / "04_backprop.ipynb")


# ------------------------------------------------------------------ gradients against finite differences

@pytest.mark.parametrize("shape", [(3, 3), (4, 3), (2, 5)])
def test_relu_norm_grads_match_finite_differences(ref, shape):
    rng = np.random.default_rng(sum(shape))
    W, x = rng.standard_normal(shape), rng.standard_normal(shape[1])
    z = W @ x
    assert np.any(z < 0) or shape == (2, 5), "the point should have inactive units"
    _, grad_W, grad_x = ref["relu_norm_grads"](W, x)
    assert check_gradient(lambda v: ref["relu_norm_grads"](W, v)[0], grad_x, x).passed
    assert check_gradient(lambda M: ref["relu_norm_grads"](M, x)[0], grad_W, W).passed


def _net(rng, n=3, m=4, K=2, N=5, binary=False):
    params = [rng.standard_normal((m, n)), rng.standard_normal(m), rng.standard_normal((K, m)), rng.standard_normal(K)]
    Y = (rng.random((N, K)) < 0.5).astype(float) if binary else rng.standard_normal((N, K))
    return params, rng.standard_normal((N, n)), Y


@pytest.mark.parametrize("name, kwargs", [("regression_grads", {}), ("classifier_grads", {"loss": "mse"}),
                                          ("classifier_grads", {"loss": "bce"})])
@pytest.mark.parametrize("seed", [0, 1])
def test_two_layer_gradients_match_finite_differences(ref, name, kwargs, seed):
    params, X, Y = _net(np.random.default_rng(seed), binary=name == "classifier_grads")
    fn = ref[name]
    grads = fn(*params, X, Y, **kwargs)[1:]
    for i, grad in enumerate(grads):
        def loss(p, i=i):
            changed = list(params)
            changed[i] = p
            return fn(*changed, X, Y, **kwargs)[0]
        report = check_gradient(loss, grad, params[i], name=f"param {i}")
        assert report.passed, str(report)


def test_bce_is_finite_when_the_sigmoid_saturates(ref):
    params, X, Y = _net(np.random.default_rng(2), binary=True)
    loss, *grads = ref["classifier_grads"](*[p * 50 for p in params], X, Y, loss="bce")
    assert np.isfinite(loss) and all(np.all(np.isfinite(g)) for g in grads)


@pytest.mark.parametrize("widths", [[2, 3, 1], [3, 1, 1], [4, 3, 5, 2], [3, 5, 2, 4, 1], [1, 2, 1, 2, 1, 2, 3]])
def test_jacobians_match_finite_differences(ref, widths):
    compose, jacobians = ref["compose"], ref["jacobians"]
    rng = np.random.default_rng(len(widths))
    layers = [(rng.standard_normal((m, k)), rng.standard_normal(m)) for k, m in zip(widths, widths[1:])]
    x = rng.standard_normal(widths[0])
    db, dW = jacobians(layers, x, compose(layers, x))
    k = widths[-1]
    for i, (W, b) in enumerate(layers):
        assert db[i].shape == (k, W.shape[0]) and dW[i].shape == (k, *W.shape)
        def out_b(v, i=i):
            return compose(layers[:i] + [(layers[i][0], v)] + layers[i + 1:], x)[-1]
        def out_W(M, i=i):
            return compose(layers[:i] + [(M, layers[i][1])] + layers[i + 1:], x)[-1]
        assert check_jacobian(out_b, db[i], b).passed
        assert check_jacobian(out_W, dW[i], W).passed
    np.testing.assert_array_equal(db[-1], np.eye(k))  # dz/db of an affine map is the identity


def test_mlp_backward_matches_finite_differences(ref):
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((9, 6)), rng.integers(0, 3, 9)
    Ws = [rng.standard_normal((6, 5)), rng.standard_normal((5, 4)), rng.standard_normal((4, 3))]
    loss_and_grad = ref["softmax_loss_and_grad"]
    Zs = ref["mlp_forward"](X, Ws)
    grads = ref["mlp_backward"](Zs, Ws, loss_and_grad(Zs[-1], y)[1])
    for i in range(3):
        def loss(M, i=i):
            return loss_and_grad(ref["mlp_forward"](X, Ws[:i] + [M] + Ws[i + 1:])[-1], y)[0]
        assert check_gradient(loss, grads[i], Ws[i]).passed


def test_nn_epoch_steps_by_the_average_gradient(ref):
    rng = np.random.default_rng(4)
    X, y = rng.random((12, 7)), rng.integers(0, 3, 12)
    W1, W2 = rng.standard_normal((7, 5)), rng.standard_normal((5, 3))
    loss = lambda A, B: ref["softmax_loss_and_grad"](np.maximum(X @ A, 0) @ B, y)[0]  # noqa: E731
    new1, new2 = W1.copy(), W2.copy()
    ref["nn_epoch"](X, y, new1, new2, lr=0.5, batch=12)
    assert check_gradient(lambda A: loss(A, W2), (W1 - new1) / 0.5, W1).passed
    assert check_gradient(lambda B: loss(W1, B), (W2 - new2) / 0.5, W2).passed


def test_nn_epoch_takes_batches_in_order_and_keeps_float32(ref):
    rng = np.random.default_rng(5)
    X, y = rng.random((10, 4), dtype=np.float32), rng.integers(0, 3, 10).astype(np.uint8)
    W1, W2 = rng.standard_normal((4, 6)).astype(np.float32), rng.standard_normal((6, 3)).astype(np.float32)
    by_hand = [W1.copy(), W2.copy()]
    for start in (0, 4, 8):  # batch=4: batches of 4, 4 and 2, one full-batch epoch each
        ref["nn_epoch"](X[start:start + 4], y[start:start + 4], *by_hand, lr=0.3, batch=4)
    ref["nn_epoch"](X, y, W1, W2, lr=0.3, batch=4)
    assert W1.dtype == W2.dtype == np.float32
    np.testing.assert_array_equal(W1, by_hand[0])
    np.testing.assert_array_equal(W2, by_hand[1])


# ------------------------------------------------------------------ bad shapes

G = (np.array([[1.0, 2.0], [0.0, 1.0], [-1.0, 0.0]]), np.array([0.0, 0.0, 3.0]))
F = (np.array([[1.0, -2.0, 0.25]]), np.array([0.0]))
X2 = np.array([2.0, -1.0])


@pytest.mark.parametrize("layers, message", [
    ([G, F, G], r"layer 3: W3 has shape \(3, 2\) and needs an input of length 2, but z2 has shape \(1,\)"),
    ([G, (np.ones((1, 4)), np.zeros(1))], r"layer 2: W2 has shape \(1, 4\) and needs an input of length 4, "
                                          r"but z1 has shape \(3,\)"),
    ([(G[0], np.zeros(2)), F], r"layer 1: b1 has shape \(2,\), but W1 has shape \(3, 2\): expected b1 of shape \(3,\)"),
    ([(np.ones(3), np.zeros(1))], r"layer 1: W1 must be a matrix, got shape \(3,\)"),
])
def test_compose_names_the_layer_and_both_shapes(ref, layers, message):
    with pytest.raises(ValueError, match=message):
        ref["compose"](layers, X2)


def test_jacobians_refuse_shapes_that_do_not_fit(ref):
    zs = ref["compose"]([G, F], X2)
    with pytest.raises(ValueError, match="zs has 1 outputs, but there are 2 layers"):
        ref["jacobians"]([G, F], X2, zs[:1])
    with pytest.raises(ValueError, match=r"layer 2: z2 has shape \(2,\), but W2 has shape \(1, 3\)"):
        ref["jacobians"]([G, F], X2, [zs[0], np.zeros(2)])
    with pytest.raises(ValueError, match=r"layer 1: W1 has shape \(3, 2\) and needs an input of length 2, "
                                         r"but z0 has shape \(3,\)"):
        ref["jacobians"]([G, F], np.zeros(3), zs)


# ------------------------------------------------------------------ broken answers fail in one precise line

def broken(ref):
    """variant -> (question, a wrong answer, text its FAIL line must hold): each typical mistake, named."""
    relu, reg, clf, nn_epoch = ref["relu_norm_grads"], ref["regression_grads"], ref["classifier_grads"], ref["nn_epoch"]

    def row_sums(W, x):  # the tempting wrong form: dz-gradient times row sums of W
        f, gW, _ = relu(W, x)
        z = W @ x
        return f, gW, (2 * np.maximum(z, 0) * (z > 0) * W.sum(axis=1))[: x.shape[0]]

    def relu_no_mask(W, x):  # delta = 2 z: the ReLU left out of the backward pass
        z = W @ x
        a = np.maximum(z, 0)
        return float(a @ a), np.outer(2 * z, x), W.T @ (2 * z)

    def relu_transposed(W, x):
        f, gW, gx = relu(W, x)
        return f, gW.T, gx

    def relu_float64(W, x):
        f, gW, gx = relu(W, x)
        return f, gW.astype(np.float64), gx.astype(np.float64)

    def transposed(*args):
        loss, dW1, db1, dW2, db2 = reg(*args)
        return loss, dW1.T, db1, dW2, db2

    def reg_no_mask(W1, b1, W2, b2, X, Y):
        Z1 = X @ W1.T + b1
        Z2 = 5 * np.maximum(Z1, 0)
        D3 = 2 * (Z2 @ W2.T + b2 - Y) / len(X)
        D1 = 5 * (D3 @ W2)
        return reg(W1, b1, W2, b2, X, Y)[0], D1.T @ X, D1.sum(0), D3.T @ Z2, D3.sum(0)

    def reg_summed(*args):
        return tuple(v * len(args[4]) for v in reg(*args))

    def wrong_tanh(W1, b1, W2, b2, X, Y, loss="bce"):  # 1 - tanh(z^2) instead of 1 - tanh(z)^2
        Z1 = X @ W1.T + b1
        Z2 = np.tanh(Z1)
        Y_hat = 1 / (1 + np.exp(-(Z2 @ W2.T + b2)))
        D3 = (Y_hat - Y) / len(X) if loss == "bce" else 2 * (Y_hat - Y) * Y_hat * (1 - Y_hat) / len(X)
        D1 = (1 - np.tanh(Z1**2)) * (D3 @ W2)
        value = clf(W1, b1, W2, b2, X, Y, loss)[0]
        return value, D1.T @ X, D1.sum(0), D3.T @ Z2, D3.sum(0)

    def clf_summed(*args, loss="bce"):
        return tuple(v * len(args[4]) for v in clf(*args, loss=loss))

    def each_on_x(layers, x):  # every layer applied to x instead of the previous output
        return [W @ x + b for W, b in layers]

    def ones_for_bias(layers, x, zs):  # dz/db of an affine map taken as a row of ones
        db, dW = ref["jacobians"](layers, x, zs)
        db[-1] = np.ones_like(db[-1])
        return db, dW

    def backward_no_mask(Zs, Ws, G):
        grads = [None] * len(Ws)
        for i in reversed(range(len(Ws))):
            grads[i] = Zs[i].T @ G
            G = G @ Ws[i].T
        return grads

    def not_in_place(X, y, W1, W2, lr=0.1, batch=100):
        W1, W2 = W1.copy(), W2.copy()
        nn_epoch(X, y, W1, W2, lr, batch)
        return W1, W2

    def summed(X, y, W1, W2, lr=0.1, batch=100):  # sums the batch gradient: lr scales with the batch
        for start in range(0, len(X), batch):
            m = len(X[start:start + batch])
            nn_epoch(X[start:start + batch], y[start:start + batch], W1, W2, lr * m, batch)

    def epoch(order=None, by_batch=False, mask=True, w2_first=False):
        def run(X, y, W1, W2, lr=0.1, batch=100):
            rows = np.arange(len(X)) if order is None else np.random.default_rng(order).permutation(len(X))
            for start in range(0, len(X), batch):
                idx = rows[start:start + batch]
                Xb, m = X[idx], batch if by_batch else len(idx)
                Z1 = np.maximum(Xb @ W1, 0)
                S = np.exp(Z1 @ W2 - (Z1 @ W2).max(axis=1, keepdims=True))
                S /= S.sum(axis=1, keepdims=True)
                S[np.arange(len(idx)), y[idx]] -= 1
                G2 = S / m
                if w2_first:
                    W2 -= lr * Z1.T @ G2
                G1 = ((Z1 > 0) if mask else 1) * (G2 @ W2.T)
                W1 -= lr * Xb.T @ G1
                if not w2_first:
                    W2 -= lr * Z1.T @ G2
        return run

    one_unit = "11 one-feature examples"
    ref["_right_epoch"] = epoch()
    return {
        "row sums": ("relu_norm_grads", row_sums, "grad_x: 3 of 3 values differ; at [0] expected 2.5, got 7.5"),
        "relu without mask": ("relu_norm_grads", relu_no_mask, "(that is what delta = 2 z, without the ReLU's mask "
                                                               "1[z > 0] (units that are off get a gradient) gives)"),
        "relu grad_W transposed": ("relu_norm_grads", relu_transposed, "grad_W: expected shape (3, 2), got (2, 3) "
                                                                        "(transposed?)"),
        "relu float64": ("relu_norm_grads", relu_float64, "float32 W with a float64 x: both gradients float32, W's "
                                                          "dtype: grad_W: expected dtype float32, got float64"),
        "regression transposed": ("regression_grads", transposed, "dW1: expected shape (3, 2), got (2, 3) (transposed?)"),
        "regression without mask": ("regression_grads", reg_no_mask, "(that is what no ReLU mask in the backward pass "
                                                                     "(D1 = 5 D3 W2 where units are off too) gives)"),
        "regression summed": ("regression_grads", reg_summed, "loss: expected 208.352, got 416.704 (2 times too big: "
                                                              "the sum over the 2 examples instead of their average"),
        "tanh squared": ("classifier_grads", wrong_tanh, "dW1: 6 of 6 values differ; at [0, 0] expected 0.443571, got "
                                                         "0.356867 (that is what 1 - tanh(z1**2) instead of "
                                                         "1 - tanh(z1)**2 as tanh's derivative gives)"),
        "classifier summed": ("classifier_grads", clf_summed, "(2 times too big: the sum over the 2 examples"),
        "compose on x": ("compose", each_on_x, "FAIL  [(W1, b1), (W2, b2)] at x = (2, -1)"),
        "ones for bias": ("jacobians", ones_for_bias, "db[3]: 2 of 4 values differ"),
        "backward without mask": ("mlp_backward", backward_no_mask, "(that is what leaving out the ReLU's mask "
                                                                    "1[Z_{i+1} > 0] below the last layer gives)"),
        "epoch not in place": ("nn_epoch", not_in_place, "W1 is unchanged: update it in place"),
        "epoch summed": ("nn_epoch", summed, f"{one_unit}, one active hidden unit each, batch 4: batches in order, "
                                             "averaged, masked: W2: each example's gradient entered the step unscaled: "
                                             "the sum over the batch, not its average"),
        "epoch shuffled": ("nn_epoch", epoch(order=3), "W2: the examples in the short last batch were rows"),
        "epoch last batch by batch": ("nn_epoch", epoch(by_batch=True), "W2: the last batch has 3 examples (rows 8 to "
                                                                        "10): average its gradient over those 3"),
        "epoch without mask": ("nn_epoch", epoch(mask=False), "W1 changed where the hidden unit is off"),
        "epoch W2 first": ("nn_epoch", epoch(w2_first=True), "W1 is off where W2 is right: compute both gradients"),
    }


@pytest.mark.parametrize("variant", list(broken({k: None for k in ("relu_norm_grads", "regression_grads",
                                                                    "classifier_grads", "nn_epoch")})))
def test_broken_answer_fails_with_a_precise_line(ref, variant):
    question, fn, message = broken(ref)[variant]
    with np.errstate(all="ignore"):
        report = run_check(question, fn)
    assert not report.passed
    failing = [line for line in str(report).splitlines() if "FAIL" in line]
    assert failing and any(message in line for line in failing), str(report)




def test_the_epoch_the_mutations_change_is_right(ref):
    broken(ref)
    assert run_check("nn_epoch", ref.pop("_right_epoch")).passed


def test_seed_bce_form_is_not_the_cross_entropy(ref):
    # -(y log p + (1 - y)(1 - log p)) differs from the cross-entropy by (1 - y)(1 - log p) - (1 - y) log(1 - p)
    params, X, Y = _net(np.random.default_rng(6), binary=True)
    loss = ref["classifier_grads"](*params, X, Y, loss="bce")[0]
    p = 1 / (1 + np.exp(-(np.tanh(X @ params[0].T + params[1]) @ params[2].T + params[3])))
    assert np.isclose(loss, np.mean(np.sum(-(Y * np.log(p) + (1 - Y) * np.log(1 - p)), axis=1)))
    assert not np.isclose(loss, np.mean(np.sum(-(Y * np.log(p) + (1 - Y) * (1 - np.log(p))), axis=1)))


# ------------------------------------------------------------------ hidden cases

def _run_hidden(fn, case):
    args = copy.deepcopy(case.args)
    result = fn(*args, **case.kwargs)
    return args if case.judge_args else result


@pytest.mark.parametrize("question", CODE_QUESTIONS)
def test_hidden_cases_exist_and_the_reference_agrees_with_itself(ref, question, tmp_path):
    cases = hidden_cases(question, seed=123, scratch=tmp_path)
    assert cases, f"{question} has no hidden cases"
    again = hidden_cases(question, seed=123, scratch=tmp_path)
    for case, twin in zip(cases, again):
        assert case.judge is None
        if case.raises:
            with pytest.raises(case.raises):
                ref[question](*copy.deepcopy(case.args), **case.kwargs)
            continue
        problem = same_result(_run_hidden(ref[question], case), _run_hidden(ref[question], twin),
                              rtol=case.rtol, atol=case.atol)
        assert problem is None, f"{case.name}: {problem}"


def test_hidden_nn_epoch_cases_catch_a_summed_gradient(ref, tmp_path):
    fn = broken(ref)["epoch summed"][1]
    case = hidden_cases("nn_epoch", seed=7, scratch=tmp_path)[0]
    problem = same_result(_run_hidden(ref["nn_epoch"], case), _run_hidden(fn, case), rtol=case.rtol, atol=case.atol)
    assert problem and "values differ" in problem


def test_every_check_in_the_notebook_passes_but_the_wrong_forms():
    import nbformat
    nb = nbformat.read(ROOT / "solutions" / "04_backprop.ipynb", as_version=4)
    lines = [line.strip() for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
             if out.output_type == "stream" for line in out.text.splitlines()]
    verdicts = [line for line in lines if line.startswith(("PASS", "FAIL")) or line.endswith(("PASS", "FAIL"))]
    assert len(verdicts) > 40
    failing = [line for line in verdicts if "FAIL" in line]
    assert failing and all("(wrong)" in line for line in failing), failing
