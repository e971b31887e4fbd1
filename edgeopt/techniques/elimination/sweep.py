"""Algorithms 1 and 2 of seed 003 on a Keras model: eliminate neurons of a Dense layer, or
output channels of a Conv2D layer's channel group (`groups.py`, `group_eliminator.py`), without
retraining, at one width or along a sweep that records accuracy and modelled energy
(`tradeoff.py` holds the record, its CSV and plot).

Accuracy during a sweep is scored on a masked working copy (exactly the outputs of the smaller
model, see `MaskedEvaluator` and `GroupMaskedEvaluator`); the model that is kept is rebuilt
physically smaller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np

from edgeopt.techniques.elimination.energy import LayerCost, dense_cost, estimate_energy, keras_layer_costs
from edgeopt.techniques.elimination.keep import check_keep, keep_from_fraction  # noqa: F401  (stages/eliminate.py imports them here)
from edgeopt.techniques.elimination.linalg import (blas_single_thread, fold_into_next, largest_outgoing_norms, reconstruction,
                                                   representative_rows, spectrum)
from edgeopt.techniques.elimination.surgery import (EliminationError, MaskedEvaluator, Site, accuracy_of, dense_weights,
                                                    find_site, resized_architecture, shrink_model, site_activations)
from edgeopt.techniques.elimination.tradeoff import TradeoffPoint

Method = Literal["svd_qr", "weight_norm"]
LatencyRuntime = Literal["keras", "litert_int8"]
METHODS = ("svd_qr", "weight_norm")


@dataclass(frozen=True)
class Plan:
    """One elimination: which neurons of `site.layer` stay and the next layer's new kernel."""

    site: Site
    method: str
    keep: np.ndarray
    next_kernel: np.ndarray

    @property
    def neurons_kept(self) -> int:
        return int(len(self.keep))


class LayerEliminator:
    """Plans eliminations of one Dense layer's neurons at any width, from one pass over
    calibration data: X (neurons × images) is kept and its SVD taken once; the selection
    (Algorithm 2) and the least-squares T (Eq. 6) are folded into the next Dense layer.
    Conv2D channels are eliminated per channel group (`GroupEliminator`; `eliminator_for`
    returns the right one for a layer name).

    Example:
        >>> eliminator = LayerEliminator(model, "fc1", dataset.calibration_samples(1000))
        >>> smaller = eliminator.apply(eliminator.plan(100))     # fc1: 300 → 100 neurons
    """

    def __init__(self, model, layer: str, calibration_x: np.ndarray):
        self.model = model
        self.site = find_site(model, layer)
        if self.site.kind != "dense":
            raise EliminationError(f"'{layer}' is a Conv2D: its channels are eliminated with their channel group "
                                   "(GroupEliminator, or eliminator_for)")
        self._spectrum = None
        self.activations, self.eps = site_activations(model, self.site, calibration_x)  # X, (n, K)
        self.samples = int(self.activations.shape[1])
        self.next_kernel = dense_weights(model.get_layer(self.site.next_layer))[0]
        self._next_rows = self.next_kernel

    @property
    def name(self) -> str:
        return self.site.layer

    @property
    def width(self) -> int:
        return self.site.width

    @property
    def unit(self) -> str:
        return self.site.unit

    @property
    def producers(self) -> tuple[str, ...]:
        return (self.site.layer,)

    def describe(self) -> str:
        return f"'{self.site.layer}' ('{self.site.next_layer}' updated)"

    def evaluator(self, x: np.ndarray) -> MaskedEvaluator:
        return MaskedEvaluator(self.model, self.site, x)

    def costs_at(self, neurons_kept: int) -> list[LayerCost]:
        return resize_costs(self.model, keras_layer_costs(self.model), self.site, neurons_kept)

    @property
    def spectrum(self):
        if self._spectrum is None:  # the SVD is the costly part and the weight-norm baseline needs none
            with blas_single_thread():
                self._spectrum = spectrum(self.activations, self.eps)
        return self._spectrum

    @property
    def rank(self) -> int:
        return self.spectrum.rank

    def plan(self, neurons_kept: int, method: Method = "svd_qr") -> Plan:
        """Choose `neurons_kept` neurons and compute the next layer's kernel (seed Eq. 6 for svd_qr)."""
        check_keep(self.site, neurons_kept)
        if method == "svd_qr":
            if neurons_kept > self.samples:
                raise EliminationError(
                    f"keeping {neurons_kept} {self.site.unit} of '{self.site.layer}' needs at least that many "
                    f"calibration samples; got {self.samples}. Raise calibration_samples.")
            with blas_single_thread():
                keep = representative_rows(self.spectrum.compressed, neurons_kept, self.spectrum)
                rows = fold_into_next(self._next_rows, reconstruction(self.spectrum.compressed, keep))
        elif method == "weight_norm":
            keep = largest_outgoing_norms(self._next_rows, neurons_kept)
            rows = self._next_rows[keep]
        else:
            raise ValueError(f"method must be one of {', '.join(METHODS)}. Received: method={method!r}")
        return Plan(self.site, method, keep, rows)

    def apply(self, plan: Plan):
        """The physically smaller Keras model of `plan`."""
        return shrink_model(self.model, plan.site, plan.keep, plan.next_kernel)


