"""The split a stage chooses on: the validation split when the recipe holds one out, else training
images (labelled: the model has seen them); never the test split, which only reports."""

from __future__ import annotations

import numpy as np

from edgeopt.data.datasets import load_dataset
from edgeopt.data.selection import selection_split


def _rows(x: np.ndarray) -> set[bytes]:
    return {image.tobytes() for image in x}


def test_a_validation_split_is_chosen_on_when_the_recipe_holds_one_out():
    held = load_dataset("digits", validation_split=0.2)
    split = selection_split(held, seed=0)
    assert split.name == "validation" and split.x is held.x_val and split.y is held.y_val
    assert split.record() == {"selection_split": "validation", "selection_images": len(held.y_val),
                              "selection_note": split.note}


def test_without_one_a_seeded_sample_of_training_images_is_chosen_on_and_said_to_be_seen():
    plain = load_dataset("digits")
    split = selection_split(plain, seed=3)
    assert split.name == "train" and "optimistic" in split.note and "validation_split" in split.note
    assert len(split.y) == min(len(plain.y_test), len(plain.y_train))
    assert _rows(split.x) <= _rows(plain.x_train)
    assert not _rows(split.x) & (_rows(plain.x_test) - _rows(plain.x_train))  # no test image is chosen on
    again = selection_split(plain, seed=3)
    assert np.array_equal(again.x, split.x) and np.array_equal(again.y, split.y)
