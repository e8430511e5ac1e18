"""The hyperparameter explorer: driven by setting slider values, as a student would."""
from __future__ import annotations

import numpy as np
import pytest

from course import explorer as ex
from course.questions import load_definitions

from conftest import ROOT


@pytest.fixture(scope="module")
def ref():
    return load_definitions(ROOT / "solutions" / "03_sgd.ipynb")


@pytest.fixture(scope="module")
def small_data():
    rng = np.random.default_rng(0)
    centres = rng.random((10, 784), dtype=np.float32)
    y = rng.integers(0, 10, 700).astype(np.uint8)
    X = np.clip(centres[y] + rng.normal(scale=0.3, size=(700, 784)), 0, 1).astype(np.float32)
    return ex.Data(X[:500], y[:500], X[500:], y[500:], "synthetic: 500 training / 200 validation images")


def make_explorer(fn, data, background=False, **settings):
    return ex.Explorer(fn, ex.Settings(**{"train_size": 500, "epochs": 3, **settings}), loader=lambda name: data,
                       background=background)


def test_slider_changes_retrain_and_redraw(ref, small_data):
    explorer = make_explorer(ref["softmax_regression_epoch_l2"], small_data)
    first = explorer.result
    assert first.message is None and len(first.history["val_loss"]) == 3
    assert 0 <= first.val_accuracy <= 1

    explorer.controls["lr"].value = 0.5
    assert explorer.result is not first and explorer.result.settings.lr == pytest.approx(0.5)
    explorer.controls["epochs"].value = 5
    assert [len(v) for v in explorer.result.history.values()] == [5, 5, 5, 5]
    explorer.controls["batch"].value = 50
    explorer.controls["l2"].value = 1e-2
    explorer.controls["train_size"].value = 250
    s = explorer.result.settings
    assert (s.batch, s.l2, s.train_size, s.epochs) == (50, 1e-2, 250, 5)
    # the result is what the pure function gives for these settings
    again = ex.train_and_score(s, ref["softmax_regression_epoch_l2"], small_data)
    np.testing.assert_allclose(again.history["val_loss"], explorer.result.history["val_loss"], rtol=1e-6)
    assert "validation accuracy" in explorer.result.summary()
    assert explorer.figure() is not None


def test_a_larger_learning_rate_learns_faster_here(ref, small_data):
    fn = ref["softmax_regression_epoch_l2"]
    slow = ex.train_and_score(ex.Settings(lr=0.001, epochs=3, train_size=500), fn, small_data)
    fast = ex.train_and_score(ex.Settings(lr=0.3, epochs=3, train_size=500), fn, small_data)
    assert fast.history["val_loss"][-1] < slow.history["val_loss"][-1]


def test_train_size_larger_than_the_data_means_all(ref, small_data):
    result = ex.train_and_score(ex.Settings(train_size=48000, epochs=1), ref["softmax_regression_epoch_l2"], small_data)
    assert result.settings.train_size == 500 and result.message is None


def test_works_with_the_plain_epoch_function(ref, small_data):
    explorer = make_explorer(ref["softmax_regression_epoch"], small_data)
    assert explorer.result.message is None and explorer.controls["l2"].disabled
    result = ex.train_and_score(ex.Settings(l2=1e-3, train_size=500), ref["softmax_regression_epoch"], small_data)
    assert result.message.startswith("softmax_regression_epoch has no L2 term")


def test_stub_shows_one_line_naming_the_function(small_data):
    def softmax_regression_epoch_l2(X, y, W, b, lr=0.1, batch=100, l2=0.0):
        raise NotImplementedError("Write softmax_regression_epoch_l2: as softmax_regression_epoch ...")

    explorer = make_explorer(softmax_regression_epoch_l2, small_data)
    assert explorer.result.history is None and explorer.figure() is None
    assert explorer.result.message == ("Write softmax_regression_epoch_l2 first: the explorer trains with it, "
                                       "and it still raises NotImplementedError")
    explorer.controls["lr"].value = 1.0  # still one line, nothing breaks
    assert explorer.result.message.startswith("Write softmax_regression_epoch_l2 first")


