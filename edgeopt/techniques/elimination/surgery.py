"""Keras side of elimination: find where a layer's neurons (Dense) or channels (Conv2D, see
`channels.py`) go, read what their reader sees, and rebuild the model with a physically narrower
layer (not a mask).

A *site* is a layer L whose outputs reach exactly one reader N that absorbs the update. For a
Dense L, N is a Dense reached directly or through element-wise layers without weights (Dropout,
ReLU, Activation('relu'), ...). X is what N sees, so it is collected at N's input: after L's own
activation and anything element-wise in between.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeopt.techniques.elimination.errors import EliminationError  # noqa: F401  (raised here; importers find it here too)


# Element-wise, weight-free layers: dropping feature j before them drops feature j after them.
_PASS_THROUGH = ("Dropout", "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization",
                 "ReLU", "LeakyReLU", "ELU", "ThresholdedReLU", "Activation")
_NOT_ELEMENTWISE = ("softmax", "log_softmax")  # mixes features, so one neuron's removal changes the others


@dataclass(frozen=True)
class Site:
    """Where neurons are eliminated.

    Attributes:
        layer: name of the Dense layer whose neurons (output units) are removed.
        next_layer: name of the Dense layer reading them, whose weights absorb the update.
        between: names of the element-wise layers from `layer` to `next_layer`.
        width: current number of neurons (channels) of `layer`.
        kind, sliced, positions, tap: see the fields; the defaults are a Dense site.
    """

    layer: str
    next_layer: str
    between: tuple[str, ...]
    width: int
    kind: str = "dense"  # "dense" (neurons) or "conv2d" (output channels)
    sliced: tuple[str, ...] = ()  # per-channel layers in `between` whose weights are sliced (BatchNormalization, ...)
    positions: int = 1  # a Dense after Flatten: the H·W positions its rows run over (position-major)
    tap: str | None = None  # the layer at whose input X is read when not `next_layer` (the Flatten)

    @property
    def unit(self) -> str:
        return "neurons" if self.kind == "dense" else "channels"


def find_site(model, layer_name: str) -> Site:
    """Check that `layer_name` is a Dense layer whose neurons, or a Conv2D layer whose output
    channels, can be eliminated, and find its reader.

    Raises:
        EliminationError: the layer does not exist, is neither Dense nor Conv2D, is the output,
            or does not reach exactly one reader that can absorb the update.

    Example:
        >>> from edgeopt.models.architectures import build_model
        >>> find_site(build_model("lenet_300_100", (28, 28, 1), 10), "fc1")
        Site(layer='fc1', next_layer='fc2', between=(), width=300, kind='dense', sliced=(), positions=1, tap=None)
    """
    from edgeopt.tf.runtime import keras

    by_name = {layer.name: layer for layer in model.layers}
    dense = [name for name, layer in by_name.items() if isinstance(layer, keras.layers.Dense)]
    convs = [name for name, layer in by_name.items() if type(layer) is keras.layers.Conv2D]
    listing = f"Dense layers: {', '.join(dense) or 'none'}; Conv2D layers: {', '.join(convs) or 'none'}"
    if layer_name not in by_name:
        raise EliminationError(f"the model has no layer named '{layer_name}'. {listing}")
    layer = by_name[layer_name]
    if type(layer) is keras.layers.Conv2D:
        return conv_site(model, layer_name)
    if type(layer) is not keras.layers.Dense:  # subclasses (LightDense, ...) have other weights
        raise EliminationError(f"layer '{layer_name}' is a {type(layer).__name__}, not a Dense or Conv2D layer; "
                               f"elimination removes Dense neurons or Conv2D output channels. {listing}")
    if len(layer.output_shape) != 2:
        raise EliminationError(f"layer '{layer_name}' has output shape {layer.output_shape}; only Dense layers on "
                               "flat (batch, features) inputs can be eliminated")
    between: list[str] = []
    current = layer
    while True:
        consumers = consumers_of(model, current)
        if not consumers:
            raise EliminationError(f"layer '{layer_name}' is an output of the model: its neurons are the predictions, "
                                   f"so none can be eliminated. Choose a hidden Dense layer: {', '.join(dense[:-1])}")
        if len(consumers) > 1:
            raise EliminationError(f"layer '{current.name}' feeds {len(consumers)} layers "
                                   f"({', '.join(c.name for c in consumers)}); elimination needs a single reader")
        nxt = consumers[0]
        if type(nxt) is keras.layers.Dense:
            return Site(layer_name, nxt.name, tuple(between), int(layer.units))
        if not _is_pass_through(nxt):
            raise EliminationError(
                f"layer '{layer_name}' feeds '{nxt.name}' ({type(nxt).__name__}); elimination folds the update into "
                "the next Dense layer, reached only through element-wise layers (Dropout, ReLU, Activation)")
        between.append(nxt.name)
        current = nxt


def conv_site(model, layer_name: str) -> Site:
    """The Site of a Conv2D whose channel group is itself alone with one reader (a plain chain).

    Conv2D channels are eliminated per channel group (`groups.py`, `GroupEliminator`); this view
    serves callers that handle one layer and one reader.

    Raises:
        EliminationError: the group cannot be narrowed, or couples other layers or readers.
    """
    from edgeopt.techniques.elimination.groups import group_of

    group = group_of(model, layer_name)
    if group.producers != (layer_name,) or len(group.readers) != 1 or group.merges or group.reshapes:
        readers = ", ".join(dict.fromkeys(r.reader for r in group.readers))
        raise EliminationError(
            f"Conv2D '{layer_name}' belongs to the channel group {group.describe()}, read by {readers}: it is narrowed "
            "as a group (GroupEliminator, eliminate_group, or the eliminate stage), not as one layer with one reader")
    (read,) = group.readers
    between = tuple(name for name in group.layers if name != layer_name)
    flatten = next((name for name in between if type(model.get_layer(name)).__name__ == "Flatten"), None)
    return Site(layer_name, read.reader, between, group.width, kind="conv2d", sliced=tuple(n for n, _ in group.sliced),
                positions=read.positions, tap=flatten)


def consumers_of(model, layer) -> list:
    """The layers of `model` that read `layer`'s output, each once."""
    in_model = {id(candidate) for candidate in model.layers}
    seen, found = set(), []
    for node in layer._outbound_nodes:  # tf_keras keeps no public list of a layer's readers
        reader = node.outbound_layer
        if id(reader) in in_model and id(reader) not in seen:
            seen.add(id(reader))
            found.append(reader)
    return found


