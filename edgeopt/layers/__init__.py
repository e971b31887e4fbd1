"""edgeopt's custom Keras layers; importing this package registers them for (de)serialisation."""

from edgeopt.layers.lean import LEAN

__all__ = ["LEAN"]
