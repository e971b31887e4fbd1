"""Scoring on the split the search chooses on (`selection.py`: `x_val`); the test split only reports."""

from __future__ import annotations

from pathlib import Path

from edgeopt.data.datasets import Dataset


def validation_accuracy_tflite(path: Path, dataset: Dataset, threads: int) -> float:
    """Top-1 accuracy (percent) of a `.tflite` on the validation split."""
    from edgeopt.profile.accuracy import evaluate_tflite

    return 100.0 * evaluate_tflite(path, dataset.x_val, dataset.y_val, threads=threads)


def validation_accuracy_keras(path: Path, dataset: Dataset) -> float:
    """Top-1 accuracy (percent) of a Keras model file on the validation split."""
    from edgeopt.models.keras_io import load_keras_model

    from edgeopt.run.search.sensitivity import top1

    return top1(load_keras_model(path).predict(dataset.x_val, batch_size=256, verbose=0), dataset.y_val)


def test_accuracy_tflite(path: Path, dataset: Dataset, threads: int) -> float:
    """Top-1 accuracy (percent) of a `.tflite` on the test split."""
    from edgeopt.profile.accuracy import evaluate_tflite

    return 100.0 * evaluate_tflite(path, dataset.x_test, dataset.y_test, threads=threads)
