"""LEAN (seed 001, Algorithm 2) as a Keras layer: maths against NumPy, safety, Keras contract, TFLite."""

from __future__ import annotations

import numpy as np
import pytest

from edgeopt.layers import LEAN
from edgeopt.tf.runtime import keras, tf
from litert_graph import delegate_partitions as _partitions, interpreter as _interpreter, tflite_run as _tflite_run


def algorithm_2(x: np.ndarray, v: np.ndarray, preserved: int, iterations: int) -> np.ndarray:
    """Plain NumPy Algorithm 2 (float64): split, A = XXᵀ, rows ℓ1-normalised, V ← ÃV/‖ÃV‖₁."""
    *lead, channels = x.shape
    groups = x.astype(np.float64).reshape(*lead, preserved, channels // preserved)  # [.., C', C'']
    affinity = groups @ np.swapaxes(groups, -1, -2)  # [.., C', C']
    transition = affinity / np.abs(affinity).sum(axis=-1, keepdims=True)  # D⁻¹A: rows sum to 1
    vector = np.broadcast_to(v.astype(np.float64)[:, None], (*lead, preserved, 1))
    for _ in range(iterations):
        vector = transition @ vector
        vector = vector / np.abs(vector).sum(axis=-2, keepdims=True)
    return vector[..., 0]


def _layer(preserved: int, input_shape, iterations: int = 1, seed: int = 0, signed_inputs: bool = False) -> LEAN:
    keras.utils.set_random_seed(seed)
    layer = LEAN(preserved, iterations=iterations, signed_inputs=signed_inputs)
    layer.build((None, *input_shape))
    return layer


@pytest.mark.parametrize(
    "input_shape, preserved, iterations",
    [((6, 5, 50), 10, 1), ((6, 5, 50), 10, 3), ((40,), 8, 1), ((7, 12), 4, 2)],
    ids=["image-1-iteration", "image-3-iterations", "dense-input", "sequence"],
)
@pytest.mark.parametrize("signed_inputs", [False, True], ids=["unsigned-form", "signed-form"])
def test_layer_matches_numpy_algorithm_2_on_random_non_negative_input(input_shape, preserved, iterations,
                                                                      signed_inputs):
    x = np.random.default_rng(1).uniform(0, 1, size=(3, *input_shape)).astype(np.float32)
    layer = _layer(preserved, input_shape, iterations, signed_inputs=signed_inputs)
    expected = algorithm_2(x, layer.initial_vector.numpy(), preserved, iterations)
    np.testing.assert_allclose(layer(x).numpy(), expected, atol=1e-5, rtol=0)


def test_normalized_affinity_is_row_stochastic_random_walk_not_column_normalised():
    x = np.random.default_rng(2).uniform(0, 1, size=(2, 3, 3, 12)).astype(np.float32)
    layer = _layer(4, (3, 3, 12))
    transition = layer.normalized_affinity(tf.constant(x)).numpy()
    np.testing.assert_allclose(transition.sum(axis=-1), 1.0, atol=1e-6)  # each row sums to 1
    groups = x.astype(np.float64).reshape(2, 3, 3, 4, 3)
    affinity = groups @ np.swapaxes(groups, -1, -2)
    np.testing.assert_allclose(transition, affinity / affinity.sum(-1, keepdims=True), atol=1e-6)
    assert np.abs(transition.sum(axis=-2) - 1).max() > 1e-3, "columns should not all sum to 1 (that is A·D⁻¹)"


def assert_zeros_give_zeros_and_finite_gradients(layer: LEAN) -> None:
    x = tf.zeros((2, 4, 4, 20))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        loss = tf.reduce_sum(y)
    grads = tape.gradient(loss, [x, layer.initial_vector])
    assert np.all(y.numpy() == 0)
    assert all(np.all(np.isfinite(g.numpy())) for g in grads)


def test_all_zero_activations_give_zeros_and_finite_gradients_not_nan():
    assert_zeros_give_zeros_and_finite_gradients(_layer(5, (4, 4, 20)))


def test_an_empty_channel_group_gets_a_zero_row_and_the_output_stays_finite():
    x = np.random.default_rng(3).uniform(0.5, 1, size=(1, 12)).astype(np.float32)
    x[0, 3:6] = 0.0  # group 1 of 4 is all zero: its row of A is 0, its ℓ1 norm 0
    layer = _layer(4, (12,))
    transition = layer.normalized_affinity(tf.constant(x)).numpy()[0]
    assert np.all(transition[1] == 0) and np.all(transition[:, 1] == 0)
    np.testing.assert_allclose(transition[[0, 2, 3]].sum(axis=-1), 1.0, atol=1e-6)
    y = layer(x).numpy()
    assert np.all(np.isfinite(y)) and y[0, 1] == 0
    np.testing.assert_allclose(np.abs(y).sum(), 1.0, atol=1e-6)


def test_signed_inputs_follow_algorithm_2_with_absolute_row_sums():
    x = np.random.default_rng(4).normal(size=(4, 30)).astype(np.float32)
    layer = _layer(6, (30,), signed_inputs=True)
    y = layer(x).numpy()
    np.testing.assert_allclose(y, algorithm_2(x, layer.initial_vector.numpy(), 6, 1), atol=1e-5, rtol=0)
    np.testing.assert_allclose(np.abs(y).sum(axis=-1), 1.0, atol=1e-5)  # ‖V‖₁ = 1 per position


def test_by_default_negative_inputs_are_clipped_to_zero_as_after_a_relu():
    x = np.random.default_rng(4).normal(size=(4, 30)).astype(np.float32)
    layer = _layer(6, (30,))
    np.testing.assert_allclose(layer(x).numpy(), layer(np.maximum(x, 0)).numpy(), atol=1e-7)
    assert np.all(np.isfinite(layer(x).numpy()))


def test_output_does_not_depend_on_the_scale_of_the_activations():
    x = np.random.default_rng(5).uniform(0, 1, size=(2, 4, 4, 20)).astype(np.float32)
    layer = _layer(5, (4, 4, 20))
    np.testing.assert_allclose(layer(x * 1e3).numpy(), layer(x).numpy(), atol=1e-6)
    np.testing.assert_allclose(layer(x * 1e-3).numpy(), layer(x).numpy(), atol=1e-6)


def test_channels_not_a_multiple_of_preserved_are_rejected_with_the_divisors():
    with pytest.raises(ValueError, match=r"must divide 50\. Received: preserved=7\. Divisors of 50: \[1, 2, 5, 10, 25, 50\]"):
        LEAN(7)(tf.zeros((1, 3, 3, 50)))


@pytest.mark.parametrize("kwargs, message", [
    ({"preserved": 0}, "preserved"), ({"preserved": 2.5}, "preserved"), ({"preserved": True}, "preserved"),
    ({"preserved": 4, "iterations": 0}, "iterations"), ({"preserved": 4, "epsilon": 0.0}, "epsilon"),
    ({"preserved": 4, "signed_inputs": "yes"}, "signed_inputs"), ({"preserved": 4, "int8_aware": 1}, "int8_aware"),
])
def test_invalid_arguments_are_rejected_repeating_the_value(kwargs, message):
    with pytest.raises(ValueError, match=f"`{message}`.*Received: {message}="):
        LEAN(**kwargs)


def test_config_round_trip_rebuilds_an_identical_layer():
    layer = LEAN(5, iterations=2, epsilon=0.01, initial_vector_initializer="ones", int8_aware=True, name="lean_x")
    clone = LEAN.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert (clone.preserved, clone.iterations, clone.epsilon, clone.int8_aware, clone.name) == (5, 2, 0.01, True, "lean_x")


def test_saved_model_loads_with_the_same_weights_and_outputs(tmp_path):
    from edgeopt.models.keras_io import load_keras_model, save_keras_model

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4, 4, 12)), LEAN(3, name="lean"), keras.layers.Flatten(),
                              keras.layers.Dense(2)])
    x = np.random.default_rng(6).uniform(size=(3, 4, 4, 12)).astype(np.float32)
    loaded = load_keras_model(save_keras_model(model, tmp_path / "m.keras"))
    assert isinstance(loaded.get_layer("lean"), LEAN)
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), atol=1e-6)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_computes_in_half_precision_close_to_float32_and_safe_on_zeros(policy):
    x = np.random.default_rng(7).uniform(size=(2, 4, 4, 20)).astype(np.float32)
    reference = _layer(5, (4, 4, 20))
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        layer = LEAN(5)
        layer.build((None, 4, 4, 20))
        layer.set_weights(reference.get_weights())
        y = layer(x)
        zeros = layer(np.zeros_like(x))
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert y.dtype == policy.removeprefix("mixed_") and layer.initial_vector.dtype == tf.float32
    np.testing.assert_allclose(tf.cast(y, tf.float32).numpy(), reference(x).numpy(), atol=2e-2)
    assert np.all(tf.cast(zeros, tf.float32).numpy() == 0)


