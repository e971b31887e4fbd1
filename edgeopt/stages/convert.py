"""`convert`: Keras model → .tflite as float32, dynamic-range int8 weights, or full int8."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edgeopt.stages.registry import Artifact, StageContext, StageParams, artifact_file, register_stage


class ConvertParams(StageParams):
    mode: Literal["float32", "dynamic", "int8"] = Field(
        "int8", description="float32; dynamic (int8 weights, float activations); int8 (full integer)")
    calibration_samples: int = Field(300, ge=1, le=100_000, description="real training images for int8 ranges")


@register_stage("convert", params=ConvertParams, consumes="keras", produces="tflite")
def convert(params: ConvertParams, ctx: StageContext, source: Artifact | None) -> Artifact:
    """Convert to TFLite: float32, dynamic-range, or full int8 with real calibration samples."""
    from edgeopt.common.atomic import atomic_write_bytes
    from edgeopt.models.conversion import tflite_bytes
    from edgeopt.models.keras_io import load_checked_model

    model = load_checked_model(source.path, ctx.dataset, f"the model of step '{ctx.step_id}'")
    calibration = ctx.dataset.calibration_samples(params.calibration_samples, ctx.seed)
    flatbuffer = tflite_bytes(model, params.mode, calibration)
    path = atomic_write_bytes(artifact_file(ctx.out_dir, "tflite"), flatbuffer)
    return Artifact("tflite", path, params.mode, {"calibration_samples": len(calibration) if params.mode == "int8" else 0})
