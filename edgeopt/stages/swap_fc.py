"""`swap_fc`: replace a trained model's Dense layers by LightDense (seed 000), SVD-initialised."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, field_validator, model_validator

from edgeopt.stages.registry import Artifact, StageContext, StageParams, artifact_file, register_stage
from edgeopt.tf.precision import Precision


class SwapFcParams(StageParams):
    layers: Literal["hidden", "all"] | list[str] = Field(
        "hidden", description="hidden (every Dense but the classifier head), all (the paper's Table 1), or names")
    rank: int | None = Field(None, ge=1, description="rank of every swapped layer; default 8, the paper's")
    rank_ratio: float | None = Field(None, gt=0, le=1, description="instead of rank: round(ratio·min(m, n)) per layer")
    ranks: dict[str, int] = Field(default_factory=dict, description="per-layer ranks by name, e.g. {logits: 4}")
    pde: bool = Field(True, description="apply the PDE step")
    dt: float = Field(0.1, description="Δt of the PDE step (diffusion)")
    velocity: float = Field(0.1, description="v of the PDE step (advection)")
    trainable_pde: bool = Field(False, description="learn Δt and v (2 more parameters per layer)")
    normalize: bool = Field(True, description="L2-normalise each layer's output")
    scale: Literal["all", "head", "none"] = Field(
        "all", description="swapped layers given a learnable output scale (1 parameter each)")
    init: Literal["svd", "random"] = Field("svd", description="svd of the trained kernel, or random (to compare)")
    calibration_samples: int = Field(512, ge=1, le=100_000, description="training images that set the initial scales")
    epochs: int = Field(0, ge=0, le=1000, description="fine-tuning epochs after the swap (0: none)")
    batch_size: int = Field(64, ge=1, le=65536)
    learning_rate: float = Field(5e-4, gt=0, le=1)
    precision: Precision = Field("float32", description="fine-tuning precision: float32 | mixed_bfloat16 | "
                                                         "mixed_float16 | auto (per device)")

    @field_validator("dt", "velocity")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError(f"must be a finite number, got {value}")
        return value

    @field_validator("ranks")
    @classmethod
    def _positive_ranks(cls, value: dict[str, int]) -> dict[str, int]:
        for name, rank in value.items():
            if rank < 1:
                raise ValueError(f"ranks must be positive integers; ranks.{name}={rank}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "SwapFcParams":
        if self.rank is not None and self.rank_ratio is not None:
            raise ValueError(f"give `rank` or `rank_ratio`, not both (rank={self.rank}, rank_ratio={self.rank_ratio})")
        if isinstance(self.layers, list):
            if not self.layers:
                raise ValueError("`layers` is an empty list; name at least one Dense layer, or use hidden / all")
            outside = sorted(set(self.ranks) - set(self.layers))
            if outside:
                raise ValueError(f"`ranks` names layers missing from `layers`: {', '.join(outside)}")
        return self


@register_stage("swap_fc", params=SwapFcParams, consumes="keras", produces="keras")
def swap_fc(params: SwapFcParams, ctx: StageContext, source: Artifact | None) -> Artifact:
    """Swap Dense layers for LightDense (low rank + PDE + L2 norm), SVD-initialised; optional fine-tune."""
    from edgeopt.models.keras_io import load_checked_model, save_keras_model
    from edgeopt.techniques.lightdense_swap import swap_dense_to_lightdense
    from edgeopt.tf.training import seed_everything, train_in_precision

    seed_everything(ctx.seed)
    model = load_checked_model(source.path, ctx.dataset, f"the model of step '{ctx.step_id}'")
    swapped, report = swap_dense_to_lightdense(
        model, layers=params.layers, rank=params.rank, rank_ratio=params.rank_ratio, ranks=params.ranks,
        pde=params.pde, dt=params.dt, velocity=params.velocity, trainable_pde=params.trainable_pde,
        normalize=params.normalize, scale=params.scale, init=params.init,
        calibration=ctx.dataset.calibration_samples(params.calibration_samples, ctx.seed), seed=ctx.seed)
    for layer in report:
        kept = "" if layer.energy_kept is None else f", {100 * layer.energy_kept:.1f} % of the SVD energy kept"
        ctx.log(f"  {layer.name}: Dense {layer.in_features}→{layer.units} ({layer.dense_params:,} params) → "
                f"LightDense rank {layer.rank} ({layer.lightdense_params:,} params){kept}")
    info = {
        "swapped": [layer.to_dict() for layer in report],
        "fc_params_dense": sum(layer.dense_params for layer in report),
        "fc_params_lightdense": sum(layer.lightdense_params for layer in report),
        "params_before": int(model.count_params()),
        "params_after": int(swapped.count_params()),
    }
    if params.epochs:
        swapped, trained = train_in_precision(swapped, ctx.dataset, precision=params.precision,
                                              learning_rate=params.learning_rate, epochs=params.epochs,
                                              batch_size=params.batch_size, label=ctx.step_id, seed=ctx.seed,
                                              log_fn=ctx.log)
        info.update(trained)
    path = save_keras_model(swapped, artifact_file(ctx.out_dir, "keras"))
    return Artifact("keras", path, "float32", info)
