"""`eliminate`: remove redundant neurons of Dense layers, or output channels of Conv2D layers,
without retraining (seed 003; for convs Chee et al., arXiv 2108.00065).

A Conv2D is narrowed with its *channel group*: every conv tied to it by residual Adds, 1×1
shortcuts or squeeze-excite gates loses the same channels (`techniques/elimination/groups.py`),
and the log names the group. Listing several convs of one group narrows it once.

Either a fixed width (`keep` or `keep_fraction`, one value for every listed layer or one per
layer, applied per layer or group in turn), or the seed's Algorithm 1 (`max_accuracy_drop`):
each listed layer or group is swept independently on the input model, every configuration's
accuracy and modelled energy go to `tradeoff.csv` and `tradeoff.png`, and the lowest-energy
configuration within the threshold becomes the step's model. The sweep chooses on the recipe's
validation split, or on training images when it has none (`edgeopt/data/selection.py`; step.json's
`selection_split` says which), never on the test split, which only reports the chosen model.
`finetune_epochs` optionally trains the smaller model afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from edgeopt.stages.registry import Artifact, StageContext, StageParams, artifact_file, register_stage


class EliminateParams(StageParams):
    layers: list[str] = Field(min_length=1, description="names of the Dense or Conv2D layers to narrow, e.g. [fc1]")
    calibration_samples: int = Field(1000, ge=1, le=1_000_000,
                                     description="real training images whose activations choose the neurons")
    keep: int | dict[str, int] | None = Field(
        None, description="neurons (channels) to keep in each layer, or per layer {conv1: 16, conv2: 32}")
    keep_fraction: float | dict[str, float] | None = Field(
        None, description="fraction of each layer's neurons (channels) to keep, or per layer")
    max_accuracy_drop: float | None = Field(
        None, gt=0, lt=1, description="sweep: narrow while accuracy on the selection split (validation, else "
                    "training images) drops at most this (0.02 = 2 points)")
    sweep_step: int = Field(1, ge=1, le=100_000, description="sweep: neurons removed per step")
    method: Literal["svd_qr", "weight_norm"] = Field(
        "svd_qr", description="svd_qr (seed 003, next layer updated) or weight_norm (baseline, no update)")
    compare_baseline: bool = Field(False, description="sweep: also score the weight_norm baseline at every width")
    measure_latency: bool = Field(False, description="sweep: time every configuration (batch 1)")
    latency_runtime: Literal["keras", "litert_int8"] = Field(
        "keras", description="sweep: time the Keras model, or its full-int8 .tflite in LiteRT (1 thread)")
    latency_runs: int = Field(50, ge=1, le=100_000, description="sweep: timed calls per configuration")
    energy_precision: Literal["float32", "int8"] = Field("float32", description="word size of the energy model")
    finetune_epochs: int = Field(0, ge=0, le=1000, description="epochs of training after the cut (0: none)")
    finetune_learning_rate: float = Field(5e-4, gt=0, le=1, description="learning rate of that fine-tuning")
    finetune_batch_size: int = Field(64, ge=1, le=65536, description="batch size of that fine-tuning")
    finetune_learning_rate_schedule: Literal["constant", "cosine"] = Field(
        "constant", description="as finetune's learning_rate_schedule: constant, or cosine decay to 0")
    omit_when_default: ClassVar[tuple[str, ...]] = ("finetune_learning_rate_schedule",)  # older runs' fingerprints

    @field_validator("layers")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        repeated = sorted({name for name in value if value.count(name) > 1})
        if repeated:
            raise ValueError(f"each layer may be listed once; repeated: {', '.join(repeated)}")
        return value

    @field_validator("keep", mode="before")
    @classmethod
    def _counts(cls, value):
        counts = list(value.values()) if isinstance(value, dict) else [value]
        if value is not None and not all(isinstance(c, int) and not isinstance(c, bool) and c >= 1 for c in counts):
            raise ValueError("`keep` must be a whole number ≥ 1 of neurons (channels) to keep, or one per layer, "
                             "e.g. {conv1: 16, conv2: 32}")  # the recipe error repeats the value received
        return value

    @field_validator("keep_fraction", mode="before")
    @classmethod
    def _fractions(cls, value):
        fractions = list(value.values()) if isinstance(value, dict) else [value]
        if value is not None and not all(isinstance(f, (int, float)) and not isinstance(f, bool) and 0 < f < 1
                                         for f in fractions):
            raise ValueError("`keep_fraction` must be a number in (0, 1), or one per layer, e.g. {conv1: 0.5}")
        return value

    @model_validator(mode="after")
    def _one_mode(self) -> "EliminateParams":
        given = {k: v for k, v in (("keep", self.keep), ("keep_fraction", self.keep_fraction),
                                   ("max_accuracy_drop", self.max_accuracy_drop)) if v is not None}
        if len(given) != 1:
            raise ValueError("set exactly one of `keep` (neurons), `keep_fraction` or `max_accuracy_drop` (sweep). "
                             f"Received: {given or 'none of them'}")
        if self.max_accuracy_drop is None:
            sweep_only = [k for k in ("compare_baseline", "measure_latency") if getattr(self, k)]
            sweep_only += ["latency_runtime"] if self.latency_runtime != "keras" else []
            if sweep_only:
                raise ValueError(f"{', '.join(sweep_only)} apply to a sweep; set `max_accuracy_drop` to sweep")
        if self.method == "weight_norm" and self.compare_baseline:
            raise ValueError("compare_baseline compares svd_qr with weight_norm; it needs method: svd_qr")
        if self.latency_runtime != "keras" and not self.measure_latency and self.max_accuracy_drop is not None:
            raise ValueError(f"latency_runtime={self.latency_runtime!r} says how to time the sweep; set "
                             "`measure_latency: true` to time it")
        for key in ("keep", "keep_fraction"):
            value = getattr(self, key)
            if isinstance(value, dict) and set(value) != set(self.layers):
                raise ValueError(f"`{key}` per layer must give one value for each of `layers` "
                                 f"({', '.join(self.layers)}). Received: {key}={value}")
        return self

    def count_for(self, unit: "Unit") -> int:
        """The number of neurons (channels) to keep in a layer or group (fixed mode), checked
        against its width; the listed layers of one group must agree."""
        from edgeopt.techniques.elimination.surgery import EliminationError
        from edgeopt.techniques.elimination.sweep import check_keep, keep_from_fraction

        def value(setting, layer):
            return setting[layer] if isinstance(setting, dict) else setting

        key = "keep" if self.keep is not None else "keep_fraction"
        asked = {layer: value(getattr(self, key), layer) for layer in unit.layers}
        if len(set(asked.values())) > 1:
            raise EliminationError(
                f"{', '.join(unit.layers)} write the same channel group {unit.target.describe()}, which is narrowed "
                f"once, but `{key}` gives them different values ({asked}). Give them one value.")
        setting = next(iter(asked.values()))
        count = setting if key == "keep" else keep_from_fraction(unit.target, setting)
        check_keep(unit.target, count)
        return count


@dataclass(frozen=True)
class Unit:
    """What one listed layer narrows: a Dense layer (its Site) or a Conv2D's channel group, with
    the listed layers that name it."""

    name: str
    layers: tuple[str, ...]
    target: object  # Site (Dense) or ChannelGroup (Conv2D)

    @property
    def is_group(self) -> bool:
        return not hasattr(self.target, "next_layer")


def units_of(model, layers: list[str]) -> list[Unit]:
    """The layers and channel groups `layers` name, in order of first mention; every name checked."""
    from edgeopt.techniques.elimination.groups import channel_groups, group_of
    from edgeopt.techniques.elimination.surgery import find_site
    from edgeopt.tf.runtime import keras

    groups, units = None, {}
    for layer in layers:
        if any(candidate.name == layer and type(candidate) is keras.layers.Conv2D for candidate in model.layers):
            groups = channel_groups(model) if groups is None else groups
            target = group_of(model, layer, groups)
        else:
            target = find_site(model, layer)
        name = target.name if hasattr(target, "producers") else layer
        previous = units.get(name)
        units[name] = Unit(name, (previous.layers if previous else ()) + (layer,), target)
    return list(units.values())


@register_stage("eliminate", params=EliminateParams, consumes="keras", produces="keras")
def eliminate(params: EliminateParams, ctx: StageContext, source: Artifact | None) -> Artifact:
    """Remove redundant Dense neurons or Conv2D channels (SVD + pivoted QR, seed 003); sweep for energy."""
    from edgeopt.techniques.elimination.surgery import EliminationError

    try:
        return _eliminate(params, ctx, source)
    except EliminationError as exc:  # name the step, as recipe errors do
        raise EliminationError(f"step '{ctx.step_id}' (stage eliminate): {exc}") from None


def _eliminate(params: EliminateParams, ctx: StageContext, source: Artifact) -> Artifact:
    from edgeopt.models.keras_io import load_checked_model, save_keras_model

    model = load_checked_model(source.path, ctx.dataset, f"the model of step '{ctx.step_id}'")
    units = units_of(model, params.layers)  # every name checked before any work
    calibration = ctx.dataset.calibration_samples(params.calibration_samples, ctx.seed)
    x_test, y_test = ctx.dataset.x_test, ctx.dataset.y_test
    before = _summary(model, x_test, y_test, params.energy_precision)

    if params.max_accuracy_drop is None:
        smaller, info = _fixed(model, params, units, calibration, ctx)
    else:
        smaller, info = _sweep(model, params, units, calibration, before["accuracy"], ctx)

    if params.finetune_epochs:
        smaller, info["finetune"] = _finetune(smaller, params, ctx)
    after = _summary(smaller, x_test, y_test, params.energy_precision)
    ctx.log(f"  params {before['params']} → {after['params']}, test accuracy {before['accuracy']:.4f} → "
            f"{after['accuracy']:.4f}, modelled energy {before['energy_uj_model']:.2f} → "
            f"{after['energy_uj_model']:.2f} µJ/image")
    path = save_keras_model(smaller, artifact_file(ctx.out_dir, "keras"))
    if "finetune" in info:  # the step trained: the pipeline records its training time and energy
        info["train_seconds"] = info["finetune"]["train_seconds"]
    return Artifact("keras", path, "float32", {**info, "before": before, "after": after, "energy_source": "model45",
                                                "calibration_samples": int(len(calibration))})


def _finetune(model, params: EliminateParams, ctx: StageContext):
    """Train the smaller model for `finetune_epochs`; the facts record the accuracy before it."""
    from edgeopt.techniques.elimination.surgery import accuracy_of
    from edgeopt.tf.training import compile_classifier, fit_classifier, learning_rate_schedule

    before = accuracy_of(model.predict(ctx.dataset.x_test, batch_size=1024, verbose=0), ctx.dataset.y_test)
    rate = learning_rate_schedule(params.finetune_learning_rate_schedule, params.finetune_learning_rate,
                                  samples=len(ctx.dataset.x_train), batch_size=params.finetune_batch_size,
                                  epochs=params.finetune_epochs)
    compile_classifier(model, rate, ctx.log)
    fit = fit_classifier(model, ctx.dataset, epochs=params.finetune_epochs, batch_size=params.finetune_batch_size,
                         label=ctx.step_id, seed=ctx.seed, log_fn=ctx.log)
    return model, {"epochs": params.finetune_epochs, "accuracy_before": before, "train_seconds": fit.train_seconds,
                   "learning_rate_schedule": params.finetune_learning_rate_schedule, "history": fit.history}


def _fixed(model, params: EliminateParams, units: list[Unit], calibration, ctx: StageContext):
    from edgeopt.techniques.elimination.group_eliminator import GroupEliminator
    from edgeopt.techniques.elimination.groups import group_of
    from edgeopt.techniques.elimination.sweep import LayerEliminator

    counts = {unit.name: params.count_for(unit) for unit in units}  # all checked before any work
    # Layers and groups are narrowed one after the other, each on the model the previous one left,
    # so later ones see (and compensate for) the earlier eliminations.
    groups = {}
    for unit in units:
        if unit.is_group:
            group = group_of(model, unit.name)  # the same group on the narrowed model
            eliminator = GroupEliminator(model, group, calibration)
            plan = eliminator.plan(counts[unit.name], params.method)
            readers = ", ".join(dict.fromkeys(r.reader for r in group.readers))
            update = f"readers {readers} refitted" if params.method == "svd_qr" else "no weight update"
            ctx.log(f"  {', '.join(unit.layers)} → channel group {group.describe()}: {group.width} → "
                    f"{plan.neurons_kept} channels ({params.method}, {update})")
            groups[group.name] = {"producers": list(group.producers), "readers": list(dict.fromkeys(
                r.reader for r in group.readers)), "merges": list(group.merges), "listed": list(unit.layers),
                "before": group.width, "after": plan.neurons_kept}
        else:
            eliminator = LayerEliminator(model, unit.name, calibration)
            plan = eliminator.plan(counts[unit.name], params.method)
            update = f"'{eliminator.site.next_layer}' updated" if params.method == "svd_qr" else "no weight update"
            ctx.log(f"  {unit.name}: {eliminator.site.width} → {plan.neurons_kept} {eliminator.site.unit} "
                    f"({params.method}, {update})")
        model = eliminator.apply(plan)
    widths = {layer: {"before": unit.target.width, "after": counts[unit.name]} for unit in units for layer in unit.layers}
    return model, {"mode": "fixed", "method": params.method, "widths": widths, "groups": groups}


def _sweep(model, params: EliminateParams, units: list[Unit], calibration, test_accuracy: float,
           ctx: StageContext):
    """Algorithm 1 over every unit, scored on the selection split (never the test split, which
    reports the chosen model in `after` and the run's table)."""
    from edgeopt.common.atomic import atomic_write_bytes, atomic_write_text
    from edgeopt.data.selection import selection_split
    from edgeopt.techniques.elimination.surgery import EliminationError
    from edgeopt.techniques.elimination.sweep import eliminator_for, sweep_layer
    from edgeopt.techniques.elimination.tradeoff import choose_point, tradeoff_csv, tradeoff_plot

    selection = selection_split(ctx.dataset, ctx.seed)
    ctx.log(f"  selection split: {selection.name} — {selection.note}")
    points = []
    for unit in units:
        points += sweep_layer(model, unit.name, calibration, selection.x, selection.y, max_accuracy_drop=params.max_accuracy_drop,
                              step=params.sweep_step, method=params.method, compare_baseline=params.compare_baseline,
                              latency_runs=params.latency_runs if params.measure_latency else None,
                              latency_runtime=params.latency_runtime,
                              precision=params.energy_precision, log=ctx.log)
    seen = _seen_warning(points[0].accuracy, test_accuracy, selection.name, params.max_accuracy_drop)
    if seen:
        ctx.log(f"  warning: {seen}")
    chosen = choose_point(points, params.method)
    if chosen is None:  # the very first narrowing already costs too much accuracy
        tried = [pt for pt in points if pt.method == params.method]
        best = max(tried, key=lambda pt: pt.accuracy)
        raise EliminationError(
            f"no width of {', '.join(unit.name for unit in units)} keeps the accuracy drop within max_accuracy_drop="
            f"{params.max_accuracy_drop} (best: {best.layer} with {best.neurons_kept} neurons, drop "
            f"{best.accuracy_drop:.4f}). Raise max_accuracy_drop, lower sweep_step or use more calibration_samples.")
    chosen.chosen = True
    csv_path = atomic_write_text(ctx.out_dir / "tradeoff.csv", tradeoff_csv(points))
    unit = "channels" if type(model.get_layer(chosen.layer)).__name__ == "Conv2D" else "neurons"
    png_path = atomic_write_bytes(ctx.out_dir / "tradeoff.png", tradeoff_plot(
        points, params.max_accuracy_drop, f"{ctx.step_id}: elimination of {unit} without retraining (seed 003)",
        accuracy_label=f"accuracy on the {selection.name} split"))
    ctx.log(f"  chosen: {chosen.layer} with {chosen.neurons_kept} of {chosen.width} {unit} — {selection.name} "
            f"accuracy {chosen.accuracy:.4f} (drop {chosen.accuracy_drop:.4f}), modelled energy "
            f"{chosen.energy.total_uj:.2f} µJ")
    eliminator = eliminator_for(model, chosen.layer, calibration)
    smaller = eliminator.apply(eliminator.plan(chosen.neurons_kept, params.method))
    per_layer = {}
    for layer in (unit.name for unit in units):
        mine = [pt for pt in points if pt.layer == layer and pt.method == params.method and pt.within_threshold]
        lowest = min(mine, key=lambda pt: pt.energy.total_uj) if mine else None
        per_layer[layer] = None if lowest is None else {
            "neurons_kept": lowest.neurons_kept, "width": lowest.width, "accuracy": lowest.accuracy,
            "energy_uj_model": lowest.energy.total_uj}
    info = {"mode": "sweep", "method": params.method, "max_accuracy_drop": params.max_accuracy_drop,
            **selection.record(), "selection_warning": seen,
            "chosen": {"layer": chosen.layer, "neurons_kept": chosen.neurons_kept, "width": chosen.width,
                       "selection_accuracy": chosen.accuracy, "selection_accuracy_drop": chosen.accuracy_drop},
            "lowest_energy_within_threshold": per_layer, "configurations": len(points),
            "tradeoff_csv": csv_path.name, "tradeoff_png": png_path.name}
    return smaller, info


def _seen_warning(selection_accuracy: float, test_accuracy: float, split: str, budget: float) -> str | None:
    """Why the sweep's drops may be optimistic, or None: on training images always; on a validation
    split when the input model scores more than the budget higher there than on the test split (as
    the search warns): a loaded model most likely trained on those images too."""
    if split == "train":
        return ("the sweep chose on training images the model has seen; the test accuracy in `after` and the "
                "run's table is the honest figure. Set data.validation_split to choose on held-out images.")
    if selection_accuracy - test_accuracy > budget:
        return (f"the input model scores {selection_accuracy:.4f} on the validation split and {test_accuracy:.4f} on "
                "the test split: it has most likely trained on the validation images, so the drops the sweep "
                "measured are optimistic. Train it with data.validation_split set to hold them out.")
    return None


def _summary(model, x_test, y_test, precision: str) -> dict:
    from edgeopt.techniques.elimination.energy import keras_model_energy
    from edgeopt.techniques.elimination.surgery import accuracy_of
    from edgeopt.tf.runtime import keras

    accuracy = accuracy_of(model.predict(x_test, batch_size=1024, verbose=0), y_test)
    energy = keras_model_energy(model, precision)
    widths = {layer.name: int(layer.units) for layer in model.layers if type(layer) is keras.layers.Dense}
    filters = {layer.name: int(layer.filters) for layer in model.layers if type(layer) is keras.layers.Conv2D}
    return {"params": int(model.count_params()), "accuracy": accuracy, "energy_uj_model": energy.total_uj,
            "energy_breakdown_uj_model": energy.as_dict(), "dense_units": widths, "conv_filters": filters}
