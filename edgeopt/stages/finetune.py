"""`finetune`: continue training a Keras model from an earlier step."""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from edgeopt.stages.registry import Artifact, StageContext, StageParams, artifact_file, register_stage
from edgeopt.tf.distribute import DistributeOptions
from edgeopt.tf.precision import Precision


class FinetuneParams(DistributeOptions, StageParams):
    epochs: int = Field(1, ge=1, le=1000)
    batch_size: int = Field(64, ge=1, le=65536)
    learning_rate: float = Field(1e-4, gt=0, le=1, description="usually 10x below the training rate")
    precision: Precision = Field("float32", description="float32 | mixed_bfloat16 | mixed_float16 | auto (per device)")
    samples_per_epoch: int | None = Field(None, ge=1, le=100_000_000, description="train on a seeded random subset "
                                          "of this many training images (a short fine-tune); default: all of them")
    learning_rate_schedule: Literal["constant", "cosine"] = Field(
        "constant", description="constant: `learning_rate` throughout; cosine: decays from it to 0 over the fine-tune")
    omit_when_default: ClassVar[tuple[str, ...]] = (*DistributeOptions.omit_when_default, "samples_per_epoch",
                                                    "learning_rate_schedule")  # keeps older runs' fingerprints


@register_stage("finetune", params=FinetuneParams, consumes="keras", produces="keras")
def finetune(params: FinetuneParams, ctx: StageContext, source: Artifact | None) -> Artifact:
    """Continue training a Keras model (epochs, batch size, learning rate, precision)."""
    from edgeopt.models.keras_io import load_checked_model, save_keras_model
    from edgeopt.tf.training import learning_rate_schedule, train_in_precision

    model = load_checked_model(source.path, ctx.dataset, f"the model of step '{ctx.step_id}'")
    dataset = ctx.dataset
    if params.samples_per_epoch and params.samples_per_epoch < len(dataset.x_train):
        keep = np.sort(np.random.default_rng(ctx.seed).choice(len(dataset.x_train), params.samples_per_epoch,
                                                               replace=False))
        dataset = replace(dataset, x_train=dataset.x_train[keep], y_train=dataset.y_train[keep])
    rate = learning_rate_schedule(params.learning_rate_schedule, params.learning_rate, samples=len(dataset.x_train),
                                  batch_size=params.batch_size, epochs=params.epochs)
    trained, info = train_in_precision(model, dataset, precision=params.precision,
                                       learning_rate=rate, epochs=params.epochs,
                                       batch_size=params.batch_size, label=ctx.step_id, seed=ctx.seed,
                                       distribute=params, log_fn=ctx.log)
    path = save_keras_model(trained, artifact_file(ctx.out_dir, "keras"))
    return Artifact("keras", path, "float32", {**info, "learning_rate_schedule": params.learning_rate_schedule})
