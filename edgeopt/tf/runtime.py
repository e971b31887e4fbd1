"""The one place that imports TensorFlow and Keras.

tfmot only works with Keras 2 (tfmot issue #1119), so `TF_USE_LEGACY_KERAS=1` must be set
before TensorFlow is first imported; everything else in edgeopt gets `tf` and `keras` from here.
The profile path (edgeopt.profile) must never import this module: it runs on devices without TF.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# TensorFlow's C++ logs (cuInit failures on CPU machines, graph attribute notes) are noise to a
# user; Python exceptions still carry real errors. EDGEOPT_VERBOSE=1 shows everything.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if os.environ.get("EDGEOPT_VERBOSE") == "1" else "3")

from edgeopt.common.quiet import native_output_captured  # noqa: E402

try:
    with native_output_captured():  # oneDNN/CUDA banners are printed before any log level applies
        import tensorflow as tf  # noqa: E402
        import tf_keras as keras  # noqa: E402
except ModuleNotFoundError as exc:  # a device install (`pip install edgeopt`): say what to add
    from edgeopt.common.train_extra import TRAIN_MODULES, missing_extra

    if exc.name not in TRAIN_MODULES:
        raise
    raise missing_extra("training and converting models", [TRAIN_MODULES[exc.name]]) from None

tf.get_logger().setLevel("ERROR")


def keras3():
    """Keras 3 itself (the `keras` package TensorFlow installs), for reading a user's Keras 3 files.

    `TF_USE_LEGACY_KERAS` only decides what `tf.keras` is; `import keras` is Keras 3 either way,
    and it shares this process's TensorFlow with tf_keras. Imported on first use: it costs
    seconds, and only a Keras 3 file needs it (edgeopt.models.keras3_import).
    """
    try:
        with native_output_captured():
            import keras as keras_3
    except ModuleNotFoundError as exc:
        from edgeopt.common.train_extra import missing_extra

        if exc.name != "keras":
            raise
        raise missing_extra("reading Keras 3 model files", ["keras"]) from None
    return keras_3


__all__ = ["tf", "keras", "keras3"]
