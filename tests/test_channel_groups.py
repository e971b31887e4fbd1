"""Coupled channel groups: residual Adds and 1×1 shortcuts, squeeze-excite gates, Concatenate
offsets. Exactness on networks whose coupled channels are exact linear combinations of others,
the group listing, the masked evaluator, MACs per width, and refusals with one clear message."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

tf_keras = pytest.importorskip("tf_keras")

from edgeopt.techniques.elimination import EliminationError, group_surgery  # noqa: E402
from edgeopt.techniques.elimination.group_eliminator import GroupEliminator, eliminate_group, group_macs  # noqa: E402
from edgeopt.techniques.elimination.groups import channel_groups, group_of  # noqa: E402

# Channels 5 and 6 are 3× channel 0 and 0.25× channel 2; channel 7 is dead.
COPIES = ((5, 0, 3.0), (6, 2, 0.25))


def _keras():
    from edgeopt.tf.runtime import keras

    return keras


def _randomise(model, rng):
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            c = layer.get_weights()[0].shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, c), rng.standard_normal(c) * 0.1,
                               rng.standard_normal(c) * 0.1, rng.uniform(1.0, 2.0, c)])
        elif layer.weights:
            layer.set_weights([(rng.standard_normal(w.shape) * 0.3).astype(np.float32) for w in layer.get_weights()])


def _redundant_producer(model, name, dead_bias=-1.0, copies=COPIES):
    """Conv `name`'s filters 5 and 6 are scaled copies of 0 and 2 (bias too), filter 7 is zero."""
    w, b = model.get_layer(name).get_weights()
    for dst, src, factor in copies:
        w[..., dst], b[dst] = factor * w[..., src], factor * b[src]
    w[..., 7], b[7] = 0.0, dead_bias
    model.get_layer(name).set_weights([w, b])


def _redundant_bn(model, name, copies=COPIES):
    """BN(c·z) = c·BN(z) on the copied channels: mean and std scaled by c, γ and β by c; the dead
    channel passes 0 to 0."""
    layer = model.get_layer(name)
    gamma, beta, mean, var = layer.get_weights()
    eps = layer.epsilon
    for dst, src, factor in copies:
        mean[dst], var[dst] = factor * mean[src], factor ** 2 * (var[src] + eps) - eps
        gamma[dst], beta[dst] = factor * gamma[src], factor * beta[src]
    gamma[7], beta[7], mean[7], var[7] = 1.0, 0.0, 0.0, 1.0
    layer.set_weights([gamma, beta, mean, var])


def _residual_model():
    """Stem conv → ReLU; block 1 (identity shortcut): conv → BN → ReLU → conv → BN, Add, ReLU;
    block 2 (strided 1×1 shortcut conv): the same; GAP → Dense. Both streams (stem + block 1's
    last conv; block 2's last conv + shortcut) are 8 channels of rank 5."""
    keras = _keras()
    L = keras.layers
    inputs = keras.Input((12, 12, 3))
    x = L.ReLU(name="stem_relu")(L.Conv2D(8, 3, padding="same", name="stem")(inputs))
    y = L.ReLU(name="b1_relu")(L.BatchNormalization(name="b1_bn1")(L.Conv2D(6, 3, padding="same", name="b1_conv1")(x)))
    y = L.BatchNormalization(name="b1_bn2")(L.Conv2D(8, 3, padding="same", name="b1_conv2")(y))
    x = L.ReLU(name="b1_out")(L.Add(name="b1_add")([x, y]))
    y = L.ReLU(name="b2_relu")(L.Conv2D(6, 3, strides=2, padding="same", name="b2_conv1")(x))
    y = L.Conv2D(8, 3, padding="same", name="b2_conv2")(y)
    shortcut = L.Conv2D(8, 1, strides=2, name="b2_shortcut")(x)
    x = L.ReLU(name="b2_out")(L.Add(name="b2_add")([shortcut, y]))
    model = keras.Model(inputs, L.Dense(4, name="logits")(L.GlobalAveragePooling2D(name="gap")(x)))
    _randomise(model, np.random.default_rng(0))
    for name in ("stem", "b1_conv2", "b2_conv2", "b2_shortcut"):
        _redundant_producer(model, name, dead_bias=-1.0 if name in ("stem", "b2_conv2") else 0.0)
    _redundant_bn(model, "b1_bn2")
    return model


