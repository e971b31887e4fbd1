"""`train`: build a named base architecture and train it from scratch on the recipe's dataset."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from edgeopt.common.errors import did_you_mean
from edgeopt.models.architectures import ARCHITECTURES, architecture_options
from edgeopt.stages.registry import Artifact, StageContext, StageParams, artifact_file, register_stage
from edgeopt.tf.distribute import DistributeOptions
from edgeopt.tf.precision import Precision


class TrainParams(DistributeOptions, StageParams):
    architecture: str = Field(description="a name from `edgeopt architectures`, e.g. gap_cnn")
    epochs: int = Field(5, ge=1, le=1000, description="passes over the training split")
    batch_size: int = Field(64, ge=1, le=65536)
    learning_rate: float = Field(1e-3, gt=0, le=1)
    validation_split: float = Field(0.0, ge=0, lt=1, description="held out of training to watch overfitting")
    options: dict[str, Any] = Field(default_factory=dict, description="architecture options, e.g. hidden_units")
    precision: Precision = Field("float32", description="float32 | mixed_bfloat16 | mixed_float16 | auto (per device)")

    @field_validator("architecture")
    @classmethod
    def _known_architecture(cls, value: str) -> str:
        if value not in ARCHITECTURES:
            raise ValueError(f"unknown architecture '{value}'.{did_you_mean(value, ARCHITECTURES)} "
                             f"Known: {', '.join(ARCHITECTURES)}")
        return value

    @model_validator(mode="after")
    def _known_options(self) -> "TrainParams":
        accepted = architecture_options(self.architecture)
        for key in self.options:
            if key not in accepted:
                raise ValueError(f"architecture '{self.architecture}' has no option '{key}'."
                                 f"{did_you_mean(key, accepted)} Options: {', '.join(accepted) or 'none'}")
        return self


@register_stage("train", params=TrainParams, consumes=None, produces="keras")
def train(params: TrainParams, ctx: StageContext, source: Artifact | None) -> Artifact:
    """Train a base CNN from scratch (architecture, epochs, batch size, learning rate, precision)."""
    from edgeopt.models.architectures import build_model
    from edgeopt.models.keras_io import save_keras_model
    from edgeopt.tf.training import seed_everything, train_in_precision

    seed_everything(ctx.seed)
    ds = ctx.dataset
    model = build_model(params.architecture, ds.input_shape, ds.num_classes, **params.options)
    trained, info = train_in_precision(model, ds, precision=params.precision, learning_rate=params.learning_rate,
                                       epochs=params.epochs, batch_size=params.batch_size, label=ctx.step_id,
                                       seed=ctx.seed, validation_split=params.validation_split, distribute=params,
                                       log_fn=ctx.log)
    path = save_keras_model(trained, artifact_file(ctx.out_dir, "keras"))
    return Artifact("keras", path, "float32", info)
