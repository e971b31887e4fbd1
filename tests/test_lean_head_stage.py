"""`lean_head`: LEAN in front of named Dense layers, the Dense shrunk, re-initialised and fine-tuned."""

from __future__ import annotations

import numpy as np
import pytest

from edgeopt.common.errors import RecipeError
from edgeopt.layers import LEAN
from edgeopt.run.recipe import parse_recipe
from edgeopt.stages import STAGES
from edgeopt.stages.lean_head import insert_lean
from edgeopt.stages.registry import Artifact, StageContext
from edgeopt.tf.runtime import keras


@pytest.fixture(scope="module")
def digits():
    from edgeopt.data.datasets import load_dataset

    return load_dataset("digits", limit_train=300, limit_test=100)


def _small_cnn():
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(8, 3, activation="relu", name="conv1"),
        keras.layers.GlobalAveragePooling2D(name="gap"),
        keras.layers.Dense(12, activation="relu", name="fc1"),
        keras.layers.Dense(10, name="logits"),
    ], name="small")


@pytest.fixture(scope="module")
def trained(digits, tmp_path_factory):
    from edgeopt.models.keras_io import save_keras_model
    from edgeopt.tf.training import compile_classifier

    model = compile_classifier(_small_cnn(), 1e-2)
    model.fit(digits.x_train, digits.y_train, epochs=2, verbose=0)
    path = save_keras_model(model, tmp_path_factory.mktemp("base") / "model.keras")
    return model, Artifact("keras", path)


def _params(text: str):
    return parse_recipe(f"steps:\n  - {{id: base, stage: train, architecture: gap_cnn}}\n  - {text}\n").steps[1].params


def _run(params, digits, source, tmp_path):
    ctx = StageContext("head", tmp_path, digits, 0, tmp_path, log=lambda _: None)
    return STAGES["lean_head"].fn(params, ctx, source)


def test_stage_inserts_lean_before_the_named_dense_and_keeps_every_other_weight(trained, digits, tmp_path):
    from edgeopt.models.keras_io import load_keras_model

    base, source = trained
    params = _params("{stage: lean_head, layers: [fc1], preserved: 4, epochs: 0}")
    artifact = _run(params, digits, source, tmp_path)
    model = load_keras_model(artifact.path)
    names = [layer.name for layer in model.layers]
    assert names[names.index("fc1") - 1] == "fc1_lean" and isinstance(model.get_layer("fc1_lean"), LEAN)
    assert model.get_layer("fc1").kernel.shape == (4, 12)  # was (8, 12)
    for name in ("conv1", "logits"):
        for new, old in zip(model.get_layer(name).get_weights(), base.get_layer(name).get_weights()):
            np.testing.assert_array_equal(new, old)
    facts = artifact.info["swapped"]["fc1"]
    assert (facts["input_width_before"], facts["input_width_after"]) == (8, 4)
    assert artifact.info["params_before"] - artifact.info["params_after"] == 8 * 12 - (4 * 12 + 4)
    assert 0 <= artifact.info["accuracy_after_init"] <= 1 and artifact.info["train_seconds"] == 0.0


def test_scaled_group_mean_init_is_the_group_mean_of_trained_rows_times_the_input_l1_norm(trained, digits):
    base, _ = trained
    x = digits.x_train[:50]
    new, facts = insert_lean(base, ["fc1"], 2, init="scaled_group_mean", calibration=x)
    gap = keras.Model(base.inputs, base.get_layer("fc1").input).predict(x, verbose=0)
    scale = np.abs(gap).sum(-1).mean()
    expected = base.get_layer("fc1").kernel.numpy().reshape(2, 4, 12).mean(axis=1) * scale
    np.testing.assert_allclose(new.get_layer("fc1").kernel.numpy(), expected, rtol=1e-5)
    assert facts["fc1"]["init_scale"] == pytest.approx(scale, rel=1e-5)
    np.testing.assert_array_equal(new.get_layer("fc1").bias.numpy(), base.get_layer("fc1").bias.numpy())


def test_least_squares_init_solves_the_ridge_normal_equations_on_the_lean_features(trained, digits):
    base, _ = trained
    x = digits.x_train[:80]
    new, facts = insert_lean(base, ["fc1"], 4, calibration=x)  # least_squares is the default
    gap = keras.Model(base.inputs, base.get_layer("fc1").input).predict(x, verbose=0)
    old = base.get_layer("fc1")
    target = gap @ old.kernel.numpy() + old.bias.numpy()
    features = new.get_layer("fc1_lean")(gap).numpy()
    fitted = features @ new.get_layer("fc1").kernel.numpy() + new.get_layer("fc1").bias.numpy()
    design = np.concatenate([features, np.ones((len(features), 1))], axis=1).astype(np.float64)
    solution = np.concatenate([new.get_layer("fc1").kernel.numpy(), new.get_layer("fc1").bias.numpy()[None]])
    normal = design.T @ design
    ridge = 1e-3 * np.mean(np.diag(normal))
    # (FᵀF + λI)·w = FᵀY  ⇔  Fᵀ(Y − F·w) = λ·w
    np.testing.assert_allclose(design.T @ (target - fitted), ridge * solution, atol=1e-3 * np.abs(target).sum())
    assert facts["fc1"]["init"] == "least_squares"


@pytest.mark.slow
def test_fine_tuning_runs_the_requested_epochs_and_reports_its_time(trained, digits, tmp_path):
    params = _params("{stage: lean_head, layers: [fc1, logits], preserved: 4, epochs: 1, init: glorot_uniform}")
    artifact = _run(params, digits, trained[1], tmp_path)
    assert artifact.info["train_seconds"] > 0 and len(artifact.info["history"]["loss"]) == 1
    assert set(artifact.info["swapped"]) == {"fc1", "logits"}


