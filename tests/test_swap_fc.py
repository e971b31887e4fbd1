"""swap_fc: Dense → LightDense by truncated SVD, model rebuilding, layer selection, the stage."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgeopt.common.errors import EdgeoptError, RecipeError
from edgeopt.layers import LightDense
from edgeopt.models.architectures import build_model
from edgeopt.run.recipe import load_recipe, parse_recipe
from edgeopt.techniques.lightdense_swap import swap_dense_to_lightdense
from edgeopt.tf.runtime import keras


def _with_random_biases(model, seed: int):
    """Untrained models have zero biases; random ones make 'the bias is carried over' a real check."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([w if w.ndim > 1 else rng.normal(scale=0.3, size=w.shape).astype(w.dtype)
                               for w in layer.get_weights()])
    return model


@pytest.fixture(scope="module")
def cnn():
    keras.utils.set_random_seed(0)
    return _with_random_biases(build_model("small_cnn", (8, 8, 1), 10), seed=1)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(2).random((64, 8, 8, 1), dtype=np.float32)


def test_full_rank_without_pde_and_normalisation_reproduces_the_model(cnn, images):
    swapped, report = swap_dense_to_lightdense(cnn, layers="all", rank_ratio=1.0, pde=False, normalize=False)
    assert [type(swapped.get_layer(n)) for n in ("fc1", "logits")] == [LightDense, LightDense]
    np.testing.assert_allclose(swapped.predict(images, verbose=0), cnn.predict(images, verbose=0), atol=1e-4)
    assert [(r.name, r.rank, r.energy_kept) for r in report] == [("fc1", 16, 1.0), ("logits", 10, 1.0)]


def test_full_rank_with_the_pde_step_on_still_reproduces_the_model(cnn, images):
    # The factors approximate W·P⁻¹, so the PDE step's P gives W back.
    swapped, _ = swap_dense_to_lightdense(cnn, layers="all", rank_ratio=1.0, pde=True, normalize=False,
                                          dt=0.2, velocity=0.25)
    np.testing.assert_allclose(swapped.predict(images, verbose=0), cnn.predict(images, verbose=0), atol=1e-4)


def test_factors_are_the_truncated_svd_of_the_kernel(cnn):
    swapped, report = swap_dense_to_lightdense(cnn, layers=["fc1"], rank=3, pde=False, normalize=False)
    kernel = cnn.get_layer("fc1").kernel.numpy()
    u, s, vt = np.linalg.svd(kernel, full_matrices=False)
    layer = swapped.get_layer("fc1")
    np.testing.assert_allclose(layer.w1.numpy(), u[:, :3] * np.sqrt(s[:3]), atol=1e-5)
    np.testing.assert_allclose(layer.w2.numpy(), np.sqrt(s[:3])[:, None] * vt[:3], atol=1e-5)
    np.testing.assert_allclose(layer.bias.numpy(), cnn.get_layer("fc1").bias.numpy())
    assert report[0].energy_kept == pytest.approx(np.sum(s[:3] ** 2) / np.sum(s ** 2))


def test_other_layers_keep_their_trained_weights(cnn):
    swapped, _ = swap_dense_to_lightdense(cnn, rank=4, scale="none")
    for name in ("conv1", "conv2", "logits"):
        for new, old in zip(swapped.get_layer(name).get_weights(), cnn.get_layer(name).get_weights()):
            np.testing.assert_array_equal(new, old)


def test_hidden_leaves_the_head_dense_and_all_swaps_it(cnn):
    hidden, _ = swap_dense_to_lightdense(cnn, rank=4, layers="hidden", scale="none")
    every, _ = swap_dense_to_lightdense(cnn, rank=4, layers="all", scale="none")
    assert type(hidden.get_layer("logits")) is keras.layers.Dense
    assert isinstance(every.get_layer("logits"), LightDense)
    assert every.get_layer("logits").dtype_policy.name == "float32"  # the head's policy is kept


def test_learnable_scales_start_at_the_mean_output_norm_and_keep_predictions(cnn, images):
    swapped, report = swap_dense_to_lightdense(cnn, layers="all", rank_ratio=1.0, scale="all", calibration=images)
    probe = keras.Model(cnn.inputs, cnn.get_layer("logits").output)
    logits = probe.predict(images, verbose=0)
    assert report[1].scale == pytest.approx(float(np.mean(np.linalg.norm(logits, axis=-1))), rel=1e-4)
    assert swapped.get_layer("logits").count_params() == report[1].lightdense_params
    # Normalisation rescales each sample, so the class ranking survives the swap.
    agree = np.mean(swapped.predict(images, verbose=0).argmax(1) == cnn.predict(images, verbose=0).argmax(1))
    assert agree >= 0.9


def test_a_model_built_under_mixed_bfloat16_keeps_each_layers_policy(images):
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        keras.utils.set_random_seed(5)
        model = build_model("small_cnn", (8, 8, 1), 10)  # hidden layers mixed, logits float32
    finally:
        keras.mixed_precision.set_global_policy(previous)
    swapped, _ = swap_dense_to_lightdense(model, layers="all", rank=4, calibration=images)
    assert swapped.get_layer("fc1").dtype_policy.name == "mixed_bfloat16"
    assert swapped.get_layer("logits").dtype_policy.name == "float32"
    assert swapped.predict(images[:4], verbose=0).dtype == np.float32


