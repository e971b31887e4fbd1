"""`finetune`: continue training a Keras model from an earlier step."""

from __future__ import annotations

from pydantic import Field

from edgeopt.stages.registry import Artifact, StageContext, StageParams, artifact_file, register_stage
from edgeopt.tf.distribute import DistributeOptions
from edgeopt.tf.precision import Precision


class FinetuneParams(DistributeOptions, StageParams):
    epochs: int = Field(1, ge=1, le=1000)
    batch_size: int = Field(64, ge=1, le=65536)
    learning_rate: float = Field(1e-4, gt=0, le=1, description="usually 10x below the training rate")
    precision: Precision = Field("float32", description="float32 | mixed_bfloat16 | mixed_float16 | auto (per device)")


@register_stage("finetune", params=FinetuneParams, consumes="keras", produces="keras")
def finetune(params: FinetuneParams, ctx: StageContext, source: Artifact | None) -> Artifact:
    """Continue training a Keras model (epochs, batch size, learning rate, precision)."""
    from edgeopt.models.keras_io import load_checked_model, save_keras_model
    from edgeopt.tf.training import train_in_precision

    model = load_checked_model(source.path, ctx.dataset, f"the model of step '{ctx.step_id}'")
    trained, info = train_in_precision(model, ctx.dataset, precision=params.precision,
                                       learning_rate=params.learning_rate, epochs=params.epochs,
                                       batch_size=params.batch_size, label=ctx.step_id, seed=ctx.seed,
                                       distribute=params, log_fn=ctx.log)
    path = save_keras_model(trained, artifact_file(ctx.out_dir, "keras"))
    return Artifact("keras", path, "float32", info)
