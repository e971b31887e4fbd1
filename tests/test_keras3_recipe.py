"""A user's Keras 3 model through a whole recipe (issue 25's "Must show"), on the real UCI digits.

The model is trained and saved by Keras 3 itself (`model.save`) in the test: Rescaling(1/255)
inside, BatchNormalization, a depthwise conv, a residual Add and a softmax output; it takes 0–255
pixels, which the recipe declares with `input_range: [0, 255]`. Every stage runs on it, and the
float32 row's accuracy is the Keras 3 model's own.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgeopt.tf.runtime import keras3

pytestmark = pytest.mark.slow


def digits_npz(folder):
    """The UCI digits as uint8 0–255 pixels, split as edgeopt's `digits` dataset splits them."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    pixels = (bunch.images / 16.0 * 255.0).round().astype(np.uint8)
    order = np.random.default_rng(20240601).permutation(len(bunch.target))
    x, y = pixels[order], bunch.target[order].astype(np.int64)
    np.savez(folder / "d.npz", x_train=x[:1437], y_train=y[:1437], x_test=x[1437:], y_test=y[1437:])
    return x[:1437, ..., None], y[:1437], x[1437:, ..., None], y[1437:]


def residual_model(k3):
    L = k3.layers
    x = k3.Input((8, 8, 1))
    h = L.Rescaling(1 / 255)(x)
    h = L.Conv2D(16, 3, padding="same", name="stem")(h)
    h = L.ReLU()(L.BatchNormalization()(h))
    r = L.DepthwiseConv2D(3, padding="same", name="dw")(h)
    r = L.ReLU()(L.BatchNormalization()(r))
    r = L.Conv2D(16, 1, name="pw")(r)
    h = L.Add()([h, r])  # the residual: stem's channels are shared with it
    h = L.Conv2D(24, 3, padding="same", activation="relu", name="head_conv")(h)  # outside the residual
    h = L.GlobalAveragePooling2D()(h)
    h = L.Dense(24, activation="relu", name="fc1")(h)
    return k3.Model(x, L.Dense(10, activation="softmax", name="probs")(h))


RECIPE = """
name: keras3_chain
seed: 0
data: {name: npz, path: d.npz, input_range: [0, 255]}
profile: {runs: 10, warmup: 2, energy: "off"}
baseline: f32
steps:
  - {id: mine, stage: load, path: model.keras, profile: false}
  - {id: f32, stage: convert, from: mine, mode: float32}
  - {id: int8, stage: convert, from: mine, mode: int8, calibration_samples: 100}
  - {id: pruned, stage: prune, from: mine, final_sparsity: 0.5, epochs: 3, end_epoch: 2, frequency: 5,
     learning_rate: 0.002, profile: false}
  - {id: pruned_int8, stage: convert, from: pruned, mode: int8, calibration_samples: 100}
  - {id: elim, stage: eliminate, from: mine, layers: [head_conv], keep: 12, calibration_samples: 300, profile: false}
  - {id: elim_int8, stage: convert, from: elim, mode: int8, calibration_samples: 100}
  - {id: ft, stage: finetune, from: mine, epochs: 1, learning_rate: 0.0005, profile: false}
  - {id: ft_int8, stage: convert, from: ft, mode: int8, calibration_samples: 100}
  - {id: swapped, stage: swap_fc, from: mine, layers: [fc1], rank: 4, epochs: 6, learning_rate: 0.005,
     profile: false}
  - {id: swapped_int8, stage: convert, from: swapped, mode: int8, calibration_samples: 100}
  - {id: lean, stage: lean_head, from: mine, layers: [probs], preserved: 8, epochs: 6, learning_rate: 0.005,
     profile: false}
  - {id: lean_f32, stage: convert, from: lean, mode: float32}
"""


@pytest.fixture(scope="module")
def keras3_run(tmp_path_factory):
    from edgeopt.run.pipeline import run_recipe
    from edgeopt.run.recipe import parse_recipe

    k3 = keras3()
    folder = tmp_path_factory.mktemp("k3run")
    x_train, y_train, x_test, y_test = digits_npz(folder)
    k3.utils.set_random_seed(0)
    model = residual_model(k3)
    model.compile(optimizer=k3.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train.astype(np.float32), y_train, epochs=25, batch_size=64, verbose=0)
    keras_accuracy = float(np.mean(model.predict(x_test.astype(np.float32), verbose=0).argmax(-1) == y_test))
    model.save(folder / "model.keras")
    recipe = parse_recipe(RECIPE, folder / "recipe.yaml")
    lines: list[str] = []
    result = run_recipe(recipe, folder / "out", log_fn=lines.append)
    return result, keras_accuracy, lines