def test_count_macs_is_the_row_sums_plus_two_products_per_iteration_per_position():
    layer = _layer(4, (6, 6, 20), iterations=2)  # C' = 4, C'' = 5, C_in = 20, 36 positions
    assert layer.count_macs() == 36 * (20 + 2 * 2 * 20)  # row sums g_i·Σg + per iteration Σ V_k g_k and g_i·m
    assert _layer(4, (6, 6, 20), iterations=2, signed_inputs=True).count_macs() == 36 * (4 * 20 + 2 * 2 * 20)
    assert _layer(8, (40,)).count_macs() == 40 + 2 * 40


@pytest.mark.slow  # importing tfmot alone takes seconds
def test_pruning_accepts_a_model_with_lean_and_leaves_its_vector_alone():
    import tensorflow_model_optimization as tfmot

    model = keras.Sequential([keras.Input((8,)), LEAN(4), keras.layers.Dense(2)])
    pruned = tfmot.sparsity.keras.prune_low_magnitude(model)
    assert LEAN(2).get_prunable_weights() == []
    assert len(pruned.layers) == 2


@pytest.fixture(scope="module")
def lean_model_and_data():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6, 6, 20)), LEAN(5, name="lean")])
    rng = np.random.default_rng(8)
    x = np.maximum(rng.normal(size=(120, 6, 6, 20)), 0).astype(np.float32)  # post-ReLU-like, with zeros
    x[0] = 0.0  # an all-zero sample
    return model, x


