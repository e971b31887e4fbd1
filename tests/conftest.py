"""Shared fixtures: tiny seeded models converted to real .tflite files.

TensorFlow is allowed here (tests are not the device path); it is imported inside the fixtures
so tests that need no model do not pay its start-up.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest


@dataclass(frozen=True)
class TinyTfliteModels:
    """A tiny conv classifier as Keras outputs plus its float32 and full-int8 .tflite files."""

    float32: Path
    int8: Path
    dynamic: Path  # a second, Dense-heavy model with dynamic-range (int8 weight) quantization
    keras_params: int  # count_params() of the conv classifier
    x: np.ndarray  # (N, 8, 8, 1) float32 in [0, 1]
    keras_logits: np.ndarray  # the Keras model's outputs on x
    keras_labels: np.ndarray  # argmax of keras_logits: labels the Keras model gets 100 % on
    y: np.ndarray  # the true labels of x (bar orientation)


def _bar_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """8x8 grey noise with a bright horizontal bar (class 0), vertical bar (1) or none (2)."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 8, 8, 1), dtype=np.float32) * 0.5
    y = rng.integers(0, 3, n)
    for img, label, pos in zip(x, y, rng.integers(0, 8, n)):
        if label == 0:
            img[pos, :, 0] = 1.0
        elif label == 1:
            img[:, pos, 0] = 1.0
    return x, y


def _convert(tf, model, *, int8: bool = False, dynamic: bool = False, calibration=None) -> bytes:
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if int8 or dynamic:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if int8:
        converter.representative_dataset = lambda: ([calibration[i:i + 1]]
                                                    for i in range(len(calibration)))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter.convert()


@pytest.fixture(autouse=True)
def quiet_neighbours(monkeypatch):
    """Meter verdicts never depend on how busy the test machine is: other processes use no CPU.

    A meter's figure is withheld when other processes kept the CPUs busy during its windows
    (`edgeopt.profile.energy.busy`); tests of that verdict pass their own `LoadProbe`.
    """
    monkeypatch.setattr("edgeopt.profile.energy.busy.cpu_snapshot", lambda *args, **kwargs: None)


@pytest.fixture(autouse=True)
def no_host_meters(monkeypatch, tmp_path_factory):
    """The host's meters are invisible unless a test builds its own: a run with `energy: auto` gives
    the same rows (the labelled estimate) on a laptop with RAPL as on a VM without, and never spends
    energy windows (seconds each) in tests that are not about meters. Tests about meters point these
    variables at their fake trees (a later `setenv` wins) or delete them to read the default roots.
    Set here, in os.environ, so the runs tests start as subprocesses see them too."""
    from edgeopt.profile.energy.hwmon import HWMON_ROOT_ENV
    from edgeopt.profile.energy.jetson_iio import IIO_ROOT_ENV
    from edgeopt.profile.energy.powercap import POWERCAP_ROOT_ENV

    absent = tmp_path_factory.getbasetemp() / "no-host-meters"  # never created
    for variable, folder in ((POWERCAP_ROOT_ENV, "powercap"), (HWMON_ROOT_ENV, "hwmon"), (IIO_ROOT_ENV, "ina3221x")):
        monkeypatch.setenv(variable, str(absent / folder))


@pytest.fixture(scope="session")
def tiny_tflite_models(tmp_path_factory) -> TinyTfliteModels:
    """Input 8x8x1 -> Conv2D(4, 3, relu) -> GlobalAveragePooling2D -> Dense(3), seeded.

    Trained briefly, so biases are non-zero: the converter drops an all-zero Dense bias, which
    would make the TFLite parameter count differ from Keras' for a reason unrelated to the
    code under test.
    """
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.layers.Input((8, 8, 1)),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(3),
    ])
    # A few seconds of training give predictions spread over all three classes, so agreement
    # between Keras and the interpreter is a real check, not "everything is class 0".
    x_train, y_train = _bar_images(600, seed=1)
    model.compile(optimizer=keras.optimizers.Adam(0.05),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x_train, y_train, epochs=30, batch_size=64, verbose=0)

    x, y = _bar_images(200, seed=2)
    logits = model.predict(x, verbose=0)

    dense = keras.Sequential([
        keras.layers.Input((8, 8, 2)),
        keras.layers.DepthwiseConv2D(3, depth_multiplier=2),
        keras.layers.Flatten(),
        keras.layers.Dense(32, activation="relu"),  # 144*32 weights: above the 1024-element
        keras.layers.Dense(3),                      # threshold of dynamic-range quantization
    ])

    out = tmp_path_factory.mktemp("tiny_tflite")
    paths = {
        "float32": _convert(tf, model),
        "int8": _convert(tf, model, int8=True, calibration=x_train[:100]),
        "dynamic": _convert(tf, dense, dynamic=True),
    }
    for name, data in paths.items():
        (out / f"tiny_{name}.tflite").write_bytes(data)
    return TinyTfliteModels(
        float32=out / "tiny_float32.tflite",
        int8=out / "tiny_int8.tflite",
        dynamic=out / "tiny_dynamic.tflite",
        keras_params=model.count_params(),
        x=x,
        keras_logits=logits,
        keras_labels=logits.argmax(axis=1),
        y=y,
    )


