"""Public and hidden checks of assignment 04 (backpropagation).

Public cases compare with literal numbers (small inputs, many of them checkable by hand; the
others were computed once with the reference, whose gradients tests/test_a04_backprop.py checks
against finite differences) or with properties (shapes, finite values, errors raised). Hidden
cases draw random inputs from the grading seed and leave the comparison with the reference
solution to the grader.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import Case, batch_of_each_example, batch_scale_problem, expect_array, likely_mistake, register, register_hidden

# ------------------------------------------------------------------ judges


def _expect_arrays(names: list[str], expected: list, *, rtol: float = 1e-6, atol: float = 1e-8,
                   exact_dtype: bool = False, batch: int | None = None, mistakes: dict[str, dict] | None = None):
    """A judge for a tuple or list of arrays (and floats), named one by one in its messages.

    ``batch``: the results are averages over that many examples (a sum is named); ``mistakes``:
    ``{name: {description: what that mistake gives for this result}}`` (see :func:`likely_mistake`).
    """
    def judge(got):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            what = f"a {type(got).__name__} of {len(got)}" if isinstance(got, (tuple, list)) else type(got).__name__
            return f"expected {len(expected)} results ({', '.join(names)}), got {what}"
        for name, e, g in zip(names, expected, got):
            known = (mistakes or {}).get(name)
            if isinstance(e, float):
                if not isinstance(g, (float, int, np.floating, np.integer)) or np.ndim(g) != 0:
                    return f"{name}: expected a number, got {type(g).__name__}"
                if not np.isclose(float(g), e, rtol=rtol, atol=atol):
                    return f"{name}: expected {e:.6g}, got {float(g):.6g}" + likely_mistake(g, e, batch=batch,
                                                                                             mistakes=known)
                continue
            problem = expect_array(g, np.asarray(e), name, rtol=rtol, atol=atol, exact_dtype=exact_dtype,
                                   batch=batch, mistakes=known)
            if problem:
                return problem
        return None
    return judge


def _shapes(names: list[str], shapes: list[tuple]):
    """A judge that only looks at the shapes of a tuple of arrays (scalars have shape ())."""
    def judge(got):
        if not isinstance(got, (tuple, list)) or len(got) != len(shapes):
            return f"expected {len(shapes)} results ({', '.join(names)}), got {type(got).__name__}"
        for name, shape, g in zip(names, shapes, got):
            if np.shape(g) != shape:
                return f"{name}: expected shape {shape}, got {np.shape(g)}"
        return None
    return judge


# ------------------------------------------------------------------ f(W, x) = ||ReLU(Wx)||^2

RELU_NAMES = ["f", "grad_W", "grad_x"]


#: What leaving the ReLU's mask out of the backward pass gives: delta = 2 z instead of 2 a * 1[z > 0].
_NO_MASK = "delta = 2 z, without the ReLU's mask 1[z > 0] (units that are off get a gradient)"


@register("relu_norm_grads")
def relu_norm_grads_cases(scratch: Path) -> list[Case]:
    W = np.array([[1.0, -2.0], [3.0, 0.5], [-1.0, -1.0]])
    W3 = np.array([[0.5, -1.0, 2.0], [1.0, 1.0, -0.5], [-2.0, 0.5, 1.0]])

    def no_mask(grad_W, grad_x):
        return {"grad_W": {_NO_MASK: np.array(grad_W)}, "grad_x": {_NO_MASK: np.array(grad_x)}}

    return [
        # z = (-3, 4, -3): only unit 2 is active; delta = (0, 8, 0)
        Case("W 3x2, x = (1, 2): one active unit", (W, np.array([1.0, 2.0])), _expect_arrays(
            RELU_NAMES, [16.0, np.array([[0.0, 0.0], [8.0, 16.0], [0.0, 0.0]]), np.array([24.0, 4.0])],
            mistakes=no_mask([[-6.0, -12.0], [8.0, 16.0], [-6.0, -12.0]], [24.0, 22.0]))),
        # z = (2.5, -0.25, -2): delta = (5, 0, 0), grad_x = 5 * first row of W
        Case("W 3x3, x = (1, -1, 0.5)",
             (W3, np.array([1.0, -1.0, 0.5])), _expect_arrays(
                 RELU_NAMES, [6.25, np.array([[5.0, -5.0, 2.5], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]),
                              np.array([2.5, -5.0, 10.0])],
                 mistakes=no_mask([[5.0, -5.0, 2.5], [-0.5, 0.5, -0.25], [-4.0, 4.0, -2.0]], [10.0, -7.5, 6.25]))),
        Case("every pre-activation negative: f = 0 and zero gradients", (-np.eye(2), np.array([1.0, 2.0])),
             _expect_arrays(RELU_NAMES, [0.0, np.zeros((2, 2)), np.zeros(2)],
                            mistakes=no_mask([[-2.0, -4.0], [-4.0, -8.0]], [2.0, 4.0]))),
        Case("W 4x6: shapes (4, 6) and (6,)", (np.ones((4, 6)), np.ones(6)),
             _expect_arrays(RELU_NAMES, [144.0, np.full((4, 6), 12.0), np.full(6, 48.0)])),
        Case("float32 W with a float64 x: both gradients float32, W's dtype",
             (np.array([[1.0, -2.0], [3.0, 0.5]], np.float32), np.array([1.0, 2.0])),
             _expect_arrays(RELU_NAMES, [16.0, np.array([[0.0, 0.0], [8.0, 16.0]], np.float32),
                                         np.array([24.0, 4.0], np.float32)], exact_dtype=True)),
    ]


@register_hidden("relu_norm_grads")
def relu_norm_grads_hidden(rng: np.random.Generator, scratch: Path) -> list[Case]:
    cases = []
    for k in range(3):
        m, n = rng.integers(1, 8, size=2)
        cases.append(Case(f"random W {m}x{n}", (rng.standard_normal((m, n)), rng.standard_normal(n))))
    return cases


# ------------------------------------------------------------------ the two-layer nets

GRAD_NAMES = ["loss", "dW1", "db1", "dW2", "db2"]
_W1 = np.array([[1.0, -0.5], [0.5, 1.0], [-1.0, 0.25]])
_B1 = np.array([0.1, -0.2, 0.3])
_W2 = np.array([[0.5, -1.0, 2.0], [1.5, 0.5, -0.5]])
_B2 = np.array([0.2, -0.1])
_X = np.array([[1.0, 2.0], [-1.0, 0.5]])
_Y = np.array([[1.0, 0.0], [0.0, 1.0]])


def _random_net(rng, n, m, K, N, binary=False):
    params = [rng.standard_normal((m, n)), rng.standard_normal(m), rng.standard_normal((K, m)), rng.standard_normal(K)]
    Y = (rng.random((N, K)) < 0.5).astype(float) if binary else rng.standard_normal((N, K))
    return params, rng.standard_normal((N, n)), Y


@register("regression_grads")
def regression_grads_cases(scratch: Path) -> list[Case]:
    expected = [208.35195312500002,
                np.array([[17.875, 35.75], [76.25, 152.5], [-156.15625, 78.078125]]),
                np.array([17.875, 76.25, 156.15625]),
                np.array([[-6.025, -138.575, 102.95625], [3.2, 73.6, -33.2203125]]),
                np.array([2.4, 1.7375])]
    params, X, Y = _random_net(np.random.default_rng(40), n=5, m=4, K=3, N=6)
    no_mask = "no ReLU mask in the backward pass (D1 = 5 D3 W2 where units are off too)"
    return [
        Case("n=2, m=3, K=2, batch of 2", (_W1, _B1, _W2, _B2, _X, _Y), _expect_arrays(
            GRAD_NAMES, expected, batch=2, mistakes={
                "dW1": {no_mask: np.array([[16.71875, 36.328125], [160.15625, 110.546875], [-292.65625, -194.921875]])},
                "db1": {no_mask: np.array([19.03125, -7.65625, 19.65625])}})),
        Case("n=5, m=4, K=3, batch of 6: every gradient has its parameter's shape", (*params, X, Y),
             _shapes(GRAD_NAMES, [(), *[p.shape for p in params]])),
    ]


@register("classifier_grads")
def classifier_grads_cases(scratch: Path) -> list[Case]:
    bce = [3.2047455555019493,
           np.array([[0.44357050873044135, 0.5258061583262211], [0.6400885888714941, -0.26673616837316033],
                     [-1.1041822089643598, -1.65471862913871]]),
           np.array([0.15450262142271207, -0.5974420880214247, -0.661265577932352]),
           np.array([[-0.386977131373311, -0.454267553540139, 0.45499442477290997],
                     [0.38691417247450327, 0.40618151380544165, -0.4504596629625691]]),
           np.array([0.04975602063848428, -0.10608850198671016])]
    mse = [1.239504088302824,
           np.array([[0.18284685407449697, 0.28520109433194013], [0.15871163208509106, -0.05830323285234395],
                     [-0.3938874586551317, -0.6520044113872769]]),
           np.array([0.11845276302085395, -0.14186956553292981, -0.2852710539167425]),
           np.array([[-0.10082667537859451, -0.15786846695585124, 0.12221929521455237],
                     [0.09670449654416892, 0.16483332190816846, -0.11846925526965713]]),
           np.array([-0.033398904017628614, 0.04778030196839768])]
    params, X, Y = _random_net(np.random.default_rng(41), n=4, m=5, K=3, N=7, binary=True)
    big = [p * 20 for p in params]  # saturated sigmoids: a naive log(sigmoid) gives -inf
    tanh_squared = "1 - tanh(z1**2) instead of 1 - tanh(z1)**2 as tanh's derivative"
    bce_tanh = {"dW1": {tanh_squared: np.array([[0.3568670419909309, 0.5691080876762135],
                                                [0.618135048315655, -0.30899876054222797],
                                                [-0.918063899285112, -1.7454317739613558]])},
                "db1": {tanh_squared: np.array([0.24116624494641226, -0.6180800374231753, -0.8455070795980175])}}
    mse_tanh = {"dW1": {tanh_squared: np.array([[0.16352679300168008, 0.29483603440477846],
                                                [0.15014169076050446, -0.0750436890751109],
                                                [-0.34811480829494584, -0.673988238807065]])},
                "db1": {tanh_squared: np.array([0.13775275172281473, -0.15011996571639138, -0.33032170606868455])}}
    return [
        Case("binary cross-entropy, n=2, m=3, K=2, batch of 2", (_W1, _B1, _W2, _B2, _X, _Y),
             _expect_arrays(GRAD_NAMES, bce, batch=2, mistakes=bce_tanh), kwargs={"loss": "bce"}),
        Case("squared error, same net", (_W1, _B1, _W2, _B2, _X, _Y),
             _expect_arrays(GRAD_NAMES, mse, batch=2, mistakes=mse_tanh), kwargs={"loss": "mse"}),
        Case("squared error, n=4, m=5, K=3, batch of 7: every gradient has its parameter's shape", (*params, X, Y),
             _shapes(GRAD_NAMES, [(), *[p.shape for p in params]]), kwargs={"loss": "mse"}),
        Case("cross-entropy with saturated outputs (logits up to ~100): a finite loss", (*big, X, Y),
             _finite_results, kwargs={"loss": "bce"}),
        Case("loss='hinge' must be refused", (_W1, _B1, _W2, _B2, _X, _Y), raises=ValueError, kwargs={"loss": "hinge"}),
    ]


def _finite_results(got) -> str | None:
    if not isinstance(got, (tuple, list)) or len(got) != 5:
        return f"expected 5 results ({', '.join(GRAD_NAMES)}), got {type(got).__name__}"
    for name, g in zip(GRAD_NAMES, got):
        if not np.all(np.isfinite(g)):
            return f"{name}: expected finite values, got NaN or inf (compute log(1 + e^z) with np.logaddexp)"
    return None


@register_hidden("regression_grads")
def regression_grads_hidden(rng: np.random.Generator, scratch: Path) -> list[Case]:
    cases = []
    for k in range(3):
        n, m, K, N = rng.integers(1, 7, size=4)
        params, X, Y = _random_net(rng, n, m, K, N)
        cases.append(Case(f"random net n={n}, m={m}, K={K}, batch of {N}", (*params, X, Y)))
    return cases


@register_hidden("classifier_grads")
def classifier_grads_hidden(rng: np.random.Generator, scratch: Path) -> list[Case]:
    cases = []
    for loss in ("bce", "mse", "bce"):
        n, m, K, N = rng.integers(1, 7, size=4)
        params, X, Y = _random_net(rng, n, m, K, N, binary=True)
        cases.append(Case(f"random net n={n}, m={m}, K={K}, batch of {N}, loss={loss}", (*params, X, Y),
                          kwargs={"loss": loss}))
    return cases


# ------------------------------------------------------------------ compositions of affine maps

# g(x) = (x1 + 2 x2, x2, -x1 + 3) and f(z) = z1 - 2 z2 + z3 / 4, as affine maps
_G = (np.array([[1.0, 2.0], [0.0, 1.0], [-1.0, 0.0]]), np.array([0.0, 0.0, 3.0]))
_F = (np.array([[1.0, -2.0, 0.25]]), np.array([0.0]))
_X2 = np.array([2.0, -1.0])
# a depth-4 composition 3 -> 2 -> 4 -> 3 -> 2 (x and expected values below)
_DEEP = [(np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]]), np.array([0.5, -1.0])),
         (np.array([[1.0, -1.0], [0.0, 2.0], [1.0, 1.0], [-1.0, 0.5]]), np.array([0.0, 1.0, -1.0, 2.0])),
         (np.array([[1.0, 0.0, 2.0, -1.0], [0.5, 1.0, 0.0, 1.0], [0.0, -1.0, 1.0, 0.0]]), np.array([1.0, 0.0, -0.5])),
         (np.array([[2.0, -1.0, 0.5], [1.0, 1.0, 1.0]]), np.array([0.0, 3.0]))]
_X3 = np.array([1.0, -2.0, 0.5])
_DEEP_ZS = [np.array([1.0, -1.0]), np.array([2.0, -1.0, -1.0, 0.5]), np.array([0.5, 0.5, -0.5]), np.array([0.25, 3.5])]


def _expect_list(what: str, expected: list[np.ndarray], mistakes: dict[str, dict] | None = None):
    def judge(got):
        if not isinstance(got, (list, tuple)):
            return f"expected a list of {len(expected)} arrays, got {type(got).__name__}"
        names = [f"{what}[{i}]" for i in range(len(expected))]
        return _expect_arrays(names, expected, mistakes=mistakes)(got)
    return judge


@register("affine")
def affine_cases(scratch: Path) -> list[Case]:
    return [
        Case("g(2, -1) = (0, -1, 1)", (*_G, _X2), lambda got: expect_array(got, np.array([0.0, -1.0, 1.0]), exact_dtype=False)),
        Case("f(0, -1, 1) = 2.25", (*_F, np.array([0.0, -1.0, 1.0])),
             lambda got: expect_array(got, np.array([2.25]), exact_dtype=False)),
        Case("a translation: W = I, b = (1, 2), x = 0 gives b", (np.eye(2), np.array([1.0, 2.0]), np.zeros(2)),
             lambda got: expect_array(got, np.array([1.0, 2.0]), exact_dtype=False)),
    ]


@register_hidden("affine")
def affine_hidden(rng: np.random.Generator, scratch: Path) -> list[Case]:
    m, k = (int(v) for v in rng.integers(1, 7, size=2))
    return [Case(f"random {m}x{k} map", (rng.standard_normal((m, k)), rng.standard_normal(m), rng.standard_normal(k)))]


@register("compose")
def compose_cases(scratch: Path) -> list[Case]:
    return [
        Case("[(W1, b1), (W2, b2)] at x = (2, -1): [g(x), f(g(x))]", ([_G, _F], _X2),
             _expect_list("z", [np.array([0.0, -1.0, 1.0]), np.array([2.25])])),
        Case("depth 4, widths 3 -> 2 -> 4 -> 3 -> 2: each layer applied to the previous output", (_DEEP, _X3),
             _expect_list("z", _DEEP_ZS)),
        Case("a single layer", ([_G], _X2), _expect_list("z", [np.array([0.0, -1.0, 1.0])])),
        Case("layer 2's W does not fit z1 (2 columns for an input of length 3): refused, naming layer 2", ([_G, _G], _X2),
             **_refused_layer(2)),
        Case("layer 1's b has 1 entry for a W with 3 rows (numpy would broadcast it): refused, naming layer 1",
             ([(_G[0], np.zeros(1)), _F], _X2), **_refused_layer(1)),
    ]


def _refused_layer(i: int) -> dict:
    """The ``Case`` fields of a refused layer: a ValueError whose message names layer ``i`` (numpy's do not)."""
    return {"raises": ValueError, "match": rf"\blayer {i}\b", "match_what": f"the layer (layer {i})"}


@register_hidden("compose")
def compose_hidden(rng: np.random.Generator, scratch: Path) -> list[Case]:
    layers, x = _random_layers(rng)
    bad = list(layers)
    bad[1] = (rng.standard_normal((2, layers[1][0].shape[1] + 1)), rng.standard_normal(2))
    broadcast = list(layers)
    rows = layers[0][0].shape[0]
    broadcast[0] = (layers[0][0], rng.standard_normal(1 if rows > 1 else 2))  # numpy broadcasts either
    return [Case(f"random depth {len(layers)}", (layers, x)),
            Case("random layers, layer 2 does not fit", (bad, x), **_refused_layer(2)),
            Case("random layers, layer 1's b has the wrong length", (broadcast, x), **_refused_layer(1))]


def _random_layers(rng, depth=None):
    depth = depth or int(rng.integers(2, 6))
    widths = rng.integers(1, 6, size=depth + 1)
    layers = [(rng.standard_normal((m, k)), rng.standard_normal(m)) for k, m in zip(widths, widths[1:])]
    return layers, rng.standard_normal(widths[0])


@register("jacobians")
def jacobians_cases(scratch: Path) -> list[Case]:
    x = _X2
    z1, z2 = np.array([0.0, -1.0, 1.0]), np.array([2.25])
    # (what the derivation gives: dz2/db2 = I_1, dz2/db1 = W2; the W-slices are outer products with the layer's input)
    two = [[np.array([[1.0, -2.0, 0.25]]), np.array([[1.0]])],
           [np.array([[[2.0, -1.0], [-4.0, 2.0], [0.5, -0.25]]]), np.array([[[0.0, -1.0, 1.0]]])]]
    deep_db = [np.array([[9.0, -1.5], [4.5, 1.5]]), np.array([[1.5, -1.5, 4.5, -3.0], [1.5, 0.0, 3.0, 0.0]]),
               np.array([[2.0, -1.0, 0.5], [1.0, 1.0, 1.0]]), np.array([[1.0, 0.0], [0.0, 1.0]])]
    deep_dW = [np.array([[[9.0, -18.0, 4.5], [-1.5, 3.0, -0.75]], [[4.5, -9.0, 2.25], [1.5, -3.0, 0.75]]]),
               np.array([[[1.5, -1.5], [-1.5, 1.5], [4.5, -4.5], [-3.0, 3.0]],
                         [[1.5, -1.5], [0.0, 0.0], [3.0, -3.0], [0.0, 0.0]]]),
               np.array([[[4.0, -2.0, -2.0, 1.0], [-2.0, 1.0, 1.0, -0.5], [1.0, -0.5, -0.5, 0.25]],
                         [[2.0, -1.0, -1.0, 0.5], [2.0, -1.0, -1.0, 0.5], [2.0, -1.0, -1.0, 0.5]]]),
               np.array([[[0.5, 0.5, -0.5], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [0.5, 0.5, -0.5]]])]

    def expect(db, dW):
        def judge(got):
            if not (isinstance(got, tuple) and len(got) == 2):
                return f"expected a pair (db, dW) of lists, got {type(got).__name__}"
            return _expect_list("db", db)(got[0]) or _expect_list("dW", dW)(got[1])
        return judge

    return [
        Case("f o g at x = (2, -1)", ([_G, _F], x, [z1, z2]), expect(*two)),
        Case("depth 4, widths 3 -> 2 -> 4 -> 3 -> 2, vector output (k = 2)", (_DEEP, _X3, _DEEP_ZS),
             expect(deep_db, deep_dW)),
        Case("zs with 1 output for 2 layers: refused, naming zs", ([_G, _F], x, [z1]), raises=ValueError,
             match=r"\bzs\b", match_what="zs"),
        Case("layer 2's W does not fit z1: refused, naming layer 2", ([_G, (np.ones((1, 2)), np.zeros(1))], x, [z1, z2]),
             **_refused_layer(2)),
        Case("layer 2's output in zs has the wrong length: refused, naming layer 2", ([_G, _F], x, [z1, np.zeros(2)]),
             **_refused_layer(2)),
    ]


@register_hidden("jacobians")
def jacobians_hidden(rng: np.random.Generator, scratch: Path) -> list[Case]:
    cases = []
    for depth in (2, int(rng.integers(3, 7))):
        layers, x = _random_layers(rng, depth)
        # any zs of the right shapes is a valid input: dW uses their values, db does not
        zs = [rng.standard_normal(W.shape[0]) for W, _ in layers]
        cases.append(Case(f"random depth {depth}", (layers, x, zs)))
    return cases


# ------------------------------------------------------------------ the generic L-layer network

_XM = np.array([[1.0, -1.0, 0.5], [0.0, 2.0, -1.0]])
_WM = [np.array([[1.0, -0.5, 0.0, 2.0], [0.5, 1.0, -1.0, 0.0], [-1.0, 0.0, 1.0, 1.0]]),
       np.array([[1.0, -1.0, 0.0], [0.5, 0.5, 1.0], [-1.0, 2.0, 0.5], [0.0, 1.0, -1.0]]),
       np.array([[1.0, -1.0], [2.0, 0.0], [-0.5, 1.0]])]
_ZM = [_XM, np.array([[0.0, 0.0, 1.5, 2.5], [2.0, 2.0, 0.0, 0.0]]), np.array([[0.0, 5.5, 0.0], [3.0, 0.0, 2.0]]),
       np.array([[11.0, 0.0], [2.0, -1.0]])]


@register("mlp_forward")
def mlp_forward_cases(scratch: Path) -> list[Case]:
    return [
        Case("3 -> 4 -> 3 -> 2, batch of 2: [X, Z2, Z3, logits], no ReLU on the logits", (_XM, _WM),
             _expect_list("Zs", _ZM)),
        Case("one layer: [X, X W] (no ReLU)", (_XM, [-np.eye(3)]), _expect_list("Zs", [_XM, -_XM])),
    ]


@register("mlp_backward")
def mlp_backward_cases(scratch: Path) -> list[Case]:
    G = np.array([[0.5, -0.5], [-1.0, 1.0]])
    expected = [np.array([[0.0, 0.0, 2.0, 1.0], [-4.0, 1.0, -2.0, -1.0], [2.0, -0.5, 1.0, 0.5]]),
                np.array([[-4.0, 0.0, 3.0], [-4.0, 0.0, 3.0], [0.0, 1.5, 0.0], [0.0, 2.5, 0.0]]),
                np.array([[-3.0, 3.0], [2.75, -2.75], [-2.0, 2.0]])]
    no_mask = "leaving out the ReLU's mask 1[Z_{i+1} > 0] below the last layer"
    mistakes = {"grads[0]": {no_mask: np.array([[0.0, 0.25, 0.625, 1.75], [0.0, -1.25, -3.125, -8.75],
                                                 [0.0, 0.625, 1.5625, 4.375]])},
                "grads[1]": {no_mask: np.array([[-4.0, -4.0, 3.0], [-4.0, -4.0, 3.0], [1.5, 1.5, -1.125],
                                                 [2.5, 2.5, -1.875]])}}
    return [
        Case("3 -> 4 -> 3 -> 2, batch of 2, given G", (_ZM, _WM, G), _expect_list("grads", expected, mistakes)),
        Case("one layer, no ReLU", ([_XM, -_XM], [-np.eye(3)], _XM), _expect_list("grads", [_XM.T @ _XM])),
    ]


def _random_mlp(rng):
    widths = rng.integers(1, 7, size=int(rng.integers(2, 5)))
    N = int(rng.integers(1, 6))
    return rng.standard_normal((N, widths[0])), [rng.standard_normal((k, m)) for k, m in zip(widths, widths[1:])]


@register_hidden("mlp_forward")
def mlp_forward_hidden(rng: np.random.Generator, scratch: Path) -> list[Case]:
    return [Case("random network", _random_mlp(rng)) for _ in range(2)]


@register_hidden("mlp_backward")
def mlp_backward_hidden(rng: np.random.Generator, scratch: Path) -> list[Case]:
    cases = []
    for _ in range(2):
        X, Ws = _random_mlp(rng)
        # Zs of the right shapes, hidden ones with zeros as after a ReLU
        Zs = [X] + [np.maximum(rng.standard_normal((len(X), W.shape[1])), 0) for W in Ws[:-1]]
        Zs.append(rng.standard_normal((len(X), Ws[-1].shape[1])))
        cases.append(Case("random network", (Zs, Ws, rng.standard_normal(Zs[-1].shape))))
    return cases


# ------------------------------------------------------------------ nn_epoch

def _epoch_inputs():
    X = np.array([[0.64, 0.27, 0.04, 0.02, 0.81], [0.91, 0.61, 0.73, 0.54, 0.94], [0.82, 0.0, 0.86, 0.03, 0.73],
                  [0.18, 0.86, 0.54, 0.3, 0.42], [0.03, 0.12, 0.67, 0.65, 0.62], [0.38, 1.0, 0.98, 0.69, 0.65],
                  [0.69, 0.39, 0.14, 0.72, 0.53]], dtype=np.float32)
    y = np.array([0, 2, 1, 1, 0, 2, 1], dtype=np.uint8)
    W1 = np.array([[0.18, -0.33, -0.06, 0.39], [0.75, -0.63, 0.76, 0.67], [0.39, 0.13, -0.16, 0.73],
                   [0.98, 0.9, 0.66, 0.18], [-0.6, 0.0, 0.33, -0.64]], dtype=np.float32)
    W2 = np.array([[0.2, 0.21, 0.35], [-0.59, -0.33, -0.22], [-0.58, 0.87, -0.25], [0.16, -0.13, 0.79]],
                  dtype=np.float32)
    return X, y, W1, W2


@register("nn_epoch")
def nn_epoch_cases(scratch: Path) -> list[Case]:
    X, y, W1, W2 = _epoch_inputs()
    W1_after = np.array([[0.14291470, -0.33745736, 0.12994589, 0.25943053],
                         [0.72923958, -0.63867384, 0.84279335, 0.61915064],
                         [0.37783518, 0.09975841, -0.10751264, 0.68637896],
                         [0.93547189, 0.86544651, 0.78042960, 0.05975041],
                         [-0.63586283, -0.03155929, 0.37871200, -0.74963468]], dtype=np.float32)
    W2_after = np.array([[0.12975487, 0.39588243, 0.23436266], [-0.52422041, -0.32352525, -0.29225430],
                         [-0.57924306, 0.97159165, -0.35234857], [0.07340480, 0.01705885, 0.72953641]],
                        dtype=np.float32)
    before = (W1.copy(), W2.copy())

    def judge(args):
        for name, got, old, new in zip(("W1", "W2"), args[2:], before, (W1_after, W2_after)):
            problem = _unchanged(name, got, old) or expect_array(got, new, f"{name} after the epoch", rtol=1e-5, atol=1e-6)
            if problem:
                return problem
        return None

    X1, W1_one, W2_one = np.eye(11, dtype=np.float32), *_one_unit_weights()
    return [Case("7 examples, 5 -> 4 -> 3, batch=3 (batches of 3, 3, 1), lr=0.5", (X, y, W1, W2), judge,
                 kwargs={"lr": 0.5, "batch": 3}, judge_args=True),
            Case("11 one-feature examples, one active hidden unit each, batch 4: batches in order, averaged, masked",
                 (X1, ONE_UNIT_Y.copy(), W1_one.copy(), W2_one.copy()), _one_unit_judge(W1_one, W2_one, lr=0.5, batch=4),
                 kwargs={"lr": 0.5, "batch": 4}, judge_args=True)]


def _unchanged(name: str, got, before: np.ndarray) -> str | None:
    if isinstance(got, np.ndarray) and got.shape == before.shape and np.array_equal(got, before):
        return f"{name} is unchanged: update it in place ({name} -= ...), do not rebind the name"
    return None


#: Example i of the one-unit case has input e_i and switches on hidden unit i only (W1 = -0.5 off the
#: diagonal): it moves W1[i, i] and row i of W2, nothing else, so the examples do not interact and each
#: one's step, lr * (its gradient) / (size of its batch), can be read off. Its gradient, computed once
#: with the reference: W1[i, i] by ONE_UNIT_GRAD_W1[i], W2[i] by ONE_UNIT_GRAD_W2[i].
ONE_UNIT_Y = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 2, 1], dtype=np.uint8)
ONE_UNIT_GRAD_W1 = np.array([-0.63792413, 0.05846242, -0.49516569, 0.91142632, 0.08542922, -0.1939066, 0.31315838,
                             0.73234711, 1.36525973, 1.23146695, -0.22849634])
