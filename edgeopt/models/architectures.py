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
        65354
    """
    builder, _ = ARCHITECTURES[name]
    return builder(tuple(input_shape), num_classes, **options)


def _logits(num_classes: int):
    from edgeopt.tf.runtime import keras

    return keras.layers.Dense(num_classes, name="logits", dtype="float32")


def _seed_conv_stack(input_shape):
    """The conv trunk seeds 000 and 004 share: Conv(32)-pool-Conv(64)-pool-Conv(64), 3×3 'valid'."""
    from edgeopt.tf.runtime import keras

    return [
        keras.Input(shape=input_shape),
        keras.layers.Conv2D(32, 3, activation="relu", name="conv1"),
        keras.layers.MaxPooling2D(2, name="pool1"),
        keras.layers.Conv2D(64, 3, activation="relu", name="conv2"),
        keras.layers.MaxPooling2D(2, name="pool2"),
        keras.layers.Conv2D(64, 3, activation="relu", name="conv3"),
    ]


@register_architecture("gap_cnn", "3 conv + global average pooling + Dense head (the LightDense paper's Table 2 CNN)")
def gap_cnn(input_shape, num_classes, hidden_units: int = 128):
    from edgeopt.tf.runtime import keras

    # The paper's head is Dense(128) → Dense(100) for 100 classes; the last layer is the classifier.
    head = [keras.layers.GlobalAveragePooling2D(name="gap"),
            keras.layers.Dense(hidden_units, activation="relu", name="fc1"), _logits(num_classes)]
    return keras.Sequential(_seed_conv_stack(input_shape) + head, name="gap_cnn")


@register_architecture("cifar_cnn", "3 conv + Flatten + Dense(64) head, a common small CIFAR-10 baseline")
def cifar_cnn(input_shape, num_classes, hidden_units: int = 64):
    from edgeopt.tf.runtime import keras

    head = [keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(hidden_units, activation="relu", name="fc1"), _logits(num_classes)]
    return keras.Sequential(_seed_conv_stack(input_shape) + head, name="cifar_cnn")


@register_architecture("small_cnn", "2 'same' conv + GAP + Dense: for tiny inputs like the 8x8 UCI digits, and fast tests")
def small_cnn(input_shape, num_classes, hidden_units: int = 32):
    from edgeopt.tf.runtime import keras

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


LEAN_CNN_FILTERS = (50, 100, 150)  # seed 001 §4.1


@register_architecture("lean_cnn", "3 conv (50/100/150) + 1 FC (the LEAN paper's Figure 2 network); lean_preserved adds LEAN")
def lean_cnn(input_shape, num_classes, lean_preserved: int | None = None, lean_iterations: int = 1,
             lean_epsilon: float | None = None, lean_int8_aware: bool = False, lean_random_walk: bool = True):
    """The seed-001 CNN: three 3×3 conv layers (50, 100, 150 channels) and one fully-connected layer.

    With `lean_preserved` (C', the paper uses 10) a LEAN layer follows each conv block and
    reduces its channels to C' for the next layer; without it, this is the paper's baseline.
    The paper leaves kernel size, padding and pooling open; 3×3 'same' convs each followed by a
    ReLU and a 2×2 max-pool are the choice that gives its "about 400k" parameters at STL-10's
    96×96×3 (397 660; 38 590 with C' = 10, "about 40k"). LEAN sits after the pool, i.e. right before
    the layer whose input it reduces: the same parameters, 4× fewer positions to run it on.
    `lean_epsilon` sets LEAN's division floor (see `edgeopt.layers.LEAN`; None keeps its default).
    `lean_int8_aware` trains LEAN with its int8 rounding simulated (`LEAN(int8_aware=True)`), for a
    model that will be converted to full int8. `lean_random_walk: false` trains the variant that
    changes LEAN's mathematics for a faster int8 graph (`LEAN(random_walk=False)`: no D⁻¹).

    Example:
        >>> build_model("lean_cnn", (96, 96, 3), 10).count_params()
        397660
        >>> build_model("lean_cnn", (96, 96, 3), 10, lean_preserved=10).count_params()
        38590
    """
    from edgeopt.common.errors import RecipeError
    from edgeopt.layers import LEAN
    from edgeopt.tf.runtime import keras

    if lean_preserved is not None:
        if isinstance(lean_preserved, bool) or not isinstance(lean_preserved, int) or lean_preserved < 1:
            raise RecipeError(f"lean_cnn option `lean_preserved` must be a positive integer or null. "
                              f"Received: lean_preserved={lean_preserved!r}")
        bad = [f for f in LEAN_CNN_FILTERS if f % lean_preserved]
        if bad:
            common = [d for d in range(1, LEAN_CNN_FILTERS[0] + 1) if all(f % d == 0 for f in LEAN_CNN_FILTERS)]
            raise RecipeError(f"lean_cnn option `lean_preserved` must divide the conv widths {LEAN_CNN_FILTERS} "
                              f"(LEAN splits channels into equal groups). Received: lean_preserved={lean_preserved}. "
                              f"Choose one of {common} (the paper uses 10).")
    if isinstance(lean_iterations, bool) or not isinstance(lean_iterations, int) or lean_iterations < 1:
        raise RecipeError(f"lean_cnn option `lean_iterations` must be an integer ≥ 1 (the paper uses 1). "
                          f"Received: lean_iterations={lean_iterations!r}")

    if lean_epsilon is not None and (isinstance(lean_epsilon, bool) or not isinstance(lean_epsilon, (int, float))
                                     or not 0 < lean_epsilon < 1):
        raise RecipeError(f"lean_cnn option `lean_epsilon` must be a number in (0, 1), e.g. 0.03125. "
                          f"Received: lean_epsilon={lean_epsilon!r}")
    if not isinstance(lean_int8_aware, bool):
        raise RecipeError(f"lean_cnn option `lean_int8_aware` must be true or false. "
                          f"Received: lean_int8_aware={lean_int8_aware!r}")
    if not isinstance(lean_random_walk, bool):
        raise RecipeError(f"lean_cnn option `lean_random_walk` must be true (Algorithm 2) or false (the faster "
                          f"variant without D⁻¹). Received: lean_random_walk={lean_random_walk!r}")
    lean_options = {"int8_aware": lean_int8_aware, "random_walk": lean_random_walk}
    if lean_epsilon is not None:
        lean_options["epsilon"] = float(lean_epsilon)

    layers = [keras.Input(shape=input_shape)]
    for number, filters in enumerate(LEAN_CNN_FILTERS, start=1):
        layers += [
            keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{number}"),
            keras.layers.MaxPooling2D(2, name=f"pool{number}"),
        ]
        if lean_preserved is not None:
            layers.append(LEAN(lean_preserved, iterations=lean_iterations, name=f"lean{number}", **lean_options))
    layers += [keras.layers.Flatten(name="flatten"), _logits(num_classes)]
    return keras.Sequential(layers, name="lean_cnn" if lean_preserved is None else f"lean_cnn_c{lean_preserved}")


@register_architecture("lenet_300_100", "the 784-300-100-10 MLP (Flatten → fc1 300 → fc2 100 → logits) of the neuron-elimination paper")
def lenet_300_100(input_shape, num_classes, fc1_units: int = 300, fc2_units: int = 100):
    from edgeopt.tf.runtime import keras

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


@register_architecture("resnet8", "MLPerf Tiny's image-classification ResNet-8: 3 residual stacks (16/32/64), 1×1 shortcuts")
def resnet8(input_shape, num_classes, filters: int = 16, pad_to: int | None = None, weight_decay: float = 1e-4):
    """The ResNet-8 of MLPerf Tiny's image-classification reference (`resnet_v1_eembc`, CIFAR-10):
    a 3×3 conv stem, then three stacks of two 3×3 convs with a residual Add (the second and third
    stacks stride 2 and double the filters, with a strided 1×1 conv on the shortcut), average
    pooling over the whole map, and a Dense classifier: 9 Conv2D layers, 78 666 parameters at
    32×32×3 with 10 classes. Every conv is followed by BatchNormalization; ReLU follows the stem,
    each stack's first conv, and each Add.

    `pad_to` zero-pads smaller images to that square size first (28×28 Fashion-MNIST → 32×32, the
    reference's input size); `weight_decay` is the reference's L2 factor on every conv kernel.
    The last layer emits logits (the reference ends in a softmax).

    Example:
        >>> build_model("resnet8", (32, 32, 3), 10).count_params()
        78666
        >>> build_model("resnet8", (28, 28, 1), 10, pad_to=32).input_shape
        (None, 28, 28, 1)
    """
    from edgeopt.common.errors import RecipeError
    from edgeopt.tf.runtime import keras

    if isinstance(filters, bool) or not isinstance(filters, int) or filters < 1:
        raise RecipeError(f"resnet8 option `filters` must be a positive integer (the reference uses 16). "
                          f"Received: filters={filters!r}")
    height, width = input_shape[0], input_shape[1]
    if pad_to is not None and (isinstance(pad_to, bool) or not isinstance(pad_to, int) or pad_to < max(height, width)):
        raise RecipeError(f"resnet8 option `pad_to` must be an integer ≥ the images' {height}×{width} (e.g. 32), or "
                          f"null. Received: pad_to={pad_to!r}")
    if isinstance(weight_decay, bool) or not isinstance(weight_decay, (int, float)) or not 0 <= weight_decay < 1:
        raise RecipeError(f"resnet8 option `weight_decay` must be a number in [0, 1) (the reference uses 1e-4). "
                          f"Received: weight_decay={weight_decay!r}")
    L = keras.layers
    regularizer = keras.regularizers.l2(weight_decay) if weight_decay else None

    def conv(x, channels, kernel, stride, name):
        return L.Conv2D(channels, kernel, strides=stride, padding="same", kernel_initializer="he_normal",
                        kernel_regularizer=regularizer, name=name)(x)

    inputs = keras.Input(shape=input_shape)
    x = inputs
    if pad_to is not None and (height, width) != (pad_to, pad_to):
        top, left = (pad_to - height) // 2, (pad_to - width) // 2
        x = L.ZeroPadding2D(((top, pad_to - height - top), (left, pad_to - width - left)), name="pad")(x)
    x = L.ReLU(name="relu1")(L.BatchNormalization(name="bn1")(conv(x, filters, 3, 1, "conv1")))
    for stack, (multiple, stride) in enumerate(((1, 1), (2, 2), (4, 2)), start=1):
        channels, prefix = filters * multiple, f"stack{stack}"
        y = conv(x, channels, 3, stride, f"{prefix}_conv1")
        y = L.ReLU(name=f"{prefix}_relu1")(L.BatchNormalization(name=f"{prefix}_bn1")(y))
        y = L.BatchNormalization(name=f"{prefix}_bn2")(conv(y, channels, 3, 1, f"{prefix}_conv2"))
        if stride != 1:
            x = conv(x, channels, 1, stride, f"{prefix}_shortcut")
        x = L.ReLU(name=f"{prefix}_relu2")(L.Add(name=f"{prefix}_add")([x, y]))
    pool = int(min(x.shape[1], x.shape[2]))
    x = L.Flatten(name="flatten")(L.AveragePooling2D(pool, name="pool")(x))
    return keras.Model(inputs, _logits(num_classes)(x), name="resnet8")
