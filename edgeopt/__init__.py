"""edgeopt: optimise CNNs for CPU-bound edge devices and measure what it buys.

Importing `edgeopt` is cheap and TensorFlow-free; stages and layers import TensorFlow on use.
"""

__version__ = "0.1.0"
