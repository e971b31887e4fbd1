"""The prune stage: layer choice, per-layer targets, schedules, measured sparsity, bad input."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from edgeopt.common.errors import RecipeError
from edgeopt.run.recipe import parse_recipe
from edgeopt.techniques.pruning import Schedule, aligned_end_step, allocate_sparsity

# --- allocation and steps: plain numbers, no TensorFlow -------------------------------------


def test_energy_aware_allocation_reaches_the_overall_target_exactly():
    costs = {"conv1": 10.0, "conv2": 60.0, "fc": 30.0}
    sizes = {"conv1": 100, "conv2": 1000, "fc": 2000}
    alloc = allocate_sparsity(costs, sizes, 0.5, 0.9)
    pruned = sum(alloc[n] * sizes[n] for n in sizes)
    assert pruned == pytest.approx(0.5 * sum(sizes.values()), rel=1e-5)
    assert alloc["conv2"] > alloc["fc"] > alloc["conv1"]  # ordered by cost share, not by size


def test_energy_aware_allocation_caps_the_heaviest_layer_and_shares_the_rest():
    alloc = allocate_sparsity({"heavy": 90.0, "light": 10.0}, {"heavy": 100, "light": 100}, 0.5, 0.8)
    assert alloc == {"heavy": 0.8, "light": pytest.approx(0.2)}


def test_energy_aware_allocation_leaves_costless_layers_dense():
    alloc = allocate_sparsity({"a": 1.0, "free": 0.0}, {"a": 100, "free": 100}, 0.3, 0.9)
    assert alloc == {"a": pytest.approx(0.6), "free": 0.0}


def test_energy_aware_allocation_refuses_an_unreachable_target():
    with pytest.raises(RecipeError, match="max_layer_sparsity=0.5"):
        allocate_sparsity({"a": 1.0, "free": 0.0}, {"a": 100, "free": 100}, 0.4, 0.5)


def test_computed_end_step_lands_on_a_mask_update():
    assert aligned_end_step(0, 1876, 100) == 1800
    assert aligned_end_step(10, 30, 5) == 30


def test_an_end_step_between_mask_updates_is_reported_short_of_final_sparsity():
    step, sparsity = Schedule("polynomial_decay", 0.0, 0.6, 0, 150, 1.0, 100).last_update()
    assert step == 100 and sparsity == pytest.approx(0.4)
    assert Schedule("constant", 0.0, 0.6, 0, -1, 3.0, 100).last_update() is None


BAD_STEPS = [
    ("final_sparsity: 1.0", r"`final_sparsity` must be in \[0, 1\).*Received: final_sparsity=1.0"),
    ("final_sparsity: -0.2", r"`final_sparsity` must be in \[0, 1\).*Received: final_sparsity=-0.2"),
    ("initial_sparsity: 1.5", r"`initial_sparsity` must be in \[0, 1\).*Received: initial_sparsity=1.5"),
    ("begin_step: 300, end_step: 200", r"`end_step` must come after `begin_step`.*begin_step=300, end_step=200"),
    ("initial_sparsity: 0.6, final_sparsity: 0.4", r"initial_sparsity=0.6, final_sparsity=0.4"),
    ("precision: half", r"unknown precision 'half'"),
    ("sparsity_m_by_n: [4, 4]", r"1 <= m < n.*Received: sparsity_m_by_n=\[4, 4\]"),
    ("sparsity_m_by_n: [2, 4], final_sparsity: 0.7", r"remove `final_sparsity`"),
    ("sparsity_m_by_n: [2, 4], allocation: energy_aware", r"cannot be combined with allocation: energy_aware"),
    ("allocation: energy_aware, final_sparsity: 0.8, max_layer_sparsity: 0.7", r"max_layer_sparsity=0.7"),
    ("schedule: constant, initial_sparsity: 0.1", r"only applies to schedule: polynomial_decay"),
    ("end_step: 100, end_epoch: 1", r"not both.*end_step=100, end_epoch=1"),
    ("cost: joules", r"unknown cost model 'joules'"),
]


@pytest.mark.parametrize(("params", "message"), BAD_STEPS, ids=[p for p, _ in BAD_STEPS])
def test_a_bad_prune_parameter_is_refused_before_anything_runs(params, message):
    text = ("data: {name: digits}\nsteps:\n  - {id: base, stage: train, architecture: small_cnn}\n"
            f"  - {{id: pruned, stage: prune, {params}}}\n")
    with pytest.raises(RecipeError, match=message) as err:
        parse_recipe(text, Path("r.yaml"))
    assert "r.yaml: step 2 'pruned' (stage prune)" in str(err.value)


# --- on a tiny model with a custom prunable layer -------------------------------------------


@pytest.fixture(scope="module")
def custom_prunable_dense():
    """A custom layer that, like LightDense and LEAN, implements tfmot's PrunableLayer."""
    from edgeopt.tf.runtime import keras, tf
    import tensorflow_model_optimization as tfmot

    @keras.saving.register_keras_serializable(package="edgeopt_tests")
    class TinyPrunableDense(keras.layers.Layer, tfmot.sparsity.keras.PrunableLayer):
        def __init__(self, units: int, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.kernel = self.add_weight("kernel", shape=(int(input_shape[-1]), self.units),
                                          initializer="glorot_uniform")
            self.bias = self.add_weight("bias", shape=(self.units,), initializer="zeros")

        def call(self, inputs):
            return tf.nn.relu(tf.matmul(inputs, self.kernel) + self.bias)

        def get_prunable_weights(self):
            return [self.kernel]

        def count_macs(self):
            return int(self.kernel.shape[0] * self.kernel.shape[1])

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    return TinyPrunableDense


@pytest.fixture(scope="module")
def digits():
    from edgeopt.data.datasets import load_dataset

    return load_dataset("digits", limit_train=320, limit_test=100)


@pytest.fixture(scope="module")
def base(tmp_path_factory, custom_prunable_dense, digits):
    """conv1 (1 input channel) → conv2 → GAP → custom prunable dense → logits, trained briefly."""
    from edgeopt.models.keras_io import save_keras_model
    from edgeopt.stages import Artifact
    from edgeopt.tf.runtime import keras
    from edgeopt.tf.training import compile_classifier, fit_classifier

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1"),
        keras.layers.MaxPooling2D(2, name="pool1"),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2"),
        keras.layers.GlobalAveragePooling2D(name="gap"),
        custom_prunable_dense(16, name="custom_fc"),
        keras.layers.Dense(10, name="logits", dtype="float32"),
    ])
    compile_classifier(model, 1e-2)
    fit_classifier(model, digits, epochs=3, batch_size=32, label="base", seed=0, log_fn=lambda _: None)
    path = save_keras_model(model, tmp_path_factory.mktemp("base") / "model.keras")
    return Artifact("keras", path)