def test_every_stage_runs_on_a_keras3_model(keras3_run):
    result, _, lines = keras3_run
    rows = {row.name: row for row in result.rows}
    assert list(rows) == ["f32", "int8", "pruned_int8", "elim_int8", "ft_int8", "swapped_int8", "lean_f32"]
    accuracy = {name: row.accuracy for name, row in rows.items()}
    # The chain keeps the model's accuracy; the FC swaps, re-initialised and trained on
    # 1 437 digits, recover most of it. After two epochs the swap measured 0.689 in one run and 0.392
    # in another (make test, AMD EPYC family 25 model 1): too few to settle, so they train six.
    # A swap that broke the head (chance is 0.1) fails, not only one left untrained.
    assert all(accuracy[name] > 0.8 for name in ("f32", "int8", "pruned_int8", "elim_int8", "ft_int8")), accuracy
    assert accuracy["swapped_int8"] > 0.6 and accuracy["lean_f32"] > 0.65, accuracy
    assert any("Keras 3." in line and "translated into tf_keras" in line for line in lines)
    assert any("Rescaling(scale=0.00392157, offset=0)" in line and "maps to [0, 1]" in line
               and "warning" not in line for line in lines)
    assert any("from_logits=False ('probs' ends in a softmax)" in line for line in lines)


def test_the_float32_row_has_the_keras3_models_own_accuracy(keras3_run):
    result, keras_accuracy, _ = keras3_run
    f32 = next(row for row in result.rows if row.name == "f32")
    assert abs(f32.accuracy - keras_accuracy) <= 0.002, (f32.accuracy, keras_accuracy)


def test_the_conv_outside_the_residual_was_narrowed_and_the_pruned_model_is_sparse(keras3_run):
    from edgeopt.models.keras_io import load_keras_model

    result, _, _ = keras3_run
    assert load_keras_model(result.out_dir / "elim" / "model.keras").get_layer("head_conv").filters == 12
    pruned = next(row for row in result.rows if row.name == "pruned_int8")
    assert pruned.extra["sparsity"] == pytest.approx(0.5, abs=0.05)


def test_a_device_profiles_the_run_on_the_same_scaled_test_split(keras3_run):
    from edgeopt.rundir.device_profile import profile_run_folder

    result, _, _ = keras3_run
    assert result.document["test_data"]["encoding"] == "uint8"
    assert result.document["test_data"]["scaling"]["input_range"] == [0.0, 255.0]
    document, _ = profile_run_folder(result.out_dir, device_name="board", overrides={"runs": 3, "warmup": 1})
    device = {row["name"]: row["accuracy"] for row in document["rows"]}
    host = {row.name: row.accuracy for row in result.rows if row.format == "tflite"}
    assert device == host


@pytest.mark.parametrize("input_range", [(0.0, 255.0), (-1.0, 1.0)])
def test_a_model_without_rescaling_gets_its_declared_range(tmp_path, input_range):
    from edgeopt.run.pipeline import run_recipe
    from edgeopt.run.recipe import parse_recipe

    k3 = keras3()
    L = k3.layers
    x_train, y_train, x_test, y_test = digits_npz(tmp_path)
    lo, hi = input_range
    prepare = lambda pixels: (lo + pixels.astype(np.float32) * ((hi - lo) / 255.0)).astype(np.float32)  # noqa: E731
    k3.utils.set_random_seed(1)
    model = k3.Sequential([k3.Input((8, 8, 1)), L.Conv2D(16, 3, activation="relu"), L.GlobalAveragePooling2D(),
                           L.Dense(10)])
    model.compile(optimizer=k3.optimizers.Adam(0.01 if hi == 1 else 0.001),
                  loss=k3.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(prepare(x_train), y_train, epochs=20, batch_size=64, verbose=0)
    keras_accuracy = float(np.mean(model.predict(prepare(x_test), verbose=0).argmax(-1) == y_test))
    model.save(tmp_path / "model.keras")
    recipe = parse_recipe(f"data: {{name: npz, path: d.npz, input_range: [{lo:g}, {hi:g}]}}\n"
                          "profile: {runs: 5, warmup: 1, energy: 'off'}\nsteps:\n"
                          "  - {id: mine, stage: load, path: model.keras, profile: false}\n"
                          "  - {id: f32, stage: convert, from: mine, mode: float32}\n", tmp_path / "r.yaml")
    (row,) = run_recipe(recipe, tmp_path / "out", log_fn=lambda _: None).rows
    assert keras_accuracy > 0.5 and abs(row.accuracy - keras_accuracy) <= 0.002, (row.accuracy, keras_accuracy)


def test_a_keras3_file_with_an_unregistered_custom_layer_exits_2_and_writes_nothing(tmp_path):
    from test_cli import assert_user_error, edgeopt

    k3 = keras3()

    @k3.saving.register_keras_serializable(package="mine")
    class Gate(k3.layers.Layer):
        def call(self, x):
            return x * 0.5

    digits_npz(tmp_path)
    x = k3.Input((8, 8, 1))
    h = k3.layers.GlobalAveragePooling2D()(Gate(name="gate")(x))
    k3.Model(x, k3.layers.Dense(10, activation="softmax")(h)).save(tmp_path / "model.keras")
    (tmp_path / "r.yaml").write_text("data: {name: npz, path: d.npz, input_range: [0, 255]}\nsteps:\n"
                                     "  - {id: mine, stage: load, path: model.keras}\n")
    result = edgeopt("run", tmp_path / "r.yaml", "--out", tmp_path / "out")
    assert_user_error(result, "layer 'gate' (Gate) is not a standard Keras layer (mine>Gate)",
                      "register_keras_serializable")
    assert not (tmp_path / "out").exists()  # the folder the failed run made is removed again
