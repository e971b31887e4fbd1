"""Keras 3's own application models through edgeopt's Keras 3 loader: carried or refused, how exactly, how fast.

Usage:
    python benchmarks/keras3_applications.py [--size 96] [NAME ...]

For each `keras.applications` model (random weights, `weights=None`, a small input so it runs on a
laptop) this saves it with Keras 3, reads it back through `edgeopt.models.keras3_import` and
prints: the layers of the flat tf_keras model, the largest output difference against Keras 3 on 16
seeded inputs (random weights are a harder test than trained ones: nothing saturates), the seconds
the translation took (after Keras 3's import), and whether the translated model converts to a
full-int8 `.tflite`; or the message it was refused with. Also: how long `import keras` takes next to
tf_keras, and what tfmot says when given a Keras 3 model directly. Figures, not a test.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from edgeopt.common.errors import ModelFileError

MODELS = ("MobileNetV2", "MobileNetV3Small", "MobileNetV3Large", "EfficientNetB0", "EfficientNetV2B0",
          "DenseNet121", "NASNetMobile", "ResNet50V2", "ConvNeXtTiny")


def build(k3, name: str, size: int):
    kwargs = {"weights": None, "input_shape": (size, size, 3), "classes": 10}
    if name == "MobileNetV2":
        kwargs["alpha"] = 0.35
    if name == "NASNetMobile":
        kwargs["input_shape"] = (224, 224, 3)  # NASNet's reduction cells need it
    return getattr(k3.applications, name)(**kwargs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(MODELS))
    parser.add_argument("--size", type=int, default=96, help="input height and width (default 96)")
    args = parser.parse_args()

    start = time.perf_counter()
    from edgeopt.tf.runtime import keras, keras3, tf  # noqa: F401  tf_keras first, as edgeopt does

    tf_keras_seconds = time.perf_counter() - start
    start = time.perf_counter()
    k3 = keras3()
    print(f"import tensorflow + tf_keras {tf_keras_seconds:.1f} s; then import keras {k3.__version__} "
          f"{time.perf_counter() - start:.1f} s")
    _tfmot_on_keras3(k3)

    from edgeopt.models.conversion import tflite_bytes
    from edgeopt.models.keras3_import import import_keras3

    print(f"{'model':18} {'layers':>6} {'max |Δ|':>9} {'translate s':>11}  int8 .tflite / refused")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.names:
            k3.utils.set_random_seed(0)
            model = build(k3, name, args.size)
            path = Path(tmp) / f"{name}.keras"
            model.save(path)
            shape = model.input_shape[1:]
            probe = np.random.default_rng(0).uniform(0, 255, (16, *shape)).astype(np.float32)
            try:
                translated, facts = import_keras3(path, probe=probe)
            except ModelFileError as err:
                print(f"{name:18} {'-':>6} {'-':>9} {'-':>11}  refused: {str(err).splitlines()[1].strip()[:110]}")
                continue
            try:
                size = len(tflite_bytes(translated, "int8", probe[:8]))
                converted = f"{size / 1024:.0f} KiB"
            except Exception as exc:  # noqa: BLE001  a figure, not a test: say what happened
                converted = f"failed: {type(exc).__name__}: {str(exc)[:80]}"
            print(f"{name:18} {facts['layers']:6d} {facts['max_abs_diff']:9.2g} "
                  f"{facts['translate_seconds']:11.1f}  {converted}")


def _tfmot_on_keras3(k3) -> None:
    import tensorflow_model_optimization as tfmot

    x = k3.Input((4,))
    model = k3.Model(x, k3.layers.Dense(2)(x))
    try:
        tfmot.sparsity.keras.prune_low_magnitude(model)
        print("tfmot prune_low_magnitude on a Keras 3 model: accepted")
    except Exception as exc:  # noqa: BLE001
        print(f"tfmot prune_low_magnitude on a Keras 3 model: {type(exc).__name__}: {str(exc)[:160]}")


if __name__ == "__main__":
    main()