def run_prune(tmp_path: Path, dataset, source, **params):
    from edgeopt.stages import STAGES, StageContext
    from edgeopt.stages.prune import PruneParams

    defaults = dict(epochs=2, batch_size=32, frequency=2, learning_rate=1e-3)
    out = tmp_path / "pruned"
    out.mkdir()
    ctx = StageContext("pruned", out, dataset, 0, tmp_path, log=lambda _: None)
    return STAGES["prune"].fn(PruneParams(**{**defaults, **params}), ctx, source)


def test_every_pruned_layer_reaches_final_sparsity_custom_layers_included(tmp_path, digits, base):
    from edgeopt.models.keras_io import load_keras_model

    artifact = run_prune(tmp_path, digits, base, final_sparsity=0.5)
    info = artifact.info
    assert info["pruned_layers"] == ["conv1", "conv2", "custom_fc", "logits"]
    for name in info["pruned_layers"]:
        assert info["sparsity"][name] == pytest.approx(0.5, abs=0.01), name
    assert info["sparsity_overall"] == pytest.approx(0.5, abs=0.01)
    assert info["schedule"]["end_step"] == 20  # 320 images / 32 × 2 epochs, computed by the stage
    assert info["macs_nonzero"] == pytest.approx(0.5 * info["macs"], rel=0.02)  # every weighted layer at 0.5

    saved = load_keras_model(artifact.path)  # stripped: the original layers, no pruning wrappers
    assert [layer.name for layer in saved.layers] == ["conv1", "pool1", "conv2", "gap", "custom_fc", "logits"]
    kernel = saved.get_layer("custom_fc").kernel.numpy()
    assert np.mean(kernel == 0) == pytest.approx(info["sparsity"]["custom_fc"])


def test_layers_can_be_chosen_by_type_and_excluded_by_name(tmp_path, digits, base):
    info = run_prune(tmp_path, digits, base, layer_types=["Conv2D", "TinyPrunableDense"],
                     exclude_layers=["conv1"], schedule="constant", final_sparsity=0.3).info
    assert info["pruned_layers"] == ["conv2", "custom_fc"]
    assert info["sparsity"]["conv2"] == pytest.approx(0.3, abs=0.01)
    assert info["sparsity"]["conv1"] == 0.0 and info["sparsity"]["logits"] == 0.0


def test_energy_aware_pruning_prunes_the_costliest_layer_most_at_the_same_overall_sparsity(tmp_path, digits, base):
    info = run_prune(tmp_path, digits, base, allocation="energy_aware", final_sparsity=0.5).info
    target, measured = info["sparsity_target"], info["sparsity"]
    heaviest = max(info["layer_cost"], key=info["layer_cost"].get)
    assert heaviest == "conv2" and measured["conv2"] == max(measured.values())
    for name, sparsity in target.items():
        assert measured[name] == pytest.approx(sparsity, abs=0.02), name  # conv1 has 72 weights: 1/72 steps
    assert info["sparsity_overall"] == pytest.approx(0.5, abs=0.01)
    assert info["macs_nonzero"] < 0.5 * info["macs"]  # the same share of weights removes more of the MACs