def broken_functions():
    def raises(X, y, W, b, lr=0.1, batch=100, l2=0.0):
        W -= X.T @ np.ones((len(X) + 1, 10), np.float32)

    def returns_new(X, y, W, b, lr=0.1, batch=100, l2=0.0):
        return W - lr * np.ones_like(W)

    def returns_wrong_shape(X, y, W, b, lr=0.1, batch=100, l2=0.0):
        return np.zeros((10, 784), np.float32)

    def makes_nan(X, y, W, b, lr=0.1, batch=100, l2=0.0):
        W[0, 0] = np.nan

    return [
        (raises, "raises raised ValueError in epoch 1: matmul: Input operand 1 has a mismatch"),
        (returns_new, "returns_new left W unchanged after one epoch: expected it to update W in place "
                      "(W -= ...), it returned an array of shape (784, 10) and W is still all zeros"),
        (returns_wrong_shape, "it returned an array of shape (10, 784)"),
        (makes_nan, "makes_nan made the weights NaN/inf in epoch 1 (lr=0.1, batch=100): expected finite weights"),
    ]


@pytest.mark.parametrize("fn, message", broken_functions(), ids=lambda v: getattr(v, "__name__", "msg"))
def test_broken_student_function_gives_one_line(small_data, fn, message):
    explorer = make_explorer(fn, small_data)
    assert explorer.result.history is None
    assert message in explorer.result.message and "\n" not in explorer.result.message


@pytest.mark.parametrize("settings, message", [
    (dict(lr=0.0), r"lr \(learning rate\) must be a finite number > 0, got 0.0"),
    (dict(lr=-1.0), r"lr .* got -1.0"),
    (dict(batch=0), r"batch \(batch size\) must be between 1 and the number of training examples \(500\), got 0"),
    (dict(batch=1000), r"between 1 and the number of training examples \(500\), got 1,000"),
    (dict(l2=-0.1), r"l2 \(L2 strength\) must be a finite number >= 0, got -0.1"),
    (dict(epochs=0), r"epochs must be at least 1, got 0"),
    (dict(train_size=0), r"train_size must be a positive integer, got 0"),
])
def test_bad_hyperparameters_raise_before_training(small_data, settings, message):
    def never(*args, **kwargs):
        raise AssertionError("trained with bad hyperparameters")

    with pytest.raises(ValueError, match=message):
        ex.train_and_score(ex.Settings(**{"train_size": 500, **settings}), never, small_data)


def test_batch_larger_than_training_set_from_the_sliders_is_one_line(ref, small_data):
    explorer = make_explorer(ref["softmax_regression_epoch_l2"], small_data)
    explorer.controls["train_size"].value = 250
    explorer.controls["batch"].value = 500
    assert explorer.result.message == ("cannot train: batch (batch size) must be between 1 and the number of "
                                       "training examples (250), got 500")
    explorer.controls["batch"].value = 100
    assert explorer.result.message is None


def test_real_loader_falls_back_to_mnist_and_says_so():
    data = ex.load_data("fashion-mnist")
    assert data.description == ("MNIST (Fashion-MNIST is not available here), the embedded sample: "
                                "800 validation images, up to 3,200 for training")
    assert data.X_train.dtype == np.float32 and data.X_train.shape == (3200, 784)


def test_explore_refuses_a_start_value_the_sliders_do_not_have(ref, small_data):
    with pytest.raises(ValueError, match=r"batch must be one of the slider's values \[10, 20, 50, 100, 200, 500, 1000\], got 64"):
        ex.Explorer(ref["softmax_regression_epoch_l2"], ex.Settings(batch=64), loader=lambda name: small_data)


def test_without_a_kernel_it_shows_a_few_short_lines_not_the_widget_repr(ref, small_data):
    """A viewer without widgets (nbconvert HTML without the widget state, GitHub, a terminal) shows text/plain."""
    explorer = make_explorer(ref["softmax_regression_epoch_l2"], small_data)
    bundle = explorer._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == explorer.widget.model_id
    text = bundle["text/plain"]
    assert text == repr(explorer) and "VBox" not in text
    assert text.startswith("Hyperparameter explorer (softmax_regression_epoch_l2): sliders for the learning rate")
    assert text.endswith("Run this cell in JupyterLab to use them.")
    assert len(text.splitlines()) == 3 and max(map(len, text.splitlines())) <= 88


