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
