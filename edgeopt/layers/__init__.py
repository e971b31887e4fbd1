"""edgeopt's custom Keras layers and activations; importing this package registers them for (de)serialisation."""

from edgeopt.layers import activations  # noqa: F401  Keras 3 activations tf_keras lacks
from edgeopt.layers.lean import LEAN
from edgeopt.layers.light_dense import LightDense

__all__ = ["LEAN", "LightDense"]
