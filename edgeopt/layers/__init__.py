"""edgeopt's custom Keras layers; importing this package registers them for (de)serialisation."""

from edgeopt.layers.lean import LEAN
from edgeopt.layers.light_dense import LightDense

__all__ = ["LEAN", "LightDense"]
