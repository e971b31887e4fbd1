"""Named base architectures from the seed papers, registered by name.

Each builder takes the dataset's input shape and class count and returns an uncompiled Keras
model whose last layer emits logits (float32, so mixed-precision training keeps a float32 head).
Keras is imported inside the builders so that validating a recipe does not load TensorFlow.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

Builder = Callable[..., Any]
ARCHITECTURES: dict[str, tuple[Builder, str]] = {}


def register_architecture(name: str, summary: str) -> Callable[[Builder], Builder]:
    def decorate(fn: Builder) -> Builder:
        ARCHITECTURES[name] = (fn, summary)
        return fn

    return decorate


def architecture_options(name: str) -> dict[str, Any]:
    """The keyword options an architecture accepts, with their defaults."""
    params = list(inspect.signature(ARCHITECTURES[name][0]).parameters.values())[2:]
    return {p.name: p.default for p in params}


def build_model(name: str, input_shape: tuple[int, ...], num_classes: int, **options):
    """Build the architecture `name` for images of `input_shape`.

    Example:
        >>> build_model("gap_cnn", (28, 28, 1), 10).count_params()
        65002
    """
    builder, _ = ARCHITECTURES[name]
    return builder(tuple(input_shape), num_classes, **options)


def _logits(num_classes: int):
    from edgeopt._keras import keras

    return keras.layers.Dense(num_classes, name="logits", dtype="float32")


@register_architecture("gap_cnn", "seed 000 Table 2: 3 conv + global average pooling + Dense head")
def gap_cnn(input_shape, num_classes, hidden_units: int = 128):
    from edgeopt._keras import keras

    # The paper's head is Dense(128) → Dense(100) for 100 classes; the last layer is the classifier.
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            keras.layers.Conv2D(32, 3, activation="relu", name="conv1"),
            keras.layers.MaxPooling2D(2, name="pool1"),
            keras.layers.Conv2D(64, 3, activation="relu", name="conv2"),
            keras.layers.MaxPooling2D(2, name="pool2"),
            keras.layers.Conv2D(64, 3, activation="relu", name="conv3"),
            keras.layers.GlobalAveragePooling2D(name="gap"),
            keras.layers.Dense(hidden_units, activation="relu", name="fc1"),
            _logits(num_classes),
        ],
        name="gap_cnn",
    )


@register_architecture("cifar_cnn", "seed 004 create_base_model: 3 conv + Flatten + Dense(64) head")
def cifar_cnn(input_shape, num_classes, hidden_units: int = 64):
    from edgeopt._keras import keras

    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            keras.layers.Conv2D(32, 3, activation="relu", name="conv1"),
            keras.layers.MaxPooling2D(2, name="pool1"),
            keras.layers.Conv2D(64, 3, activation="relu", name="conv2"),
            keras.layers.MaxPooling2D(2, name="pool2"),
            keras.layers.Conv2D(64, 3, activation="relu", name="conv3"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(hidden_units, activation="relu", name="fc1"),
            _logits(num_classes),
        ],
        name="cifar_cnn",
    )


@register_architecture("small_cnn", "2 'same' conv + GAP + Dense: for tiny inputs like the 8x8 UCI digits, and fast tests")
def small_cnn(input_shape, num_classes, hidden_units: int = 32):
    from edgeopt._keras import keras

    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1"),
            keras.layers.MaxPooling2D(2, name="pool1"),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2"),
            keras.layers.GlobalAveragePooling2D(name="gap"),
            keras.layers.Dense(hidden_units, activation="relu", name="fc1"),
            _logits(num_classes),
        ],
        name="small_cnn",
    )


@register_architecture("lenet_300_100", "seed 003: the 784-300-100-10 MLP (Flatten → fc1 300 → fc2 100 → logits)")
def lenet_300_100(input_shape, num_classes, fc1_units: int = 300, fc2_units: int = 100):
    from edgeopt._keras import keras

    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(fc1_units, activation="relu", name="fc1"),
            keras.layers.Dense(fc2_units, activation="relu", name="fc2"),
            _logits(num_classes),
        ],
        name="lenet_300_100",
    )
