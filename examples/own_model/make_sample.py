"""No model or data of your own yet? Make stand-ins in this folder, in the formats edgeopt reads.

    python make_sample.py

writes
  data.npz      x_train, y_train, x_test, y_test: the 1 797 UCI 8x8 digits (scikit-learn), uint8
  images/       the same digits as PNG files, one sub-folder per class (images/0/..., images/9/...)
  model.keras   a small Keras 3 CNN trained on data.npz for a few seconds: it takes raw 0–255
                pixels and divides them itself (a Rescaling(1/255) layer, as Keras' image
                tutorials write it), and ends in a softmax

Replace them with yours: any `.keras` model (Keras 3 or tf_keras) whose input shape matches your
images and whose output has one unit per class (edgeopt checks both and says which does not fit).
Tell edgeopt the range your model takes pixels in with `input_range` in recipe.yaml.
"""

import os
from pathlib import Path

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

    import keras  # Keras 3, what `import keras` and `tf.keras` (TensorFlow >= 2.16) give everyone

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.layers.Input((8, 8, 1)),
        keras.layers.Rescaling(1 / 255),  # the model takes 0–255 pixels: recipe.yaml says input_range: [0, 255]
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(32, activation="relu", name="fc1"),
        keras.layers.Dense(10, activation="softmax", name="probs"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(0.01), metrics=["accuracy"],
                  loss="sparse_categorical_crossentropy")
    pixels = x[..., None].astype(np.float32)  # 0–255, as the model takes them
    model.fit(pixels[train], y[train], epochs=30, batch_size=64, verbose=0)
    _, accuracy = model.evaluate(pixels[test], y[test], verbose=0)
    model.save(HERE / "model.keras")
    print(f"wrote data.npz, images/ and model.keras (Keras {keras.__version__}, test accuracy "
          f"{100 * accuracy:.1f} %) in {HERE}")


if __name__ == "__main__":
    main()
