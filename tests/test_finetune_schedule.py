"""`finetune`'s learning-rate schedule: constant (as before) or a cosine decay to 0 over the fine-tune."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgeopt.data.datasets import Dataset
from edgeopt.tf.runtime import keras
from edgeopt.tf.training import learning_rate_schedule


def test_cosine_starts_at_the_rate_and_ends_at_zero_and_constant_is_the_number():
    cosine = learning_rate_schedule("cosine", 1e-3, samples=395, batch_size=10, epochs=1)  # 40 batches
    assert float(cosine(0)) == pytest.approx(1e-3) and float(cosine(20)) == pytest.approx(5e-4)
    assert float(cosine(40)) == pytest.approx(0.0, abs=1e-9)
    assert learning_rate_schedule("constant", 1e-3, samples=395, batch_size=10, epochs=1) == 1e-3
    with pytest.raises(ValueError, match="constant or cosine"):
        learning_rate_schedule("step", 1e-3, samples=395, batch_size=10, epochs=1)


def _rates_used(monkeypatch) -> list[float]:
    """Every fit from now on records the rate its optimizer applied at each batch (read from the
    optimizer after the step, not from the recipe), into the list returned."""
    import edgeopt.tf.training as training

    rates: list[float] = []

    class Recorder(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            rates.append(float(keras.backend.get_value(self.model.optimizer.learning_rate)))

    real_fit_classifier = training.fit_classifier

    def fit_classifier(model, *args, **kwargs):
        real_fit = model.fit
        model.fit = lambda *a, callbacks=None, **k: real_fit(*a, callbacks=[*(callbacks or []), Recorder()], **k)
        return real_fit_classifier(model, *args, **kwargs)

    monkeypatch.setattr(training, "fit_classifier", fit_classifier)
    return rates


def _finetune(tmp_path, schedule: str, learning_rate: float = 1e-3):
    from edgeopt.stages import STAGES
    from edgeopt.stages.finetune import FinetuneParams
    from edgeopt.stages.registry import Artifact, StageContext

    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 1, (64, 6, 6, 1)).astype(np.float32), rng.integers(0, 3, 64)
    ds = Dataset("tiny", x, y, x[:16], y[:16], 3, "test")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)])
    model.save(tmp_path / "in.keras")
    ctx = StageContext("ft", tmp_path, ds, 0, tmp_path, lambda _: None)
    artifact = STAGES["finetune"].fn(FinetuneParams(epochs=2, batch_size=16, learning_rate=learning_rate,
                                                    learning_rate_schedule=schedule), ctx,
                                     Artifact("keras", tmp_path / "in.keras"))
    return model, artifact


def test_a_cosine_finetune_applies_a_rate_that_decays_from_the_rate_to_near_zero(tmp_path, monkeypatch):
    rates = _rates_used(monkeypatch)
    model, artifact = _finetune(tmp_path, "cosine")
    assert len(rates) == 8  # 64 images / 16 per batch × 2 epochs: the schedule spans exactly the fit
    assert rates[0] == pytest.approx(1e-3, rel=1e-5)
    assert all(later < earlier for earlier, later in zip(rates, rates[1:]))
    assert rates[-1] < 0.05 * rates[0]  # cosine's last batch: (1 + cos(7π/8)) / 2 ≈ 0.038 of the start
    assert artifact.info["learning_rate_schedule"] == "cosine"
    after = keras.models.load_model(artifact.path).get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(model.get_weights(), after))  # it trained
    json.dumps(artifact.info)  # step.json can hold it


def test_a_constant_finetune_applies_the_same_rate_at_every_batch(tmp_path, monkeypatch):
    rates = _rates_used(monkeypatch)
    _finetune(tmp_path, "constant", learning_rate=2e-3)
    assert len(rates) == 8 and rates == pytest.approx([2e-3] * 8, rel=1e-5)


def test_the_default_schedule_keeps_old_fingerprints(tmp_path):
    from edgeopt.run.pipeline import step_fingerprint
    from edgeopt.run.recipe import parse_recipe

    text = """
name: t
data: {name: digits}
steps:
  - {id: base, stage: train, architecture: small_cnn, epochs: 1}
  - {id: ft, stage: finetune, from: base, epochs: 1%s}
"""
    plain, explicit, cosine = (parse_recipe(text % extra, tmp_path / "r.yaml")
                               for extra in ("", ", learning_rate_schedule: constant", ", learning_rate_schedule: cosine"))
    prints = [step_fingerprint(r.steps[1], r, "base-fingerprint") for r in (plain, explicit, cosine)]
    assert prints[0] == prints[1] != prints[2]


def test_eliminate_takes_the_same_schedule_for_its_fine_tune_and_its_default_keeps_old_fingerprints(tmp_path):
    from edgeopt.run.pipeline import step_fingerprint
    from edgeopt.run.recipe import parse_recipe

    text = """
name: t
data: {name: digits}
steps:
  - {id: base, stage: train, architecture: small_cnn, epochs: 1}
  - {id: cut, stage: eliminate, from: base, layers: [conv1], keep_fraction: 0.5, finetune_epochs: 1%s}
"""
    plain, explicit, cosine = (parse_recipe(text % extra, tmp_path / "r.yaml") for extra in
                               ("", ", finetune_learning_rate_schedule: constant",
                                ", finetune_learning_rate_schedule: cosine"))
    prints = [step_fingerprint(r.steps[1], r, "base-fingerprint") for r in (plain, explicit, cosine)]
    assert prints[0] == prints[1] != prints[2]
    assert cosine.steps[1].params.finetune_learning_rate_schedule == "cosine"
