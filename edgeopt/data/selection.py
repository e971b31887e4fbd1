"""The images a stage *chooses* on (a width, a configuration), kept apart from the test split it reports.

A choice made on the test split makes that split's accuracy an optimistic estimate of the chosen
model: it was picked because it scored well there. So a stage that chooses by accuracy scores its
candidates on:

- `validation`: the recipe's `data.validation_split`, held out of training (no stage trains on
  it), when the recipe sets one;
- `train`: otherwise, a seeded sample of the training images. The model has seen them, so the
  accuracy drop measured there is optimistic (a model fits its training images better than new
  ones); the step says so in its log and `step.json` and asks for `data.validation_split`.

The test split is never among them: the run's table reports every row on all of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeopt.data.datasets import Dataset

# How many training images the `train` fallback scores on: as many as the test split has (so an
# accuracy step is as fine as the table's), capped to keep a sweep's many evaluations cheap.
TRAIN_FALLBACK_MAX = 10_000


@dataclass(frozen=True)
class SelectionSplit:
    """Images and labels a choice is made on, and which split they come from (`name`)."""

    name: str  # "validation" | "train"
    x: np.ndarray
    y: np.ndarray
    note: str  # one sentence for the log and step.json: where the images come from, what that means

    def record(self) -> dict:
        """What step.json keeps about it."""
        return {"selection_split": self.name, "selection_images": int(len(self.y)), "selection_note": self.note}


def selection_split(dataset: Dataset, seed: int) -> SelectionSplit:
    """The split to choose on: the validation split when the recipe holds one out, else a seeded
    sample of the training images (labelled `train`: the model has seen them).

    Example:
        >>> split = selection_split(dataset, seed=0)
        >>> split.name, len(split.y) == len(dataset.y_val)
        ('validation', True)
    """
    if dataset.x_val is not None and len(dataset.x_val):
        return SelectionSplit("validation", dataset.x_val, dataset.y_val,
                              f"chosen on the {len(dataset.y_val)} validation images held out of training "
                              "(data.validation_split); the test split only reports")
    count = min(len(dataset.x_train), max(len(dataset.x_test), 1), TRAIN_FALLBACK_MAX)
    rows = np.sort(np.random.default_rng(seed).choice(len(dataset.x_train), size=count, replace=False))
    return SelectionSplit("train", dataset.x_train[rows], dataset.y_train[rows],
                          f"chosen on {count} training images, which the model has seen: the accuracy drop is an "
                          "optimistic estimate. Set `data: {validation_split: 0.1}` in the recipe to choose on "
                          "images held out of training; the test split only reports")
