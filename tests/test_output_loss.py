"""Every stage that trains picks the loss from the model's output: softmax → from_logits=False,
logits → True; a sigmoid output is refused with a message."""

from __future__ import annotations

import numpy as np
import pytest

from edgeopt.common.errors import EdgeoptError
from edgeopt.data.datasets import Dataset
from edgeopt.tf.runtime import keras
from edgeopt.tf.training import classifier_loss, output_activation

L = keras.layers


def _model(*head):
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((6, 6, 1)), L.Conv2D(4, 3, activation="relu"), L.GlobalAveragePooling2D(),
                             *head])


@pytest.mark.parametrize("head, expected", [
    ([L.Dense(3, activation="softmax")], "softmax"),
    ([L.Dense(3), L.Softmax()], "softmax"),
    ([L.Dense(3), L.Activation("softmax"), L.Flatten()], "softmax"),
    ([L.Dense(3)], "linear"),
    ([L.Dense(3, activation="relu")], "relu"),
])
def test_the_output_activation_is_found_behind_shape_only_layers(head, expected):
    assert output_activation(_model(*head))[0] == expected


def test_softmax_outputs_get_probabilities_and_logits_get_logits():
    softmax, reason = classifier_loss(_model(L.Dense(3, activation="softmax", name="out")))
    logits, _ = classifier_loss(_model(L.Dense(3, name="out")))
    assert softmax.get_config()["from_logits"] is False and reason == "'out' ends in a softmax"
    assert logits.get_config()["from_logits"] is True


def test_a_pruning_wrapper_does_not_hide_the_softmax():
    from edgeopt.techniques.pruning import Schedule, wrap_for_pruning

    model = _model(L.Dense(3, activation="softmax", name="out"))
    wrapped = wrap_for_pruning(model, {"out": Schedule("constant", 0.0, 0.5, 0, -1, 3.0, 10)}, None)
    assert type(wrapped.get_layer(wrapped.output_names[0])).__name__ == "PruneLowMagnitude"
    assert output_activation(wrapped)[0] == "softmax"


def test_a_sigmoid_output_is_refused_with_what_to_do():
    with pytest.raises(EdgeoptError, match=r"'out' ends in a sigmoid.*Replace the sigmoid with a softmax"):
        classifier_loss(_model(L.Dense(3, activation="sigmoid", name="out")))


@pytest.mark.parametrize("activation, from_logits", [("softmax", False), (None, True)])
def test_finetune_uses_the_loss_of_the_models_output(tmp_path, activation, from_logits):
    from edgeopt.stages import STAGES
    from edgeopt.stages.finetune import FinetuneParams
    from edgeopt.stages.registry import Artifact, StageContext

    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 1, (64, 6, 6, 1)).astype(np.float32), rng.integers(0, 3, 64)
    ds = Dataset("tiny", x, y, x[:16], y[:16], 3, "test")
    model = _model(L.Dense(3, activation=activation, name="out"))
    model.save(tmp_path / "in.keras")
    lines: list[str] = []
    ctx = StageContext("ft", tmp_path, ds, 0, tmp_path, lines.append)
    STAGES["finetune"].fn(FinetuneParams(epochs=1, batch_size=32), ctx, Artifact("keras", tmp_path / "in.keras"))
    (line,) = [entry for entry in lines if "loss:" in entry]
    assert f"from_logits={from_logits}" in line
    assert ("ends in a softmax" in line) == (activation == "softmax")