def _se_model():
    """Conv → ReLU → DepthwiseConv2D → squeeze-excite (GAP → Reshape → conv → sigmoid conv →
    Multiply) → 1×1 projection → GAP → Dense, as in EfficientNet; the gated channels are rank 5
    because the gate's filters 5 and 6 copy filters 0 and 2 (same gate, so x·g keeps the ratio)."""
    keras = _keras()
    L = keras.layers
    inputs = keras.Input((10, 10, 3))
    x = L.ReLU(name="relu")(L.Conv2D(8, 3, padding="same", name="expand")(inputs))
    x = L.DepthwiseConv2D(3, padding="same", name="dw")(x)
    se = L.Reshape((1, 1, 8), name="se_reshape")(L.GlobalAveragePooling2D(name="se_squeeze")(x))
    se = L.Conv2D(3, 1, activation="relu", name="se_reduce")(se)
    gate = L.Conv2D(8, 1, activation="sigmoid", name="se_expand")(se)
    x = L.Multiply(name="se_excite")([x, gate])
    x = L.Conv2D(5, 1, name="project")(x)
    model = keras.Model(inputs, L.Dense(4, name="logits")(L.GlobalAveragePooling2D(name="gap")(x)))
    _randomise(model, np.random.default_rng(1))
    _redundant_producer(model, "expand")
    kernel, bias = model.get_layer("dw").get_weights()  # the same depthwise filter, the bias scaled with the channel
    for dst, src, factor in COPIES:
        kernel[:, :, dst], bias[dst] = kernel[:, :, src], factor * bias[src]
    bias[7] = 0.0
    model.get_layer("dw").set_weights([kernel, bias])
    w, b = model.get_layer("se_expand").get_weights()
    for dst, src, _ in COPIES:
        w[..., dst], b[dst] = w[..., src], b[src]
    model.get_layer("se_expand").set_weights([w, b])
    return model


def _concat_model():
    """Two convs (4 and 8 channels) concatenated → BN → conv; the second is rank 5 at offset 4."""
    keras = _keras()
    L = keras.layers
    inputs = keras.Input((8, 8, 3))
    a = L.Conv2D(4, 3, padding="same", activation="relu", name="a")(inputs)
    b = L.Conv2D(8, 3, padding="same", activation="relu", name="b")(inputs)
    x = L.BatchNormalization(name="bn")(L.Concatenate(name="cat")([a, b]))
    x = L.Conv2D(6, 3, name="reader")(x)
    model = keras.Model(inputs, L.Dense(3, name="logits")(L.GlobalAveragePooling2D()(x)))
    _randomise(model, np.random.default_rng(2))
    _redundant_producer(model, "b")
    layer = model.get_layer("bn")
    gamma, beta, mean, var = layer.get_weights()
    shifted = [(dst + 4, src + 4, f) for dst, src, f in COPIES]
    for dst, src, factor in shifted:
        mean[dst], var[dst] = factor * mean[src], factor ** 2 * (var[src] + layer.epsilon) - layer.epsilon
        gamma[dst], beta[dst] = factor * gamma[src], factor * beta[src]
    gamma[11], beta[11], mean[11], var[11] = 1.0, 0.0, 0.0, 1.0
    layer.set_weights([gamma, beta, mean, var])
    return model


def _images(shape, n=64, seed=5):
    return np.random.default_rng(seed).standard_normal((n, *shape)).astype(np.float32)


def _assert_unchanged(model, smaller, x):
    reference = model.predict(x, verbose=0)
    change = np.abs(smaller.predict(x, verbose=0) - reference).max()
    assert change < 1e-4 * max(1.0, np.abs(reference).max()), change


def test_residual_streams_are_one_group_each_with_a_reader_per_read_point():
    model = _residual_model()
    groups = {g.name: g for g in channel_groups(model)}
    stem, block2 = groups["stem"], group_of(model, "b2_conv2")
    assert group_of(model, "b2_shortcut") == block2 and block2.name in ("b2_conv2", "b2_shortcut")
    assert stem.producers == ("stem", "b1_conv2") and stem.merges == ("b1_add",) and stem.fixed is None
    assert {(r.reader, r.source) for r in stem.readers} == {
        ("b1_conv1", "stem_relu"), ("b2_conv1", "b1_out"), ("b2_shortcut", "b1_out")}
    assert set(block2.producers) == {"b2_conv2", "b2_shortcut"} and [r.reader for r in block2.readers] == ["logits"]
    assert ("b1_bn2", 0) in stem.sliced
    assert groups["b1_conv1"].producers == ("b1_conv1",) and groups["logits"].fixed