ONE_UNIT_GRAD_W2 = np.array([[-0.25965761, 0.12237187, 0.13728575], [0.236227, -0.40504026, 0.16881327],
                             [0.20950317, 0.13385256, -0.34335572], [-0.6596522, 0.40998628, 0.24966592],
                             [0.12456222, -0.58806171, 0.46349949], [0.40548542, 0.15525748, -0.5607429],
                             [-0.83458884, 0.44022249, 0.39436635], [0.1358668, -0.97777846, 0.84191166],
                             [0.04454013, 1.11922356, -1.16376369], [0.08656386, 1.17014441, -1.25670828],
                             [0.3153135, -0.74737477, 0.43206127]])


def _one_unit_weights():
    W1 = np.full((11, 11), -0.5, np.float32)
    np.fill_diagonal(W1, (0.5 + 0.1 * np.arange(11)).astype(np.float32))
    W2 = np.array([[1.45, 0.1, 0.33], [1.14, 0.82, 0.58], [-0.38, -1.02, 0.38], [-0.51, 0.83, 0.21],
                   [-0.75, 0.27, 0.71], [0.18, -0.78, 0.26], [0.36, 0.82, 0.72], [-0.91, -0.5, 0.61],
                   [-1.7, 0.78, -0.84], [-0.42, 1.44, -0.06], [-0.3, 0.28, -0.09]], dtype=np.float32)
    return W1, W2


