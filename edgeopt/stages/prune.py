"""`prune`: magnitude pruning (tfmot `prune_low_magnitude`) while fine-tuning a Keras model.

The schedule is tfmot's PolynomialDecay (initial → final sparsity between begin and end step)
or ConstantSparsity. Steps can be given, or computed from the dataset size: by default the
schedule ends on the last training step (or at the end of `end_epoch`). Sparsity is uniform
over the pruned layers, or allotted by each layer's share of the cost (`energy_aware`, Yang et
al. via seed 002). The wrappers are stripped before saving, and the sparsity each layer really
has is measured from the stripped weights.

    - id: pruned
      stage: prune
      from: base
      final_sparsity: 0.5
      epochs: 3
      end_epoch: 2        # reach 50 % after 2 epochs, then 1 epoch of recovery
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from edgeopt.common.errors import RecipeError, did_you_mean
from edgeopt.stages.registry import Artifact, StageContext, StageParams, artifact_file, register_stage
from edgeopt.techniques.pruning import LAYER_COSTS
from edgeopt.tf.precision import Precision


class PruneParams(StageParams):
    schedule: Literal["polynomial_decay", "constant"] = Field(
        "polynomial_decay", description="polynomial_decay: initial → final sparsity; constant: final sparsity from begin_step")
    initial_sparsity: float = Field(0.0, description="sparsity at begin_step (polynomial_decay), in [0, 1)")
    final_sparsity: float = Field(0.5, description="sparsity reached at end_step, in [0, 1); with energy_aware, overall")
    begin_step: int = Field(0, ge=0, description="training step at which pruning starts")
    end_step: int | None = Field(None, ge=1, description="step at which final_sparsity is reached (default: from end_epoch)")
    end_epoch: int | None = Field(None, ge=1, description="epoch whose end is end_step (default: the last epoch)")
    power: float = Field(3.0, gt=0, le=100, description="polynomial_decay exponent: 3 prunes fast early, slow late")
    frequency: int = Field(100, ge=1, le=1_000_000, description="steps between mask updates")
    epochs: int = Field(2, ge=1, le=1000, description="fine-tuning epochs while pruning")
    batch_size: int = Field(64, ge=1, le=65536)
    learning_rate: float = Field(1e-4, gt=0, le=1, description="usually below the training rate")
    layers: list[str] | None = Field(None, description="layer names to prune (default: every prunable layer)")
    layer_types: list[str] | None = Field(None, description="layer classes to prune, e.g. [Conv2D, LightDense]")
    exclude_layers: list[str] = Field(default_factory=list, description="layer names never pruned")
    allocation: Literal["uniform", "energy_aware"] = Field(
        "uniform", description="uniform: every layer final_sparsity; energy_aware: by share of cost, heaviest most")
    cost: str = Field("macs", description="energy_aware cost per layer: macs (its multiply-accumulates), or the name "
                      "of a cost a plugin registered with register_layer_cost")
    max_layer_sparsity: float = Field(0.9, gt=0, lt=1, description="energy_aware: no layer pruned beyond this")
    sparsity_m_by_n: tuple[int, int] | None = Field(
        None, description="structured m zeros in every n weights, e.g. [2, 4]; fixes sparsity at m/n")
    precision: Precision = Field("float32", description="float32 | mixed_bfloat16 | mixed_float16 | auto")

    @field_validator("initial_sparsity", "final_sparsity")
    @classmethod
    def _sparsity_in_range(cls, value: float, info: ValidationInfo) -> float:
        if not 0 <= value < 1:
            raise ValueError(f"`{info.field_name}` must be in [0, 1) (a fraction of weights set to zero)")
        return value

    @field_validator("cost")
    @classmethod
    def _known_cost(cls, value: str) -> str:
        if value not in LAYER_COSTS:
            raise ValueError(f"unknown cost model '{value}'.{did_you_mean(value, LAYER_COSTS)} "
                             f"Known: {', '.join(LAYER_COSTS)}")
        return value

    @field_validator("sparsity_m_by_n")
    @classmethod
    def _m_below_n(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and not 1 <= value[0] < value[1]:
            raise ValueError("`sparsity_m_by_n` is [m, n]: m zeros in every n weights, 1 <= m < n, e.g. [2, 4]")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "PruneParams":
        given = self.model_fields_set
        if self.end_step is not None and self.end_step <= self.begin_step:
            raise ValueError(f"`end_step` must come after `begin_step`. Received: begin_step={self.begin_step}, "
                             f"end_step={self.end_step}")
        if self.end_step is not None and self.end_epoch is not None:
            raise ValueError(f"give `end_step` or `end_epoch`, not both. Received: end_step={self.end_step}, "
                             f"end_epoch={self.end_epoch}")
        if self.end_epoch is not None and self.end_epoch > self.epochs:
            raise ValueError(f"`end_epoch` must be at most `epochs`. Received: end_epoch={self.end_epoch}, "
                             f"epochs={self.epochs}")
        if self.schedule == "polynomial_decay" and self.initial_sparsity > self.final_sparsity:
            raise ValueError(f"`initial_sparsity` must not exceed `final_sparsity`. Received: "
                             f"initial_sparsity={self.initial_sparsity}, final_sparsity={self.final_sparsity}")
        if self.schedule == "constant":
            for key in ("initial_sparsity", "power"):
                if key in given:
                    raise ValueError(f"`{key}` only applies to schedule: polynomial_decay. Received: "
                                     f"schedule='constant', {key}={getattr(self, key)!r}")
        if self.sparsity_m_by_n is not None:
            for key in ("final_sparsity", "initial_sparsity"):
                if key in given:
                    raise ValueError(f"`sparsity_m_by_n` fixes the sparsity at m/n; remove `{key}`. Received: "
                                     f"sparsity_m_by_n={list(self.sparsity_m_by_n)}, {key}={getattr(self, key)!r}")
            if self.allocation != "uniform":
                raise ValueError("`sparsity_m_by_n` prunes every layer alike; it cannot be combined with "
                                 f"allocation: {self.allocation}")
        if self.allocation == "energy_aware" and self.max_layer_sparsity < self.final_sparsity:
            raise ValueError(f"`max_layer_sparsity` below `final_sparsity` cannot reach the overall target. "
                             f"Received: max_layer_sparsity={self.max_layer_sparsity}, "
                             f"final_sparsity={self.final_sparsity}")
        return self


@register_stage("prune", params=PruneParams, consumes="keras", produces="keras")
def prune(params: PruneParams, ctx: StageContext, source: Artifact | None) -> Artifact:
    """Magnitude-prune while fine-tuning (polynomial/constant schedule, uniform or energy-aware)."""
    from edgeopt.models.keras_io import load_checked_model, save_keras_model
    from edgeopt.models.keras_profile import count_macs
    from edgeopt.techniques.pruning import measure_sparsity, nonzero_macs, pruning_step_callback, strip_pruning, wrap_for_pruning
    from edgeopt.tf.precision import as_float32, dtype_policy, for_policy, resolve_precision
    from edgeopt.tf.training import compile_classifier, fit_classifier, seed_everything

    model = load_checked_model(source.path, ctx.dataset, f"the model of step '{ctx.step_id}'")
    try:
        plan = plan_pruning(params, model, n_train=len(ctx.dataset.x_train))
    except RecipeError as exc:
        raise RecipeError(f"step '{ctx.step_id}' (stage prune): {exc}") from None
    for name, sparsity in plan.targets.items():
        below = params.sparsity_m_by_n and sparsity < plan.schedule.final_sparsity
        ctx.log(f"  {name}: target sparsity {sparsity:.3f}" + (" (input channels not a multiple of n)" if below else ""))
    last = plan.schedule.last_update()
    if last and last[0] != plan.schedule.end_step:
        ctx.log(f"  note: masks update every {params.frequency} steps from begin_step, so the last update is at "
                f"step {last[0]}, not end_step={plan.schedule.end_step}: it applies sparsity {last[1]:.3f} of "
                f"final {plan.schedule.final_sparsity:.3f}")
    choice = resolve_precision(params.precision)
    ctx.log(f"  precision {choice.policy} ({choice.reason})")

    seed_everything(ctx.seed)
    with dtype_policy(choice.policy):
        work = for_policy(model, choice.policy)
        pruned = wrap_for_pruning(work, plan.schedules, params.sparsity_m_by_n)
        compile_classifier(pruned, params.learning_rate, ctx.log)
        fit = fit_classifier(pruned, ctx.dataset, epochs=params.epochs, batch_size=params.batch_size,
                             label=ctx.step_id, seed=ctx.seed, callbacks=[pruning_step_callback()], log_fn=ctx.log)
        stripped = strip_pruning(pruned)
    final = as_float32(stripped)  # mixed policies change the compute, not the weights: save float32
    measured = measure_sparsity(final)
    path = save_keras_model(final, artifact_file(ctx.out_dir, "keras"))
    info = {
        "train_seconds": fit.train_seconds, "history": fit.history,
        **choice.info(params.precision),
        "pruned_layers": list(plan.targets), "allocation": params.allocation,
        "sparsity_target": plan.targets, "sparsity": measured.per_layer, "sparsity_overall": measured.overall,
        "macs": count_macs(final), "macs_nonzero": nonzero_macs(final, measured.per_layer),
        "schedule": asdict(plan.schedule), "steps_per_epoch": plan.steps_per_epoch,
        "sparsity_m_by_n": list(params.sparsity_m_by_n) if params.sparsity_m_by_n else None,
    }
    if plan.costs is not None:
        info.update(cost_model=params.cost, layer_cost=plan.costs)
    return Artifact("keras", path, "float32", info)


@dataclass(frozen=True)
class PruningPlan:
    """What the stage will do, decided before any training: layers, targets, schedule."""

    schedule: Any  # edgeopt.techniques.pruning.Schedule, ending at final_sparsity
    targets: dict[str, float]  # layer → its final sparsity
    costs: dict[str, float] | None  # layer → cost, for energy_aware
    steps_per_epoch: int

    @property
    def schedules(self) -> dict[str, Any]:
        """Per pruned layer, the schedule scaled to its own target (layers at 0 are left unwrapped)."""
        return {name: self.schedule.scaled_to(t) for name, t in self.targets.items() if t > 0}


def plan_pruning(params: PruneParams, model, *, n_train: int) -> PruningPlan:
    """Choose the layers, each layer's target sparsity and the schedule's steps.

    Raises RecipeError naming the value when the parameters do not fit this model or dataset
    (an unknown layer, a schedule that ends after training does).
    """
    from edgeopt.techniques.pruning import (Schedule, aligned_end_step, allocate_sparsity, layer_costs, leaf_layers,
                                            m_by_n_sparsity, select_layers, steps_per_epoch, weight_counts)

    names = select_layers(model, names=params.layers, types=params.layer_types, exclude=params.exclude_layers)
    per_epoch = steps_per_epoch(n_train, params.batch_size)
    total = per_epoch * params.epochs
    if params.begin_step >= total:
        raise RecipeError(f"`begin_step` is at or after the last training step, so nothing would be pruned. "
                          f"Received: begin_step={params.begin_step}; training has {total} steps "
                          f"({params.epochs} epochs × {per_epoch}). Lower begin_step or raise epochs.")
    if params.end_step is not None and params.end_step > total:
        raise RecipeError(f"`end_step` is after the last training step, so final_sparsity would never be reached. "
                          f"Received: end_step={params.end_step}; training has {total} steps "
                          f"({params.epochs} epochs × {per_epoch}). Lower end_step, raise epochs, or use end_epoch.")
    kind = params.schedule
    if params.sparsity_m_by_n:  # tfmot sets m-by-n masks once, at step 1: no schedule applies
        kind, end = "constant", -1
    elif params.end_step is not None:
        end = params.end_step
    elif params.schedule == "constant" and params.end_epoch is None:
        end = -1  # tfmot's "hold until training ends"
    else:  # computed: land on a mask update, so the last update applies final_sparsity exactly
        last = per_epoch * (params.end_epoch or params.epochs)
        end = aligned_end_step(params.begin_step, last, params.frequency)
        if end <= params.begin_step:
            raise RecipeError(f"the schedule has no mask update between begin_step={params.begin_step} and the end "
                              f"of epoch {params.end_epoch or params.epochs} (step {last}) at "
                              f"frequency={params.frequency}. Lower frequency or begin_step, or raise epochs.")
    final = params.sparsity_m_by_n[0] / params.sparsity_m_by_n[1] if params.sparsity_m_by_n else params.final_sparsity
    schedule = Schedule(kind, params.initial_sparsity, final, params.begin_step, end, params.power,
                        params.frequency)
    costs = None
    if params.allocation == "energy_aware":
        costs = layer_costs(model, names, params.cost)
        targets = allocate_sparsity(costs, weight_counts(model, names), final, params.max_layer_sparsity)
    elif params.sparsity_m_by_n:
        layers = {layer.name: layer for layer in leaf_layers(model)}
        targets = {name: round(m_by_n_sparsity(layers[name], *params.sparsity_m_by_n), 6) for name in names}
    else:
        targets = {name: final for name in names}
    return PruningPlan(schedule, targets, costs, per_epoch)
