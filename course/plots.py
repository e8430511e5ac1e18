"""Small matplotlib helpers the notebooks share: digit grids, class histograms, ink per class, weight images,
convergence curves, learning curves and confusion matrices."""
from __future__ import annotations

from typing import Sequence

import numpy as np


#: Colour of the captions of wrong predictions in show_digits (the others are black).
WRONG_COLOR = "tab:red"


def show_digits(X: np.ndarray, y: np.ndarray | None = None, *, classes: Sequence[str] | None = None,
                ncols: int = 10, title: str | None = None, captions: Sequence[str] | None = None,
                wrong: Sequence[bool] | None = None, size: float = 1.1):
    """Show images as a grid with their labels.

    Parameters
    ----------
    X : (N, 784) or (N, 28, 28) array, float in [0, 1] or uint8.
    y : (N,) integer labels shown above each image (names from ``classes`` when given).
    captions : N strings shown instead of the labels.
    wrong : N booleans, True where the image's prediction is wrong: its caption is drawn in red
        (``WRONG_COLOR``) and bold, the others in black.
    Returns the matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    images = np.asarray(X).reshape(len(X), 28, 28)
    n = len(images)
    if wrong is not None and len(wrong) != n:
        raise ValueError(f"wrong must have one entry per image ({n}), got {len(wrong)}")
    nrows = max(1, -(-n // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * 1.15), squeeze=False)
    vmax = 255 if images.dtype == np.uint8 else 1.0
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i >= n:
            continue
        ax.imshow(images[i], cmap="gray_r", vmin=0, vmax=vmax, interpolation="nearest")
        style = dict(color=WRONG_COLOR, fontweight="bold") if wrong is not None and wrong[i] else {}
        if captions is not None:
            ax.set_title(captions[i], fontsize=9, **style)
        elif y is not None:
            label = int(y[i])
            ax.set_title(classes[label] if classes is not None else str(label), fontsize=10, **style)
    if title:
        fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    return fig


def class_histogram(y: np.ndarray, *, classes: Sequence[str] | None = None, title: str | None = None,
                    num_classes: int = 10):
    """Bar chart of how many examples each class has; returns the Figure."""
    import matplotlib.pyplot as plt

    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=num_classes)
    names = list(classes) if classes is not None else [str(k) for k in range(num_classes)]
    fig, ax = plt.subplots(figsize=(7, 2.8))
    bars = ax.bar(names, counts, color="tab:blue")
    ax.bar_label(bars, labels=[f"{c:,}" for c in counts], fontsize=8)
    ax.set_xlabel("class")
    ax.set_ylabel("number of images")
    ax.set_ylim(0, counts.max() * 1.15)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def ink_per_class(X: np.ndarray, y: np.ndarray, *, classes: Sequence[str] | None = None, title: str | None = None,
                  num_classes: int = 10):
    """Box plot of each image's ink (its mean pixel value), one box per class, with the number of images
    of each class under its name; returns the Figure.

    Parameters
    ----------
    X : (N, D) float array of pixels in [0, 1] (or uint8 0-255).
    y : (N,) integer labels in 0..num_classes-1.
    """
    import matplotlib.pyplot as plt

    X, y = np.asarray(X), np.asarray(y, dtype=np.int64)
    ink = X.reshape(len(X), -1).mean(axis=1) / (255 if X.dtype == np.uint8 else 1)
    names = list(classes) if classes is not None else [str(k) for k in range(num_classes)]
    counts = np.bincount(y, minlength=num_classes)
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    ax.boxplot([ink[y == k] for k in range(num_classes)], whis=(5, 95), showfliers=False,
               medianprops={"color": "tab:red"})
    ax.set_xticks(range(1, num_classes + 1), [f"{name}\n({count:,})" for name, count in zip(names, counts)])
    ax.set_xlabel("class (number of images)")
    ax.set_ylabel("ink: mean pixel value")
    ax.grid(True, axis="y", alpha=0.3)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def learning_curves(history: dict, *, title: str | None = None, axes=None):
    """Loss and error rate per epoch, training beside validation.

    Parameters
    ----------
    history : dict with lists of one float per epoch: ``train_loss``, ``val_loss``,
        ``train_error`` and ``val_error`` (errors as fractions in [0, 1]).
    axes : two matplotlib Axes to draw into (they are cleared); default a new figure.
    Returns the matplotlib Figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    fig = axes[0].figure
    epochs = np.arange(1, len(history["train_loss"]) + 1)
    for ax, key, label in [(axes[0], "loss", "cross-entropy loss"), (axes[1], "error", "error rate (%)")]:
        ax.clear()
        scale = 100 if key == "error" else 1
        for split, style in [("train", "-o"), ("val", "-s")]:
            values = np.asarray(history[f"{split}_{key}"], dtype=float) * scale
            ax.plot(epochs, values, style, markersize=3,
                    label="training" if split == "train" else "validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, *, classes: Sequence[str] | None = None,
                     num_classes: int = 10, title: str | None = None):
    """Counts of (true class, predicted class), annotated; returns the Figure.

    The errors are the point: the off-diagonal cells are coloured on their own scale (white for 0, the
    darkest red for the most frequent confusion), and the diagonal, the correct predictions, is grey with
    its counts written in it, so that it does not wash the errors out.

    Parameters
    ----------
    y_true, y_pred : (N,) integer labels in 0..num_classes-1.
    """
    import matplotlib.pyplot as plt

    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    counts = np.bincount(y_true * num_classes + y_pred, minlength=num_classes ** 2).reshape(num_classes, num_classes)
    names = list(classes) if classes is not None else [str(k) for k in range(num_classes)]
    diagonal = np.eye(num_classes, dtype=bool)
    errors = np.ma.masked_array(counts, mask=diagonal)
    worst = max(int(errors.max() or 0), 1)
    fig, ax = plt.subplots(figsize=(6.6, 5.6))
    cmap = plt.get_cmap("Reds").with_extremes(bad="#d9d9d9")  # grey: the masked diagonal
    image = ax.imshow(errors, cmap=cmap, vmin=0, vmax=worst)
    from matplotlib.ticker import MaxNLocator
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="wrong predictions (off the diagonal)")
    bar.locator = MaxNLocator(integer=True)
    bar.update_ticks()
    for (i, j), count in np.ndenumerate(counts):
        if i == j:
            ax.text(j, i, str(count), ha="center", va="center", fontsize=7, color="black", fontweight="bold")
        elif count:
            ax.text(j, i, str(count), ha="center", va="center", fontsize=8,
                    color="white" if count > worst * 0.6 else "black")
    long_names = max(map(len, names)) > 2
    ax.set_xticks(range(num_classes), names, rotation=45 if long_names else 0, ha="right" if long_names else "center")
    ax.set_yticks(range(num_classes), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    n_wrong = int(counts.sum() - np.trace(counts))
    ax.set_title((title + "\n" if title else "")
                 + f"{n_wrong:,} of {int(counts.sum()):,} wrong; grey diagonal: the correct ones", fontsize=10)
    fig.tight_layout()
    return fig


def show_class_weights(W: np.ndarray, *, classes: Sequence[str] | None = None, title: str | None = None,
                       ncols: int = 5, size: float = 1.8):
    """Show each column of a weight matrix as a 28 x 28 image, one per class.

    Parameters
    ----------
    W : (784, K) array: column k holds the weights of class k (a bias row, if any, removed).
    classes : K names shown above the images (default: 0 .. K-1).
    ncols : images per row.
    Red pixels raise the class's score, blue pixels lower it; every image shares one colour
    scale, symmetric about zero. Returns the matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    W = np.asarray(W)
    if W.ndim != 2 or W.shape[0] != 784:
        raise ValueError(f"show_class_weights: expected W of shape (784, K), got {W.shape}")
    k = W.shape[1]
    names = list(classes) if classes is not None else [str(c) for c in range(k)]
    limit = float(np.abs(W).max()) or 1.0
    nrows = -(-k // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size + 1, nrows * size * 1.15), squeeze=False)
    for c, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if c < k:
            image = ax.imshow(W[:, c].reshape(28, 28), cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
            ax.set_title(names[c], fontsize=11)
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, pad=0.01, label="weight")
    if title:
        fig.suptitle(title, fontsize=12)
    return fig


def convergence(curves: dict, *, ylabel: str, xlabel: str = "iteration", title: str | None = None,
                ax=None, styles: dict | None = None, floor: float | None = None, floor_label: str | None = None,
                legend_loc: str = "best"):
    """Plot sequences against their index on a log y-axis (for loss gaps, gradient norms, errors).

    Parameters
    ----------
    curves : dict mapping a legend label to a 1-D array of floats (entry k at x = k).
    styles : dict mapping a label to matplotlib keyword arguments (e.g. ``{"marker": "o"}``).
    floor : the level below which values are rounding noise, e.g. ``np.finfo(float).eps * abs(f_star)``
        for a loss gap ``f - f_star``. It is drawn as a dotted line (labelled ``floor_label``), and
        every entry at or below it (zeros and negatives included) is drawn on it as a hollow
        downward triangle. Without a floor, zeros and negatives cannot be shown on a log axis and are
        left out of the line.
    ax : an existing Axes to draw on; a new (6.4, 3.6) figure otherwise.
    legend_loc : where the legend goes (matplotlib's ``loc``).
    Returns the Axes.
    """
    import matplotlib.pyplot as plt

    if floor is not None and not (np.isfinite(floor) and floor > 0):
        raise ValueError(f"floor must be a finite number > 0 (a log axis has no 0), got {floor!r}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 3.6))
    for label, values in curves.items():
        values = np.asarray(values, dtype=np.float64)
        below = values <= (0 if floor is None else floor)          # not drawable as they are
        line, = ax.semilogy(np.arange(len(values)), np.where(below, np.nan if floor is None else floor, values),
                            label=label, **(styles or {}).get(label, {}))
        if floor is not None:
            ax.plot(np.flatnonzero(below), np.full(below.sum(), floor), "v", ms=9, mfc="white",
                    mec=line.get_color(), zorder=line.get_zorder() + 1)
    if floor is not None:
        ax.axhline(floor, color="gray", ls=":", lw=1.2,
                   label=f"{floor_label or 'rounding level'} ({floor:.0e}), \u25bd at or below")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc=legend_loc)
    return ax
