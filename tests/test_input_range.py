"""The data section's input_range / mean / std: what pixels become, what is refused, what travels in
data/test.npz, and what the `load` stage says about a model's own Rescaling / Normalization."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgeopt.common.errors import DataError, RecipeError
from edgeopt.data.datasets import load_dataset
from edgeopt.data.scaling import InputScaling
from edgeopt.run.recipe import parse_recipe
from edgeopt.rundir.folder import read_test_split, write_test_split
from test_cli import assert_user_error, edgeopt
from test_user_data import write_npz

PIXELS = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)


def test_pixels_map_linearly_onto_the_declared_range():
    assert InputScaling((0.0, 255.0)).from_pixels(PIXELS).ravel().tolist() == list(range(256))
    ends = InputScaling((-1.0, 1.0)).from_pixels(np.array([0, 255], np.uint8))
    assert ends.tolist() == [-1.0, 1.0]
    # The default is bit for bit what edgeopt always did, p / 255 in float32: old runs resume unchanged.
    assert np.array_equal(InputScaling().from_pixels(PIXELS), PIXELS.astype(np.float32) / 255.0)


def test_mean_and_std_apply_per_channel_after_the_range():
    scaling = InputScaling((0.0, 1.0), (0.5, 0.25, 0.0), (0.5, 0.25, 1.0))
    x = scaling.from_pixels(np.full((1, 1, 1, 3), 255, np.uint8))
    assert x.ravel().tolist() == [1.0, 3.0, 1.0]
    with pytest.raises(DataError, match=r"`mean` has 3 values but the images have 1 channel"):
        scaling.from_pixels(np.zeros((1, 2, 2, 1), np.uint8), "the images")


def test_float_data_is_accepted_in_the_declared_range_and_refused_outside(tmp_path):
    floats = np.random.default_rng(0).uniform(0, 255, (20, 6, 6)).astype(np.float32)
    path = write_npz(tmp_path / "d.npz", x_train=floats, x_test=floats[:8])
    ds = load_dataset("npz", path, scaling=InputScaling((0.0, 255.0)))
    assert np.array_equal(ds.x_train[..., 0], floats)  # taken as they are, no division
    with pytest.raises(DataError, match=r"x_train holds floats from .* outside the declared input range \[0, 1\] "
                                        r"\(data.input_range\)\. Declare the range your floats are in"):
        load_dataset("npz", path)


@pytest.mark.parametrize("value, needle", [
    ("[255, 0]", "`input_range` must be [lo, hi] with lo < hi"),
    ("[1, 1]", "`input_range` must be [lo, hi] with lo < hi"),
    ("[0]", "`input_range` must be two numbers [lo, hi]"),
    ("[0, 1, 2]", "`input_range` must be two numbers [lo, hi]"),
    ("'0-255'", "`input_range` must be two numbers [lo, hi]"),
    ("[0, .inf]", "must be two finite numbers"),
])
def test_a_bad_input_range_is_one_recipe_error_repeating_the_value(value, needle):
    text = f"data: {{name: digits, input_range: {value}}}\nsteps:\n  - {{stage: train, architecture: small_cnn}}\n"
    with pytest.raises(RecipeError) as err:
        parse_recipe(text)
    assert needle in str(err.value) and "Received: data.input_range=" in str(err.value)
    assert len(str(err.value).splitlines()) == 1


def test_a_non_positive_std_is_a_recipe_error():
    with pytest.raises(RecipeError, match=r"`std` must be positive"):
        parse_recipe("data: {name: digits, std: [0.2, 0]}\nsteps:\n  - {stage: train, architecture: small_cnn}\n")


def test_defaults_leave_step_fingerprints_as_they_were():
    from edgeopt.run.pipeline import step_fingerprint

    steps = "steps:\n  - {id: base, stage: train, architecture: small_cnn}\n"
    plain, explicit, other = (parse_recipe(f"data: {data}\n{steps}") for data in (
        "{name: digits}", "{name: digits, input_range: [0, 1]}", "{name: digits, input_range: [0, 255]}"))
    prints = [step_fingerprint(r.steps[0], r, None) for r in (plain, explicit, other)]
    assert prints[0] == prints[1] != prints[2]
    assert "input_range" not in plain.data.fingerprint()


@pytest.mark.parametrize("scaling", [InputScaling((0.0, 255.0)), InputScaling((-1.0, 1.0)),
                                     InputScaling((0.0, 1.0), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
def test_the_test_split_travels_as_pixels_with_its_scaling_and_decodes_bit_identical(tmp_path, scaling):
    pixels = np.random.default_rng(1).integers(0, 256, (10, 4, 4, 3), dtype=np.uint8)
    x = scaling.from_pixels(pixels)
    record = write_test_split(tmp_path, x, np.arange(10) % 3, {"name": "t"}, scaling)
    assert record["encoding"] == "uint8" and record["scaling"] == scaling.record()
    decoded, labels = read_test_split(tmp_path, {"test_data": record})
    assert np.array_equal(decoded, x) and labels.tolist() == (np.arange(10) % 3).tolist()


def test_float_inputs_that_are_not_scaled_pixels_travel_as_float32(tmp_path):
    x = np.random.default_rng(2).uniform(0, 255, (6, 3, 3, 1)).astype(np.float32)
    record = write_test_split(tmp_path, x, np.zeros(6, np.int64), {"name": "t"}, InputScaling((0.0, 255.0)))
    assert record["encoding"] == "float32"
    assert np.array_equal(read_test_split(tmp_path, {"test_data": record})[0], x)


def test_a_bad_input_range_on_run_exits_2_and_writes_nothing(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("data: {name: digits, input_range: [255, 0]}\nsteps:\n  - {stage: train, architecture: small_cnn}\n")
    assert_user_error(edgeopt("run", recipe, "--out", tmp_path / "out"), "input_range", "lo < hi")
    assert not (tmp_path / "out").exists()


def test_data_outside_the_declared_range_on_run_exits_2_and_writes_nothing(tmp_path):
    floats = np.random.default_rng(0).uniform(0, 255, (20, 6, 6)).astype(np.float32)
    write_npz(tmp_path / "d.npz", x_train=floats, x_test=floats[:8])
    recipe = tmp_path / "r.yaml"
    recipe.write_text("data: {name: npz, path: d.npz}\nsteps:\n  - {stage: train, architecture: small_cnn}\n")
    assert_user_error(edgeopt("run", recipe, "--out", tmp_path / "out"), "outside the declared input range [0, 1]")
    assert not (tmp_path / "out").exists()  # the folder the failed run made is removed again


# --- what the load stage says about a model's own first layer ---------------------------------


def _with_first(layer):
    from edgeopt.tf.runtime import keras

    x = keras.Input((4, 4, 3))
    return keras.Model(x, keras.layers.Dense(2)(keras.layers.Flatten()(layer(x))))


def test_a_rescaling_layer_fed_the_wrong_units_gets_a_warning_with_the_range_it_expects():
    from edgeopt.models.input_layers import input_layer_notes
    from edgeopt.tf.runtime import keras

    model = _with_first(keras.layers.Rescaling(1 / 255, name="scale"))
    (wrong,) = input_layer_notes(model, InputScaling())
    assert wrong.startswith("warning: the model begins with Rescaling(scale=0.00392157, offset=0) ('scale'): "
                            "edgeopt feeds it [0, 1]")
    assert "set `input_range: [0, 255]`" in wrong
    (right,) = input_layer_notes(model, InputScaling((0.0, 255.0)))
    assert not right.startswith("warning") and "maps to [0, 1]" in right
    mobilenet = _with_first(keras.layers.Rescaling(1 / 127.5, offset=-1))
    assert "set `input_range: [0, 255]`" in input_layer_notes(mobilenet, InputScaling())[0]
    assert "maps to [-1, 1]" in input_layer_notes(mobilenet, InputScaling((0.0, 255.0)))[0]


def test_a_normalization_adapted_on_pixels_and_fed_unit_floats_is_flagged():
    from edgeopt.models.input_layers import input_layer_notes
    from edgeopt.tf.runtime import keras

    norm = keras.layers.Normalization(mean=[120.0, 115.0, 100.0], variance=[3600.0, 3500.0, 3400.0])
    model = _with_first(norm)
    assert input_layer_notes(model, InputScaling())[0].startswith("warning:")
    assert not input_layer_notes(model, InputScaling((0.0, 255.0)))[0].startswith("warning:")
    twice = input_layer_notes(model, InputScaling((0.0, 255.0), (120.0,), (60.0,)))
    assert any("applied one after the other" in line for line in twice)


def test_the_run_log_says_how_pixels_are_scaled(tmp_path):
    from edgeopt.common.errors import ModelFileError
    from edgeopt.run.pipeline import run_recipe

    pixels = np.random.default_rng(3).integers(0, 256, (30, 6, 6), dtype=np.uint8)
    write_npz(tmp_path / "d.npz", x_train=pixels, x_test=pixels[:10], y_train=np.arange(30) % 3,
              y_test=np.arange(10) % 3)
    (tmp_path / "broken.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))  # passes validation, fails to load
    recipe = parse_recipe("data: {name: npz, path: d.npz, input_range: [-1, 1]}\nsteps:\n"
                          "  - {id: base, stage: load, path: broken.h5}\n", tmp_path / "r.yaml")
    lines: list[str] = []
    with pytest.raises(ModelFileError):  # no model: the data line came first
        run_recipe(recipe, tmp_path / "out", log_fn=lines.append)
    assert "pixels 0–255 → [-1, 1]" in lines[0]


@pytest.mark.parametrize("value, needle", [("0-255", "--input-range must be two numbers LO,HI"),
                                           ("255,0", "lo < hi")])
def test_profile_input_range_option_is_checked(tmp_path, tiny_tflite_models, value, needle):
    write_npz(tmp_path / "d.npz")
    result = edgeopt("profile", tiny_tflite_models.float32, "--data", "npz", "--data-path", tmp_path / "d.npz",
                     "--input-range", value, "--runs", "2")
    assert_user_error(result, needle)


def test_profile_scales_its_dataset_by_input_range(tmp_path, tiny_tflite_models):
    pixels = (tiny_tflite_models.x * 255).round().astype(np.uint8)[..., 0]
    np.savez(tmp_path / "d.npz", x_train=pixels, y_train=tiny_tflite_models.y, x_test=pixels,
             y_test=tiny_tflite_models.y)
    unit, scaled = (json.loads(edgeopt("profile", tiny_tflite_models.float32, "--data", "npz", "--data-path",
                                       tmp_path / "d.npz", "--json", "--runs", "2", "--energy", "off",
                                       *extra).stdout)["rows"][0]["accuracy"]
                    for extra in ((), ("--input-range", "0,255")))
    assert unit > 0.8 and scaled < unit  # the same model fed 0–255 where it expects [0, 1]
