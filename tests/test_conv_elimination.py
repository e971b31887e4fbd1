"""Conv2D output-channel elimination: exactness on rank-deficient feature maps for every reader
kind, the kernel views, refusals with clear messages, and the `eliminate` stage on a small CNN."""

from __future__ import annotations

import doctest
from pathlib import Path

import numpy as np
import pytest

from edgeopt.common.errors import RecipeError
from edgeopt.run.recipe import parse_recipe
from edgeopt.techniques.elimination import channels
from edgeopt.techniques.elimination.linalg import gram_spectrum, reconstruction, representative_rows, spectrum
from shared_runs import TINY_DIGITS, run_shared, untrained_model


def test_channel_view_doctests_hold():
    result = doctest.testmod(channels, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_gram_spectrum_selects_and_reconstructs_as_the_svd_of_the_maps():
    rng = np.random.default_rng(0)
    base = np.maximum(rng.standard_normal((5, 4000)), 0)
    x = np.vstack([base, 2 * base[0] + base[3], 0.5 * base[1]])  # 7 channels, rank 5
    from_gram, from_x = gram_spectrum(x @ x.T), spectrum(x)
    assert from_gram.rank == 5
    np.testing.assert_allclose(from_gram.singular_values[:5], from_x.singular_values[:5], rtol=1e-8)
    keep = representative_rows(from_gram.compressed, 5, from_gram)
    t = reconstruction(from_gram.compressed, keep)
    np.testing.assert_allclose(t @ x[keep], x, atol=1e-8)


def test_flatten_dense_fold_is_kron_of_identity_and_t():
    rng = np.random.default_rng(1)
    positions, c, k, units = 6, 4, 3, 5
    w = rng.standard_normal((positions * c, units))
    t = rng.standard_normal((c, k))
    folded = channels.rows_to_kernel(t.T @ channels.reader_rows(w, positions), (positions * k, units), positions)
    np.testing.assert_allclose(folded, np.kron(np.eye(positions), t).T @ w, atol=1e-12)


# --- Keras: exactness for each reader kind --------------------------------------------------------

tf_keras = pytest.importorskip("tf_keras")


def _keras():
    from edgeopt.tf.runtime import keras

    return keras


def _make_redundant(model, rng, bn: str | None = None):
    """Conv 'c' (8 filters): channels 5 and 6 are 3× channel 0 and 0.25× channel 2, channel 7 is
    dead (zero filter, bias −1) — after a ReLU, c·relu(z) = relu(c·z) for c > 0, so the maps the
    reader sees have rank 5. With a BatchNormalization 'bn' its statistics are set so that the
    scaling survives it (mean and std scaled alike, γ and β scaled by the same factor)."""
    conv = model.get_layer("c")
    w, b = (v.copy() for v in conv.get_weights())
    w = (rng.standard_normal(w.shape) * 0.3).astype(np.float32)
    b = (rng.standard_normal(b.shape) * 0.1).astype(np.float32)
    for dst, src, factor in ((5, 0, 3.0), (6, 2, 0.25)):
        w[..., dst], b[dst] = factor * w[..., src], factor * b[src]
    w[..., 7], b[7] = 0.0, -1.0
    conv.set_weights([w, b])
    if bn:
        layer = model.get_layer(bn)
        eps = layer.epsilon
        gamma, beta = rng.uniform(0.5, 1.5, 8), rng.standard_normal(8) * 0.1
        mean, var = rng.standard_normal(8) * 0.1, rng.uniform(1.0, 2.0, 8)
        for dst, src, factor in ((5, 0, 3.0), (6, 2, 0.25)):
            mean[dst], var[dst] = factor * mean[src], factor ** 2 * (var[src] + eps) - eps
            gamma[dst], beta[dst] = factor * gamma[src], factor * beta[src]
        gamma[7], beta[7], mean[7], var[7] = 1.0, 0.0, 0.0, 1.0  # BN(−1) < 0: still dead after the ReLU
        layer.set_weights([v.astype(np.float32) for v in (gamma, beta, mean, var)])
    others = [layer for layer in model.layers if layer.name not in ("c", bn) and layer.weights]
    for layer in others:
        layer.set_weights([(rng.standard_normal(v.shape) * 0.3).astype(np.float32) for v in layer.get_weights()])
    return model


def _conv(activation="relu", **kw):
    return _keras().layers.Conv2D(8, 3, padding="same", activation=activation, name="c", **kw)


def _model(kind: str):
    """A small CNN in which conv 'c' reaches its reader through the layers named by `kind`."""
    keras = _keras()
    L = keras.layers
    inputs = keras.Input((10, 10, 3))
    bn = None
    if kind == "conv":
        h = L.Conv2D(6, 3, name="reader")(_conv()(inputs))
    elif kind == "conv_same_padding_strided":
        h = L.Conv2D(6, 3, strides=2, padding="same", name="reader")(_conv()(inputs))
    elif kind == "bn_then_relu":  # Conv (linear) → BN → ReLU → Conv
        h = L.Conv2D(6, 3, name="reader")(L.ReLU(name="relu")(L.BatchNormalization(name="bn")(_conv(None)(inputs))))
        bn = "bn"
    elif kind == "relu_then_bn":  # Conv(relu) → BN → Conv: the reader sees BN's (scaled) maps
        h = L.Conv2D(6, 3, name="reader")(L.BatchNormalization(name="bn")(_conv()(inputs)))
        bn = "bn"
    elif kind == "max_pool":
        h = L.Conv2D(6, 3, name="reader")(L.MaxPooling2D(2, name="pool")(_conv()(inputs)))
    elif kind == "average_pool":
        h = L.Conv2D(6, 3, name="reader")(L.AveragePooling2D(2, name="pool")(_conv()(inputs)))
    elif kind == "depthwise":  # Conv → DepthwiseConv2D (lockstep) → 1×1 Conv
        dw = L.DepthwiseConv2D(3, padding="same", name="dw")
        h = L.Conv2D(6, 1, name="reader")(dw(_conv()(inputs)))
    elif kind == "prelu":  # Conv (linear) → PReLU (one slope per channel and position) → Conv
        h = L.Conv2D(6, 3, name="reader")(L.PReLU(name="prelu")(_conv(None)(inputs)))
    elif kind == "gap_dense":
        h = L.Dense(6, activation="relu", name="reader")(L.GlobalAveragePooling2D(name="gap")(_conv()(inputs)))
    elif kind == "flatten_dense":
        h = L.Flatten(name="flat")(L.MaxPooling2D(2, name="pool")(_conv()(inputs)))
        h = L.Dense(6, activation="relu", name="reader")(L.Dropout(0.2, name="drop")(h))
    else:
        raise ValueError(kind)
    if len(h.shape) == 4:
        h = L.GlobalAveragePooling2D(name="head_gap")(h)
    model = keras.Model(inputs, L.Dense(4, name="logits")(h))
    if kind == "depthwise":  # channel 5 = 3 × channel 0 after the depthwise conv too: same filter, 3× bias
        _make_redundant(model, np.random.default_rng(3))
        kernel, bias = model.get_layer("dw").get_weights()
        kernel[:, :, 5], bias[5] = kernel[:, :, 0], 3 * bias[0]
        kernel[:, :, 6], bias[6] = kernel[:, :, 2], 0.25 * bias[2]
        bias[7] = 0.0
        model.get_layer("dw").set_weights([kernel, bias])
        return model
    _make_redundant(model, np.random.default_rng(3), bn)
    if kind == "prelu":  # prelu(c·z) = c·prelu(z) for c > 0 when the slopes match; the dead channel gets slope 0
        (alpha,) = model.get_layer("prelu").get_weights()
        alpha = np.abs(alpha)
        alpha[..., 5], alpha[..., 6], alpha[..., 7] = alpha[..., 0], alpha[..., 2], 0.0
        model.get_layer("prelu").set_weights([alpha])
    return model


READER_KINDS = ["conv", "conv_same_padding_strided", "bn_then_relu", "relu_then_bn", "max_pool", "average_pool",
                "depthwise", "prelu", "gap_dense", "flatten_dense"]


@pytest.mark.parametrize("kind", READER_KINDS)
def test_eliminating_exactly_redundant_channels_changes_outputs_by_less_than_1e_4(kind):
    from edgeopt.techniques.elimination import GroupEliminator

    model = _model(kind)
    x = np.random.default_rng(5).standard_normal((120, 10, 10, 3)).astype(np.float32)
    eliminator = GroupEliminator(model, "c", x[:80])
    assert eliminator.group.producers == ("c",) and [r.reader for r in eliminator.group.readers] == ["reader"]
    assert eliminator.rank == 5
    smaller = eliminator.apply(eliminator.plan(5))
    reference = model.predict(x, verbose=0)
    change = np.abs(smaller.predict(x, verbose=0) - reference).max()
    assert change < 1e-4 * max(1.0, np.abs(reference).max())
    assert smaller.get_layer("c").filters == 5 and smaller.get_layer("c").kernel.shape[-1] == 5
    assert smaller.count_params() < model.count_params()
    for name, _ in eliminator.group.sliced:  # lockstep: the per-channel layer lost the same channels
        assert all(w.shape[-1 if w.ndim == 1 else 2] == 5 for w in smaller.get_layer(name).get_weights())


def test_flatten_reader_is_rebuilt_with_position_major_rows():
    from edgeopt.techniques.elimination import GroupEliminator, find_site

    model = _model("flatten_dense")
    eliminator = GroupEliminator(model, "c", np.random.default_rng(6).standard_normal((40, 10, 10, 3)).astype("f4"))
    (read,) = eliminator.group.readers
    assert (read.reader, read.source, read.positions) == ("reader", "pool", 25)  # X: the maps before the Flatten
    assert eliminator.group.layers == ("c", "pool", "flat", "drop")
    site = find_site(model, "c")  # a plain chain still has a one-reader Site view
    assert (site.next_layer, site.between, site.positions, site.tap) == ("reader", ("pool", "flat", "drop"), 25, "flat")
    smaller = eliminator.apply(eliminator.plan(5))
    assert smaller.get_layer("reader").kernel.shape == (25 * 5, 6)


def test_channels_that_are_not_redundant_cost_accuracy_but_the_model_stays_consistent():
    """Below the rank the update is a least-squares fit: the smaller model is what the masked
    evaluator scores, and its outputs move, but it is the same model saved and reloaded."""
    from edgeopt.techniques.elimination import GroupEliminator

    model = _model("bn_then_relu")
    x = np.random.default_rng(7).standard_normal((60, 10, 10, 3)).astype(np.float32)
    eliminator = GroupEliminator(model, "c", x)
    evaluator = eliminator.evaluator(x)
    for method in ("svd_qr", "weight_norm"):
        plan = eliminator.plan(3, method)
        evaluator.set_plan(plan)
        np.testing.assert_allclose(evaluator.outputs(), eliminator.apply(plan).predict(x, verbose=0), atol=1e-5)


def test_find_site_sends_a_coupled_conv_to_its_group():
    from edgeopt.techniques.elimination import EliminationError, find_site

    keras = _keras()
    inputs = keras.Input((10, 10, 3))
    h = _conv()(inputs)
    out = keras.layers.Add(name="add")([keras.layers.Conv2D(4, 1, name="r1")(h), keras.layers.Conv2D(4, 1, name="r2")(h)])
    with pytest.raises(EliminationError, match=r"'c' belongs to the channel group 'c', read by r1, r2: it is narrowed as "
                                               r"a group"):
        find_site(keras.Model(inputs, out), "c")


# --- the stage on a small trained CNN ------------------------------------------------------------


@pytest.fixture(scope="module")
def digits():
    from edgeopt.data.datasets import load_dataset

    return load_dataset("digits", limit_train=800, limit_test=300)


@pytest.fixture(scope="module")
def trained_cnn(tmp_path_factory) -> Path:
    """The small CNN on digits of the session's shared tiny run (tests/shared_runs.py): trained
    once for every file that needs one. The stage writes into each test's own folder."""
    return run_shared(TINY_DIGITS, tmp_path_factory, "tiny_device").out_dir / "base" / "model.keras"


@pytest.fixture(scope="module")
def untrained_small_cnn(digits, tmp_path_factory) -> Path:
    return untrained_model("small_cnn", digits.input_shape, tmp_path_factory.mktemp("untrained"))


def _run_stage(params: dict, dataset, source: Path, out_dir: Path):
    from edgeopt.stages import STAGES, Artifact, StageContext

    spec = STAGES["eliminate"]
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = StageContext("elim", out_dir, dataset, 0, Path("."), lambda _: None)
    return spec.fn(spec.params(**params), ctx, Artifact("keras", source))


def test_stage_narrows_several_convs_per_layer_counts_and_fine_tunes(digits, trained_cnn, tmp_path):
    from edgeopt.models.keras_io import load_keras_model

    artifact = _run_stage({"layers": ["conv1", "conv2"], "keep": {"conv1": 6, "conv2": 8}, "calibration_samples": 200,
                           "finetune_epochs": 1, "finetune_learning_rate_schedule": "cosine"},
                          digits, trained_cnn, tmp_path)
    smaller = load_keras_model(artifact.path)
    assert (smaller.get_layer("conv1").filters, smaller.get_layer("conv2").filters) == (6, 8)
    assert artifact.info["after"]["conv_filters"] == {"conv1": 6, "conv2": 8}
    assert artifact.info["widths"] == {"conv1": {"before": 8, "after": 6}, "conv2": {"before": 16, "after": 8}}
    assert artifact.info["finetune"]["epochs"] == 1 and artifact.info["train_seconds"] > 0
    assert artifact.info["finetune"]["learning_rate_schedule"] == "cosine"
    assert 0 <= artifact.info["finetune"]["accuracy_before"] <= 1
    assert artifact.info["after"]["params"] == smaller.count_params() < artifact.info["before"]["params"]


def test_stage_sweeps_conv_channels_and_writes_the_tradeoff(digits, trained_cnn, tmp_path):
    import csv
    import io

    from edgeopt.models.keras_io import load_keras_model

    artifact = _run_stage({"layers": ["conv2"], "max_accuracy_drop": 0.05, "sweep_step": 3,
                           "calibration_samples": 100}, digits, trained_cnn, tmp_path)
    rows = list(csv.DictReader(io.StringIO((tmp_path / "tradeoff.csv").read_text())))
    ours = [r for r in rows if r["method"] == "svd_qr"]
    assert ours and all(int(r["width"]) == 16 for r in rows)
    assert [int(r["macs"]) for r in ours] == sorted((int(r["macs"]) for r in ours), reverse=True)
    chosen = next(r for r in rows if r["chosen"] == "True")
    smaller = load_keras_model(artifact.path)
    assert smaller.get_layer("conv2").filters == int(chosen["neurons_kept"])
    assert smaller.count_params() == int(chosen["params"])


def test_sweep_times_each_configuration_as_an_int8_tflite_when_asked(digits, trained_cnn, tmp_path):
    import csv
    import io

    _run_stage({"layers": ["conv2"], "max_accuracy_drop": 0.9, "sweep_step": 6, "calibration_samples": 50,
                "measure_latency": True, "latency_runtime": "litert_int8", "latency_runs": 5},
               digits, trained_cnn, tmp_path)
    rows = list(csv.DictReader(io.StringIO((tmp_path / "tradeoff.csv").read_text())))
    assert len(rows) >= 3 and all(r["latency_runtime"] == "litert_int8" and float(r["latency_ms_p50"]) > 0
                                  for r in rows)
    assert not list(tmp_path.glob("*.tflite"))  # the converted configurations were temporary


def test_stage_rejects_keep_not_below_a_conv_width(digits, trained_cnn, tmp_path):
    from edgeopt.techniques.elimination import EliminationError

    with pytest.raises(EliminationError, match=r"step 'elim'.*channel group 'conv1' has 8 channels.*Received: keep=8"):
        _run_stage({"layers": ["conv1"], "keep": 8}, digits, trained_cnn, tmp_path)


def test_stage_rejects_a_layer_neither_dense_nor_conv(digits, trained_cnn, tmp_path):
    from edgeopt.techniques.elimination import EliminationError

    with pytest.raises(EliminationError, match="'pool1' is a MaxPooling2D, not a Dense or Conv2D layer"):
        _run_stage({"layers": ["conv1", "pool1"], "keep": 4}, digits, trained_cnn, tmp_path)


def _recipe(step: str, base: str = "{id: base, stage: train, architecture: small_cnn, epochs: 1}") -> str:
    return f"""
name: t
data: {{name: digits}}
steps:
  - {base}
  - {step}
"""


@pytest.mark.parametrize("step, message", [
    ("{id: e, stage: eliminate, layers: [conv1], keep: {conv1: 0}}", "keep={'conv1': 0}"),
    ("{id: e, stage: eliminate, layers: [conv1], keep: true}", "whole number ≥ 1"),
    ("{id: e, stage: eliminate, layers: [conv1], keep: 2.5}", "Received: keep=2.5"),
    ("{id: e, stage: eliminate, layers: [conv1, conv2], keep: {conv1: 4}}", "one value for each of `layers`"),
    ("{id: e, stage: eliminate, layers: [conv1], keep_fraction: {conv1: 1.5}}", "keep_fraction={'conv1': 1.5}"),
    ("{id: e, stage: eliminate, layers: [conv1], keep: 4, finetune_epochs: -1}", "finetune_epochs"),
    ("{id: e, stage: eliminate, layers: [conv1], max_accuracy_drop: 0.01, latency_runtime: litert_int8}",
     "set `measure_latency: true`"),
    ("{id: e, stage: eliminate, layers: [conv1], keep: 4, latency_runtime: litert_int8}", "latency_runtime apply to"),
])
def test_bad_conv_eliminate_parameters_are_recipe_errors(step, message):
    with pytest.raises(RecipeError) as err:
        parse_recipe(_recipe(step))
    assert "'e' (stage eliminate)" in str(err.value) and message in str(err.value)


@pytest.mark.parametrize("step, message", [
    ("{id: e, stage: eliminate, layers: [conv1, pool1], keep: 4}", "'pool1' is a MaxPooling2D, not a Dense or Conv2D"),
    ("{id: e, stage: eliminate, layers: [conv9], keep: 4}", "no layer named 'conv9'"),
    ("{id: e, stage: eliminate, layers: [conv2], keep_fraction: 0.99}", "rounds to 16"),
])
def test_cli_bad_conv_elimination_is_one_message_and_exit_code_2(tmp_path, untrained_small_cnn, step, message):
    from typer.testing import CliRunner

    from edgeopt.cli import app

    recipe = tmp_path / "r.yaml"
    base = f"{{id: base, stage: load, path: {untrained_small_cnn}}}"  # the refusal needs no training
    recipe.write_text(_recipe(step, base).replace("{name: digits}", "{name: digits, limit_train: 200, limit_test: 50}"))
    done = CliRunner().invoke(app, ["run", str(recipe), "--out", str(tmp_path / "out")])
    assert done.exit_code == 2, done.output[-2000:]
    assert message in done.output and "step 'e' (stage eliminate)" in done.output, done.output[-2000:]
    assert "Traceback" not in done.output  # an unexpected exception would have given exit code 1
    assert not (tmp_path / "out" / "e").exists()  # nothing half-written
