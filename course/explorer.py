"""The hyperparameter explorer of notebook 03: sliders that retrain softmax regression and redraw.

Three layers, each testable alone:

* :class:`Settings` — one value per slider;
* :func:`train_and_score` — the pure training function: settings, the student's epoch function
  and the data in, a :class:`Result` out (learning curves, validation accuracy, or one line
  saying what went wrong with the student's function);
* :class:`Explorer` — the ipywidgets controls; a change of any control retrains with
  :func:`train_and_score` and redraws one figure in place (:class:`Curves`), shown as a PNG in an
  Image widget with the result's summary above it.

In a kernel the sliders update continuously while dragged: the retraining runs in one background
thread, and changes that arrive meanwhile are coalesced, so that only the latest values are trained
next (no queue of stale retrains) and one retrain never runs twice at once.

The explorer trains with the student's own epoch function, either
``softmax_regression_epoch_l2(X, y, W, b, lr=, batch=, l2=)`` (weights, biases, L2) or
``softmax_regression_epoch(X, y, theta, lr=, batch=)`` (no biases; the L2 slider is then off).
"""
from __future__ import annotations

import html
import inspect
import io
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
from threadpoolctl import threadpool_limits

from .data import DATASETS, load_dataset
from .search import check_hyperparameters, evaluate_models, train_validation_split
from .guard import refuses_while_grading

__all__ = ["Settings", "Result", "Data", "load_data", "train_and_score", "Curves", "Explorer", "explore"]