def _is_pass_through(layer) -> bool:
    if type(layer).__name__ not in _PASS_THROUGH:
        return False
    if type(layer).__name__ == "Activation":
        name = getattr(layer.activation, "__name__", str(layer.activation))
        return name not in _NOT_ELEMENTWISE
    return True


# Machine epsilon of the dtype activations are computed in (bfloat16 keeps 8 significant bits).
_EPS = {"float64": float(np.finfo(np.float64).eps), "float32": float(np.finfo(np.float32).eps),
        "float16": float(np.finfo(np.float16).eps), "bfloat16": 2.0 ** -7}


def site_activations(model, site: Site, x: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, float]:
    """X: what `site.next_layer` sees for each sample of `x`, a float64 (neurons × samples) matrix,
    and the machine epsilon of the dtype it was computed in (so rank tests use the right tolerance)."""
    from edgeopt.tf.runtime import keras

    tensor = model.get_layer(site.next_layer).input
    reader = keras.Model(model.inputs, tensor)
    values = np.asarray(reader.predict(x, batch_size=batch_size, verbose=0), dtype=np.float64).T
    return values, dtype_eps(tensor.dtype.name)


def dtype_eps(dtype_name: str) -> float:
    """The machine epsilon of the dtype activations were computed in (float32's when unknown)."""
    return _EPS.get(dtype_name, _EPS["float32"])


def dense_weights(layer) -> tuple[np.ndarray, np.ndarray | None]:
    """(kernel, bias or None) of a Dense or Conv2D layer as NumPy arrays (the output axis last)."""
    weights = layer.get_weights()
    return weights[0], (weights[1] if layer.use_bias else None)


def resized_architecture(model, site: Site, width: int):
    """A copy of `model`'s architecture (fresh weights) in which `site.layer` has `width` neurons
    (Dense `units`) or channels (Conv2D `filters`); the layers after it take their new input
    width when they are rebuilt from their configs."""
    from edgeopt.tf.runtime import keras

    key = "units" if site.kind == "dense" else "filters"

    def rebuild(original):
        config = original.get_config()
        if original.name == site.layer:
            config[key] = int(width)
        return original.__class__.from_config(config)

    import edgeopt.layers  # noqa: F401  custom layers must be known to rebuild from their configs

    return keras.models.clone_model(model, clone_function=rebuild)


