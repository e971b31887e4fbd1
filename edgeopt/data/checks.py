"""Hostile data is refused before any training: NaN pixels, fractional labels, empty splits.

Every loader's output passes through `check_dataset`, so a user's .npz, an image folder and the
built-in datasets meet the same rules; the messages name the split, what was found and where.
`dataset_warnings` lists what is allowed but probably a mistake (test classes never trained on).
"""

from __future__ import annotations

import numpy as np

from edgeopt.common.errors import DataError


def check_images(x: np.ndarray, where: str) -> np.ndarray:
    """Raise DataError unless float images `x` are finite; return them.

    Whether they lie in the declared input range is `InputScaling.from_floats`'s check.

    Example:
        >>> check_images(np.array([[0.0, np.nan]]), "d.npz: x_train")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        edgeopt.common.errors.DataError: d.npz: x_train holds 1 NaN value (the first in image 0)...
    """
    nan = np.isnan(x)
    if nan.any():
        count, first = int(nan.sum()), int(np.argwhere(nan)[0][0])
        raise DataError(f"{where} holds {count} NaN value{'s' if count > 1 else ''} (the first in image {first}). "
                        "Fix or drop those images before training; edgeopt does not guess pixel values.")
    if np.isinf(x).any():
        first = int(np.argwhere(np.isinf(x))[0][0])
        raise DataError(f"{where} holds infinite values (the first in image {first}). Images must be uint8 (0–255) "
                        "or floats in the declared input range (data.input_range, default [0, 1]).")
    return x


def check_labels(y: np.ndarray, where: str) -> np.ndarray:
    """Raise DataError unless `y` holds class numbers 0, 1, 2, …; return them as int64.

    Example:
        >>> check_labels(np.array([0.0, 1.0, 2.0]), "y_train")
        array([0, 1, 2])
    """
    if y.dtype == np.bool_ or not np.issubdtype(y.dtype, np.number):
        raise DataError(f"{where} must be class numbers 0, 1, 2, …; found {y.dtype} values {np.unique(y)[:10]}.")
    if np.issubdtype(y.dtype, np.floating):
        if np.isnan(y).any():
            raise DataError(f"{where} holds {int(np.isnan(y).sum())} NaN labels (the first at index "
                            f"{int(np.argwhere(np.isnan(y))[0][0])}); every image needs a class number.")
        fractional = np.mod(y, 1) != 0
        if fractional.any():
            raise DataError(f"{where} holds labels with fractions, e.g. {y[fractional][:5].tolist()} (the first at "
                            f"index {int(np.argmax(fractional))}): labels must be whole class numbers 0, 1, 2, …. "
                            "One-hot or soft labels: take their argmax first.")
    if y.size and y.min() < 0:
        raise DataError(f"{where} holds negative labels (e.g. {int(y.min())}); labels must be class numbers 0, 1, 2, ….")
    return y.astype(np.int64)


def check_dataset(ds, limit_train: int | None = None, limit_test: int | None = None):
    """Raise DataError when a loaded (and subset) dataset cannot be trained or tested on; return it."""
    for split, x, y, limit in (("train", ds.x_train, ds.y_train, limit_train), ("test", ds.x_test, ds.y_test, limit_test)):
        if len(x) == 0:
            after = f" after limit_{split}={limit}" if limit is not None else ""
            raise DataError(f"dataset '{ds.name}' ({ds.source}) has no {split} images{after}. "
                            f"Give it some (and check limit_{split}).")
        if len(x) != len(y):
            raise DataError(f"dataset '{ds.name}': {len(x)} {split} images but {len(y)} labels; each image needs one.")
        if np.issubdtype(x.dtype, np.floating):
            check_images(x, f"dataset '{ds.name}' ({ds.source}): x_{split}")
        check_labels(y, f"dataset '{ds.name}' ({ds.source}): y_{split}")
    return ds


def dataset_warnings(ds) -> list[str]:
    """What a dataset allows but is probably a mistake: test classes the training split never has."""
    unseen = sorted(set(np.unique(ds.y_test).tolist()) - set(np.unique(ds.y_train).tolist()))
    if not unseen:
        return []
    count = int(np.isin(ds.y_test, unseen).sum())
    return [f"dataset '{ds.name}': the test split has class{'es' if len(unseen) > 1 else ''} "
            f"{', '.join(map(str, unseen[:10]))} ({count} of {len(ds.y_test)} test images) that the training split "
            "never has; no model trained here can get those right, so accuracy is capped below 100 %. "
            "Check the split (or a limit_train that dropped them)."]
