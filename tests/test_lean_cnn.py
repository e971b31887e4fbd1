"""The seed-001 `lean_cnn` architecture, with and without LEAN, and its recipe switch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeopt.common.errors import RecipeError
from edgeopt.models.architectures import build_model
from edgeopt.run.recipe import load_recipe, parse_recipe
from edgeopt.tf.runtime import keras

REPO = Path(__file__).resolve().parents[1]


def test_paper_sizes_on_stl10_input_about_400k_and_40k_a_reduction_of_at_least_85_percent():
    base = build_model("lean_cnn", (96, 96, 3), 10).count_params()
    lean = build_model("lean_cnn", (96, 96, 3), 10, lean_preserved=10).count_params()
    assert (base, lean) == (397_660, 38_590)  # the paper: "about 400k" and "about 40k"
    assert 1 - lean / base >= 0.85


@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3), (8, 8, 1)], ids=["fashion-mnist", "cifar10", "digits"])
def test_lean_version_shrinks_every_dataset_input_by_at_least_85_percent(shape):
    base = build_model("lean_cnn", shape, 10)
    lean = build_model("lean_cnn", shape, 10, lean_preserved=10)
    assert 1 - lean.count_params() / base.count_params() >= 0.85
    assert [layer.name for layer in lean.layers if layer.name.startswith("lean")] == ["lean1", "lean2", "lean3"]
    assert lean.get_layer("conv2").kernel.shape[-2] == 10  # the conv after LEAN sees C' channels
    assert lean.output_shape == base.output_shape == (None, 10)


def test_keras_rows_count_lean_macs_through_the_layer():
    from edgeopt.models.keras_profile import count_macs

    lean = build_model("lean_cnn", (28, 28, 1), 10, lean_preserved=10)
    lean_only = sum(layer.count_macs() for layer in lean.layers if hasattr(layer, "count_macs"))
    assert lean_only == 14 * 14 * (3 * 50) + 7 * 7 * (3 * 100) + 3 * 3 * (3 * 150)  # 3·C_in per position
    assert count_macs(lean) < count_macs(build_model("lean_cnn", (28, 28, 1), 10)) / 4


def test_lean_epsilon_reaches_every_lean_layer_and_a_bad_value_is_a_recipe_error():
    from edgeopt.common.errors import RecipeError

    model = build_model("lean_cnn", (28, 28, 1), 10, lean_preserved=10, lean_epsilon=0.03125)
    assert [layer.epsilon for layer in model.layers if hasattr(layer, "preserved")] == [0.03125] * 3
    with pytest.raises(RecipeError, match=r"lean_epsilon.*Received: lean_epsilon=2"):
        build_model("lean_cnn", (28, 28, 1), 10, lean_preserved=10, lean_epsilon=2)


def test_lean_int8_aware_reaches_every_lean_layer_and_a_bad_value_is_a_recipe_error():
    model = build_model("lean_cnn", (28, 28, 1), 10, lean_preserved=10, lean_int8_aware=True)
    assert [layer.int8_aware for layer in model.layers if hasattr(layer, "preserved")] == [True] * 3
    with pytest.raises(RecipeError, match=r"lean_int8_aware.*true or false.*Received: lean_int8_aware='yes'"):
        build_model("lean_cnn", (28, 28, 1), 10, lean_preserved=10, lean_int8_aware="yes")


@pytest.mark.parametrize("value", [7, 0, True, "10"])
def test_a_preserved_width_that_does_not_split_the_convs_is_a_recipe_error(value):
    with pytest.raises(RecipeError, match=r"lean_preserved.*Received: lean_preserved="):
        build_model("lean_cnn", (28, 28, 1), 10, lean_preserved=value)


@pytest.mark.slow
def test_train_stage_builds_and_trains_the_lean_version_from_recipe_options(tmp_path):
    from edgeopt.data.datasets import load_dataset
    from edgeopt.layers import LEAN
    from edgeopt.models.keras_io import load_keras_model
    from edgeopt.stages import STAGES
    from edgeopt.stages.registry import StageContext

    recipe = parse_recipe("steps:\n  - {id: lean, stage: train, architecture: lean_cnn, epochs: 1, "
                          "batch_size: 64, options: {lean_preserved: 5}}\n")
    step = recipe.steps[0]
    ds = load_dataset("digits", limit_train=256, limit_test=64)
    ctx = StageContext("lean", tmp_path, ds, 0, tmp_path, log=lambda _: None)
    artifact = STAGES["train"].fn(step.params, ctx, None)
    model = load_keras_model(artifact.path)
    assert sum(isinstance(layer, LEAN) for layer in model.layers) == 3
    assert model.get_layer("lean1").preserved == 5 and artifact.info["train_seconds"] > 0


def test_recipe_rejects_a_misspelt_lean_option_with_a_suggestion():
    with pytest.raises(RecipeError, match="has no option 'lean_preserve'.*Did you mean 'lean_preserved'"):
        parse_recipe("steps:\n  - {stage: train, architecture: lean_cnn, options: {lean_preserve: 10}}\n")


@pytest.mark.parametrize("name", ["fashion_lean.yaml", "fashion_full.yaml", "cifar_full.yaml"])
def test_shipped_recipes_with_lean_steps_validate(name):
    recipe = load_recipe(REPO / "recipes" / name)
    assert any(s.stage in ("lean_head", "train") and ("lean" in s.id) for s in recipe.steps)


def test_full_int8_lean_cnn_is_one_xnnpack_partition_with_convs_pools_and_row_sums_in_int8():
    """The converted int8 lean_cnn leaves no op to TFLite's reference kernels (13 partitions before
    LEAN's ops were made delegable); convs, pools, the FC head and LEAN's row sums stay int8."""
    from edgeopt.models.architectures import build_model
    from edgeopt.models.conversion import tflite_bytes
    from litert_graph import delegate_partitions as _partitions, tflite_run as _tflite_run

    keras.utils.set_random_seed(0)
    model = build_model("lean_cnn", (8, 8, 1), 10, lean_preserved=10)
    x = np.random.default_rng(0).uniform(size=(40, 8, 8, 1)).astype(np.float32)
    flatbuffer = tflite_bytes(model, "int8", x)
    assert _partitions(flatbuffer) == (1, [])
    y, ops = _tflite_run(flatbuffer, x[:4])
    np.testing.assert_allclose(y, model(x[:4]).numpy(), atol=0.1 * np.abs(model(x[:4]).numpy()).max())
    dtypes = {}
    for op in ops:
        name, dtype = op.split(":")
        dtypes.setdefault(name, set()).add(dtype)
    assert all(dtypes[name] == {"int8"} for name in ("CONV_2D", "MAX_POOL_2D", "QUANTIZE")), dtypes
    assert dtypes["FULLY_CONNECTED"] == {"int8", "float32"} and dtypes["DIV"] == {"float32"}, dtypes


def test_lean_random_walk_false_builds_the_variant_in_every_lean_layer_and_a_bad_value_is_a_recipe_error():
    model = build_model("lean_cnn", (28, 28, 1), 10, lean_preserved=10, lean_random_walk=False)
    assert [layer.random_walk for layer in model.layers if hasattr(layer, "preserved")] == [False] * 3
    assert model.count_params() == build_model("lean_cnn", (28, 28, 1), 10, lean_preserved=10).count_params()
    with pytest.raises(RecipeError, match=r"lean_random_walk.*Received: lean_random_walk='no'"):
        build_model("lean_cnn", (28, 28, 1), 10, lean_preserved=10, lean_random_walk="no")