# What XNNPACK's TFLite delegate runs (tflite/delegates/xnnpack/xnnpack_delegate.cc, LiteRT):
# int8 FULLY_CONNECTED, MUL, RESHAPE, QUANTIZE, DEQUANTIZE, ...; DIV, MAXIMUM, ABS, RSQRT, RELU only in float.
XNNPACK_INT8 = {"FULLY_CONNECTED", "CONV_2D", "MUL", "RESHAPE", "QUANTIZE", "MAX_POOL_2D", "SUM"}
XNNPACK_FLOAT = {"DIV", "MAXIMUM", "ABS", "RSQRT", "RELU", "DEQUANTIZE", "SUM", "MUL", "FULLY_CONNECTED"}


def test_tflite_float32_is_one_xnnpack_partition_of_builtin_ops_and_matches_keras(lean_model_and_data):
    from edgeopt.models.conversion import tflite_bytes

    model, x = lean_model_and_data
    flatbuffer = tflite_bytes(model, "float32", x)
    y, ops = _tflite_run(flatbuffer, x[:8])
    np.testing.assert_allclose(y, model(x[:8]).numpy(), atol=1e-5)
    kinds = {op.split(":")[0] for op in ops} - {"DELEGATE"}
    assert kinds <= {"RELU", "MUL", "SUM", "MAXIMUM", "RSQRT", "FULLY_CONNECTED", "ABS", "DIV"}, kinds
    # No L2_NORMALIZATION (no XNNPACK kernel) and no per-position BATCH_MATMUL: A is never formed.
    assert _partitions(flatbuffer) == (1, [])


