"""Saving and loading Keras models, with edgeopt's custom layers known to the loader."""

from __future__ import annotations

import os
from pathlib import Path

from edgeopt.common.atomic import disk_faults_named
from edgeopt.common.errors import ModelFileError
from edgeopt.tf.runtime import keras


def save_keras_model(model: keras.Model, path: Path) -> Path:
    """Write `model` to `path` (.keras) through a temporary file, so no half-written model remains."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.partial.keras")
    # The .keras format has no include_optimizer switch; the optimizer's slots (2x the weights for
    # Adam) are training scratch, not the model, and would inflate the file edgeopt reports.
    optimizer, model.optimizer = getattr(model, "optimizer", None), None
    try:
        with disk_faults_named(path):
            model.save(tmp)
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        model.optimizer = optimizer
    return path


def load_keras_model(path: str | Path) -> keras.Model:
    """Load a .keras / .h5 model as tf_keras: edgeopt's own, any tf_keras one, or a Keras 3 one (translated).

    A Keras 3 file goes through `edgeopt.models.keras3_import` (checked against Keras 3's outputs on
    seeded inputs); the `load` stage calls that itself to check on real images and log what changed.
    """
    import edgeopt.layers  # noqa: F401  registers LightDense, LEAN, … with Keras' serializer

    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"Keras model {path} not found. Check the path, or re-run the step that makes it.")
    from edgeopt.models.keras3_import import import_keras3, keras3_version

    if keras3_version(path):
        return import_keras3(path)[0]
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # Keras raises ValueError, OSError, zipfile errors… all mean "unreadable"
        raise ModelFileError(
            f"{path} is not a readable Keras model ({type(exc).__name__}: {str(exc)[:200]}). "
            "Re-export it with `model.save('model.keras')` or re-run the step that makes it."
        ) from exc


def load_checked_model(path: str | Path, dataset, model_name: str) -> keras.Model:
    """Load a stage's input model and check that the dataset's images and labels fit it."""
    model = load_keras_model(path)
    dataset.check_fits(model.input_shape, model_name, model.output_shape[-1])
    return model
