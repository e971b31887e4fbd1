"""`convert`: Keras model → .tflite as float32, float16 weights, dynamic-range int8 weights, or full int8."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from edgeopt.stages.registry import Artifact, StageContext, StageParams, artifact_file, register_stage


class ConvertParams(StageParams):
    mode: Literal["float32", "float16", "dynamic", "int8"] = Field(
        "int8", description="float32; float16 (float16 weights, float32 compute); dynamic (int8 weights, float "
        "activations); int8 (full integer)")
    calibration_samples: int = Field(300, ge=1, le=100_000, description="real training images for int8 ranges")
    float_layers: list[str] = Field(default_factory=list, description="int8 only: layers kept in float inside the "
                                    "int8 graph, where this CPU runs them faster in float (`edgeopt search` finds them)")
    omit_when_default: ClassVar[tuple[str, ...]] = ("float_layers",)  # keeps older runs' fingerprints

    @model_validator(mode="after")
    def _float_layers_need_int8(self) -> "ConvertParams":
        if self.float_layers and self.mode != "int8":
            raise ValueError(f"`float_layers` keeps layers float inside an int8 model; set mode: int8. "
                             f"Received: mode={self.mode!r}")
        return self


@register_stage("convert", params=ConvertParams, consumes="keras", produces="tflite")
def convert(params: ConvertParams, ctx: StageContext, source: Artifact | None) -> Artifact:
    """Convert to TFLite: float32, dynamic-range, or full int8 with real calibration samples."""
    from edgeopt.common.atomic import atomic_write_bytes
    from edgeopt.models.conversion import tflite_bytes
    from edgeopt.models.keras_io import load_checked_model

    model = load_checked_model(source.path, ctx.dataset, f"the model of step '{ctx.step_id}'")
    calibration = ctx.dataset.calibration_samples(params.calibration_samples, ctx.seed)
    flatbuffer = tflite_bytes(model, params.mode, calibration, float_layers=tuple(params.float_layers))
    path = atomic_write_bytes(artifact_file(ctx.out_dir, "tflite"), flatbuffer)
    return Artifact("tflite", path, params.mode, {"calibration_samples": len(calibration) if params.mode == "int8" else 0})