def test_full_int8_runs_in_one_xnnpack_partition_divisions_in_float_products_in_int8(lean_model_and_data):
    """The int8 graph has no op XNNPACK leaves to TFLite's reference kernels: the row sums are int8
    FULLY_CONNECTED/MUL, and only what XNNPACK has no int8 kernel for (DIV, MAXIMUM, ABS, RSQRT) and
    the numerator stay float, between DEQUANTIZE and QUANTIZE."""
    from edgeopt.models.conversion import tflite_bytes

    model, x = lean_model_and_data
    flatbuffer = tflite_bytes(model, "int8", x[:100])
    y, ops = _tflite_run(flatbuffer, x[100:])
    assert _partitions(flatbuffer) == (1, [])
    ops = [op for op in ops if not op.startswith("DELEGATE")]
    int8 = {op.split(":")[0] for op in ops if op.endswith(":int8")}
    floats = {op.split(":")[0] for op in ops if op.endswith(":float32")}
    assert {"FULLY_CONNECTED", "MUL"} <= int8 <= XNNPACK_INT8, int8
    assert {"DIV", "MAXIMUM", "ABS"} <= floats <= XNNPACK_FLOAT, floats
    interpreter = _interpreter(flatbuffer)
    assert interpreter.get_input_details()[0]["dtype"] == np.int8 and interpreter.get_output_details()[0]["dtype"] == np.int8
    expected = model(x[100:]).numpy()
    assert np.all(np.isfinite(y))
    assert np.corrcoef(y.ravel(), expected.ravel())[0, 1] > 0.99
    zero_out, _ = _tflite_run(flatbuffer, x[:1])  # the all-zero sample
    assert np.all(np.abs(zero_out) < 0.01)


def test_full_int8_of_a_model_without_lean_converts_as_before_with_every_op_int8():
    from edgeopt.models.conversion import tflite_bytes

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Conv2D(4, 3), keras.layers.Flatten(),
                              keras.layers.Dense(2)])
    x = np.random.default_rng(0).uniform(size=(20, 4, 4, 3)).astype(np.float32)
    _, ops = _tflite_run(tflite_bytes(model, "int8", x), x[:2])
    assert all(op.endswith(":int8") for op in ops if not op.startswith("DELEGATE")), ops


def test_tflite_float32_of_the_signed_form_forms_the_affinity_and_matches_keras():
    from edgeopt.models.conversion import tflite_bytes

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6, 6, 20)), LEAN(5, signed_inputs=True)])
    x = np.random.default_rng(9).normal(size=(8, 6, 6, 20)).astype(np.float32)
    y, ops = _tflite_run(tflite_bytes(model, "float32", x), x)
    np.testing.assert_allclose(y, model(x).numpy(), atol=1e-5)
    assert "RELU" not in {op.split(":")[0] for op in ops}


# --- int8-aware training: rounding simulated in training only ----------------------------------


def _aware_twin(model):
    """The same model with every LEAN layer's int8_aware switched on, same weights."""
    config = model.get_config()
    for layer in config["layers"]:
        if layer["class_name"].endswith("LEAN"):
            layer["config"]["int8_aware"] = True
    twin = keras.Sequential.from_config(config)
    twin.set_weights(model.get_weights())
    return twin


def test_int8_aware_rounds_in_training_only_and_inference_is_unchanged(lean_model_and_data):
    model, x = lean_model_and_data
    aware = _aware_twin(model)
    np.testing.assert_array_equal(aware(x, training=False).numpy(), model(x, training=False).numpy())
    np.testing.assert_array_equal(model(x, training=True).numpy(), model(x, training=False).numpy())
    rounded = aware(x, training=True).numpy()
    assert np.all(np.isfinite(rounded))
    error = np.abs(rounded - model(x).numpy())
    assert error.max() > 0 and error.mean() < 0.02, error.mean()  # int8 error: present, and small


def test_int8_aware_training_passes_gradients_straight_through_the_rounding(lean_model_and_data):
    model, x = lean_model_and_data
    aware = _aware_twin(model)
    inputs = tf.constant(x[:16])
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        loss = tf.reduce_sum(aware(inputs, training=True) * np.arange(5, dtype=np.float32))
    grad_input, grad_vector = tape.gradient(loss, [inputs, aware.get_layer("lean").initial_vector])
    assert np.all(np.isfinite(grad_input.numpy())) and np.abs(grad_input.numpy()).sum() > 0
    assert np.all(np.isfinite(grad_vector.numpy())) and np.abs(grad_vector.numpy()).sum() > 0