def test_the_solution_notebook_keeps_the_explorers_widget_state():
    """Solution 03 is saved with the explorer's state (its Image widget holds the curves' PNG, its HTML
    widget the summary), so that JupyterLab shows the explorer before any cell is run; the cells that
    display widgets, whose model ids are random, are tagged for nbval, and the student notebook carries
    no widget state."""
    import base64

    import nbformat

    nb = nbformat.read(ROOT / "solutions" / "03_sgd.ipynb", as_version=4)
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    shown = [(cell, out) for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
             if "application/vnd.jupyter.widget-view+json" in out.get("data", {})]
    assert len(shown) == 1
    cell, out = shown[0]
    assert "course.explorer.explore(" in cell.source and "nbval-ignore-output" in cell.metadata.get("tags", [])
    assert out["data"]["text/plain"].startswith("Hyperparameter explorer (softmax_regression_epoch_l2)")
    top = state[out["data"]["application/vnd.jupyter.widget-view+json"]["model_id"]]
    assert top["model_name"] == "VBoxModel"
    images = [m for m in state.values() if m["model_name"] == "ImageModel"]
    assert len(images) == 1 and [b["path"] for b in images[0]["buffers"]] == [["value"]]
    assert base64.b64decode(images[0]["buffers"][0]["data"]).startswith(b"\x89PNG")
    status = [m["state"]["value"] for m in state.values() if m["model_name"] == "HTMLModel"
              and "course-explorer-status" in m["state"].get("_dom_classes", [])]
    assert len(status) == 1 and "validation accuracy" in status[0]
    student = nbformat.read(ROOT / "notebooks" / "03_sgd.ipynb", as_version=4)
    assert "widgets" not in student.metadata


def test_execute_in_place_saves_the_widget_state(tmp_path):
    """course.execute records what a notebook's widgets looked like (one kernel start: a few seconds)."""
    import nbformat

    from course.execute import execute_in_place

    path = tmp_path / "slider.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import ipywidgets\nipywidgets.IntSlider(value=7, description='seven')")]), path)
    execute_in_place(path)
    nb = nbformat.read(path, as_version=4)
    model_id = nb.cells[0].outputs[0]["data"]["application/vnd.jupyter.widget-view+json"]["model_id"]
    slider = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"][model_id]
    assert slider["model_name"] == "IntSliderModel" and slider["state"]["value"] == 7


def test_the_curves_are_one_figure_redrawn_in_place(ref, small_data):
    """A change redraws the same figure (no new one, none left open in pyplot) into a new PNG."""
    import matplotlib.pyplot as plt

    figures = plt.get_fignums()
    explorer = make_explorer(ref["softmax_regression_epoch_l2"], small_data)
    figure, first = explorer._curves.figure, bytes(explorer.image.value)
    assert first.startswith(b"\x89PNG") and explorer.image.layout.display is None
    assert "validation accuracy" in explorer.status.value and small_data.description in explorer.status.value
    explorer.controls["epochs"].value = 6
    assert explorer._curves.figure is figure and bytes(explorer.image.value) != first
    assert [len(line.get_xdata()) for line in explorer._curves.lines.values()] == [6] * 4
    assert plt.get_fignums() == figures


def test_a_kept_frame_gives_the_picture_of_a_full_draw():
    """Drawing only the lines over a kept frame (axes, ticks, labels) gives, pixel for pixel, what a
    full draw of the figure gives; a frame is drawn once per set of limits, and limits seen again reuse it."""
    import io

    from PIL import Image

    def history(scale):
        e = np.arange(1, 11)
        # the training loss rises to the top right corner: under the legend, its last marker on the top spine
        return {"train_loss": list(0.2 * scale * e), "val_loss": list(0.35 + scale / e),
                "train_error": list(0.05 + scale / e / 5), "val_error": list(0.06 + scale / e / 5)}

    def pixels(png):
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))

    curves = ex.Curves()
    first, other = curves.png(history(1.0)), curves.png(history(1.05))
    assert curves.frames_drawn == 2 and not np.array_equal(pixels(first), pixels(other))
    again = curves.png(history(1.0))                  # the first limits again: the kept frame, lines over it
    assert curves.frames_drawn == 2
    full = io.BytesIO()
    curves.canvas.print_png(full)                     # everything drawn from scratch
    assert np.array_equal(pixels(again), pixels(full.getvalue())) and np.array_equal(pixels(again), pixels(first))
    curves.png(history(1.0) | {"train_loss": [9.0] * 10})   # other limits: a new frame
    assert curves.frames_drawn == 3