def shrink_model(model, site: Site, keep: np.ndarray, next_kernel: np.ndarray):
    """A new model in which `site.layer` keeps only the neurons (channels) `keep`, the per-channel
    layers between keep the same channels, and `site.next_layer` has the given kernel (its input
    axis of length len(keep)); every other weight, biases included, is copied unchanged.

    The layers are rebuilt from their configs with `units`/`filters` = len(keep), so the saved
    model and its .tflite are genuinely smaller.
    """
    from edgeopt.techniques.elimination.channels import slice_channel_weights

    keep = np.asarray(keep)
    smaller = resized_architecture(model, site, len(keep))
    kernel, bias = dense_weights(model.get_layer(site.layer))
    sliced = set(site.sliced)
    for old in model.layers:
        new = smaller.get_layer(old.name)
        if old.name == site.layer:
            new.set_weights([kernel[..., keep]] + ([bias[keep]] if bias is not None else []))
        elif old.name in sliced:
            new.set_weights(slice_channel_weights(old, keep))
        elif old.name == site.next_layer:
            new.set_weights([next_kernel.astype(np.float32)] + old.get_weights()[1:])
        else:
            new.set_weights(old.get_weights())
    return smaller


class MaskedEvaluator:
    """Scores eliminations on fixed inputs `x` quickly, without rebuilding the model each time.

    A working copy keeps the full width; the removed neurons (channels) get zero incoming weights
    and zero outgoing weights, which gives exactly the outputs of the physically smaller model (whatever
    a removed neuron emits is multiplied by zero). What comes before `site.layer` never changes,
    so its output on `x` is computed once and only the rest of the network runs per candidate.
    """

    def __init__(self, model, site: Site, x: np.ndarray, batch_size: int = 1024):
        from edgeopt.tf.runtime import keras, tf

        self.site = site
        self._batch_size = batch_size
        work = keras.models.clone_model(model)
        work.set_weights(model.get_weights())
        self._layer = work.get_layer(site.layer)
        self._next = work.get_layer(site.next_layer)
        self._kernel, self._bias = dense_weights(self._layer)
        self._next_rest = self._next.get_weights()[1:]  # the bias, unchanged by elimination
        self._next_shape = self._next.get_weights()[0].shape
        try:
            tail = keras.Model(self._layer.input, work.outputs)
            self._inputs = keras.Model(work.inputs, self._layer.input).predict(x, batch_size=batch_size, verbose=0)
        except ValueError:  # "graph disconnected": another path skips the layer; run the whole model
            tail, self._inputs = work, x
        self._call = tf.function(lambda batch: tail(batch, training=False))

    def set(self, keep: np.ndarray, next_kernel: np.ndarray) -> None:
        """Make the working copy compute what `shrink_model(model, site, keep, next_kernel)` would."""
        from edgeopt.techniques.elimination.channels import reader_rows, rows_to_kernel

        mask = np.zeros(self.site.width, dtype=bool)
        mask[keep] = True
        weights = [np.where(mask, self._kernel, 0.0)]  # the output axis is last, for Dense and Conv2D
        if self._bias is not None:
            weights.append(np.where(mask, self._bias, 0.0))
        self._layer.set_weights(weights)
        rows = reader_rows(next_kernel, self.site.positions)
        full = np.zeros((self.site.width, rows.shape[1]), dtype=np.float32)
        full[keep] = rows
        self._next.set_weights([rows_to_kernel(full, self._next_shape, self.site.positions), *self._next_rest])

    def set_plan(self, plan) -> None:
        """`set` with a Plan's neurons and next kernel."""
        self.set(plan.keep, plan.next_kernel)

    def outputs(self) -> np.ndarray:
        """The model's outputs on `x` under the current elimination."""
        step = self._batch_size
        return np.concatenate([np.asarray(self._call(self._inputs[i:i + step])) for i in range(0, len(self._inputs), step)])


def accuracy_of(logits: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy, a fraction in [0, 1]."""
    return float(np.mean(np.argmax(logits, axis=-1) == labels))
