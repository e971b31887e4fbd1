"""What a model's own first scaling layer does with the inputs the data section declares.

A model that begins with `Rescaling(1/255)` expects 0–255 pixels; fed edgeopt's default [0, 1] it
sees every pixel divided twice and still runs, just badly. The `load` stage therefore says what
edgeopt feeds such a layer and what the layer makes of it, and warns when that looks like the
wrong units: the layer's output spans less than 0.1 or more than 20 (a factor of ~255 off either
way; a layer doing what its author meant gives a span of about 1–4).
"""

from __future__ import annotations

import numpy as np

from edgeopt.data.scaling import InputScaling
from edgeopt.tf.runtime import keras

_SPAN_OK = (0.1, 20.0)


def fed_range(scaling: InputScaling, channels: int) -> tuple[float, float]:
    """The smallest and largest input the model gets (pixels 0 and 255 through the scaling, every channel)."""
    ends = scaling.from_pixels(np.array([0, 255], np.uint8).reshape(2, 1).repeat(channels, axis=1))
    return float(ends.min()), float(ends.max())


def first_layers(model: keras.Model) -> list:
    """The layers that read the model's input directly."""
    inputs = {id(t) for t in model.inputs}
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        for node in layer._inbound_nodes:  # noqa: SLF001  tf_keras keeps the graph here
            if any(id(t) in inputs for t in _tensors(node)):
                found.append(layer)
                break
    return found


def input_layer_notes(model: keras.Model, scaling: InputScaling) -> list[str]:
    """Log lines about a leading Rescaling / Normalization; lines starting "warning:" flag a likely mistake.

    Example:
        >>> input_layer_notes(model_with_rescaling_1_over_255, InputScaling())  # doctest: +SKIP
        ["warning: the model begins with Rescaling(scale=0.00392157, offset=0), which maps what edgeopt feeds it, [0, 1], to [0, 0.00392157] ..."]
    """
    channels = int(model.input_shape[-1] or 1) if isinstance(model.input_shape, tuple) else 1
    lo, hi = fed_range(scaling, channels)
    notes = []
    for layer in first_layers(model):
        if isinstance(layer, keras.layers.Rescaling):
            scale, offset = _scalar(layer.scale), _scalar(layer.offset)
            described = f"Rescaling(scale={scale:g}, offset={offset:g})"
            out = sorted((lo * scale + offset, hi * scale + offset))
            span = out[1] - out[0]
            target = (0.0, 1.0) if offset >= 0 else (-1.0, 1.0)
            suggestion = sorted(((target[0] - offset) / scale, (target[1] - offset) / scale)) if scale else None
        elif isinstance(layer, keras.layers.Normalization):
            mean, variance = (np.asarray(w, np.float64).ravel() for w in layer.get_weights()[:2]) \
                if layer.get_weights() else (np.ravel(layer.input_mean), np.ravel(layer.input_variance))
            std = np.sqrt(np.maximum(variance, 1e-12))
            described = f"Normalization(mean {_short(mean)}, std {_short(std)})"
            ends = np.concatenate([(lo - mean) / std, (hi - mean) / std])
            out = [float(ends.min()), float(ends.max())]
            span = float(np.median((hi - lo) / std))  # per channel: channel means differ, spans do not
            suggestion = None
            if scaling.mean is not None or scaling.std is not None:
                notes.append(f"warning: data.mean / data.std normalise the inputs and the model's first layer, "
                             f"'{layer.name}', is a {described}: they are applied one after the other. Drop one of "
                             "them unless that is meant.")
        else:
            continue
        line = (f"the model begins with {described} ('{layer.name}'): edgeopt feeds it [{lo:g}, {hi:g}] "
                f"({scaling.describe()}), which it maps to [{out[0]:.3g}, {out[1]:.3g}]")
        if _SPAN_OK[0] <= span <= _SPAN_OK[1]:
            notes.append(line)
        else:
            hint = (f" If the layer expects [{suggestion[0]:g}, {suggestion[1]:g}], set `input_range: "
                    f"[{suggestion[0]:g}, {suggestion[1]:g}]` in the data section." if suggestion else
                    " Set `input_range` (and `mean` / `std`) in the data section to the inputs the layer was "
                    "adapted on.")
            notes.append(f"warning: {line} — a span of {span:.3g}, so the inputs are probably in the wrong units "
                         f"(a Rescaling(1/255) expects 0–255 pixels).{hint}")
    return notes


def _tensors(node) -> list:
    tensors = node.input_tensors
    return list(tensors) if isinstance(tensors, (list, tuple)) else [tensors]


def _scalar(value) -> float:
    array = np.ravel(np.asarray(value, dtype=np.float64))
    return float(array[0]) if array.size else 0.0


def _short(values: np.ndarray) -> str:
    values = np.ravel(values)
    shown = ", ".join(f"{v:.3g}" for v in values[:4])
    return f"[{shown}{', …' if values.size > 4 else ''}]" if values.size > 1 else shown