def test_history_is_the_loss_after_each_epoch(ref, small_data):
    """The curves score every epoch's weights (all in one product at the end): the same numbers as
    scoring after each epoch."""
    from course.search import evaluate_models

    fn = ref["softmax_regression_epoch_l2"]
    result = ex.train_and_score(ex.Settings(lr=0.3, batch=50, epochs=4, l2=1e-3, train_size=500), fn, small_data)
    W, b = np.zeros((784, 10), np.float32), np.zeros(10, np.float32)
    for epoch in range(4):
        fn(small_data.X_train, small_data.y_train, W, b, lr=0.3, batch=50, l2=1e-3)
        for split, X, y in (("train", small_data.X_train, small_data.y_train), ("val", small_data.X_val, small_data.y_val)):
            loss, error = evaluate_models(X, y, W, b, 1, 10)
            assert result.history[f"{split}_loss"][epoch] == pytest.approx(loss[0], rel=1e-5)
            assert result.history[f"{split}_error"][epoch] == pytest.approx(error[0])


def test_the_stub_message_replaces_the_curves(small_data):
    def softmax_regression_epoch_l2(X, y, W, b, lr=0.1, batch=100, l2=0.0):
        raise NotImplementedError

    explorer = make_explorer(softmax_regression_epoch_l2, small_data)
    assert explorer.image.layout.display == "none"
    assert explorer.status.value.startswith("Write softmax_regression_epoch_l2 first")


def gated(fn):
    """``fn`` that records the learning rate of each call and waits for ``gate`` to open before it trains."""
    calls, gate = [], __import__("threading").Event()

    def softmax_regression_epoch_l2(X, y, W, b, lr=0.1, batch=100, l2=0.0):
        calls.append(round(lr, 6))
        assert gate.wait(20), "the test never opened the gate"
        fn(X, y, W, b, lr=lr, batch=batch, l2=l2)

    return softmax_regression_epoch_l2, calls, gate


def test_changes_during_a_retrain_are_coalesced_to_the_latest(ref, small_data):
    """In the background a change returns at once; the changes made while a retrain runs lead to one
    more retrain, with the latest values, not one per change."""
    fn, calls, gate = gated(ref["softmax_regression_epoch_l2"])
    gate.set()
    explorer = make_explorer(fn, small_data, epochs=1, background=True)   # one call per retrain
    gate.clear()
    explorer.controls["lr"].value = 0.2      # starts a retrain, which waits at the gate
    for lr in (0.3, 0.5, 0.7):               # each returns at once: the retrain is still waiting
        explorer.controls["lr"].value = lr
    assert not explorer.wait(0.2)
    gate.set()
    assert explorer.wait(20)
    assert calls == [0.1, 0.2, 0.7]
    assert explorer.result.settings.lr == pytest.approx(0.7) and explorer.result.message is None
    assert "lr=0.7" in explorer.status.value


def test_a_retrain_is_not_repeated_when_the_slider_comes_back(ref, small_data):
    fn, calls, gate = gated(ref["softmax_regression_epoch_l2"])
    gate.set()
    explorer = make_explorer(fn, small_data, epochs=1, background=True)
    gate.clear()
    explorer.controls["lr"].value = 0.2
    explorer.controls["lr"].value = 0.3
    explorer.controls["lr"].value = 0.2      # back to the value being trained
    gate.set()
    assert explorer.wait(20)
    assert calls == [0.1, 0.2] and explorer.result.settings.lr == pytest.approx(0.2)


def test_a_failure_in_the_background_is_one_line_and_the_explorer_goes_on(ref, small_data, monkeypatch):
    explorer = make_explorer(ref["softmax_regression_epoch_l2"], small_data, background=True)

    def broken(history):
        raise RuntimeError("no more pixels")

    real = explorer._curves.png
    monkeypatch.setattr(explorer._curves, "png", broken)
    explorer.controls["lr"].value = 0.5
    assert explorer.wait(20)
    assert explorer.status.value == "the explorer failed: RuntimeError: no more pixels"
    monkeypatch.setattr(explorer._curves, "png", real)
    explorer.controls["lr"].value = 0.3
    assert explorer.wait(20) and "lr=0.3" in explorer.status.value
