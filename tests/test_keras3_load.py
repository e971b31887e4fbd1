"""Keras 3 files are carried into tf_keras with the same outputs, or refused with one message.

The models here are built with Keras 3 itself: `import keras` is Keras 3 whatever
TF_USE_LEGACY_KERAS says (that variable only decides what `tf.keras` is), so one process holds
both; `edgeopt.tf.runtime.keras3()` is that import. Each test model is tiny and saved once.
"""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from edgeopt.common.errors import ModelFileError
from edgeopt.tf.runtime import keras, keras3

k3 = keras3()
L = k3.layers


def _save(model, path):
    model.save(path)
    return path


def _max_diff(original, path, x) -> tuple[float, keras.Model]:
    from edgeopt.models.keras_io import load_keras_model

    loaded = load_keras_model(path)
    expected = np.asarray(original(x, training=False))
    return float(np.abs(loaded(x, training=False).numpy() - expected).max()), loaded


def _trained_bn(model, seed=0):
    """Give every BatchNormalization non-trivial statistics, so a swapped weight order would show."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.3, beta.shape),
                               rng.normal(0, 0.3, mean.shape), rng.uniform(0.5, 2.0, var.shape)])
    return model


def residual_keras3_model():
    """Rescaling, BN, a depthwise conv, a residual Add, Keras-3-only activations, a softmax output."""
    k3.utils.set_random_seed(0)
    x = k3.Input((8, 8, 1))
    h = L.Rescaling(1 / 255)(x)
    h = L.Conv2D(8, 3, padding="same", activation="relu")(h)
    h = L.BatchNormalization()(h)
    r = L.DepthwiseConv2D(3, padding="same", activation="hard_silu")(h)
    r = L.Activation("hard_sigmoid")(r)
    h = L.Add()([h, r])
    h = L.Conv2D(6, 1, activation="leaky_relu")(h)
    h = L.LeakyReLU(negative_slope=0.1)(h)
    h = L.SeparableConv2D(6, 3, padding="same", activation="relu6")(h)
    h = L.GlobalAveragePooling2D()(h)
    return _trained_bn(k3.Model(x, L.Dense(3, activation="softmax")(h)))


@pytest.fixture(scope="module")
def residual_file(tmp_path_factory):
    model = residual_keras3_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")  # a compile_config in the file
    return model, _save(model, tmp_path_factory.mktemp("k3") / "residual.keras")


PIXELS = np.random.default_rng(1).uniform(0, 255, (32, 8, 8, 1)).astype(np.float32)


def test_a_keras3_file_loads_with_the_same_outputs(residual_file, tmp_path):
    original, path = residual_file
    assert json.loads(zipfile.ZipFile(path).read("metadata.json"))["keras_version"].startswith("3.")
    config = zipfile.ZipFile(path).read("config.json").decode()
    for trap in ('"batch_shape"', '"class_name": "DTypePolicy"', '"build_config"', '"compile_config"',
                 '"hard_silu"', '"hard_sigmoid"', '"leaky_relu"', '"negative_slope"'):
        assert trap in config  # what tf_keras cannot read is really in the file under test
    diff, loaded = _max_diff(original, path, PIXELS)
    assert diff < 1e-5
    assert isinstance(loaded, keras.Model) and type(loaded).__module__.startswith("tf_keras")
    # Saved by edgeopt (tf_keras) and read back, the activations keep Keras 3's maths.
    loaded.save(tmp_path / "again.keras")
    diff_again, _ = _max_diff(original, tmp_path / "again.keras", PIXELS)
    assert diff_again < 1e-5


def test_hard_sigmoid_is_not_tf_keras_hard_sigmoid():
    # Why the name cannot be passed through: tf_keras's is 0.2·x + 0.5, Keras 3's relu6(x + 3) / 6.
    from edgeopt.tf.runtime import tf

    x = tf.constant([1.0])
    assert abs(float(keras.activations.get("hard_sigmoid")(x)[0]) - 0.7) < 1e-6
    assert abs(float(k3.activations.get("hard_sigmoid")(x)[0]) - 4 / 6) < 1e-6


def test_a_silent_mistranslation_is_caught_by_the_output_check(residual_file, monkeypatch):
    from edgeopt.layers import activations

    _, path = residual_file
    monkeypatch.setitem(activations.KERAS3_ACTIVATIONS, "hard_sigmoid", "hard_sigmoid")  # tf_keras's: wrong
    with pytest.raises(ModelFileError, match=r"differ from Keras 3's by up to .* first at layer 'activation'"):
        from edgeopt.models.keras_io import load_keras_model

        load_keras_model(path)


def test_a_nested_backbone_and_sequential_block_are_inlined(tmp_path):
    k3.utils.set_random_seed(1)
    inner_in = k3.Input((8, 8, 3))
    b = L.Conv2D(4, 3, padding="same", name="conv")(inner_in)
    b = L.BatchNormalization(name="bn")(b)
    b = L.Activation("hard_swish")(b)
    backbone = _trained_bn(k3.Model(inner_in, b, name="backbone"))
    augment = k3.Sequential([L.RandomFlip("horizontal"), L.RandomRotation(0.1)], name="augment")
    head = k3.Sequential([L.GlobalAveragePooling2D(), L.Dense(5, name="dense")], name="head")
    x = k3.Input((8, 8, 3))
    h = augment(x)
    h = backbone(h, training=False)  # a frozen backbone, as Keras' transfer-learning guide writes it
    h = L.Conv2D(4, 1, name="conv")(h)  # the same name as a backbone layer
    model = k3.Model(x, head(h))
    path = _save(model, tmp_path / "nested.keras")
    x_probe = np.random.default_rng(2).uniform(0, 1, (8, 8, 8, 3)).astype(np.float32)
    diff, loaded = _max_diff(model, path, x_probe)
    assert diff < 1e-5
    names = [layer.name for layer in loaded.layers]
    assert not any(isinstance(layer, keras.Model) for layer in loaded.layers)  # flat: every stage sees layers
    assert "conv" in names and "backbone_conv" in names and "random_flip" not in names
    bn_call = next(lay for lay in loaded.get_config()["layers"] if lay["name"] == "bn")["inbound_nodes"]
    assert "'training': False" in str(bn_call)  # still frozen when fine-tuned


def test_mixed_precision_keras3_model_loads_as_float32(tmp_path):
    k3.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        x = k3.Input((6, 6, 1))
        h = L.Conv2D(4, 3, activation="relu")(x)
        h = L.GlobalAveragePooling2D()(h)
        model = k3.Model(x, L.Dense(3, dtype="float32")(h))
    finally:
        k3.mixed_precision.set_global_policy("float32")
    path = _save(model, tmp_path / "mixed.keras")
    from edgeopt.models.keras3_import import import_keras3

    loaded, facts = import_keras3(path)
    assert {layer.dtype_policy.name for layer in loaded.layers} == {"float32"}
    assert any("mixed_bfloat16" in note for note in facts["notes"])


def test_keras3_sequential_saved_as_h5_loads(tmp_path):
    k3.utils.set_random_seed(3)
    model = k3.Sequential([k3.Input((4, 4, 2)), L.Flatten(), L.Dense(6, activation="gelu"), L.Dropout(0.2),
                           L.Dense(2)])
    path = _save(model, tmp_path / "seq.h5")
    x = np.random.default_rng(4).normal(size=(5, 4, 4, 2)).astype(np.float32)
    assert _max_diff(model, path, x)[0] < 1e-5


def test_keras_ops_in_the_graph_become_tf_ops(tmp_path):
    # keras.applications.MobileNetV3 writes its hard sigmoid as ReLU(6)(x + 3.0) * (1 / 6).
    k3.utils.set_random_seed(5)
    x = k3.Input((6,))
    h = L.Dense(4)(x)
    gate = L.ReLU(6.0)(h + 3.0) * (1.0 / 6.0)
    y = 1.0 - h * gate
    model = k3.Model(x, y / 2.0)
    path = _save(model, tmp_path / "ops.keras")
    probe = np.random.default_rng(6).normal(0, 3, (16, 6)).astype(np.float32)
    assert _max_diff(model, path, probe)[0] < 1e-5


def test_an_operation_edgeopt_cannot_carry_is_named(tmp_path):
    x = k3.Input((4, 4, 2))
    y = L.Dense(3)(k3.ops.mean(x, axis=(1, 2)))
    path = _save(k3.Model(x, y), tmp_path / "mean.keras")
    from edgeopt.models.keras_io import load_keras_model

    with pytest.raises(ModelFileError, match=r"operation 'mean' \(Mean\) is a Keras 3 operation"):
        load_keras_model(path)


@k3.saving.register_keras_serializable(package="keras3test")
class Doubler(k3.layers.Layer):
    def call(self, x):
        return 2.0 * x


def test_an_unregistered_custom_layer_is_named_with_how_to_register_it(tmp_path):
    x = k3.Input((4,))
    path = _save(k3.Model(x, L.Dense(2)(Doubler(name="twice")(x))), tmp_path / "custom.keras")
    from edgeopt.models.keras_io import load_keras_model

    with pytest.raises(ModelFileError) as err:
        load_keras_model(path)
    message = str(err.value)
    assert "layer 'twice' (Doubler) is not a standard Keras layer (keras3test>Doubler)" in message
    assert "register_keras_serializable" in message and "docs/keras3.md" in message


def test_a_custom_layer_with_a_tf_keras_twin_is_carried(tmp_path):
    @keras.saving.register_keras_serializable(package="keras3test", name="Tripler")
    class TriplerTf(keras.layers.Layer):
        def call(self, x):
            return 3.0 * x

    @k3.saving.register_keras_serializable(package="keras3test", name="Tripler")
    class Tripler(k3.layers.Layer):
        def call(self, x):
            return 3.0 * x

    x = k3.Input((4,))
    model = k3.Model(x, L.Dense(2)(Tripler()(x)))
    path = _save(model, tmp_path / "twin.keras")
    diff, loaded = _max_diff(model, path, np.ones((2, 4), np.float32))
    assert diff < 1e-5 and any(type(layer).__name__ == "TriplerTf" for layer in loaded.layers)


def test_a_keras3_only_activation_is_refused_by_name(tmp_path):
    x = k3.Input((4,))
    path = _save(k3.Model(x, L.Dense(2, activation="squareplus", name="out")(x)), tmp_path / "act.keras")
    from edgeopt.models.keras_io import load_keras_model

    with pytest.raises(ModelFileError, match=r"layer 'out' \(Dense\) uses activation 'squareplus'"):
        load_keras_model(path)


def test_an_adapted_normalization_keeps_its_statistics(tmp_path):
    data = np.random.default_rng(7).normal([100.0, 50.0], [30.0, 5.0], (64, 3, 3, 2)).astype(np.float32)
    norm = L.Normalization()
    norm.adapt(data)
    x = k3.Input((3, 3, 2))
    model = k3.Model(x, L.Dense(2)(L.Flatten()(norm(x))))
    assert _max_diff(model, _save(model, tmp_path / "norm.keras"), data[:8])[0] < 1e-5


def test_a_lambda_layer_and_a_damaged_config_are_refused_not_crashed(tmp_path):
    from edgeopt.models.keras_io import load_keras_model

    x = k3.Input((4,))
    path = _save(k3.Model(x, L.Lambda(lambda t: t * 2, name="code")(x)), tmp_path / "lambda.keras")
    with pytest.raises(ModelFileError, match=r"layer 'code' \(Lambda\) is a Lambda layer"):
        load_keras_model(path)
    damaged = tmp_path / "damaged.keras"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(damaged, "w") as dst:
        for item in src.namelist():
            data = src.read(item)
            dst.writestr(item, b'{"class_name": "Functional", "config": {"layers": [{"name": 3}]}}'
                         if item == "config.json" else data)
    with pytest.raises(ModelFileError, match="shape edgeopt does not know|does not connect|cannot be carried"):
        load_keras_model(damaged)