def eliminator_for(model, layer: str, calibration_x: np.ndarray):
    """A LayerEliminator for a Dense `layer`, the GroupEliminator of its channel group for a Conv2D.

    Both answer `name`, `width`, `unit`, `rank`, `samples`, `plan(p, method)`, `apply(plan)`,
    `evaluator(x)` and `costs_at(p)`, which is all a sweep needs.
    """
    from edgeopt.techniques.elimination.group_eliminator import GroupEliminator
    from edgeopt.tf.runtime import keras

    if any(candidate.name == layer and type(candidate) is keras.layers.Conv2D for candidate in model.layers):
        return GroupEliminator(model, layer, calibration_x)
    return LayerEliminator(model, layer, calibration_x)


def eliminate_neurons(model, layer: str, neurons_kept: int, calibration_x: np.ndarray,
                      method: Method = "svd_qr"):
    """Remove all but `neurons_kept` neurons of Dense `layer` (output channels of a Conv2D
    `layer`), without retraining.

    Args:
        model: a Keras model; a Dense `layer` must feed a Dense layer (directly or through
            element-wise layers); a Conv2D layer is narrowed with its whole channel group
            (`groups.py`: the convs tied to it by residual Adds or gates lose the same channels).
        layer: name of the Dense or Conv2D layer to narrow.
        neurons_kept: how many neurons (channels) stay, in [1, width - 1].
        calibration_x: real input samples whose activations drive the choice (and Eq. 6).
        method: "svd_qr" (seed 003: SVD + pivoted QR, next layer updated by least squares) or
            "weight_norm" (baseline: keep the largest outgoing weight norms, no update).

    Returns:
        (smaller model, Plan), or (smaller model, GroupPlan) for a Conv2D.

    Example:
        >>> smaller, plan = eliminate_neurons(model, "fc1", 100, dataset.calibration_samples(1000))
        >>> smaller.get_layer("fc1").units
        100
        >>> narrow, _ = eliminate_neurons(model, "conv2", 32, dataset.calibration_samples(1000))
        >>> narrow.get_layer("conv2").filters
        32
    """
    eliminator = eliminator_for(model, layer, calibration_x)
    plan = eliminator.plan(neurons_kept, method)
    return eliminator.apply(plan), plan


# --- Algorithm 1: the energy–accuracy sweep ---------------------------------------------------