def test_eliminating_redundant_residual_stream_channels_changes_outputs_by_less_than_1e_4():
    model = _residual_model()
    x = _images((12, 12, 3))
    for name in ("stem", "b2_conv2"):
        eliminator = GroupEliminator(model, name, x[:48])
        assert eliminator.rank == 5
        smaller = eliminator.apply(eliminator.plan(5))
        _assert_unchanged(model, smaller, x)
        model = smaller
    assert [model.get_layer(n).filters for n in ("stem", "b1_conv2", "b2_conv2", "b2_shortcut")] == [5, 5, 5, 5]
    assert model.get_layer("b1_bn2").get_weights()[0].shape == (5,)
    assert model.get_layer("b2_conv1").kernel.shape[2] == 5 and model.get_layer("logits").kernel.shape[0] == 5


def test_eliminating_redundant_squeeze_excite_channels_changes_outputs_by_less_than_1e_4():
    model = _se_model()
    group = group_of(model, "expand")
    assert group.producers == ("expand", "se_expand") and group.merges == ("se_excite",)
    assert {r.reader for r in group.readers} == {"se_reduce", "project"} and group.reshapes == ("se_reshape",)
    x = _images((10, 10, 3))
    eliminator = GroupEliminator(model, group, x)
    assert eliminator.rank == 5
    smaller = eliminator.apply(eliminator.plan(5))
    _assert_unchanged(model, smaller, x)
    assert smaller.get_layer("se_expand").filters == 5 and smaller.get_layer("dw").get_weights()[1].shape == (5,)
    assert smaller.get_layer("se_reshape").target_shape == (1, 1, 5)
    assert smaller.get_layer("se_reduce").kernel.shape == (1, 1, 5, 3)


def test_a_concatenated_group_keeps_its_offset_and_the_batch_norm_after_is_sliced_there():
    model = _concat_model()
    group = group_of(model, "b")
    assert [(r.reader, r.offset) for r in group.readers] == [("reader", 4)] and group.sliced == (("bn", 4),)
    x = _images((8, 8, 3))
    smaller, plan = eliminate_group(model, "b", 5, x)
    _assert_unchanged(model, smaller, x)
    assert smaller.get_layer("reader").kernel.shape == (3, 3, 9, 6) and smaller.get_layer("bn").get_weights()[0].shape == (9,)
    np.testing.assert_array_equal(smaller.get_layer("bn").get_weights()[0][:4], model.get_layer("bn").get_weights()[0][:4])


@pytest.mark.parametrize("build, name", [(_residual_model, "stem"), (_se_model, "expand"), (_concat_model, "b")])
def test_masked_evaluator_gives_the_smaller_models_outputs(build, name):
    model = build()
    x = _images(model.input_shape[1:], n=24)
    eliminator = GroupEliminator(model, name, x)
    evaluator = eliminator.evaluator(x)
    for method in ("svd_qr", "weight_norm"):
        plan = eliminator.plan(3, method)
        evaluator.set(plan.keep, plan.reader_kernels)
        np.testing.assert_allclose(evaluator.outputs(), eliminator.apply(plan).predict(x, verbose=0), atol=2e-5)


@pytest.mark.parametrize("build, name", [(_residual_model, "stem"), (_residual_model, "b2_shortcut"),
                                         (_se_model, "expand"), (_concat_model, "b")])
def test_group_macs_equal_the_smaller_models(build, name):
    from edgeopt.models.keras_profile import count_macs

    model = build()
    group = group_of(model, name)
    assert group_macs(model, group, group.width) == count_macs(model)
    smaller = group_surgery.resized_group_architecture(model, group, 3)
    assert group_macs(model, group, 3) == count_macs(smaller)


@pytest.mark.parametrize("keep", [0, 8, 9])
def test_a_group_cannot_lose_all_its_channels_or_keep_them_all(keep):
    model = _residual_model()
    with pytest.raises(EliminationError) as err:
        GroupEliminator(model, "b1_conv2", _images((12, 12, 3), n=8)).plan(keep)
    message = str(err.value)
    assert "'stem' (+ b1_conv2; tied by b1_add) has 8 channels" in message and "[1, 7]" in message
    assert f"Received: keep={keep}" in message


def _functional(tail):
    keras = _keras()
    inputs = keras.Input((10, 10, 3))
    return keras.Model(inputs, tail(inputs, keras.layers.Conv2D(8, 3, padding="same", name="c")(inputs), keras.layers))