def test_int8_aware_converts_to_the_same_tflite_graph(lean_model_and_data):
    from edgeopt.models.conversion import tflite_bytes

    model, x = lean_model_and_data
    plain_y, plain_ops = _tflite_run(tflite_bytes(model, "float32", x), x[:8])
    aware_y, aware_ops = _tflite_run(tflite_bytes(_aware_twin(model), "float32", x), x[:8])
    assert aware_ops == plain_ops
    np.testing.assert_array_equal(aware_y, plain_y)


@pytest.mark.slow
def test_int8_aware_training_sees_an_error_the_size_of_full_int8_tflites(lean_model_and_data):
    """The rounding int8-aware training adds is the error the int8 model has, not noise of another size.

    (Not the same draws: TFLite's ranges come from calibration images, the simulation's from the
    batch, so the two round differently; their size is what training has to learn around.)
    """
    from edgeopt.models.conversion import tflite_bytes

    model, x = lean_model_and_data
    int8_y, _ = _tflite_run(tflite_bytes(model, "int8", x[:100]), x[100:])
    exact = model(x[100:]).numpy()
    int8_error = np.sqrt(np.mean((int8_y - exact) ** 2))
    simulated_error = np.sqrt(np.mean((_aware_twin(model)(x[100:], training=True).numpy() - exact) ** 2))
    assert 0.5 < simulated_error / int8_error < 2, (simulated_error, int8_error)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_int8_aware_training_runs_under_mixed_precision(policy):
    layer = LEAN(5, int8_aware=True, dtype=policy)
    x = np.maximum(np.random.default_rng(0).normal(size=(4, 3, 3, 20)), 0).astype(np.float32)
    rounded = layer(x, training=True)
    assert rounded.dtype == layer.compute_dtype
    assert np.all(np.isfinite(rounded.numpy().astype(np.float32)))
    np.testing.assert_allclose(rounded.numpy().astype(np.float32), layer(x).numpy().astype(np.float32), atol=0.05)


@pytest.mark.parametrize("kwargs", [{"signed_inputs": True}, {"iterations": 3}], ids=["signed-form", "3-iterations"])
def test_full_int8_of_the_other_forms_is_one_xnnpack_partition_and_tracks_float(kwargs):
    from edgeopt.models.conversion import tflite_bytes

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6, 6, 20)), LEAN(5, **kwargs), keras.layers.Flatten(), keras.layers.Dense(3)])
    x = np.random.default_rng(0).normal(size=(60, 6, 6, 20)).astype(np.float32)
    if not kwargs.get("signed_inputs"):
        x = np.maximum(x, 0)
    flatbuffer = tflite_bytes(model, "int8", x[:50])
    assert _partitions(flatbuffer) == (1, [])
    y, _ = _tflite_run(flatbuffer, x[50:])
    assert np.corrcoef(y.ravel(), model(x[50:]).numpy().ravel())[0, 1] > 0.99


# --- the variant without the random-walk normalisation: an explicit option, never the default ----------


