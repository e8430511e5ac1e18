"""The plotting helpers: what they draw, read back from the matplotlib objects."""
from __future__ import annotations

import matplotlib
import numpy as np
import pytest
from matplotlib.colors import to_rgba

from course import plots

matplotlib.use("Agg")


def test_show_digits_draws_the_captions_of_wrong_predictions_in_red():
    import matplotlib.pyplot as plt

    X = np.random.default_rng(0).random((4, 784), dtype=np.float32)
    fig = plots.show_digits(X, captions=["1", "2 not 7", "3", "4 not 9"], wrong=[False, True, False, True], ncols=4)
    titles = [ax.title for ax in fig.axes]
    assert [t.get_text() for t in titles] == ["1", "2 not 7", "3", "4 not 9"]
    assert [to_rgba(t.get_color()) for t in titles] == [to_rgba(c) for c in ("black", "tab:red", "black", "tab:red")]
    assert [t.get_fontweight() for t in titles] == ["normal", "bold", "normal", "bold"]
    plt.close(fig)


def test_show_digits_without_wrong_keeps_every_caption_black():
    import matplotlib.pyplot as plt

    fig = plots.show_digits(np.zeros((3, 28, 28), np.uint8), np.array([0, 1, 2]))
    assert {to_rgba(ax.title.get_color()) for ax in fig.axes[:3]} == {to_rgba("black")}
    plt.close(fig)


def test_show_digits_refuses_a_wrong_mask_of_another_length():
    with pytest.raises(ValueError, match=r"wrong must have one entry per image \(3\), got 2"):
        plots.show_digits(np.zeros((3, 784)), captions=["a", "b", "c"], wrong=[True, False])


def test_convergence_draws_values_at_or_below_the_floor_on_a_dotted_line():
    import matplotlib.pyplot as plt

    gaps = np.array([1e-1, 1e-6, 1e-13, 3e-17, 0.0, -1e-17])
    ax = plots.convergence({"Newton": gaps}, ylabel="f - f*", floor=1e-16, floor_label="float64 rounding")
    newton, triangles, floor = ax.lines
    assert ax.get_yscale() == "log" and newton.get_label() == "Newton"
    np.testing.assert_array_equal(newton.get_ydata(), [1e-1, 1e-6, 1e-13, 1e-16, 1e-16, 1e-16])  # nothing dropped
    assert triangles.get_marker() == "v" and list(triangles.get_xdata()) == [3, 4, 5]
    assert list(triangles.get_ydata()) == [1e-16] * 3 and to_rgba(triangles.get_markeredgecolor()) == to_rgba(newton.get_color())
    assert list(floor.get_ydata()) == [1e-16, 1e-16] and floor.get_linestyle() == ":"
    assert floor.get_label() == "float64 rounding (1e-16), \u25bd at or below"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Newton", floor.get_label()]
    plt.close(ax.figure)


def test_convergence_without_a_floor_leaves_zeros_out():
    import matplotlib.pyplot as plt

    ax = plots.convergence({"gd": [1.0, 0.1, 0.0]}, ylabel="gap")
    (line,) = ax.lines
    assert np.isnan(line.get_ydata()[2]) and list(line.get_ydata()[:2]) == [1.0, 0.1]
    plt.close(ax.figure)


@pytest.mark.parametrize("floor", [0.0, -1e-17, float("nan")])
def test_convergence_refuses_a_floor_a_log_axis_cannot_show(floor):
    with pytest.raises(ValueError, match="floor must be a finite number > 0"):
        plots.convergence({"gd": [1.0]}, ylabel="gap", floor=floor)


def test_confusion_matrix_colours_the_errors_and_greys_the_diagonal():
    import matplotlib.pyplot as plt

    y_true = np.array([0] * 50 + [1] * 50 + [2] * 50)
    y_pred = y_true.copy()
    y_pred[:3] = 1          # three 0s taken for 1s
    y_pred[50] = 2          # one 1 taken for a 2
    fig = plots.confusion_matrix(y_true, y_pred, num_classes=3, title="t")
    ax = fig.axes[0]
    shown = ax.images[0].get_array()
    assert np.ma.is_masked(shown) and shown.mask.tolist() == np.eye(3, dtype=bool).tolist()
    assert ax.images[0].get_clim() == (0, 3)  # the scale is the errors', not the diagonal's 47-50
    texts = {(t.get_position(), t.get_text()) for t in ax.texts}
    assert ((1, 0), "3") in texts and ((2, 1), "1") in texts and ((0, 0), "47") in texts
    assert ((2, 0), "0") not in texts  # zero confusions stay blank
    assert ax.get_title() == "t\n4 of 150 wrong; grey diagonal: the correct ones"
    plt.close(fig)


def test_ink_per_class_draws_one_box_per_class_with_its_count():
    import matplotlib.pyplot as plt

    X = np.zeros((6, 784), np.float32)
    X[3:, :392] = 1.0                      # class 1: half the pixels inked
    fig = plots.ink_per_class(X, np.array([0, 0, 0, 1, 1, 1]), num_classes=2, title="ink")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0\n(3)", "1\n(3)"]
    medians = [line.get_ydata()[0] for line in ax.lines if line.get_color() == "tab:red"]
    assert medians == [0.0, 0.5]
    plt.close(fig)
