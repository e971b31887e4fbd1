"""Compiling and fitting a classifier the same way in every stage that trains."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

from edgeopt.common.progress import log, progress_bar
from edgeopt.tf.runtime import keras, tf


@dataclass(frozen=True)
class FitResult:
    train_seconds: float
    epochs: int
    history: dict[str, list[float]]


def train_in_precision(model: keras.Model, dataset, *, precision: str, learning_rate, epochs: int,
                       batch_size: int, label: str, seed: int, validation_split: float = 0.0,
                       distribute=None, log_fn: Callable[[str], None] = log) -> tuple[keras.Model, dict]:
    """Compile and fit `model` under a dtype policy; return it as float32 and the facts to record.

    `learning_rate` is a number or a Keras schedule (`learning_rate_schedule`).

    The policy is scoped to the fit (restored afterwards), and the returned model is float32 with
    the trained weights, so conversion never sees a mixed-precision graph. The facts are
    train_seconds, history and the precision that ran, was requested, and why. With `distribute`
    (the stage's `DistributeOptions`), the model is rebuilt and compiled in that tf.distribute
    strategy's scope, `batch_size` stays the global batch, and the replicas are recorded too.
    """
    import contextlib

    from edgeopt.tf.distribute import strategy_for
    from edgeopt.tf.precision import as_float32, clone_with_policy, dtype_policy, for_policy, resolve_precision

    choice = resolve_precision(precision)
    log_fn(f"  precision {choice.policy} ({choice.reason})")
    strategy, distributed = strategy_for(distribute, batch_size) if distribute else (None, {})
    if strategy:
        log_fn(f"  distribute {distributed['distribute']}: {distributed['replicas']} replicas, global batch "
               f"{batch_size} = {distributed['per_replica_batch_size']} per replica")
    with dtype_policy(choice.policy):
        with strategy.scope() if strategy else contextlib.nullcontext():
            # Variables must be made in the strategy's scope: a distributed model is always a fresh copy.
            work = clone_with_policy(model, choice.policy) if strategy else for_policy(model, choice.policy)
            if strategy:
                work.set_weights(model.get_weights())
            compile_classifier(work, learning_rate, log_fn)
        fit = fit_classifier(work, dataset, epochs=epochs, batch_size=batch_size, label=label, seed=seed,
                             validation_split=validation_split, log_fn=log_fn)
    return as_float32(work), {"train_seconds": fit.train_seconds, "history": fit.history, **choice.info(precision),
                              **distributed}


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and make TF ops deterministic, for reproducible figures."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def learning_rate_schedule(kind: str, learning_rate: float, *, samples: int, batch_size: int, epochs: int):
    """The optimizer's rate: `learning_rate` throughout ("constant"), or decaying from it to 0 over
    the fit's batches ("cosine": `epochs` passes over `samples` images, as `fit_classifier` makes them).
    Measured on a ResNet-8 fine-tuned for 2 epochs after a channel cut (docs/search.md): cosine
    ended 1.3 points higher on validation than the constant rate it starts at.

    Example:
        >>> learning_rate_schedule("constant", 1e-3, samples=1000, batch_size=64, epochs=2)
        0.001
    """
    if kind == "constant":
        return learning_rate
    if kind == "cosine":
        steps = math.ceil(samples / batch_size) * epochs
        return keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=max(1, steps))
    raise ValueError(f"unknown learning-rate schedule {kind!r}: constant or cosine")


def compile_classifier(model: keras.Model, learning_rate,
                       log_fn: Callable[[str], None] | None = None) -> keras.Model:
    """Compile with Adam and the cross-entropy that fits the model's output (`classifier_loss`)."""
    loss, reason = classifier_loss(model)
    if log_fn:
        log_fn(f"  loss: sparse categorical cross-entropy, from_logits={loss.get_config()['from_logits']} ({reason})")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=["accuracy"])
    return model


# Layers that pass the class scores through unchanged in kind: look behind them for the activation.
_PASS_THROUGH = ("Reshape", "Flatten", "Dropout", "Identity", "GaussianNoise", "GaussianDropout", "AlphaDropout",
                 "ActivityRegularization")


