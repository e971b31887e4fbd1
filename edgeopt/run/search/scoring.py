"""Scoring on the search's validation split (carved from the training data): it chooses; the test split only reports."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeopt.data.datasets import Dataset
from edgeopt.run.search.options import SearchOptions


def validation_accuracy_tflite(path: Path, dataset: Dataset, threads: int) -> float:
    """Top-1 accuracy (percent) of a `.tflite` on the validation split."""
    from edgeopt.profile.accuracy import evaluate_tflite

    return 100.0 * evaluate_tflite(path, dataset.x_val, dataset.y_val, threads=threads)


def validation_accuracy_keras(path: Path, dataset: Dataset) -> float:
    """Top-1 accuracy (percent) of a Keras model file on the validation split."""
    from edgeopt.models.keras_io import load_keras_model

    predictions = load_keras_model(path).predict(dataset.x_val, batch_size=256, verbose=0)
    return 100.0 * float(np.mean(np.argmax(predictions, axis=-1) == dataset.y_val))


def validation_seen_warning(path: Path, val_accuracy: float, dataset: Dataset,
                            options: SearchOptions) -> tuple[float, str | None]:
    """The reference's test accuracy, and a warning when it scores more than the budget higher on the
    validation split than on the test split: it most likely trained on the validation images."""
    from edgeopt.profile.accuracy import evaluate_tflite

    test = 100.0 * evaluate_tflite(path, dataset.x_test, dataset.y_test, threads=options.threads)
    if val_accuracy - test <= options.budget:
        return test, None
    return test, (f"the model scores {val_accuracy:.2f} % on the validation split and {test:.2f} % on the test "
                  f"split: it has most likely seen the validation images in training, so candidates are judged "
                  f"against an optimistic reference and the search may stop early. Train it with "
                  f"`data: {{validation_split: {options.validation_split:g}}}` (seed {options.seed}) to hold out "
                  f"the images the search validates on.")
