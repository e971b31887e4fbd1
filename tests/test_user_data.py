"""A user's own data: .npz files and folders of images, with clear errors for what is wrong."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from edgeopt.common.errors import DataError
from edgeopt.data.datasets import load_dataset


def write_npz(path, **overrides):
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (20, 6, 6), dtype=np.uint8), "y_train": rng.integers(0, 3, 20),
              "x_test": rng.integers(0, 256, (8, 6, 6), dtype=np.uint8), "y_test": rng.integers(0, 3, 8)}
    arrays.update(overrides)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


def test_npz_gives_nhwc_unit_floats_and_counts_classes(tmp_path):
    ds = load_dataset("npz", write_npz(tmp_path / "d.npz", y_train=np.array([0, 1, 2, 4] * 5)))
    assert ds.x_train.shape == (20, 6, 6, 1) and ds.x_train.max() <= 1.0 and ds.num_classes == 5


@pytest.mark.parametrize("overrides, needle", [
    ({"y_test": None}, "lacks y_test"),
    ({"y_train": np.array([0, 1, -1, 2] * 5)}, "class numbers"),
    ({"y_train": np.array([0.5] * 20)}, "class numbers"),
    ({"x_test": np.zeros((8, 5, 5), np.uint8)}, "same image shape"),
    ({"x_train": np.full((20, 6, 6), 3.0)}, "outside the declared input range [0, 1]"),
    ({"y_train": np.zeros(19, int)}, "one label each"),
])
def test_npz_problems_are_named(tmp_path, overrides, needle):
    with pytest.raises(DataError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        load_dataset("npz", write_npz(tmp_path / "d.npz", **overrides))


def test_npz_needs_a_path_and_a_real_file(tmp_path):
    with pytest.raises(DataError, match="needs a file"):
        load_dataset("npz")
    (tmp_path / "bad.npz").write_text("nope")
    with pytest.raises(DataError, match="not a readable .npz"):
        load_dataset("npz", tmp_path / "bad.npz")


def write_images(root, sizes: dict[str, list[tuple[int, int]]]):
    for cls, shapes in sizes.items():
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i, (w, h) in enumerate(shapes):
            Image.fromarray(np.full((h, w), 40 * i, np.uint8)).save(root / cls / f"{i}.png")
    return root


def test_image_folder_splits_classes_by_folder_name(tmp_path):
    write_images(tmp_path, {"cat": [(5, 4)] * 6, "dog": [(5, 4)] * 4})
    ds = load_dataset("image_folder", tmp_path)
    assert ds.num_classes == 2 and ds.x_train.shape[1:] == (4, 5, 1)
    assert len(ds.x_train) + len(ds.x_test) == 10 and "cat, dog" in ds.source


def test_image_folder_with_train_and_test_subfolders(tmp_path):
    write_images(tmp_path / "train", {"a": [(3, 3)] * 2, "b": [(3, 3)] * 2})
    write_images(tmp_path / "test", {"a": [(3, 3)], "b": [(3, 3)]})
    ds = load_dataset("image_folder", tmp_path)
    assert len(ds.x_train) == 4 and len(ds.x_test) == 2


def test_empty_class_folder_is_named(tmp_path):
    write_images(tmp_path, {"cat": [(5, 4)] * 3})
    (tmp_path / "dog").mkdir()
    with pytest.raises(DataError, match="dog has no images"):
        load_dataset("image_folder", tmp_path)


def test_mixed_image_sizes_are_named(tmp_path):
    write_images(tmp_path, {"cat": [(5, 4), (6, 4)]})
    with pytest.raises(DataError, match="differ in size"):
        load_dataset("image_folder", tmp_path)


def test_folder_without_classes_is_named(tmp_path):
    with pytest.raises(DataError, match="no class sub-folders"):
        load_dataset("image_folder", tmp_path)


def test_labels_beyond_the_model_outputs_are_refused(tmp_path):
    ds = load_dataset("npz", write_npz(tmp_path / "d.npz", y_train=np.array([0, 1, 2, 7] * 5)))
    with pytest.raises(DataError, match="labels up to 7.*3 outputs"):
        ds.check_fits((None, 6, 6, 1), "model m", num_outputs=3)


def test_profile_refuses_labels_the_model_cannot_output(tmp_path, tiny_tflite_models):
    from edgeopt.profile import profile_tflite

    x = tiny_tflite_models.x[:4]
    with pytest.raises(DataError, match="3 outputs"):
        profile_tflite(tiny_tflite_models.int8, x_test=x, y_test=np.array([0, 1, 2, 9]), runs=2, warmup=0)
