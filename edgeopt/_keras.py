"""The one place that imports TensorFlow and Keras.

tfmot only works with Keras 2 (tfmot issue #1119), so `TF_USE_LEGACY_KERAS=1` must be set
before TensorFlow is first imported; everything else in edgeopt gets `tf` and `keras` from here.
The profile path (edgeopt.profile) must never import this module: it runs on devices without TF.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up noise

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

tf.get_logger().setLevel("ERROR")

__all__ = ["tf", "keras"]
