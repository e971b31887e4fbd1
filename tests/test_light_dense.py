"""LightDense: the paper's parameter counts, the PDE step as documented, Keras plumbing, TFLite."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from edgeopt.layers import LightDense
from edgeopt.layers.light_dense import lightdense_params, pde_matrix
from edgeopt.models.keras_io import load_keras_model, save_keras_model
from edgeopt.tf.runtime import keras, tf


@contextlib.contextmanager
def dtype_policy(name: str):
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _paper_head():
    """Table 1's head: a 64-wide GAP output into LightDense(128) → LightDense(100)."""
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((64,)), LightDense(128, activation="relu", name="fc1"),
                             LightDense(100, name="fc2")])


def test_paper_table1_parameter_counts_with_default_rank():
    model = _paper_head()
    assert [layer.count_params() for layer in model.layers] == [1664, 1924]
    dense = keras.Sequential([keras.Input((64,)), keras.layers.Dense(128), keras.layers.Dense(100)])
    assert [layer.count_params() for layer in dense.layers] == [8320, 12900]
    assert (lightdense_params(64, 128), lightdense_params(128, 100)) == (1664, 1924)


def test_count_macs_is_the_two_factor_products():
    model = _paper_head()
    assert [layer.count_macs() for layer in model.layers] == [64 * 8 + 8 * 128, 128 * 8 + 8 * 100]


def test_pde_step_is_the_documented_three_point_stencil():
    dt, v = 0.2, 0.3
    layer = LightDense(5, rank=2, dt=dt, velocity=v, normalize=False, use_bias=False)
    x = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    out = layer(x).numpy()
    z = x @ layer.w1.numpy() @ layer.w2.numpy()
    padded = np.concatenate([z[:, :1], z, z[:, -1:]], axis=1)  # zero-flux edges
    previous, following = padded[:, :-2], padded[:, 2:]
    expected = z + dt * (previous - 2 * z + following) + v * (following - previous) / 2
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out, z @ pde_matrix(5, dt, v), rtol=1e-5, atol=1e-6)


def test_without_pde_and_normalisation_it_is_a_plain_low_rank_dense():
    layer = LightDense(6, rank=3, pde=False, normalize=False, activation="relu",
                       bias_initializer="random_normal")
    x = np.random.default_rng(1).normal(size=(4, 5)).astype("float32")
    out = layer(x).numpy()
    expected = np.maximum(x @ layer.w1.numpy() @ layer.w2.numpy() + layer.bias.numpy(), 0)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_normalised_outputs_have_unit_norm_or_the_learnable_scale():
    x = np.random.default_rng(2).normal(size=(8, 10)).astype("float32")
    plain = LightDense(7, rank=4)
    np.testing.assert_allclose(np.linalg.norm(plain(x).numpy(), axis=-1), 1.0, rtol=1e-5)
    scaled = LightDense(7, rank=4, scale=5.0)
    np.testing.assert_allclose(np.linalg.norm(scaled(x).numpy(), axis=-1), 5.0, rtol=1e-5)
    assert scaled.count_params() == plain.count_params() + 1
    assert scaled.scale_weight.trainable


def test_trainable_pde_adds_two_scalars_that_receive_gradients():
    layer = LightDense(6, rank=2, trainable_pde=True)
    x = tf.constant(np.random.default_rng(3).normal(size=(4, 5)).astype("float32"))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x)[:, 0])
    grads = tape.gradient(loss, [layer.dt_weight, layer.velocity_weight])
    assert layer.count_params() == lightdense_params(5, 6, 2) + 2
    assert all(g is not None and np.isfinite(g.numpy()) for g in grads)


def test_config_round_trip_keeps_every_argument():
    layer = LightDense(12, rank=3, activation="relu", use_bias=False, pde=True, dt=0.05, velocity=-0.02,
                       trainable_pde=True, normalize=True, epsilon=1e-6, scale=4.0,
                       kernel_regularizer="l2", name="ld")
    clone = LightDense.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert (clone.rank, clone.dt, clone.velocity, clone.scale, clone.use_bias) == (3, 0.05, -0.02, 4.0, False)


def test_model_with_lightdense_saves_and_loads_with_same_outputs(tmp_path):
    model = _paper_head()
    x = np.random.default_rng(4).normal(size=(5, 64)).astype("float32")
    path = save_keras_model(model, tmp_path / "model.keras")
    loaded = load_keras_model(path)
    assert isinstance(loaded.get_layer("fc2"), LightDense)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("units", [12.5, 128.0, "128", True, 0, -3, None])
