"""Dataset loaders: the real file formats, read from small archives the tests write."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from cifar_fakes import write_cifar_batch
from edgeopt.common.errors import DataError
from edgeopt.data.datasets import Dataset, load_dataset, read_idx


def test_embedded_mnist_is_real_balanced_digits():
    ds = load_dataset("mnist_embedded")
    assert ds.x_train.shape == (4000, 28, 28, 1) and ds.x_test.shape == (1000, 28, 28, 1)
    assert ds.x_train.dtype == np.float32 and 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
    # shuffled before the split: every digit appears in both splits in roughly equal numbers
    assert set(np.bincount(ds.y_test)) and min(np.bincount(ds.y_test, minlength=10)) > 60


def test_limits_take_the_same_seeded_subset_every_time():
    a = load_dataset("digits", limit_train=100, limit_test=50, seed=3)
    b = load_dataset("digits", limit_train=100, limit_test=50, seed=3)
    assert a.x_train.shape == (100, 8, 8, 1) and np.array_equal(a.y_train, b.y_train)


def test_unknown_dataset_suggests_a_name():
    with pytest.raises(DataError, match="Did you mean 'cifar10'"):
        load_dataset("cifar-10")


def _write_idx(path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def test_fashion_mnist_reads_the_standard_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    names = {"train-images-idx3-ubyte.gz": rng.integers(0, 256, (12, 28, 28)),
             "train-labels-idx1-ubyte.gz": rng.integers(0, 10, 12),
             "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (5, 28, 28)),
             "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, 5)}
    for name, array in names.items():
        _write_idx(tmp_path / name, array)
    ds = load_dataset("fashion_mnist", tmp_path)
    assert ds.x_train.shape == (12, 28, 28, 1) and ds.x_test.shape == (5, 28, 28, 1)
    assert np.allclose(ds.x_train[..., 0] * 255, names["train-images-idx3-ubyte.gz"])
    assert np.array_equal(ds.y_test, names["t10k-labels-idx1-ubyte.gz"])


def test_truncated_idx_file_is_a_data_error(tmp_path):
    path = tmp_path / "x.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(bytes([0, 0, 8, 1]) + (100).to_bytes(4, "big") + b"\x01" * 10)
    with pytest.raises(DataError, match="truncated"):
        read_idx(path)


def test_fashion_mnist_folder_without_files_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no Fashion-MNIST files"):
        load_dataset("fashion_mnist", tmp_path)


def test_cifar10_reads_the_python_batches_keras_unpacks(tmp_path, monkeypatch):
    folder = tmp_path / "datasets" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    batches = [write_cifar_batch(folder / f"data_batch_{i}", 4, rng) for i in range(1, 6)]
    test_pixels, test_labels = write_cifar_batch(folder / "test_batch", 3, rng)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # where Keras keeps its cache
    ds = load_dataset("cifar10")
    assert ds.x_train.shape == (20, 32, 32, 3) and ds.x_test.shape == (3, 32, 32, 3)
    # channel 0 of the first test image is the first 1024 bytes of its row (CHW → HWC)
    assert np.allclose(ds.x_test[0, :, :, 0].reshape(-1) * 255, test_pixels[0, :1024])
    assert list(ds.y_test) == test_labels and list(ds.y_train[:4]) == batches[0][1]


def test_cifar10_damaged_batch_is_a_data_error(tmp_path):
    (tmp_path / "data_batch_1").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="data_batch_1"):
        load_dataset("cifar10", tmp_path)


def test_check_fits_names_both_shapes():
    ds = load_dataset("digits", limit_train=10, limit_test=10)
    ds.check_fits((None, 8, 8, 1), "model")
    with pytest.raises(DataError, match=r"\(8, 8, 1\).*\(28, 28, 1\)"):
        ds.check_fits((None, 28, 28, 1), "model m")


def test_calibration_samples_are_real_training_images():
    ds = Dataset("d", np.arange(40, dtype=np.float32).reshape(10, 2, 2, 1), np.zeros(10), np.zeros((1, 2, 2, 1)),
                 np.zeros(1), 2, "test")
    picked = ds.calibration_samples(4, seed=0)
    assert picked.shape == (4, 2, 2, 1) and all(any(np.array_equal(p, x) for x in ds.x_train) for p in picked)