@dataclass(frozen=True)
class UserTfliteModels:
    """The kinds of .tflite a user brings, beyond edgeopt's own float32/int8 exports."""

    float16: Path  # float16 weights (`target_spec.supported_types = [tf.float16]`)
    dynamic: Path  # dynamic-range: int8 weights, float activations
    two_signatures: Path  # one model, two signatures ("classify", "embed") over shared weights
    multi_io: Path  # two inputs (image, side vector), two outputs (class logits, a regression pair)

    def kinds(self) -> dict[str, Path]:
        return {"float16": self.float16, "dynamic-range": self.dynamic, "two signatures": self.two_signatures,
                "several inputs/outputs": self.multi_io}


@pytest.fixture(scope="session")
def midsize_float32(tmp_path_factory) -> Path:
    """A float32 CNN of about 2.6 M MACs (`energy_fakes.build_midsize_float32`), made once per
    session for every energy end-to-end test."""
    from energy_fakes import build_midsize_float32
    from shared_runs import shared_file

    return shared_file("midsize_float32", build_midsize_float32, tmp_path_factory)


@pytest.fixture(scope="session")
def user_tflite_models(tmp_path_factory, tiny_tflite_models) -> UserTfliteModels:
    import tensorflow as tf
    import tf_keras as keras

    keras.utils.set_random_seed(3)
    conv = keras.Sequential([keras.layers.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                             keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)])
    float16 = tf.lite.TFLiteConverter.from_keras_model(conv)
    float16.optimizations = [tf.lite.Optimize.DEFAULT]
    float16.target_spec.supported_types = [tf.float16]

    image, side = keras.layers.Input((8, 8, 1), name="image"), keras.layers.Input((4,), name="side")
    features = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, activation="relu")(image))
    joined = keras.layers.Concatenate()([features, keras.layers.Dense(4)(side)])
    multi = keras.Model([image, side], [keras.layers.Dense(3, name="logits")(joined),
                                        keras.layers.Dense(2, name="box")(joined)])

    class TwoSignatures(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(tf.random.stateless_normal((4, 3), seed=(1, 2)))

        @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32)])
        def classify(self, x):
            return {"logits": tf.matmul(x, self.w)}

        @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32)])
        def embed(self, x):
            return {"embedding": tf.nn.relu(tf.matmul(x, self.w) * 2.0)}

    module = TwoSignatures()
    two = tf.lite.TFLiteConverter.from_concrete_functions(
        [module.classify.get_concrete_function(), module.embed.get_concrete_function()], module)

    out = tmp_path_factory.mktemp("user_tflite")
    files = {"float16": float16.convert(), "multi_io": tf.lite.TFLiteConverter.from_keras_model(multi).convert(),
             "two_signatures": two.convert()}
    for name, data in files.items():
        (out / f"{name}.tflite").write_bytes(data)
    return UserTfliteModels(float16=out / "float16.tflite", dynamic=tiny_tflite_models.dynamic,
                            two_signatures=out / "two_signatures.tflite", multi_io=out / "multi_io.tflite")


# --- fuzz counts for the record ---------------------------------------------------------------
# The fuzz tests leave their outcome counts in pytest's cache folder (workers under xdist cannot
# print to the terminal); the controller prints them at the end of the run, so CI's log says how
# many recipes and models were tried and how each ended.

def fuzz_record_folder(config) -> Path:
    return Path(config.cache.mkdir("edgeopt-fuzz"))


def pytest_sessionstart(session):
    if not hasattr(session.config, "workerinput"):  # the controller (or a plain run) clears old counts
        for stale in fuzz_record_folder(session.config).glob("*.json"):
            stale.unlink()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    for record in sorted(fuzz_record_folder(config).glob("*.json")):
        terminalreporter.write_line(f"fuzz record ({record.stem}): {record.read_text().strip()}")
