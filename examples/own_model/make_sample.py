"""No model or data of your own yet? Make stand-ins in this folder, in the formats edgeopt reads.

    python make_sample.py

writes
  data.npz      x_train, y_train, x_test, y_test: the 1 797 UCI 8x8 digits (scikit-learn), uint8
  images/       the same digits as PNG files, one sub-folder per class (images/0/..., images/9/...)
  model.keras   a small Keras CNN trained on data.npz for a few seconds

Replace them with yours: any `.keras` model whose input shape matches your images and whose
output has one unit per class (edgeopt checks both and says which does not fit).
"""

import os
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # edgeopt uses Keras 2 (tf_keras), as tfmot needs
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

HERE = Path(__file__).resolve().parent


def main() -> None:
    digits = load_digits()
    x = np.round(digits.images * (255 / 16)).astype(np.uint8)  # (1797, 8, 8), values 0..255
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(y))
    test, train = order[:360], order[360:]
    np.savez(HERE / "data.npz", x_train=x[train], y_train=y[train], x_test=x[test], y_test=y[test])

    for index, (image, label) in enumerate(zip(x, y)):
        folder = HERE / "images" / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{index:04d}.png")

    import tf_keras as keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.layers.Input((8, 8, 1)),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(32, activation="relu", name="fc1"),
        keras.layers.Dense(10, name="logits"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(0.01), metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x[train, ..., None] / 255.0, y[train], epochs=30, batch_size=64, verbose=0)
    _, accuracy = model.evaluate(x[test, ..., None] / 255.0, y[test], verbose=0)
    model.save(HERE / "model.keras")
    print(f"wrote data.npz, images/ and model.keras (test accuracy {100 * accuracy:.1f} %) in {HERE}")


if __name__ == "__main__":
    main()