def test_two_of_four_sparsity_holds_in_every_group_of_input_channels(tmp_path, digits, base):
    from edgeopt.models.keras_io import load_keras_model

    # frequency 100 > the 20 training steps: m-by-n masks are set at step 1, no schedule applies
    artifact = run_prune(tmp_path, digits, base, sparsity_m_by_n=[2, 4], frequency=100)
    info = artifact.info
    assert info["sparsity_target"]["conv1"] == 0.0  # one input channel: nothing to group
    saved = load_keras_model(artifact.path)
    for name in ("conv2", "custom_fc", "logits"):
        kernel = saved.get_layer(name).get_weights()[0]
        groups = np.moveaxis(kernel, -2, -1).reshape(-1, 4) if kernel.ndim == 4 else kernel.T.reshape(-1, 4)
        assert np.all(np.sum(groups == 0, axis=1) >= 2), name
        assert info["sparsity"][name] == pytest.approx(0.5, abs=0.01)


def test_pruning_in_bfloat16_saves_float32_and_reaches_the_target(tmp_path, digits, base):
    from edgeopt.models.keras_io import load_keras_model

    artifact = run_prune(tmp_path, digits, base, precision="mixed_bfloat16", final_sparsity=0.5)
    assert artifact.info["precision"] == "mixed_bfloat16"
    saved = load_keras_model(artifact.path)
    assert {layer.dtype_policy.name for layer in saved.layers} == {"float32"}
    for name in artifact.info["pruned_layers"]:
        # Masks are computed on bfloat16-rounded magnitudes: ties at the threshold keep a few more.
        assert artifact.info["sparsity"][name] == pytest.approx(0.5, abs=0.01), name


@pytest.mark.parametrize(("params", "message"), [
    (dict(layers=["fc_1"]), r"step 'pruned' \(stage prune\): no layer named 'fc_1'.*Prunable layers: conv1, conv2"),
    (dict(layers=["pool1"]), r"layer 'pool1' \(MaxPooling2D\) has no weights to prune"),
    (dict(layer_types=["Conv3D"]), r"no prunable layer of type 'Conv3D'"),
    (dict(end_step=500), r"Received: end_step=500; training has 20 steps"),
    (dict(begin_step=20), r"Received: begin_step=20; training has 20 steps"),
])
def test_parameters_that_do_not_fit_the_model_are_errors_naming_the_value(tmp_path, digits, base, params, message):
    with pytest.raises(RecipeError, match=message):
        run_prune(tmp_path, digits, base, **params)
    assert not (tmp_path / "pruned" / "model.keras").exists()


@pytest.mark.slow
def test_pruned_int8_is_as_large_raw_but_smaller_gzipped(tmp_path, digits, base):
    """A .tflite stores the zeros, so only compression shows what pruning removed."""
    from edgeopt.models.conversion import tflite_bytes
    from edgeopt.models.keras_io import load_keras_model

    pruned = run_prune(tmp_path, digits, base, final_sparsity=0.5)
    calibration = digits.calibration_samples(64)
    dense = tflite_bytes(load_keras_model(base.path), "int8", calibration)
    sparse = tflite_bytes(load_keras_model(pruned.path), "int8", calibration)
    assert abs(len(sparse) - len(dense)) <= 0.02 * len(dense)
    assert len(gzip.compress(sparse, 9)) < len(gzip.compress(dense, 9))


@pytest.mark.slow
def test_a_recipe_prunes_in_auto_precision_and_records_sparsity_and_policy(tmp_path, monkeypatch):
    import json

    # A CPU without bfloat16 and no GPU (whatever this host has): `auto` must choose float32 and say why.
    import functools

    import edgeopt.tf.precision as precision

    monkeypatch.setattr(precision, "resolve_precision", functools.partial(
        precision.resolve_precision, flags={"avx2", "avx512f"}, gpus=0))

    from edgeopt.run.pipeline import run_recipe

    text = """
name: tiny_prune
seed: 0
data: {name: digits, limit_train: 256, limit_test: 100}
profile: {runs: 5, warmup: 1}
steps:
  - {id: base, stage: train, architecture: small_cnn, epochs: 2, batch_size: 32, learning_rate: 0.01, profile: false}
  - {id: pruned, stage: prune, from: base, final_sparsity: 0.5, epochs: 2, batch_size: 32, frequency: 2, precision: auto}
  - {id: pruned_int8, stage: convert, from: pruned, mode: int8, calibration_samples: 50}
"""
    result = run_recipe(parse_recipe(text, tmp_path / "r.yaml"), tmp_path / "run", log_fn=lambda _: None)
    step = json.loads((tmp_path / "run" / "pruned" / "step.json").read_text())
    assert step["params"]["precision"] == "auto" and step["info"]["precision"] == "float32"
    assert "no GPU and no avx512_bf16/amx_bf16" in step["info"]["precision_reason"]
    for name in step["info"]["pruned_layers"]:
        assert step["info"]["sparsity"][name] == pytest.approx(0.5, abs=0.01)
    assert [row.name for row in result.rows] == ["pruned", "pruned_int8"]