def test_functional_models_with_branches_are_rebuilt(images):
    keras.utils.set_random_seed(3)
    inputs = keras.Input((8, 8, 1))
    flat = keras.layers.Flatten()(inputs)
    left = keras.layers.Dense(12, activation="relu", name="left")(flat)
    right = keras.layers.Dense(12, activation="tanh", name="right")(flat)
    outputs = keras.layers.Dense(4, name="out")(keras.layers.Concatenate()([left, right]))
    model = _with_random_biases(keras.Model(inputs, outputs), seed=4)
    swapped, report = swap_dense_to_lightdense(model, layers="hidden", rank_ratio=1.0, pde=False, normalize=False)
    assert [r.name for r in report] == ["left", "right"]
    assert swapped.get_layer("right").get_config()["activation"] == "tanh"
    np.testing.assert_allclose(swapped.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-4)


def test_rank_that_does_not_fit_a_layer_names_layer_shape_and_value(cnn):
    with pytest.raises(EdgeoptError, match=r"'logits' is a 32→10 .*min\(32, 10\) = 10.*rank=16"):
        swap_dense_to_lightdense(cnn, layers="all", rank=16, scale="none")


@pytest.mark.parametrize("layers, message", [
    (["fc9"], "does not have"), (["conv1"], "a Conv2D layer"), ("everything", "layers='everything'"),
])
def test_bad_layer_selections_are_explained(cnn, layers, message):
    with pytest.raises(EdgeoptError, match=message):
        swap_dense_to_lightdense(cnn, layers=layers, scale="none")


def test_a_model_whose_only_dense_is_the_head_needs_layers_all():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    with pytest.raises(EdgeoptError, match="layers: all"):
        swap_dense_to_lightdense(model, layers="hidden", scale="none")


def test_a_scale_without_calibration_samples_is_refused(cnn):
    with pytest.raises(EdgeoptError, match="calibration"):
        swap_dense_to_lightdense(cnn, layers="all", rank=4, scale="head")


def test_a_singular_pde_step_is_refused_with_a_fix(cnn):
    # 1 - 2·dt = 0 and dt ± v/2 = 0.5: the stencil averages neighbours and loses the alternating mode.
    with pytest.raises(EdgeoptError, match=r"dt=0.5, .*singular.*dt < 0.25"):
        swap_dense_to_lightdense(cnn, rank=4, dt=0.5, velocity=0.0, normalize=False)


def _recipe(steps: str) -> str:
    return f"""
name: t
data: {{name: digits, limit_train: 300, limit_test: 100}}
profile: {{runs: 5, warmup: 1}}
steps:
  - {{id: base, stage: train, architecture: small_cnn, epochs: 1, profile: false}}
{steps}
"""


@pytest.mark.parametrize("step, message", [
    ("{id: s, stage: swap_fc, rank: 4, rank_ratio: 0.5}", "not both"),
    ("{id: s, stage: swap_fc, layers: [fc1], ranks: {logits: 2}}", "missing from `layers`: logits"),
    ("{id: s, stage: swap_fc, rank: 0}", "rank=0"),
    ("{id: s, stage: swap_fc, scale: some}", "scale='some'"),
    ("{id: s, stage: swap_fc, layers: []}", "empty list"),
    ("{id: s, stage: swap_fc, epochs: 1, precision: bf16}", "unknown precision 'bf16'"),
])
def test_recipe_validation_catches_bad_swap_parameters(step, message):
    with pytest.raises(RecipeError, match=message):
        parse_recipe(_recipe(f"  - {step}"))


@pytest.mark.parametrize("path", ["recipes/fashion_lightdense.yaml", "recipes/cifar_full.yaml"])
def test_shipped_recipes_with_a_lightdense_branch_validate(path):
    recipe = load_recipe(path)
    assert "swap_fc" in [s.stage for s in recipe.steps]


@pytest.mark.slow  # a whole recipe: train, swap, fine-tune, int8 conversion, profiling
def test_stage_swaps_finetunes_and_feeds_keras_and_tflite_rows(tmp_path):
    from edgeopt.run.pipeline import run_recipe

    steps = """  - {id: light, stage: swap_fc, from: base, rank: 4, epochs: 1, precision: mixed_bfloat16}
  - {id: light_int8, stage: convert, from: light, mode: int8, calibration_samples: 50}"""
    result = run_recipe(parse_recipe(_recipe(steps)), tmp_path, log_fn=lambda _: None)
    rows = {row.name: row for row in result.rows}
    info = json.loads((tmp_path / "light" / "step.json").read_text())["info"]
    assert info["swapped"][0]["name"] == "fc1" and info["fc_params_dense"] == 16 * 32 + 32
    assert info["fc_params_lightdense"] == 16 * 4 + 4 * 32 + 32 + 1  # one learnable scale
    assert rows["light"].macs is not None and rows["light"].train_seconds > 0
    assert info["precision"] == "mixed_bfloat16"
    assert rows["light_int8"].dtype == "int8" and rows["light_int8"].accuracy is not None
