"""One Keras 3 layer config → the tf_keras config of the same layer (`keras3_graph` does the wiring).

The two configs mostly agree; what differs, and what this module does about it:

- dtype is a `DTypePolicy` object in Keras 3 and a string in tf_keras: its name is kept, except a
  mixed policy (`mixed_float16`), which becomes float32 — edgeopt's stages pick their own precision;
- `InputLayer` says `batch_shape` where tf_keras says `batch_input_shape`; `LeakyReLU` says
  `negative_slope` where tf_keras says `alpha`;
- activation strings: `hard_sigmoid` means another function in tf_keras and `hard_silu` does not
  exist there (`edgeopt.layers.activations` carries Keras 3's definitions);
- keys Keras 3 added (`quantization_config`, `lora_rank`, `optional`, initializers' `input_axes` …)
  are dropped when they hold their off value (None, False, empty) and refused otherwise;
- random augmentation layers (RandomFlip, RandomRotation, …) are identities at inference and are
  left out of the graph (said in the log): edgeopt fine-tunes without them.

A layer class that is neither a standard one listed here nor registered with tf_keras under the
same name as in Keras 3 is refused, with how to register it. Every translation is finally checked
by comparing the two models' outputs (`keras3_import`), which catches what a rule here gets wrong.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from edgeopt.layers.activations import KERAS3_ACTIVATIONS, KERAS3_ONLY
from edgeopt.tf.runtime import keras

# Standard layers carried by name (the same class exists in tf_keras).
STANDARD_LAYERS = frozenset({
    "InputLayer", "Conv1D", "Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose", "Dense",
    "BatchNormalization", "LayerNormalization", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum",
    "Concatenate", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D",
    "MaxPooling1D", "AveragePooling1D", "GlobalAveragePooling1D", "GlobalMaxPooling1D", "Rescaling",
    "Normalization", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax", "Activation", "Dropout", "SpatialDropout2D",
    "GaussianNoise", "GaussianDropout", "Reshape", "Flatten", "Permute", "ZeroPadding2D", "Cropping2D",
    "UpSampling2D", "Identity",
})
# Identity at inference: left out of the translated graph.
AUGMENTATION_LAYERS = frozenset({"RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation",
                                 "RandomContrast", "RandomBrightness"})
RENAMED_KEYS = {"InputLayer": {"batch_shape": "batch_input_shape"}, "LeakyReLU": {"negative_slope": "alpha"}}
# Base-layer keywords every tf_keras layer accepts through **kwargs.
_LAYER_KWARGS = frozenset({"name", "trainable", "dtype", "dynamic", "input_dim", "input_shape", "batch_input_shape",
                           "batch_size", "weights", "activity_regularizer", "autocast", "implementation"})
_OBJECT_MODULES = {"initializer": "initializers", "regularizer": "regularizers", "constraint": "constraints"}
REGISTER_HINT = ("A custom layer needs a tf_keras twin (edgeopt's stages run on tf_keras, which tfmot needs): "
                 "register it with `@tf_keras.saving.register_keras_serializable(package=...)` under the same "
                 "name as your Keras 3 class, in a module edgeopt imports with your Keras 3 class (an "
                 "`edgeopt.stages` plugin, docs/plugins.md); docs/keras3.md shows one")


@dataclass
class Findings:
    """What translating a model found: problems refuse it, notes go to the log."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


def is_augmentation(class_name: str) -> bool:
    return class_name in AUGMENTATION_LAYERS


def tf_keras_class(class_name: str, registered_name: str | None) -> type | None:
    """The tf_keras class a Keras 3 layer becomes: a standard one, or one registered under its name."""
    if class_name in STANDARD_LAYERS:
        return getattr(keras.layers, class_name)
    for name in (registered_name, class_name):
        found = keras.saving.get_registered_object(name) if name else None
        if isinstance(found, type) and issubclass(found, keras.layers.Layer):
            return found
    return None