@pytest.mark.parametrize("tail, expected", [
    (lambda i, h, L: h, "reaches the model's output 'c'"),
    (lambda i, h, L: L.MaxPooling2D(name="pool")(h), "reaches the model's output 'pool'"),
    (lambda i, h, L: L.Dense(2)(L.Flatten()(L.LayerNormalization(name="ln")(h))), "'ln' (LayerNormalization)"),
    (lambda i, h, L: L.Dense(2)(L.Reshape((50, 16), name="reshape")(h)), "'reshape' (Reshape)"),
    (lambda i, h, L: L.Conv2D(2, 1)(L.Activation("softmax", name="soft")(h)), "mixes the channels"),
    (lambda i, h, L: L.Conv2D(2, 1)(L.DepthwiseConv2D(3, depth_multiplier=2, name="dw")(h)), "depth_multiplier=2"),
    (lambda i, h, L: L.Conv2D(4, 3, groups=2, name="grouped")(h), "'grouped', Conv2D with groups=2"),
    (lambda i, h, L: L.SeparableConv2D(4, 3, name="sep")(h), "'sep' (SeparableConv2D)"),
    (lambda i, h, L: L.Conv2D(2, 1)(L.Add(name="add")([h, L.Conv2D(8, 1, name="d")(i), i[..., :1] * 0 + h])),
     "TFOpLambda"),
    (lambda i, h, L: L.Conv2D(2, 1)(L.Add(name="add")([h, L.Concatenate()([i, L.Conv2D(5, 1)(i)])])),
     "laid out differently"),
])
def test_a_group_that_cannot_be_cut_is_refused_naming_the_conv_and_why(tail, expected):
    from edgeopt.common.errors import EdgeoptError

    with pytest.raises(EliminationError) as err:
        group_of(_functional(tail), "c")
    assert isinstance(err.value, EdgeoptError)  # exit code 2 from the CLI
    assert "Conv2D 'c'" in str(err.value) and expected in str(err.value), str(err.value)


def test_a_conv_with_a_softmax_activation_is_refused():
    keras = _keras()
    model = keras.Sequential([keras.Input((6, 6, 2)), keras.layers.Conv2D(4, 3, activation="softmax", name="c"),
                              keras.layers.Conv2D(2, 1, name="reader")])
    with pytest.raises(EliminationError, match="'c' has activation 'softmax', which mixes the channels"):
        group_of(model, "c")


def test_a_conv_tied_to_the_input_is_refused_naming_the_input():
    keras = _keras()
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.Add(name="add")([inputs, keras.layers.Conv2D(3, 1, name="c")(inputs)])
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(x)))
    with pytest.raises(EliminationError, match=r"Conv2D 'c'.*model's input"):
        group_of(model, "c")


def test_group_surgery_doctests_hold():
    result = doctest.testmod(group_surgery, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_groups_doctests_hold():
    from edgeopt.techniques.elimination import groups

    result = doctest.testmod(groups, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_resnet8_has_mlperf_tinys_reference_shape_and_checks_its_options():
    from edgeopt.common.errors import RecipeError
    from edgeopt.models.architectures import build_model

    model = build_model("resnet8", (32, 32, 3), 10)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert model.count_params() == 78666 and kinds.count("Conv2D") == 9 and kinds.count("Add") == 3
    assert [g.width for g in channel_groups(model) if g.fixed is None] == [16, 16, 32, 32, 64, 64]
    padded = build_model("resnet8", (28, 28, 1), 10, pad_to=32)
    assert padded.get_layer("pad").output_shape == (None, 32, 32, 1) and padded.get_layer("pool").pool_size == (8, 8)
    for options, message in (({"pad_to": 20}, "pad_to"), ({"filters": 0}, "filters"), ({"weight_decay": -1}, "weight_decay")):
        with pytest.raises(RecipeError, match=f"resnet8 option `{message}`"):
            build_model("resnet8", (28, 28, 1), 10, **options)


def test_a_dense_group_gives_what_seed_003s_dense_elimination_gives():
    """The group path (Gram matrices, one reader) on a Dense → Dense pair chooses the same neurons
    and the same update as the established Dense path (SVD of X)."""
    from edgeopt.models.architectures import build_model
    from edgeopt.techniques.elimination import eliminate_neurons

    model = build_model("lenet_300_100", (6, 6, 1), 4, fc1_units=24, fc2_units=12)
    _randomise(model, np.random.default_rng(3))
    x = np.maximum(_images((6, 6, 1), n=200, seed=9), 0)
    by_group, group_plan = eliminate_group(model, "fc1", 10, x)
    by_layer, layer_plan = eliminate_neurons(model, "fc1", 10, x)
    np.testing.assert_array_equal(group_plan.keep, layer_plan.keep)
    np.testing.assert_allclose(by_group.predict(x, verbose=0), by_layer.predict(x, verbose=0), atol=1e-4)
