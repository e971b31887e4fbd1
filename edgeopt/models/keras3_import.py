"""Read a Keras 3 model file into the tf_keras model every edgeopt stage works on.

tfmot (pruning) needs tf_keras (tfmot issue #1119), and tf_keras cannot read what Keras 3 writes
(`import keras`, or `tf.keras` in TensorFlow >= 2.16). So a Keras 3 `.keras` (or Keras 3 `.h5`)
file is translated, not loaded:

1. its config is read from the file and rewritten into a flat tf_keras graph (`keras3_graph`,
   `keras3_layers`); every layer it cannot carry is refused at once, before Keras 3 is imported;
2. Keras 3 loads the file itself (it knows its own formats and versions), and each layer's
   weights are copied into the tf_keras layer built from the translated config;
3. both models run on the same inputs (the caller's, e.g. real images, or seeded noise) and the
   largest output difference is recorded; above the tolerance the file is refused, naming the
   first layer whose output differs. A silent mistranslation cannot reach a stage.

Example:
    >>> model, facts = import_keras3("mine.keras", probe=x_train[:32])  # doctest: +SKIP
    >>> facts["max_abs_diff"] < 1e-5                                     # doctest: +SKIP
    True
"""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path

import numpy as np

from edgeopt.common.errors import ModelFileError
from edgeopt.models.keras3_graph import flatten_keras3
from edgeopt.models.keras3_layers import REGISTER_HINT
from edgeopt.tf.runtime import keras, keras3

# Largest |Δ| allowed between the Keras 3 model and its translation, relative to max(1, max |output|).
# Same maths in float32 gives ~1e-7; a wrong activation or weight order gives 1e-2 and more.
TOLERANCE = 1e-4
TOLERANCE_MIXED = 2e-2  # the original computed in float16/bfloat16, the translation in float32


def keras3_version(path: str | Path) -> str | None:
    """The Keras version that wrote `path` when it is 3 or later, else None (tf_keras, or unreadable)."""
    path = Path(path)
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                version = json.loads(archive.read("metadata.json")).get("keras_version")
        else:
            import h5py

            with h5py.File(path, "r") as f:
                version = f.attrs.get("keras_version")
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    version = version.decode() if isinstance(version, bytes) else version
    return version if isinstance(version, str) and version.split(".")[0].isdigit() and int(version.split(".")[0]) >= 3 else None