def output_activation(model: keras.Model) -> tuple[str, str]:
    """The activation that makes the model's (first) output, and the layer it belongs to.

    "linear" (or any other non-normalising activation) means the outputs are logits.

    Example:
        >>> output_activation(keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")]))
        ('softmax', 'dense')
    """
    layer = model.get_layer(model.output_names[0]) if getattr(model, "output_names", None) else model.layers[-1]
    while True:
        while hasattr(layer, "layer") and isinstance(getattr(layer, "layer"), keras.layers.Layer):
            layer = layer.layer  # a pruning (or other) wrapper: the wrapped layer decides
        if isinstance(layer, keras.Model):
            layer = layer.get_layer(layer.output_names[0])
            continue
        kind = type(layer).__name__
        if kind == "Softmax":
            return "softmax", layer.name
        activation = getattr(layer, "activation", None)
        name = getattr(activation, "__name__", None)
        if name and name not in ("linear",):
            return {"softmax_v2": "softmax"}.get(name, name), layer.name
        if kind in _PASS_THROUGH or (kind == "Activation" and name == "linear"):
            inbound = layer._inbound_nodes[0].inbound_layers if layer._inbound_nodes else None  # noqa: SLF001
            if isinstance(inbound, keras.layers.Layer):
                layer = inbound
                continue
        return "linear", layer.name


def classifier_loss(model: keras.Model) -> tuple[keras.losses.Loss, str]:
    """Sparse cross-entropy matching the model's output, and why: softmax → from_logits=False, logits → True.

    Raises:
        EdgeoptError: The output is a sigmoid (multi-label or binary): not a single-label classifier.
    """
    from edgeopt.common.errors import EdgeoptError

    activation, layer = output_activation(model)
    if activation == "softmax":
        return keras.losses.SparseCategoricalCrossentropy(from_logits=False), f"'{layer}' ends in a softmax"
    if activation in ("sigmoid", "hard_sigmoid", "relu6_hard_sigmoid"):
        raise EdgeoptError(
            f"the model's output layer '{layer}' ends in a {activation}: edgeopt trains single-label classifiers "
            "(one class number per image, accuracy by argmax), whose output is a softmax or logits. Replace the "
            "sigmoid with a softmax (or no activation) over one unit per class — a binary model: two units.")
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True), f"'{layer}' gives logits ({activation})"


def fit_classifier(
    model: keras.Model,
    dataset,
    *,
    epochs: int,
    batch_size: int,
    label: str,
    seed: int,
    callbacks: list | None = None,
    validation_split: float = 0.0,
    log_fn: Callable[[str], None] = log,
) -> FitResult:
    """Fit a compiled model on the dataset's training split, with progress; returns wall time."""
    x, y = dataset.x_train, dataset.y_train
    n_fit = int(len(x) * (1 - validation_split))
    steps = math.ceil(n_fit / batch_size)
    seed_everything(seed)
    start = time.perf_counter()
    history = model.fit(
        x, y,
        epochs=epochs,
        batch_size=batch_size,
        validation_split=validation_split,
        shuffle=True,
        verbose=0,
        callbacks=[keras_progress(epochs, steps, label, log_fn), *(callbacks or [])],
    )
    seconds = time.perf_counter() - start
    return FitResult(seconds, epochs, {k: [float(v) for v in vals] for k, vals in history.history.items()})


def keras_progress(epochs: int, steps_per_epoch: int, label: str, log_fn: Callable[[str], None] = log):
    """A Keras callback showing batches of each epoch as a bar and logging each finished epoch."""
    class _Bar(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.bar = progress_bar()
            self.bar.start()

        def on_epoch_begin(self, epoch, logs=None):
            self.task = self.bar.add_task(f"{label} epoch {epoch + 1}/{epochs}", total=steps_per_epoch, status="")

        def on_train_batch_end(self, batch, logs=None):
            status = f"loss {logs.get('loss', float('nan')):.4f}" if logs else ""
            self.bar.update(self.task, completed=batch + 1, status=status)

        def on_epoch_end(self, epoch, logs=None):
            self.bar.remove_task(self.task)
            shown = ", ".join(f"{k} {v:.4f}" for k, v in (logs or {}).items())
            log_fn(f"  {label} epoch {epoch + 1}/{epochs}: {shown}")

        def on_train_end(self, logs=None):
            self.bar.stop()

    return _Bar()