def test_int8_aware_fine_tunes_lean_with_its_int8_rounding_simulated(trained, digits, tmp_path):
    from edgeopt.models.keras_io import load_keras_model

    params = _params("{stage: lean_head, layers: [fc1], preserved: 4, epochs: 1, int8_aware: true}")
    artifact = _run(params, digits, trained[1], tmp_path)
    assert load_keras_model(artifact.path).get_layer("fc1_lean").int8_aware is True
    assert len(artifact.info["history"]["loss"]) == 1 and np.isfinite(artifact.info["history"]["loss"][0])


def test_insert_lean_rebuilds_a_functional_model_with_a_branch():
    keras.utils.set_random_seed(0)
    inp = keras.Input((6,))
    a = keras.layers.Dense(8, name="a")(inp)
    b = keras.layers.Dense(8, name="b")(inp)
    out = keras.layers.Dense(3, name="head")(keras.layers.Add(name="add")([a, b]))
    model = keras.Model(inp, out)
    new, _ = insert_lean(model, ["head"], 2, init="glorot_uniform")
    x = np.random.default_rng(0).uniform(size=(4, 6)).astype(np.float32)
    assert new(x).shape == (4, 3) and new.get_layer("head").kernel.shape == (2, 3)
    summed = keras.Model(model.inputs, model.get_layer("add").output)(x)  # the branch, trained weights reused
    expected = new.get_layer("head")(new.get_layer("head_lean")(summed))
    np.testing.assert_allclose(new(x).numpy(), expected.numpy(), atol=1e-6)


def test_lean_takes_the_signed_form_only_where_calibration_shows_negative_inputs():
    keras.utils.set_random_seed(0)
    inp = keras.Input((6,))
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(inp)  # feeds `mid`: never negative
    linear = keras.layers.Dense(8, name="mid")(hidden)                     # feeds `head`: signed
    model = keras.Model(inp, keras.layers.Dense(3, name="head")(linear))
    x = np.random.default_rng(0).normal(size=(64, 6)).astype(np.float32)
    new, facts = insert_lean(model, ["mid", "head"], 2, calibration=x)
    assert not new.get_layer("mid_lean").signed_inputs and not facts["mid"]["signed_inputs"]
    assert new.get_layer("head_lean").signed_inputs and facts["head"]["signed_inputs"]
    assert insert_lean(model, ["mid"], 2, init="glorot_uniform")[1]["mid"]["signed_inputs"]  # no images: exact form


def test_a_name_that_is_not_a_dense_layer_is_a_recipe_error_listing_the_dense_layers(trained, digits, tmp_path):
    params = _params("{stage: lean_head, layers: [fc2], preserved: 4}")
    with pytest.raises(RecipeError, match=r"Received: 'fc2'\. Did you mean 'fc1'\? Dense layers: fc1, logits"):
        _run(params, digits, trained[1], tmp_path)


def test_a_width_that_does_not_divide_the_dense_input_is_a_recipe_error_listing_divisors(trained, digits, tmp_path):
    params = _params("{stage: lean_head, layers: [fc1], preserved: 3}")
    with pytest.raises(RecipeError, match=r"divide the input width 8 .*Received: preserved=3\. Divisors: \[1, 2, 4, 8\]"):
        _run(params, digits, trained[1], tmp_path)


@pytest.mark.parametrize("text, message", [
    ("{stage: lean_head, preserved: 4}", "missing required key `layers`"),
    ("{stage: lean_head, layers: [], preserved: 4}", "layers"),
    ("{stage: lean_head, layers: [fc1, fc1], preserved: 4}", "names a layer twice"),
    ("{stage: lean_head, layers: [fc1], preserved: 0}", "preserved"),
    ("{stage: lean_head, layers: [fc1], preserved: 4, init: zeros}", "init"),
])
def test_recipe_validation_rejects_bad_parameters_before_anything_runs(text, message):
    with pytest.raises(RecipeError, match=message):
        _params(text)


@pytest.mark.slow
def test_swapped_model_converts_to_full_int8_and_keeps_its_accuracy_through_litert(trained, digits):
    from ai_edge_litert.interpreter import Interpreter

    from edgeopt.models.conversion import tflite_bytes

    new, _ = insert_lean(trained[0], ["fc1"], 4, calibration=digits.x_train[:100])
    interpreter = Interpreter(model_content=tflite_bytes(new, "int8", digits.x_train[:100]))
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    scale, zero = inp["quantization"]
    agree = 0
    keras_labels = np.argmax(new.predict(digits.x_test, verbose=0), -1)
    for image, expected in zip(digits.x_test, keras_labels):
        interpreter.set_tensor(inp["index"], np.clip(np.round(image[None] / scale + zero), -128, 127).astype(np.int8))
        interpreter.invoke()
        agree += int(np.argmax(interpreter.get_tensor(out["index"])[0]) == expected)
    assert agree / len(keras_labels) >= 0.9


def test_random_walk_false_puts_the_faster_variant_in_front_of_the_layer(trained, digits, tmp_path):
    from edgeopt.models.keras_io import load_keras_model

    params = _params("{stage: lean_head, layers: [fc1], preserved: 4, epochs: 0, random_walk: false}")
    model = load_keras_model(_run(params, digits, trained[1], tmp_path).path)
    assert model.get_layer("fc1_lean").random_walk is False
    assert _params("{stage: lean_head, layers: [fc1], preserved: 4}").random_walk is True
