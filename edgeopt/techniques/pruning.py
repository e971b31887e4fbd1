"""Magnitude pruning with tfmot: which layers, how much each, the schedule, and what was achieved.

The `prune` stage (edgeopt/stages/prune.py) chains these. Pruning zeroes weights but a `.tflite`
still stores the zeros: the file only shrinks once compressed (gzip), and dense kernels run no
faster (docs/pruning.md, `benchmarks/prune_gzip.py`). `measure_sparsity` therefore reports what the stripped weights hold, and
the table reports raw and gzip sizes side by side.

Energy-aware allocation follows Yang et al. (CVPR 2017, via seed 002): layers that cost the most
get pruned the most. A layer's cost comes from a registered cost model (`LAYER_COSTS`); `macs`
is the one there is today, and a modelled-energy cost can be registered beside it.

TensorFlow and tfmot are imported inside the functions that need them, so recipe validation
(which imports this module through the stage's parameters) stays TensorFlow-free.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from edgeopt.common.errors import RecipeError, did_you_mean

# Cost models for energy-aware allocation: name → fn(layer) → cost of one inference (any unit;
# only shares matter). Registered with `@register_layer_cost`.
LAYER_COSTS: dict[str, Callable[[Any], float]] = {}


def register_layer_cost(name: str) -> Callable[[Callable[[Any], float]], Callable[[Any], float]]:
    """Register `fn(layer) -> cost` as a cost model for `allocation: energy_aware`.

    Example:
        >>> @register_layer_cost("weights")
        ... def _weights(layer):
        ...     return float(layer.count_params())
    """

    def decorate(fn: Callable[[Any], float]) -> Callable[[Any], float]:
        LAYER_COSTS[name] = fn
        return fn

    return decorate


@register_layer_cost("macs")
def _macs(layer) -> float:
    from edgeopt.models.keras_profile import layer_macs

    return float(layer_macs(layer))


# --- which layers ---------------------------------------------------------------------------


def leaf_layers(model) -> Iterator[Any]:
    """Every layer of `model`, descending into nested models."""
    from edgeopt.tf.runtime import keras

    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from leaf_layers(layer)
        else:
            yield layer


def prunable_weights(layer) -> list:
    """The weight variables tfmot would prune in `layer` ([] when it prunes none).

    Custom layers say so themselves through `get_prunable_weights()` (tfmot's `PrunableLayer`);
    built-in layers are looked up in tfmot's registry (Conv2D and Dense: the kernel, not the bias).
    """
    import edgeopt.tf.runtime  # noqa: F401  sets TF_USE_LEGACY_KERAS before tfmot loads
    import tensorflow_model_optimization as tfmot
    from tensorflow_model_optimization.python.core.sparsity.keras.prune_registry import PruneRegistry

    if isinstance(layer, tfmot.sparsity.keras.PrunableLayer) or hasattr(layer, "get_prunable_weights"):
        return list(layer.get_prunable_weights())
    if PruneRegistry.supports(layer):
        # The registry has no public "which weights" query; this is what make_prunable reads.
        return [getattr(layer, name) for name in PruneRegistry._weight_names(layer)]
    return []


def prunable_layers(model) -> dict[str, Any]:
    """Layers of `model` with weights to prune, by name, in model order."""
    return {layer.name: layer for layer in leaf_layers(model) if prunable_weights(layer)}


def select_layers(model, *, names: list[str] | None = None, types: list[str] | None = None,
                  exclude: list[str] | None = None) -> list[str]:
    """Names of the layers to prune: all prunable ones, or those named / of the given types.

    `names` and `types` add up (a layer matching either is pruned); `exclude` is removed last.
    Every name and type must exist in the model, so a typo is an error, not a silent no-op.

    Example:
        >>> select_layers(model, types=["Conv2D"], exclude=["conv1"])
        ['conv2', 'conv3']
    """
    candidates = prunable_layers(model)
    if not candidates:
        raise RecipeError("the model has no layer with weights tfmot can prune (Conv, Dense, or a custom layer "
                          "implementing tfmot.sparsity.keras.PrunableLayer).")
    everything = {layer.name: layer for layer in leaf_layers(model)}
    for name in [*(names or []), *(exclude or [])]:
        if name not in everything:
            raise RecipeError(f"no layer named '{name}' in the model.{did_you_mean(name, everything)} "
                              f"Prunable layers: {', '.join(candidates) or 'none'}.")
        if name not in candidates:
            raise RecipeError(f"layer '{name}' ({type(everything[name]).__name__}) has no weights to prune. "
                              f"Prunable layers: {', '.join(candidates) or 'none'}.")
    present_types = sorted({type(layer).__name__ for layer in candidates.values()})
    for type_name in types or []:
        if type_name not in present_types:
            raise RecipeError(f"no prunable layer of type '{type_name}' in the model."
                              f"{did_you_mean(type_name, present_types)} Prunable types: {', '.join(present_types) or 'none'}.")
    if names is None and types is None:
        chosen = list(candidates)
    else:
        chosen = [name for name, layer in candidates.items()
                  if name in (names or []) or type(layer).__name__ in (types or [])]
    chosen = [name for name in chosen if name not in (exclude or [])]
    if not chosen:
        raise RecipeError("no layer left to prune after `exclude_layers`. "
                          f"Prunable layers: {', '.join(candidates) or 'none'}.")
    return chosen


# --- how much each --------------------------------------------------------------------------


def allocate_sparsity(costs: Mapping[str, float], sizes: Mapping[str, int], target: float,
                      max_layer_sparsity: float) -> dict[str, float]:
    """Per-layer sparsity proportional to each layer's share of the cost, heaviest first.

    Layer i gets `s_i = min(max_layer_sparsity, k * cost_i / sum(cost))`, with k chosen so the
    weights pruned add up to `target` of all weights: `sum(s_i * size_i) = target * sum(size_i)`.
    The heaviest layers hit the cap first and the rest of the budget is shared by the others
    (water-filling). Layers with no cost are not pruned.

    Args:
        costs: layer name → cost of one inference (MACs, modelled energy, ...).
        sizes: layer name → number of prunable weights.
        target: overall sparsity over all the layers' prunable weights, in [0, 1).
        max_layer_sparsity: no layer is pruned beyond this.

    Example:
        >>> allocate_sparsity({"a": 3.0, "b": 1.0}, {"a": 100, "b": 100}, 0.4, 0.9)
        {'a': 0.6, 'b': 0.2}
    """
    total_cost = sum(costs.values())
    total_size = sum(sizes[name] for name in costs)
    if total_cost <= 0 or total_size == 0:
        raise RecipeError("energy-aware pruning needs layers with a positive cost; the selected layers "
                          f"have none ({', '.join(costs) or 'no layers'}). Use `allocation: uniform`.")
    budget = target * total_size  # weights to zero
    payable = [n for n in costs if costs[n] > 0]
    if budget > max_layer_sparsity * sum(sizes[n] for n in payable) + 1e-9:
        raise RecipeError(f"overall sparsity {target} cannot be reached with no layer above "
                          f"max_layer_sparsity={max_layer_sparsity}: raise it or lower final_sparsity.")
    share = {n: costs[n] / total_cost for n in costs}
    result = {n: 0.0 for n in costs}
    free = sorted(payable, key=lambda n: share[n], reverse=True)
    while free:
        k = budget / sum(share[n] * sizes[n] for n in free)
        capped = [n for n in free if k * share[n] > max_layer_sparsity]
        if not capped:
            result.update({n: k * share[n] for n in free})
            break
        for n in capped:  # heaviest first: they are at the front of `free`
            result[n] = max_layer_sparsity
            budget -= max_layer_sparsity * sizes[n]
        free = [n for n in free if n not in capped]
    return {n: round(s, 6) for n, s in result.items()}


def layer_costs(model, names: list[str], cost: str) -> dict[str, float]:
    """The cost of each named layer under the registered cost model `cost`."""
    layers = {layer.name: layer for layer in leaf_layers(model)}
    return {name: LAYER_COSTS[cost](layers[name]) for name in names}


def weight_counts(model, names: list[str]) -> dict[str, int]:
    layers = {layer.name: layer for layer in leaf_layers(model)}
    return {name: int(sum(np.prod(w.shape) for w in prunable_weights(layers[name]))) for name in names}


def m_by_n_sparsity(layer, m: int, n: int) -> float:
    """The sparsity m-zeros-in-every-n pruning can give `layer`'s prunable weights.

    tfmot groups weights by n along the input channels (TFLite's innermost axis) and pads the
    last group; the padding counts among the smallest, so a layer whose input channel count is
    not a multiple of n ends below m/n (conv1 on grey images, 1 channel: 0).

    Example:
        >>> m_by_n_sparsity(keras.layers.Dense(8, input_shape=(6,)), 2, 4)  # groups of 4 and 2+2 pad
        0.3333333333333333
    """
    zeros = total = 0
    for weight in prunable_weights(layer):
        shape = tuple(weight.shape)
        if len(shape) not in (2, 4):
            raise RecipeError(f"`sparsity_m_by_n` needs 2-D or 4-D weights; layer '{layer.name}' has a weight of "
                              f"shape {shape}. Exclude it with `exclude_layers`.")
        channels_in = shape[0] if len(shape) == 2 else shape[2]
        groups = math.ceil(channels_in / n)
        padding = groups * n - channels_in
        per_row = (groups - 1) * m + max(0, m - padding)
        rows = int(np.prod(shape)) // channels_in
        zeros += per_row * rows
        total += channels_in * rows
    return zeros / total if total else 0.0


# --- the schedule ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    """A tfmot pruning schedule, in plain numbers so it can be logged and stored in step.json."""

    kind: str  # "polynomial_decay" | "constant"
    initial_sparsity: float
    final_sparsity: float
    begin_step: int
    end_step: int  # -1: constant sparsity until training ends
    power: float
    frequency: int

    def scaled_to(self, final_sparsity: float) -> "Schedule":
        """The same schedule ending at another sparsity (the start is scaled alike)."""
        ratio = final_sparsity / self.final_sparsity if self.final_sparsity else 0.0
        return Schedule(self.kind, self.initial_sparsity * ratio, final_sparsity, self.begin_step,
                        self.end_step, self.power, self.frequency)

    def last_update(self) -> tuple[int, float] | None:
        """The step and sparsity of the last mask update before end_step (None: no end_step).

        Example:
            >>> Schedule("polynomial_decay", 0.0, 0.5, 0, 150, 1.0, 100).last_update()
            (100, 0.333333)
        """
        if self.end_step < 0:
            return None
        step = aligned_end_step(self.begin_step, self.end_step, self.frequency)
        if self.kind == "constant":
            return step, self.final_sparsity
        progress = (step - self.begin_step) / (self.end_step - self.begin_step)
        return step, round(self.final_sparsity + (self.initial_sparsity - self.final_sparsity)
                           * (1 - progress) ** self.power, 6)

    def tfmot(self):
        import edgeopt.tf.runtime  # noqa: F401
        import tensorflow_model_optimization as tfmot

        if self.kind == "constant":
            return tfmot.sparsity.keras.ConstantSparsity(self.final_sparsity, self.begin_step, self.end_step,
                                                         self.frequency)
        return tfmot.sparsity.keras.PolynomialDecay(self.initial_sparsity, self.final_sparsity, self.begin_step,
                                                    self.end_step, self.power, self.frequency)


def aligned_end_step(begin_step: int, end_step: int, frequency: int) -> int:
    """The last step ≤ `end_step` on which tfmot updates masks (begin_step + k · frequency).

    tfmot only updates masks every `frequency` steps from `begin_step`; if `end_step` falls
    between two updates, the last update happens before the schedule reaches its final sparsity.

    Example:
        >>> aligned_end_step(0, 1876, 100)
        1800
    """
    return begin_step + (end_step - begin_step) // frequency * frequency


def steps_per_epoch(n_images: int, batch_size: int) -> int:
    return math.ceil(n_images / batch_size)


# --- wrap, strip, measure -------------------------------------------------------------------


def wrap_for_pruning(model, schedules: Mapping[str, Schedule], sparsity_m_by_n: tuple[int, int] | None = None):
    """A model sharing `model`'s layers, with the named layers wrapped by `prune_low_magnitude`.

    Each wrapper computes in its layer's own dtype policy, so a float32 logits layer stays
    float32 inside a mixed-precision model. Train it with `UpdatePruningStep`, then
    `strip_pruning` it; the layers (and their now sparse weights) are `model`'s own.
    """
    from edgeopt.tf.runtime import keras
    import tensorflow_model_optimization as tfmot

    def wrap(layer):
        if isinstance(layer, keras.Model):
            return keras.models.clone_model(layer, clone_function=wrap)
        if layer.name not in schedules:
            return layer
        return tfmot.sparsity.keras.prune_low_magnitude(
            layer, pruning_schedule=schedules[layer.name].tfmot(), sparsity_m_by_n=sparsity_m_by_n,
            dtype=layer.dtype_policy)

    return keras.models.clone_model(model, clone_function=wrap)


def strip_pruning(model):
    import edgeopt.tf.runtime  # noqa: F401
    import tensorflow_model_optimization as tfmot

    return tfmot.sparsity.keras.strip_pruning(model)


def pruning_step_callback():
    import edgeopt.tf.runtime  # noqa: F401
    import tensorflow_model_optimization as tfmot

    return tfmot.sparsity.keras.UpdatePruningStep()


@dataclass(frozen=True)
class SparsityReport:
    per_layer: dict[str, float]  # layer → fraction of its prunable weights that are exactly 0
    overall: float | None  # zeros / weights over all those layers (weighted by size)
    zeros: int
    weights: int


def measure_sparsity(model) -> SparsityReport:
    """Count exact zeros in the prunable weights of every prunable layer of `model`.

    Example:
        >>> report = measure_sparsity(load_keras_model("runs/x/pruned/model.keras"))
        >>> report.per_layer["conv2"]
        0.5
    """
    per_layer, zeros, weights = {}, 0, 0
    for name, layer in prunable_layers(model).items():
        values = [np.asarray(w.numpy()) for w in prunable_weights(layer)]
        layer_zeros = int(sum(np.count_nonzero(v == 0) for v in values))
        layer_size = int(sum(v.size for v in values))
        per_layer[name] = round(layer_zeros / layer_size, 6)
        zeros += layer_zeros
        weights += layer_size
    return SparsityReport(per_layer, round(zeros / weights, 6) if weights else None, zeros, weights)


def nonzero_macs(model, sparsity: Mapping[str, float]) -> int:
    """MACs whose weight is not zero: what a kernel that skips zeros would execute.

    TFLite's dense kernels execute every MAC whatever the weights hold; this is the figure an
    energy model that credits sparsity would use, and what energy-aware allocation lowers most.

    Example:
        >>> nonzero_macs(model, measure_sparsity(model).per_layer) <= count_macs(model)
        True
    """
    from edgeopt.models.keras_profile import layer_macs

    return int(round(sum(layer_macs(layer) * (1.0 - sparsity.get(layer.name, 0.0)) for layer in leaf_layers(model))))
