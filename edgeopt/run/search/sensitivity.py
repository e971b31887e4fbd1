"""Cheap accuracy estimates, no fine-tuning: what a width costs before anything is trained.

Seed 003's elimination keeps the channels that best span the rest and refits every reader by least
squares, so a cut model is scored as it stands (AMC and AIMET score candidates the same way). A
configuration that cuts several units is rebuilt unit by unit, as the `eliminate` stage does, and
its BatchNormalization statistics are re-estimated on training images (EagleEye's adaptive BN:
forward passes in training mode, no gradients) before one pass over the selection images. One
unit alone is scored on a masked working copy instead (`GroupMaskedEvaluator`: the same outputs,
no rebuild), which makes a unit × width table cost one forward pass per cell.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from edgeopt.run.search.units import Unit, Widths

BN_BATCHES = 10  # batches of training images the statistics are re-estimated on
BN_BATCH_SIZE = 256


def top1(logits: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy in percent (the elimination's own top-1, `accuracy_of`, scaled)."""
    from edgeopt.techniques.elimination.surgery import accuracy_of

    return 100.0 * accuracy_of(logits, labels)


def unit_table(model, units: list[Unit], widths: dict[str, list[int]], calibration: np.ndarray, x: np.ndarray,
               y: np.ndarray, log: Callable[[str], None] = lambda _: None) -> dict[str, dict[int, float]]:
    """Accuracy (%) of `model` with one unit at a time cut to each of its `widths` (refit, no training)."""
    from edgeopt.techniques.elimination.group_eliminator import GroupEliminator
    from edgeopt.techniques.elimination.groups import channel_groups

    groups = {g.name: g for g in channel_groups(model)}
    table: dict[str, dict[int, float]] = {}
    for unit in units:
        eliminator = GroupEliminator(model, groups[unit.name], calibration)
        evaluator = eliminator.evaluator(x)
        table[unit.name] = {}
        for width in sorted(w for w in widths[unit.name] if w < unit.width):
            evaluator.set_plan(eliminator.plan(width))
            table[unit.name][width] = top1(evaluator.outputs(), y)
        log(f"    {unit.name}: " + ", ".join(f"{w} → {a:.1f} %" for w, a in sorted(table[unit.name].items())))
    return table


class Narrower:
    """`model` with every unit cut to given widths in turn (each refit on the model the last one left,
    as the `eliminate` stage does), sharing the work of common prefixes between configurations: the
    calibration pass of a unit on a given model is the costly part, and allocations often agree on
    the first units."""

    def __init__(self, model, units: list[Unit], calibration: np.ndarray):
        self.units, self.calibration = units, calibration
        self._models = {(): model}
        self._eliminators: dict = {}

    def __call__(self, widths: Widths):
        from edgeopt.techniques.elimination.group_eliminator import GroupEliminator
        from edgeopt.techniques.elimination.groups import group_of

        key: tuple = ()
        for unit in self.units:
            if widths[unit.name] >= unit.width:
                continue
            longer = key + ((unit.name, widths[unit.name]),)
            if longer not in self._models:
                model = self._models[key]
                if (key, unit.name) not in self._eliminators:
                    self._eliminators[(key, unit.name)] = GroupEliminator(model, group_of(model, unit.name),
                                                                          self.calibration)
                eliminator = self._eliminators[(key, unit.name)]
                self._models[longer] = eliminator.apply(eliminator.plan(widths[unit.name]))
            key = longer
        return self._models[key]


def reestimate_batchnorm(model, x_train: np.ndarray, seed: int = 0) -> None:
    """Adaptive BN: replace every BatchNormalization's moving statistics by their average over
    BN_BATCHES training batches of the model as it now is (a running mean: momentum k/(k+1))."""
    from edgeopt.tf.runtime import keras

    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    if not layers:
        return
    rng = np.random.default_rng(seed)
    saved = {layer.name: layer.momentum for layer in layers}
    try:
        for k in range(BN_BATCHES):
            for layer in layers:
                layer.momentum = k / (k + 1)  # k = 0 takes the first batch's statistics outright
            batch = x_train[rng.choice(len(x_train), size=min(BN_BATCH_SIZE, len(x_train)), replace=False)]
            model(batch, training=True)
    finally:
        for layer in layers:
            layer.momentum = saved[layer.name]


def configuration_accuracy(narrower: Narrower, widths: Widths, x_train: np.ndarray, x: np.ndarray, y: np.ndarray,
                           *, batchnorm: bool = True, seed: int = 0) -> float:
    """Accuracy (%) on (x, y) of the model cut to `widths`, refit, BatchNorm re-estimated, not trained.

    The statistics are re-estimated in place and put back afterwards: the narrower keeps its models
    for other configurations, and a copy would cost more than the scoring."""
    from edgeopt.tf.runtime import keras

    smaller = narrower(widths)
    layers = [layer for layer in smaller.layers if isinstance(layer, keras.layers.BatchNormalization)]
    saved = {layer.name: layer.get_weights() for layer in layers} if batchnorm else {}
    try:
        if batchnorm:
            reestimate_batchnorm(smaller, x_train, seed)
        return top1(smaller.predict(x, batch_size=512, verbose=0), y)
    finally:
        for layer in layers:
            if layer.name in saved:
                layer.set_weights(saved[layer.name])
