"""CIFAR-10 batches in the genuine python-pickle format, written by tests (a helper, not a test module)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np


def write_cifar_batch(path, n: int, rng) -> tuple[np.ndarray, list[int]]:
    """One batch file of `n` random images: bytes keys, row-major CHW uint8 pixels, as Keras unpacks them."""
    pixels = rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, n)]
    with open(path, "wb") as fh:
        pickle.dump({b"batch_label": b"x", b"labels": labels, b"data": pixels, b"filenames": []}, fh)
    return pixels, labels


def write_cifar_folder(folder: Path, train_per_batch: int, test: int, seed: int = 0) -> Path:
    """`cifar-10-batches-py/`: data_batch_1..5 and test_batch."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(1, 6):
        write_cifar_batch(folder / f"data_batch_{i}", train_per_batch, rng)
    write_cifar_batch(folder / "test_batch", test, rng)
    return folder