def _one_unit_judge(W1: np.ndarray, W2: np.ndarray, *, lr: float, batch: int):
    n = len(ONE_UNIT_Y)
    sizes = batch_of_each_example(n, batch)
    W1_after, W2_after = W1.astype(np.float64), W2 - lr * ONE_UNIT_GRAD_W2 / sizes[:, None]
    W1_after[np.arange(n), np.arange(n)] -= lr * ONE_UNIT_GRAD_W1 / sizes
    off = ~np.eye(n, dtype=bool)

    def judge(args):
        got1, got2 = args[2], args[3]
        for name, got, old in (("W1", got1, W1), ("W2", got2, W2)):
            if not (isinstance(got, np.ndarray) and got.shape == old.shape and np.all(np.isfinite(got))):
                return expect_array(got, old, name, exact_dtype=False)
            problem = _unchanged(name, got, old)
            if problem:
                return problem
        moved = np.abs(got1 - W1)[off]
        if moved.max() > 1e-6:
            return (f"W1 changed where the hidden unit is off ({int((moved > 1e-6).sum())} entries whose unit has a "
                    "negative pre-activation): the gradient through a ReLU is 0 there; multiply by the mask 1[Z > 0]")
        # how much each example's gradient counted in its step, read off W2's row and W1's diagonal entry
        step2, step1 = (W2 - got2).astype(np.float64), np.diag(W1 - got1).astype(np.float64)
        scales = (step2 * ONE_UNIT_GRAD_W2).sum(axis=1) / (lr * (ONE_UNIT_GRAD_W2 ** 2).sum(axis=1))
        if np.allclose(step2, lr * scales[:, None] * ONE_UNIT_GRAD_W2, rtol=1e-3, atol=1e-6):
            problem = batch_scale_problem(scales, batch)
            if problem:
                return f"W2: {problem}"
            if not np.allclose(step1, lr * scales * ONE_UNIT_GRAD_W1, rtol=1e-3, atol=1e-6):
                return ("W1 is off where W2 is right: compute both gradients from the batch's forward pass before "
                        "you update either matrix")
        return (expect_array(got2, W2_after.astype(np.float32), "W2 after the epoch", rtol=1e-5, atol=1e-6)
                or expect_array(got1, W1_after.astype(np.float32), "W1 after the epoch", rtol=1e-5, atol=1e-6))
    return judge


@register_hidden("nn_epoch")
def nn_epoch_hidden(rng: np.random.Generator, scratch: Path) -> list[Case]:
    cases = []
    for N, batch in ((int(rng.integers(20, 60)), int(rng.integers(3, 11))), (50, 50)):
        n, d, K = (int(v) for v in rng.integers(2, 9, size=3))
        X = rng.random((N, n), dtype=np.float32)
        y = rng.integers(0, K, N).astype(np.uint8)
        W1 = (rng.standard_normal((n, d)) / np.sqrt(d)).astype(np.float32)
        W2 = (rng.standard_normal((d, K)) / np.sqrt(K)).astype(np.float32)
        cases.append(Case(f"random {N} examples, {n} -> {d} -> {K}, batch={batch}", (X, y, W1, W2),
                          kwargs={"lr": float(rng.uniform(0.05, 0.5)), "batch": batch}, judge_args=True,
                          rtol=1e-4, atol=1e-5))
    return cases