def test_units_that_are_not_positive_integers_are_refused_naming_the_value(units):
    with pytest.raises(ValueError, match=f"units={units!r}".replace("(", r"\(").replace(")", r"\)")):
        LightDense(units)


@pytest.mark.parametrize("rank", [0, -1, 2.5])
def test_rank_below_one_or_fractional_is_refused_naming_the_value(rank):
    with pytest.raises(ValueError, match=f"rank={rank}"):
        LightDense(10, rank=rank)


def test_rank_above_min_of_input_and_units_is_refused_at_build():
    layer = LightDense(128, rank=65)
    with pytest.raises(ValueError, match=r"min\(64, 128\) = 64.*rank=65"):
        layer(tf.zeros((1, 64)))
    assert LightDense(10, rank=10)(tf.zeros((1, 64))).shape == (1, 10)  # full rank is allowed


def test_scale_without_normalisation_is_refused():
    with pytest.raises(ValueError, match="normalize=False"):
        LightDense(10, scale=3.0, normalize=False)


def test_works_on_rank_3_inputs_along_the_last_axis():
    layer = LightDense(6, rank=2)
    out = layer(tf.ones((2, 3, 5)))
    assert out.shape == (2, 3, 6)
    np.testing.assert_allclose(np.linalg.norm(out.numpy(), axis=-1), 1.0, rtol=1e-5)


def test_one_call_under_mixed_bfloat16_computes_in_bfloat16():
    with dtype_policy("mixed_bfloat16"):
        layer = LightDense(16, rank=4, trainable_pde=True, scale=2.0)
        out = layer(tf.random.stateless_normal((4, 8), seed=(1, 2)))
        assert layer.compute_dtype == "bfloat16"
        assert out.dtype == tf.bfloat16
        assert all(w.dtype == tf.float32 for w in layer.weights)  # variables stay float32
        np.testing.assert_allclose(np.linalg.norm(tf.cast(out, tf.float32).numpy(), axis=-1), 2.0, rtol=0.02)
    assert keras.mixed_precision.global_policy().name == "float32"


@pytest.mark.slow  # tfmot wraps and retraces the model: ~15 s on a busy 2-core machine
def test_tfmot_prunes_the_two_factors():
    import tensorflow_model_optimization as tfmot

    layer = LightDense(16, rank=4, name="ld")
    keras.utils.set_random_seed(5)
    model = keras.Sequential([keras.Input((8,)), layer])
    assert layer.get_prunable_weights() == [layer.w1, layer.w2]
    schedule = tfmot.sparsity.keras.ConstantSparsity(0.5, begin_step=0, frequency=1)
    pruned = tfmot.sparsity.keras.prune_low_magnitude(model, pruning_schedule=schedule)
    pruned.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(6).normal(size=(32, 8)).astype("float32")
    pruned.fit(x, np.zeros((32, 16), "float32"), epochs=1, batch_size=8, verbose=0,
               callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    stripped = tfmot.sparsity.keras.strip_pruning(pruned).get_layer("ld")
    for weight in (stripped.w1, stripped.w2):
        assert np.mean(weight.numpy() == 0) == pytest.approx(0.5, abs=0.05)


def _convert(model, mode: str, calibration: np.ndarray) -> bytes:
    from edgeopt.models.conversion import tflite_bytes

    return tflite_bytes(model, mode, calibration)


@pytest.mark.parametrize("mode", ["float32", "int8"])
def test_converts_to_tflite_with_builtin_ops_only(tmp_path, mode):
    from edgeopt.profile import inspect_tflite, predict_tflite

    keras.utils.set_random_seed(7)
    model = keras.Sequential([keras.Input((16,)), LightDense(32, rank=4, activation="relu", scale=3.0),
                              LightDense(10, rank=4, trainable_pde=True, scale=8.0)])
    rng = np.random.default_rng(8)
    calibration = rng.random((200, 16), dtype=np.float32)
    path = tmp_path / f"{mode}.tflite"
    path.write_bytes(_convert(model, mode, calibration))
    info = inspect_tflite(path)
    names = {op.op_name for op in info.ops}
    assert not any(name.startswith("Flex") or name == "CUSTOM" for name in names), names
    assert info.dtype == mode
    # The PDE step is folded into W2 and b; only the two factors and the norm remain.
    assert names <= {"FULLY_CONNECTED", "MUL", "SUM", "ADD", "RSQRT"}, names  # full int8: no (DE)QUANTIZE
    x = rng.random((50, 16), dtype=np.float32)
    reference = model.predict(x, verbose=0)
    outputs = predict_tflite(path, x)
    tolerance = 1e-4 if mode == "float32" else 0.05 * np.ptp(reference)
    assert np.median(np.abs(outputs - reference)) < tolerance
