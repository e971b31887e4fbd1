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
    from edgeopt.atomic import atomic_write_bytes
    from edgeopt.keras_io import load_checked_model

    model = load_checked_model(source.path, ctx.dataset, f"the model of step '{ctx.step_id}'")
    calibration = ctx.dataset.calibration_samples(params.calibration_samples, ctx.seed)
    flatbuffer = tflite_bytes(model, params.mode, calibration)
    path = atomic_write_bytes(artifact_file(ctx.out_dir, "tflite"), flatbuffer)
    return Artifact("tflite", path, params.mode, {"calibration_samples": len(calibration) if params.mode == "int8" else 0})


def tflite_bytes(model, mode: str, calibration) -> bytes:
    """The converted flatbuffer. Full int8 follows DESIGN.md §5: int8 in, int8 out, builtins only."""
    from edgeopt._keras import tf
    from edgeopt.quiet import native_output_captured

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode in ("dynamic", "int8"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "int8":
        def representative_dataset():
            for sample in calibration:
                yield [sample[None, ...].astype("float32")]

        converter.representative_dataset = representative_dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    with native_output_captured():  # the converter prints MLIR diagnostics from C++
        return converter.convert()