def sweep_layer(model, layer: str, calibration_x: np.ndarray, x_eval: np.ndarray, y_eval: np.ndarray, *,
                max_accuracy_drop: float, step: int = 1, method: Method = "svd_qr",
                compare_baseline: bool = False, latency_runs: int | None = None,
                latency_runtime: LatencyRuntime = "keras", precision: str = "float32",
                log: Callable[[str], None] = lambda _: None) -> list[TradeoffPoint]:
    """Algorithm 1: from p = rank(X) down by `step`, record every configuration until the accuracy
    drop on (x_eval, y_eval) exceeds `max_accuracy_drop` (that last one is recorded too).

    Args:
        compare_baseline: also score the weight-norm baseline at every p the sweep visits.
        latency_runs: when set, time each configuration's physically smaller model (batch 1, median
            of this many calls); otherwise, and for baseline points, latency stays None.
        latency_runtime: "keras" (TensorFlow runs the Keras model) or "litert_int8" (each
            configuration converted to full-int8 TFLite with the first 200 calibration images and
            run by LiteRT on one thread, as the profiler runs the recipe's int8 rows).

    Returns:
        The points, the unmodified model first (method 'original'). Each records, besides accuracy,
        its fidelity to the unmodified model on (x_eval): top-1 agreement and relative output error.
    """
    if method == "weight_norm" and compare_baseline:
        raise ValueError("compare_baseline compares svd_qr with the weight_norm baseline; method is already weight_norm")
    eliminator = eliminator_for(model, layer, calibration_x)
    name, width, unit = eliminator.name, eliminator.width, eliminator.unit
    evaluator = eliminator.evaluator(x_eval)

    def time_model(candidate) -> float | None:
        if not latency_runs:
            return None
        if latency_runtime == "litert_int8":
            return litert_int8_latency_ms(candidate, latency_runs, calibration_x[:200])
        return keras_latency_ms(candidate, latency_runs)

    base_logits = model.predict(x_eval, batch_size=1024, verbose=0)
    base_accuracy = accuracy_of(base_logits, y_eval)
    base_classes = np.argmax(base_logits, axis=-1)
    base_norm = float(np.linalg.norm(base_logits)) or 1.0  # all-zero outputs: report the absolute error
    producers = set(eliminator.producers)

    def point(method_name: str, plan=None) -> TradeoffPoint:
        p = width if plan is None else plan.neurons_kept
        if plan is None:
            outputs, latency = base_logits, time_model(model)
        else:
            evaluator.set_plan(plan)
            outputs = evaluator.outputs()
            # The baseline at p has the same architecture as the method at p; it is not timed twice.
            timed = latency_runs and method_name == method
            latency = time_model(eliminator.apply(plan)) if timed else None
        accuracy = accuracy_of(outputs, y_eval)
        resized = eliminator.costs_at(p) if plan is not None else keras_layer_costs(model)
        drop = base_accuracy - accuracy
        return TradeoffPoint(
            layer=name, method=method_name, neurons_kept=p, width=width,
            params=sum(c.params for c in resized), layer_params=sum(c.params for c in resized if c.name in producers),
            macs=sum(c.macs for c in resized), accuracy=accuracy, accuracy_drop=drop,
            within_threshold=drop <= max_accuracy_drop, energy=estimate_energy(resized, precision),
            agreement=float(np.mean(np.argmax(outputs, axis=-1) == base_classes)),
            output_error=float(np.linalg.norm(outputs - base_logits)) / base_norm, latency_ms_p50=latency,
            latency_runtime=None if latency is None else latency_runtime)

    points = [point("original", None)]
    # Algorithm 1 starts at p = rank(X): neurons beyond the rank are exact combinations of others.
    start = eliminator.rank if method == "svd_qr" else width
    p = min(start, width - step) if start >= width else start
    log(f"  {eliminator.describe()}: {width} {unit}, activation rank {eliminator.rank if method == 'svd_qr' else 'n/a'} "
        f"on {eliminator.samples} calibration samples; sweeping from {p} down by {step}")
    while p >= 1:
        current = point(method, eliminator.plan(p, method))
        points.append(current)
        if compare_baseline:
            points.append(point("weight_norm", eliminator.plan(p, "weight_norm")))
        if not current.within_threshold:
            break
        p -= step
    last = points[-2] if compare_baseline else points[-1]
    log(f"  {name}: stopped at {last.neurons_kept} {unit}, accuracy {last.accuracy:.4f} "
        f"(original {base_accuracy:.4f})")
    return points


def resize_costs(model, costs: list[LayerCost], site: Site, neurons_kept: int) -> list[LayerCost]:
    """The layer costs of `model` once `site.layer` has `neurons_kept` neurons (channels)."""
    if site.kind != "dense":  # a conv's width changes the layers between and the reader: cost the smaller model
        return keras_layer_costs(resized_architecture(model, site, neurons_kept))
    layer, reader = model.get_layer(site.layer), model.get_layer(site.next_layer)
    new = {
        site.layer: dense_cost(site.layer, int(layer.input_shape[-1]), neurons_kept, layer.use_bias),
        site.next_layer: dense_cost(site.next_layer, neurons_kept, int(reader.units), reader.use_bias),
    }
    return [new.get(c.name, c) for c in costs]


def keras_latency_ms(model, runs: int, warmup: int = 5) -> float:
    """Median wall time of one batch-1 call of a Keras model, in ms (TensorFlow's runtime)."""
    from edgeopt.models.keras_profile import keras_latency_samples_ms

    return float(np.median(keras_latency_samples_ms(model, runs=runs, warmup=warmup)))


def litert_int8_latency_ms(model, runs: int, calibration: np.ndarray, warmup: int = 10) -> float:
    """Median time of one inference of `model` converted to full-int8 TFLite, run by LiteRT on one
    thread (the profiler's runner), in ms. The converted file is temporary."""
    import tempfile
    from pathlib import Path

    from edgeopt.models.conversion import tflite_bytes
    from edgeopt.profile.runner import measure_latency

    with tempfile.TemporaryDirectory(prefix="edgeopt-sweep-") as folder:
        path = Path(folder) / "configuration.tflite"
        path.write_bytes(tflite_bytes(model, "int8", calibration))
        return float(measure_latency(path, runs=runs, warmup=warmup, threads=1).p50_ms)
