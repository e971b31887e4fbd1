"""Activations Keras 3 has and tf_keras lacks, or defines differently, as registered functions.

A Keras 3 model is carried into tf_keras (`edgeopt.models.keras3_import`) with its activation
strings translated. Two of them cannot be passed through by name:

- `hard_sigmoid` is `relu6(x + 3) / 6` in Keras 3 but `clip(0.2·x + 0.5, 0, 1)` in tf_keras: the
  same name, different outputs (0.667 against 0.7 at x = 1);
- `hard_silu` (alias `hard_swish`) does not exist in tf_keras.

The functions here carry Keras 3's definitions under names tf_keras does not know itself, so a
saved model reloads with the same maths (a function named `hard_sigmoid` would be read back as
tf_keras's own). The converter turns `x · relu6(x + 3) / 6` into TFLite's HARD_SWISH.
"""

from __future__ import annotations

from edgeopt.tf.runtime import keras, tf


@keras.saving.register_keras_serializable(package="edgeopt")
def relu6_hard_sigmoid(x):
    """Keras 3's `hard_sigmoid`: relu6(x + 3) / 6, i.e. 0 below -3, 1 above 3, x/6 + 1/2 between.

    Example:
        >>> relu6_hard_sigmoid(tf.constant([-4.0, 0.0, 1.0, 4.0])).numpy().round(4).tolist()
        [0.0, 0.5, 0.6667, 1.0]
    """
    return tf.nn.relu6(x + 3.0) * (1.0 / 6.0)


@keras.saving.register_keras_serializable(package="edgeopt")
def hard_silu(x):
    """Keras 3's `hard_silu` / `hard_swish`: x · relu6(x + 3) / 6 (MobileNetV3's h-swish).

    Example:
        >>> hard_silu(tf.constant([-4.0, 1.0, 4.0])).numpy().round(4).tolist()
        [-0.0, 0.6667, 4.0]
    """
    return x * (tf.nn.relu6(x + 3.0) * (1.0 / 6.0))


# Keras 3 activation name → the tf_keras identifier computing the same function.
# Names absent here and from KERAS3_ONLY mean the same in both (relu, softmax, swish, gelu, …).
KERAS3_ACTIVATIONS = {
    "hard_sigmoid": "edgeopt>relu6_hard_sigmoid",
    "hard_silu": "edgeopt>hard_silu",
    "hard_swish": "edgeopt>hard_silu",
    "silu": "swish",
}
# Keras 3 activations with no tf_keras counterpart here: a model using one is refused by name.
KERAS3_ONLY = ("celu", "glu", "squareplus", "soft_shrink", "sparse_plus", "tanh_shrink", "hard_tanh",
               "hard_shrink", "log_sigmoid", "sparse_sigmoid", "sparsemax", "threshold")
