"""Hostile data gets a clear error before training: NaN pixels, fractional labels, empty splits;
test classes that training never saw get a warning."""

from __future__ import annotations

import numpy as np
import pytest

from edgeopt.common.errors import DataError
from edgeopt.data.checks import check_dataset, dataset_warnings
from edgeopt.data.datasets import Dataset, load_dataset
from test_user_data import write_npz


def floats(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 6, 6)).astype(np.float32)


def test_a_nan_pixel_is_named_with_its_image(tmp_path):
    x = floats(20)
    x[7, 2, 3] = np.nan
    x[9, 0, 0] = np.nan
    with pytest.raises(DataError, match=r"d.npz: x_train holds 2 NaN values \(the first in image 7\)"):
        load_dataset("npz", write_npz(tmp_path / "d.npz", x_train=x, x_test=floats(8, 1)))


def test_an_infinite_pixel_is_named(tmp_path):
    x = floats(8, 1)
    x[3, 1, 1] = -np.inf
    with pytest.raises(DataError, match=r"x_test holds infinite values \(the first in image 3\)"):
        load_dataset("npz", write_npz(tmp_path / "d.npz", x_train=floats(20), x_test=x))


def test_labels_with_fractions_are_refused_but_whole_floats_are_class_numbers(tmp_path):
    y = np.array([0.0, 1.0, 2.0, 1.5] * 5)
    with pytest.raises(DataError, match=r"y_train holds labels with fractions, e\.g\. \[1\.5.*index 3.*argmax"):
        load_dataset("npz", write_npz(tmp_path / "d.npz", y_train=y))
    ds = load_dataset("npz", write_npz(tmp_path / "w.npz", y_train=np.array([0.0, 1.0, 2.0, 1.0] * 5)))
    assert ds.y_train.dtype == np.int64 and ds.y_train[:4].tolist() == [0, 1, 2, 1]


@pytest.mark.parametrize("labels, needle", [(np.array([0, 1, np.nan, 2] * 5), "NaN labels"),
                                            (np.array([True, False] * 10), "class numbers")])
def test_nan_and_boolean_labels_are_refused(tmp_path, labels, needle):
    with pytest.raises(DataError, match=needle):
        load_dataset("npz", write_npz(tmp_path / "d.npz", y_train=labels))


def test_test_classes_missing_from_training_give_a_warning_not_an_error(tmp_path):
    ds = load_dataset("npz", write_npz(tmp_path / "d.npz", y_train=np.array([0, 1] * 10),
                                       y_test=np.array([0, 1, 2, 3, 3, 3, 1, 0])))
    (warning,) = dataset_warnings(ds)
    assert "test split has classes 2, 3 (4 of 8 test images) that the training split never has" in warning
    assert dataset_warnings(load_dataset("npz", write_npz(tmp_path / "ok.npz"))) == []


def test_an_empty_split_is_refused_naming_the_limit():
    x, y = np.zeros((0, 4, 4, 1), np.float32), np.zeros(0, np.int64)
    empty_test = Dataset("npz", np.zeros((5, 4, 4, 1), np.float32), np.zeros(5, np.int64), x, y, 1, "mine.npz")
    with pytest.raises(DataError, match=r"dataset 'npz' \(mine.npz\) has no test images after limit_test=10"):
        check_dataset(empty_test, None, 10)
    with pytest.raises(DataError, match="has no test images. Give it some"):
        check_dataset(empty_test)


def test_an_image_folder_too_small_to_split_is_refused(tmp_path):
    from PIL import Image

    (tmp_path / "cat").mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "cat" / "1.png")
    with pytest.raises(DataError, match="has no train images"):
        load_dataset("image_folder", tmp_path)


@pytest.mark.slow
def test_a_run_on_nan_data_stops_before_training(tmp_path):
    from stopping import start

    x = floats(20)
    x[0, 0, 0] = np.nan
    write_npz(tmp_path / "d.npz", x_train=x, x_test=floats(8, 1))
    (tmp_path / "r.yaml").write_text("name: r\ndata: {name: npz, path: d.npz}\n"
                                     "steps:\n  - {id: base, stage: train, architecture: small_cnn}\n")
    process = start("run", tmp_path / "r.yaml", "--out", tmp_path / "out", cli=None)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 2 and "NaN" in stderr and "Traceback" not in stderr
    assert "base: train" not in stderr