def translate_layer(entry: dict, label: str, findings: Findings) -> dict | None:
    """The tf_keras `{"class_name", "config"}` for one Keras 3 layer entry of a model config.

    Args:
        entry: The layer as Keras 3 serialises it ({"module", "class_name", "config", "registered_name", …}).
        label: How messages name it, e.g. "layer 'conv2d' (Conv2D)".
        findings: Problems and notes are added here; None is returned after a problem.
    """
    class_name = entry["class_name"]
    if class_name == "Lambda":
        findings.problems.append(f"{label} is a Lambda layer: Python code stored in the file, which edgeopt "
                                 "neither runs from a file nor can translate. Replace it by a standard layer or a "
                                 "registered custom layer")
        return None
    cls = tf_keras_class(class_name, entry.get("registered_name"))
    if cls is None:
        where = entry.get("registered_name") or f"{entry.get('module')}.{class_name}"
        findings.problems.append(f"{label} is not a standard Keras layer ({where}) and has no tf_keras twin "
                                 "registered under that name")
        return None
    config = dict(entry.get("config") or {})
    for old, new in RENAMED_KEYS.get(class_name, {}).items():
        if old in config:
            config[new] = config.pop(old)
    if "dtype" in config:
        config["dtype"] = _dtype_name(config["dtype"], label, findings)
    if "activation" in config:
        config["activation"] = _activation(config["activation"], label, findings)
    for key, value in list(config.items()):
        suffix = key.rsplit("_", 1)[-1]
        if suffix in _OBJECT_MODULES and isinstance(value, dict):
            config[key] = _keras_object(value, _OBJECT_MODULES[suffix], f"{label}: `{key}`", findings)
    accepted = accepted_keys(cls)
    if accepted is not None:
        for key in [k for k in config if k not in accepted]:
            value = config.pop(key)
            if not _is_off(value):
                findings.problems.append(f"{label} sets `{key}={value!r}`, which tf_keras's {cls.__name__} has no "
                                         "equivalent for")
    return {"class_name": class_name if class_name in STANDARD_LAYERS else keras.saving.get_registered_name(cls),
            "config": config}


def accepted_keys(cls: type) -> frozenset[str] | None:
    """The config keys tf_keras's `cls` accepts; None for a user's class (its from_config decides)."""
    if cls.__module__.split(".")[0] != "tf_keras":
        return None
    keys = set(_LAYER_KWARGS)
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is not None:
            keys |= {name for name, p in inspect.signature(init).parameters.items()
                     if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
        if klass is keras.layers.Layer:
            break
    return frozenset(keys)


def _is_off(value: Any) -> bool:
    return value is None or value is False or (isinstance(value, (dict, list, tuple)) and not value)


def _dtype_name(value: Any, label: str, findings: Findings) -> str | None:
    name = value.get("config", {}).get("name") if isinstance(value, dict) else value
    if isinstance(value, dict) and value.get("class_name") not in (None, "DTypePolicy", "FloatDTypePolicy"):
        findings.problems.append(f"{label} has dtype policy {value.get('class_name')} ({name}); edgeopt carries "
                                 "float policies only (a quantized Keras 3 model: load the float one)")
        return None
    if isinstance(name, str) and name.startswith("mixed_"):
        findings.note(f"the model computed in {name}; edgeopt loads it as float32 (each stage sets its own "
                      "`precision:`)")
        return "float32"
    return name


def _activation(value: Any, label: str, findings: Findings) -> Any:
    if isinstance(value, dict):  # a function object: only one registered with tf_keras under its name
        name = value.get("registered_name") or value.get("config")
        if isinstance(name, str) and keras.saving.get_registered_object(name) is not None:
            return name
        findings.problems.append(f"{label} uses activation {name!r}, a custom function with no tf_keras twin. "
                                 "Register one with `@tf_keras.saving.register_keras_serializable` under that name")
        return None
    if value in KERAS3_ONLY:
        findings.problems.append(f"{label} uses activation '{value}', which tf_keras does not have")
        return None
    return KERAS3_ACTIVATIONS.get(value, value)


def _keras_object(value: dict, module: str, label: str, findings: Findings) -> dict | None:
    """An initializer / regularizer / constraint config, with keys tf_keras's class does not take dropped."""
    class_name = value.get("class_name")
    cls = getattr(getattr(keras, module), str(class_name), None)
    if not isinstance(cls, type):
        findings.problems.append(f"{label} is {class_name}, which tf_keras's {module} do not have")
        return None
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    config = {k: v for k, v in (value.get("config") or {}).items() if k in accepted or not _is_off(v)}
    unknown = [k for k in config if k not in accepted]
    if unknown and module != "initializers":  # initial values never matter to a loaded model
        findings.problems.append(f"{label} sets {', '.join(unknown)}, which tf_keras's {class_name} does not take")
    return {"class_name": class_name, "config": {k: v for k, v in config.items() if k in accepted}}