def power_iteration_on_affinity(x: np.ndarray, v: np.ndarray, preserved: int, iterations: int) -> np.ndarray:
    """NumPy reference of `LEAN(random_walk=False)` (float64): A = XXᵀ per position, V ← AV/‖AV‖₁."""
    *lead, channels = x.shape
    groups = x.astype(np.float64).reshape(*lead, preserved, channels // preserved)
    affinity = groups @ np.swapaxes(groups, -1, -2)
    vector = np.broadcast_to(v.astype(np.float64)[:, None], (*lead, preserved, 1))
    for _ in range(iterations):
        vector = affinity @ vector
        vector = vector / np.abs(vector).sum(axis=-2, keepdims=True)
    return vector[..., 0]


def _variant(preserved: int, input_shape, iterations: int = 1, signed_inputs: bool = False) -> LEAN:
    keras.utils.set_random_seed(0)
    layer = LEAN(preserved, iterations=iterations, signed_inputs=signed_inputs, random_walk=False)
    layer.build((None, *input_shape))
    return layer


@pytest.mark.parametrize("input_shape, preserved, iterations",
                         [((6, 5, 50), 10, 1), ((6, 5, 50), 10, 3), ((40,), 8, 1)],
                         ids=["image-1-iteration", "image-3-iterations", "dense-input"])
def test_the_variant_is_power_iteration_on_the_affinity_itself(input_shape, preserved, iterations):
    x = np.random.default_rng(11).uniform(0, 1, size=(3, *input_shape)).astype(np.float32)
    layer = _variant(preserved, input_shape, iterations)
    v = layer.initial_vector.numpy()
    np.testing.assert_allclose(layer(x).numpy(), power_iteration_on_affinity(x, v, preserved, iterations),
                               atol=1e-5, rtol=0)
    # …which is not Algorithm 2: the variant changes the mathematics, so it is never the default.
    assert np.abs(layer(x).numpy() - algorithm_2(x, v, preserved, iterations)).max() > 1e-3
    assert LEAN(preserved).random_walk is True


def test_the_variant_takes_signed_input_as_it_is_and_clips_it_by_default():
    x = np.random.default_rng(12).normal(size=(4, 30)).astype(np.float32)
    signed = _variant(6, (30,), signed_inputs=True)
    np.testing.assert_allclose(signed(x).numpy(), power_iteration_on_affinity(x, signed.initial_vector.numpy(), 6, 1),
                               atol=1e-5, rtol=0)
    clipped = _variant(6, (30,))
    np.testing.assert_allclose(clipped(x).numpy(), clipped(np.maximum(x, 0)).numpy(), atol=1e-7)


def test_the_variant_is_scale_free_and_safe_on_zeros():
    x = np.random.default_rng(13).uniform(0, 1, size=(2, 4, 4, 20)).astype(np.float32)
    layer = _variant(5, (4, 4, 20))
    np.testing.assert_allclose(layer(x * 1e3).numpy(), layer(x).numpy(), atol=1e-6)
    np.testing.assert_allclose(layer(x * 1e-3).numpy(), layer(x).numpy(), atol=1e-6)
    assert_zeros_give_zeros_and_finite_gradients(layer)


def test_the_variant_round_trips_its_config_and_counts_no_row_sums():
    layer = LEAN(5, random_walk=False, name="fast")
    assert LEAN.from_config(layer.get_config()).random_walk is False
    assert _variant(4, (6, 6, 20), iterations=2).count_macs() == 36 * 2 * 2 * 20
    with pytest.raises(ValueError, match=r"`random_walk`.*Received: random_walk='no'"):
        LEAN(4, random_walk="no")


def test_the_variants_int8_graph_is_one_partition_with_only_its_norms_in_float():
    """No unit norm, no row sums, no float numerator: the products are int8 FULLY_CONNECTED/MUL and
    only the C''-wide scale of m and the C'-wide ℓ1 normalisation run in float."""
    from edgeopt.models.conversion import tflite_bytes

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6, 6, 20)), LEAN(5, random_walk=False, name="lean")])
    x = np.maximum(np.random.default_rng(8).normal(size=(120, 6, 6, 20)), 0).astype(np.float32)
    x[0] = 0.0
    flatbuffer = tflite_bytes(model, "int8", x[:100])
    assert _partitions(flatbuffer) == (1, [])
    y, ops = _tflite_run(flatbuffer, x[100:])
    ops = [op for op in ops if not op.startswith("DELEGATE")]
    names = [op.split(":")[0] for op in ops]
    assert "RSQRT" not in names and names.count("FULLY_CONNECTED") == 3
    assert all(op.endswith(":int8") for op in ops if op.startswith(("FULLY_CONNECTED", "MUL")))
    assert np.corrcoef(y.ravel(), model(x[100:]).numpy().ravel())[0, 1] > 0.99
    zero_out, _ = _tflite_run(flatbuffer, x[:1])
    assert np.all(np.abs(zero_out) < 0.01)