LEARNING_RATES = (-3.0, 1.0)            # log10 range of the learning-rate slider
BATCH_SIZES = (10, 20, 50, 100, 200, 500, 1000)
L2_STRENGTHS = (0.0, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
TRAIN_SIZES = (250, 500, 1000, 2000, 5000, 10000, 20000, 48000)


@dataclass(frozen=True)
class Settings:
    """One value per control; the defaults are the explorer's start (and retrain in well under 1 s)."""
    lr: float = 0.1
    batch: int = 100
    epochs: int = 10
    l2: float = 0.0
    train_size: int = 2000
    dataset: str = "mnist"


@dataclass
class Data:
    """A training/validation split of one dataset, and a line saying which data it is."""
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    description: str


@dataclass
class Result:
    """What one training run gave.

    ``history`` holds one float per epoch under ``train_loss``, ``val_loss``, ``train_error``,
    ``val_error``; ``message`` is one line when the student's function could not be used (then
    ``history`` is None); ``seconds`` is the training time.
    """
    settings: Settings
    history: dict | None = None
    message: str | None = None
    data: str = ""
    seconds: float = 0.0
    W: np.ndarray | None = field(default=None, repr=False)
    b: np.ndarray | None = field(default=None, repr=False)

    @property
    def val_accuracy(self) -> float | None:
        return None if self.history is None else 1 - self.history["val_error"][-1]

    def summary(self) -> str:
        """One line: the validation accuracy and loss reached, or the message."""
        if self.history is None:
            return self.message or ""
        h, s = self.history, self.settings
        return (f"lr={s.lr:.3g}, batch={s.batch}, {s.epochs} epochs, L2={s.l2:g}, {s.train_size:,} training images: "
                f"validation accuracy {100 * (1 - h['val_error'][-1]):.2f} %, loss {h['val_loss'][-1]:.4f} "
                f"(training {100 * (1 - h['train_error'][-1]):.2f} %)")


def load_data(dataset: str = "mnist", seed: int = 0) -> Data:
    """The 80/20 training/validation split of ``dataset``'s training set (MNIST if it is not available)."""
    pair = load_dataset(dataset, "train", fallback="mnist", verbose=False)
    X, y = pair
    X_train, y_train, X_val, y_val = train_validation_split(X, y, 0.2, seed=seed)
    used = pair.source.dataset
    note = "" if used.key == dataset else f" ({DATASETS[dataset].title} is not available here)"
    return Data(X_train, y_train, X_val, y_val,
                f"{used.title}{note}, {'the embedded sample' if pair.source.kind == 'sample' else 'the full set'}: "
                f"{len(y_val):,} validation images, up to {len(y_train):,} for training")


@refuses_while_grading
def train_and_score(settings: Settings, epoch_fn: Callable, data: Data) -> Result:
    """Train softmax regression from zero with the student's ``epoch_fn``, evaluating after each epoch.

    Raises ValueError, before any training, for a hyperparameter out of range (including a
    batch larger than ``settings.train_size``). Any failure of ``epoch_fn`` (not written yet,
    raises, returns instead of updating in place, NaN/inf weights) gives a Result whose
    ``message`` is one line naming the function, what was expected and what came.
    """
    if isinstance(settings.train_size, bool) or not isinstance(settings.train_size, (int, np.integer)) \
            or settings.train_size < 1:
        raise ValueError(f"train_size must be a positive integer, got {settings.train_size!r}")
    s = replace(settings, train_size=min(int(settings.train_size), len(data.y_train)))  # "all" if larger
    n = s.train_size
    check_hyperparameters(n=n, lr=s.lr, batch=s.batch, l2=s.l2, epochs=s.epochs)
    name = getattr(epoch_fn, "__name__", "the epoch function")
    with_bias = _takes_bias(epoch_fn)
    if not with_bias and s.l2 > 0:
        return Result(s, message=f"{name} has no L2 term: set L2 to 0, or explore with softmax_regression_epoch_l2")
    X, y = data.X_train[:n], data.y_train[:n]
    K = 10
    W = np.zeros((X.shape[1], K), dtype=np.float32)
    b = np.zeros(K, dtype=np.float32)
    after = []                                     # (W, b) after each epoch, scored at the end
    start = time.perf_counter()
    for epoch in range(1, s.epochs + 1):
        before = W.copy() if epoch == 1 else None
        try:
            if with_bias:
                returned = epoch_fn(X, y, W, b, lr=s.lr, batch=s.batch, l2=s.l2)
            else:
                returned = epoch_fn(X, y, W, lr=s.lr, batch=s.batch)
        except NotImplementedError:
            return Result(s, message=f"Write {name} first: the explorer trains with it, and it still raises "
                                     f"NotImplementedError", data=data.description)
        except Exception as err:  # the student's bug, in one line
            first = (str(err).strip().splitlines() or ["(no message)"])[0][:200]
            return Result(s, message=f"{name} raised {type(err).__name__} in epoch {epoch}: {first}",
                          data=data.description)
        problem = _check_update(name, W, b, before, returned, epoch, s)
        if problem:
            return Result(s, message=problem, data=data.description)
        after.append((W.copy(), b.copy()))
    # Every epoch's model side by side (class k of epoch e in column k*E + e): one wide product per set
    # instead of two skinny ones per epoch.
    E = len(after)
    W_all = np.stack([w for w, _ in after], axis=2).reshape(X.shape[1], K * E)
    b_all = np.stack([c for _, c in after], axis=1).reshape(K * E)
    history = {}
    for split, (Xs, ys) in (("train", (X, y)), ("val", (data.X_val, data.y_val))):
        loss, error = evaluate_models(Xs, ys, W_all, b_all, E, K)
        history[f"{split}_loss"], history[f"{split}_error"] = loss.tolist(), error.tolist()
    return Result(s, history, data=data.description, seconds=time.perf_counter() - start, W=W, b=b)


def _takes_bias(epoch_fn) -> bool:
    try:
        params = inspect.signature(epoch_fn).parameters
    except (TypeError, ValueError):
        return True
    return "b" in params or "l2" in params


def _check_update(name, W, b, before, returned, epoch, s) -> str | None:
    """One line if the epoch function did not update W (and b) in place as expected."""
    if not (np.isfinite(W).all() and np.isfinite(b).all()):
        return (f"{name} made the weights NaN/inf in epoch {epoch} (lr={s.lr:.3g}, batch={s.batch}): expected "
                f"finite weights; a smaller learning rate or a softmax that subtracts the row maximum fixes this")
    if before is not None and np.array_equal(before, W):
        got = "None" if returned is None else (
            f"an array of shape {returned.shape}" if isinstance(returned, np.ndarray) else type(returned).__name__)
        return (f"{name} left W unchanged after one epoch: expected it to update W in place "
                f"(W -= ...), it returned {got} and W is still all zeros")
    return None


def draw(result: Result, axes) -> None:
    """Draw ``result``'s learning curves into two Axes of a new figure, titled with its accuracy."""
    from .plots import learning_curves

    learning_curves(result.history, axes=axes)
    axes[0].figure.suptitle(f"{result.data}\n{result.summary()}", fontsize=9)
    axes[0].figure.tight_layout()


class Curves:
    """One figure of learning curves (loss and error rate per epoch, training beside validation), kept
    with its lines: :meth:`png` puts new data into the same lines and returns the PNG, with no new
    figure, no layout pass and no tight bounding box per frame. The figure is not pyplot's, so a
    notebook never shows it by itself.

    The frame (axes, ticks, labels, grid: most of the drawing time) depends only on the axes' limits,
    which snap to round tick values: it is drawn once per set of limits and kept (the last
    ``frames_kept``), and a frame already drawn gets only the lines, spines and legend drawn over it
    (blitting). The picture is the same as a full draw."""

    def __init__(self, figsize=(9.0, 3.2), dpi: int = 100, frames_kept: int = 8):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        self.figure = Figure(figsize=figsize, dpi=dpi, facecolor="white")
        self.canvas = FigureCanvasAgg(self.figure)
        self.axes = self.figure.subplots(1, 2)
        self.lines = {}
        for ax, key, label in zip(self.axes, ("loss", "error"), ("cross-entropy loss", "error rate (%)")):
            for split, style, name in (("train", "-o", "training"), ("val", "-s", "validation")):
                self.lines[split, key], = ax.plot([], [], style, markersize=3, label=name)
            ax.set_xlabel("epoch")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        self.legend = self.axes[0].legend(loc="upper right")  # one legend: the colours are the same in both panels
        self.figure.subplots_adjust(left=0.07, right=0.99, bottom=0.15, top=0.97, wspace=0.2)
        # drawn over the frame, in the order of a full draw (by zorder: lines 2, spines 2.5, legend 5)
        self._over = [(ax, a) for ax in self.axes
                      for a in sorted([*ax.lines, *ax.spines.values(), *([self.legend] if ax is self.axes[0] else [])],
                                      key=lambda a: a.get_zorder())]
        self._frames: dict = {}                     # the limits of both axes -> the frame drawn with them
        self.frames_kept = frames_kept
        self.frames_drawn = 0                       # how many frames were drawn in full (for the benchmark)

    def png(self, history: dict) -> bytes:
        """The figure redrawn with ``history`` (lists of one float per epoch under ``train_loss``,
        ``val_loss``, ``train_error``, ``val_error``), as PNG bytes."""
        import matplotlib as mpl
        from PIL import Image

        epochs = np.arange(1, len(history["train_loss"]) + 1)
        for (split, key), line in self.lines.items():
            line.set_data(epochs, np.asarray(history[f"{split}_{key}"], dtype=float) * (100 if key == "error" else 1))
        for ax in self.axes:
            ax.relim()
            ax.autoscale_view(scaley=False)
            with mpl.rc_context({"axes.autolimit_mode": "round_numbers"}):  # y limits at tick values
                ax.autoscale_view(scalex=False)
        limits = tuple((*ax.get_xlim(), *ax.get_ylim()) for ax in self.axes)
        frame = self._frames.pop(limits, None)
        if frame is None:                           # new limits: draw the frame alone and keep it
            for _, artist in self._over:
                artist.set_visible(False)
            self.canvas.draw()
            frame = self.canvas.copy_from_bbox(self.figure.bbox)
            for _, artist in self._over:
                artist.set_visible(True)
            self.frames_drawn += 1
        else:
            self.canvas.restore_region(frame)
        self._frames[limits] = frame                # the most recent last
        while len(self._frames) > self.frames_kept:
            del self._frames[next(iter(self._frames))]
        for ax, artist in self._over:
            ax.draw_artist(artist)
        out = io.BytesIO()
        image = Image.frombuffer("RGBA", self.canvas.get_width_height(), self.canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
        image.save(out, format="png", compress_level=1)  # fast compression
        return out.getvalue()


class Explorer:
    """Sliders for learning rate (log scale), batch size, epochs, L2 strength, training-set size and
    dataset; every change retrains with ``epoch_fn`` and redraws. Display it in a notebook cell.

    ``controls`` maps each :class:`Settings` field to its widget; ``result`` is the latest
    :class:`Result`; ``status`` (HTML: the data and the summary, or the one-line message) and
    ``image`` (the curves' PNG) show it. ``loader(dataset)`` returns a :class:`Data` (default
    :func:`load_data`, cached).

    With ``background`` (the default in a kernel) a change returns at once and the retraining runs
    in a background thread, coalescing the changes that arrive meanwhile; :meth:`wait` blocks until
    it is done. Without it (the default elsewhere) a change retrains before it returns: set
    ``controls["lr"].value = 0.5`` and read ``result``, as the tests do.
    """

    def __init__(self, epoch_fn: Callable, settings: Settings = Settings(), loader: Callable[[str], Data] = load_data,
                 *, background: bool | None = None):
        import ipywidgets as w

        for name, options in (("batch", BATCH_SIZES), ("l2", L2_STRENGTHS), ("train_size", TRAIN_SIZES)):
            if getattr(settings, name) not in options:
                raise ValueError(f"{name} must be one of the slider's values {list(options)}, "
                                 f"got {getattr(settings, name)!r}")
        self.epoch_fn, self._loader, self._data = epoch_fn, loader, {}
        self.background = _in_kernel() if background is None else background
        style, layout = {"description_width": "110px"}, w.Layout(width="360px")
        common = dict(continuous_update=True, style=style, layout=layout)
        self.controls = {
            "lr": w.FloatLogSlider(value=settings.lr, base=10, min=LEARNING_RATES[0], max=LEARNING_RATES[1],
                                   step=0.25, readout_format=".3g", description="learning rate", **common),
            "batch": w.SelectionSlider(options=BATCH_SIZES, value=settings.batch, description="batch size", **common),
            "epochs": w.IntSlider(value=settings.epochs, min=1, max=30, description="epochs", **common),
            "l2": w.SelectionSlider(options=[(f"{v:g}", v) for v in L2_STRENGTHS], value=settings.l2,
                                    description="L2 strength", **common),
            "train_size": w.SelectionSlider(options=TRAIN_SIZES, value=settings.train_size,
                                            description="training images", **common),
            "dataset": w.Dropdown(options=[(d.title, key) for key, d in DATASETS.items()], value=settings.dataset,
                                  description="dataset", style=style, layout=layout),
        }
        if not _takes_bias(epoch_fn):
            self.controls["l2"].disabled = True
        self.status = w.HTML(layout=w.Layout(margin="6px 0 0 10px"))
        self.image = w.Image(format="png")
        self.status.add_class("course-explorer-status")
        self.image.add_class("course-explorer-curves")
        self.widget = w.VBox([w.HBox([w.VBox([self.controls[k] for k in ("lr", "batch", "epochs")]),
                                      w.VBox([self.controls[k] for k in ("l2", "train_size", "dataset")])]),
                              self.status, self.image])
        self._curves = Curves()
        self._turn = threading.Condition()          # guards _busy and _pending
        self._busy = self._pending = False
        self.result: Result | None = None
        self.update()
        for control in self.controls.values():
            control.observe(self._on_change, names="value")

    def settings(self) -> Settings:
        """The current control values."""
        return Settings(**{name: control.value for name, control in self.controls.items()})

    def data(self, dataset: str) -> Data:
        if dataset not in self._data:
            self._data[dataset] = self._loader(dataset)
        return self._data[dataset]

    def update(self) -> Result:
        """Retrain with the current settings and redraw; returns the new :class:`Result`."""
        settings = self.settings()
        data = self.data(settings.dataset)
        try:
            # small products: one BLAS thread is as fast, and does not stall when other programs load the cores
            with threadpool_limits(limits=1, user_api="blas"):
                result = train_and_score(settings, self.epoch_fn, data)
        except ValueError as err:  # e.g. a batch larger than the training set
            result = Result(settings, message=f"cannot train: {err}", data=data.description)
        self.result, self._trained = result, settings
        self._show(result)
        return result

    def _show(self, result: Result) -> None:
        if result.history is None:
            self.image.layout.display = "none"
            self.status.value = html.escape(result.message or "")
            return
        self.image.value = self._curves.png(result.history)
        self.image.layout.display = None
        self.status.value = (f"<span style='color: #555'>{html.escape(result.data)}</span><br>"
                             f"{html.escape(result.summary())}")

    def _on_change(self, change) -> None:
        if not self.background:
            self.update()
            return
        with self._turn:
            if self._busy:              # the running retrain is followed by one with the latest values
                self._pending = True
                return
            self._busy = True
        threading.Thread(target=self._retrain_latest, name="explorer", daemon=True).start()

    def _retrain_latest(self) -> None:
        """The background thread: retrain until the result is that of the latest control values."""
        while True:
            with self._turn:
                self._pending = False
            try:
                if self.settings() != self._trained:
                    self.update()
            except Exception as err:  # never a silent dead thread: one line where the curves were
                self._show(Result(self.settings(), message=f"the explorer failed: {type(err).__name__}: {err}"))
            with self._turn:
                if not self._pending:   # checked and cleared under one lock: no change is lost
                    self._busy = False
                    self._turn.notify_all()
                    return

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no retrain is running or waiting; False if ``timeout`` seconds passed first."""
        with self._turn:
            return self._turn.wait_for(lambda: not self._busy, timeout)

    def figure(self):
        """A new Figure of the current result (or None when there are no curves to show)."""
        import matplotlib.pyplot as plt

        if self.result is None or self.result.history is None:
            return None
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
        draw(self.result, axes)
        return fig

    def __repr__(self) -> str:
        """What a viewer without a live kernel shows instead of the sliders (a few short lines)."""
        name = getattr(self.epoch_fn, "__name__", "your epoch function")
        return (f"Hyperparameter explorer ({name}): sliders for the learning rate,\n"
                "batch size, epochs, L2 strength, training images and dataset.\n"
                "Run this cell in JupyterLab to use them.")

    def _repr_mimebundle_(self, **kwargs) -> dict:
        """The widget's own bundle (JupyterLab shows the sliders and curves), whose text/plain, the
        fallback of viewers without widgets, is the short ``repr`` instead of the widgets' long one."""
        return {**self.widget._repr_mimebundle_(**kwargs), "text/plain": repr(self)}


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def explore(epoch_fn: Callable, **settings) -> Explorer:
    """Build an :class:`Explorer` on ``epoch_fn`` starting at ``Settings(**settings)``; show it in a cell."""
    return Explorer(epoch_fn, Settings(**settings))