def read_keras3_config(path: Path) -> dict:
    """The model config stored in a Keras 3 file: `config.json` of a .keras zip, `model_config` of an .h5."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                return json.loads(archive.read("config.json"))
        import h5py

        with h5py.File(path, "r") as f:
            raw = f.attrs["model_config"]
        return json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise ModelFileError(f"{path} is a Keras 3 file without a readable model config ({type(exc).__name__}: "
                             f"{exc}). Save it again with `model.save('model.keras')`.") from None


def import_keras3(path: str | Path, probe: np.ndarray | None = None, seed: int = 0) -> tuple[keras.Model, dict]:
    """Translate the Keras 3 model in `path` into tf_keras, checked against Keras 3's own outputs.

    Args:
        path: A `.keras` or `.h5` file written by Keras 3.
        probe: Inputs both models are run on (a few real samples, scaled as the model takes them);
            default: 16 seeded uniform samples in [0, 1].
        seed: Seed of the default probe.

    Returns:
        The tf_keras model (flat, float32, uncompiled) and what to record: the Keras version,
        notes on what the translation changed (log them), `max_abs_diff` on the probe, seconds.

    Raises:
        ModelFileError: A layer, activation or setting cannot be carried (all named at once), Keras 3
            cannot read the file, or the translation's outputs differ from the original's.
    """
    start = time.perf_counter()
    path = Path(path)
    version = keras3_version(path) or "3"
    raw = read_keras3_config(path)
    if not isinstance(raw, dict) or "config" not in raw:
        raise ModelFileError(f"{path}: its config is not a Keras model (no `config` key). Save it again with "
                             "`model.save('model.keras')`.")
    try:
        graph = flatten_keras3(raw["config"], raw.get("class_name", "Functional"))
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:  # a config of another shape
        raise ModelFileError(f"{path} (Keras {version}): its model config has a shape edgeopt does not know "
                             f"({type(exc).__name__}: {exc}). Save it again with `model.save('model.keras')`; if "
                             "it still fails, please report it with the model's config.json.") from None
    if graph.findings.problems:
        custom = any("tf_keras twin" in p for p in graph.findings.problems)
        raise ModelFileError(f"{path} (Keras {version}) cannot be carried into tf_keras, which edgeopt's stages "
                             "run on:\n  - " + "\n  - ".join(graph.findings.problems)
                             + (f"\n{REGISTER_HINT}." if custom else ""))
    original = _load_with_keras3(path, version)
    try:
        model = keras.models.model_from_json(json.dumps(graph.config))
    except Exception as exc:  # tf_keras refuses a config: a translation rule is missing, say which layer
        raise ModelFileError(f"{path} (Keras {version}): tf_keras could not build the translated model "
                             f"({type(exc).__name__}: {str(exc)[:300]}). Please report it with the model's "
                             "config.json.") from exc
    _copy_weights(original, model, graph.layer_sources, path)
    mixed = any("mixed_" in note for note in graph.findings.notes)
    probe = _probe(model, probe, seed)
    diff, scale = _compare(original, model, probe)
    if diff > (TOLERANCE_MIXED if mixed else TOLERANCE) * scale:
        culprit = _first_differing_layer(original, model, graph.layer_sources, probe)
        raise ModelFileError(f"{path} (Keras {version}): the translated model's outputs differ from Keras 3's by "
                             f"up to {diff:.3g} on {len(probe)} inputs{culprit}. edgeopt refuses it rather than "
                             "optimise another model; please report it with the model's config.json.")
    return model, {"keras_version": version, "translated_from": "keras3", "notes": graph.findings.notes,
                   "max_abs_diff": diff, "compared_on": len(probe),
                   "layers": len(model.layers), "translate_seconds": time.perf_counter() - start}


def _load_with_keras3(path: Path, version: str):
    k3 = keras3()
    try:
        return k3.saving.load_model(path, compile=False)
    except Exception as exc:  # Keras raises TypeError, ValueError, OSError … for one meaning: unreadable
        text = str(exc)
        hint = (f" Your Keras 3 class must be importable too. {REGISTER_HINT}." if "Could not locate" in text
                or "custom" in text.lower() else " Save it again with `model.save('model.keras')`.")
        raise ModelFileError(f"Keras {k3.__version__} cannot read {path} (written by Keras {version}): "
                             f"{type(exc).__name__}: {text[:300]}.{hint}") from exc


def _keras3_layer(model, source: tuple[str, ...]):
    layer = model
    for name in source:
        layer = layer.get_layer(name)
    return layer


def _copy_weights(original, model: keras.Model, sources: dict[str, tuple[str, ...]], path: Path) -> None:
    for name, source in sources.items():
        target = model.get_layer(name)
        weights = _keras3_layer(original, source).get_weights()
        expected = [tuple(w.shape) for w in target.get_weights()]
        if [tuple(w.shape) for w in weights] != expected:
            raise ModelFileError(f"{path}: layer '{'/'.join(source)}' holds weights of shapes "
                                 f"{[tuple(w.shape) for w in weights]}, its tf_keras twin expects {expected}. "
                                 "Please report it with the model's config.json.")
        target.set_weights(weights)


def _probe(model: keras.Model, probe: np.ndarray | None, seed: int) -> np.ndarray:
    shape = tuple(int(d) if d else 1 for d in model.input_shape[1:])
    if probe is not None and tuple(np.shape(probe)[1:]) == shape:
        return np.asarray(probe, dtype=np.float32)
    # No samples, or samples of another shape (the caller's shape check will say so): seeded noise.
    return np.random.default_rng(seed).uniform(0.0, 1.0, (16, *shape)).astype(np.float32)


def _compare(original, model: keras.Model, probe: np.ndarray) -> tuple[float, float]:
    expected = np.asarray(original(probe, training=False), dtype=np.float32)
    found = np.asarray(model(probe, training=False), dtype=np.float32)
    if expected.shape != found.shape:
        return float("inf"), 1.0
    return float(np.max(np.abs(expected - found))), max(1.0, float(np.max(np.abs(expected))))


def _first_differing_layer(original, model: keras.Model, sources: dict[str, tuple[str, ...]],
                           probe: np.ndarray) -> str:
    """", first at layer 'x' (Class, max |Δ| …)" — the earliest translated layer whose output differs."""
    k3 = keras3()
    for layer in model.layers:
        source = sources.get(layer.name)
        if not source:
            continue
        try:
            reference = _keras3_layer(original, source)
            if len(source) > 1:
                continue  # an inlined layer: its outer model's sub-model would be needed
            ours = keras.Model(model.inputs[0], layer.output)(probe, training=False)
            theirs = k3.Model(original.inputs[0], reference.output)(probe, training=False)
            diff = float(np.max(np.abs(np.asarray(ours) - np.asarray(theirs))))
        except Exception:  # noqa: BLE001  a layer without a single output: skip it, the search is a hint
            continue
        if diff > TOLERANCE * max(1.0, float(np.max(np.abs(np.asarray(theirs))))):
            return f", first at layer '{layer.name}' ({type(layer).__name__}, max |Δ| {diff:.3g})"
    return ""
