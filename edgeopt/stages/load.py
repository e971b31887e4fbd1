"""`load`: start a recipe from a Keras model file you already have, instead of training one.

tf_keras files (`.keras`, `.h5`) load as they are. A Keras 3 file is translated into tf_keras
(`edgeopt.models.keras3_import`) and checked against Keras 3's own outputs on real training
images, scaled as the data section declares. The log then says what edgeopt feeds a leading
Rescaling / Normalization layer, with a warning when the declared range looks wrong for it.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from edgeopt.stages.registry import Artifact, StageContext, StageParams, artifact_file, register_stage

PROBE_SAMPLES = 32  # training images both models run on when a Keras 3 file is translated


class LoadParams(StageParams):
    path: str = Field(description="a .keras (or .h5) model file, tf_keras or Keras 3; relative paths start at "
                                  "the recipe's folder")


@register_stage("load", params=LoadParams, consumes=None, produces="keras")
def load(params: LoadParams, ctx: StageContext, source: Artifact | None) -> Artifact:
    """Start from an existing Keras model file, tf_keras or Keras 3 (checked against the recipe's dataset)."""
    from edgeopt.models.input_layers import input_layer_notes
    from edgeopt.models.keras3_import import import_keras3, keras3_version
    from edgeopt.models.keras_io import load_keras_model, save_keras_model

    path = Path(params.path).expanduser()
    full = (path if path.is_absolute() else ctx.recipe_dir / path).resolve()  # only ever read
    ctx.log(f"  reading model {full}")
    info: dict = {"loaded_from": str(full)}
    if full.is_file() and keras3_version(full):
        probe = ctx.dataset.calibration_samples(PROBE_SAMPLES, ctx.seed)
        model, facts = import_keras3(full, probe=probe, seed=ctx.seed)
        ctx.log(f"  Keras {facts['keras_version']} file: translated into tf_keras ({facts['layers']} layers, "
                f"{facts['translate_seconds']:.1f} s); outputs match Keras 3's on {facts['compared_on']} training "
                f"images: max |Δ| = {facts['max_abs_diff']:.2g}")
        for note in facts["notes"]:
            ctx.log(f"  note: {note}")
        info["keras3"] = facts
    else:
        model = load_keras_model(full)
    ctx.dataset.check_fits(model.input_shape, f"model {params.path}", model.output_shape[-1])
    notes = input_layer_notes(model, ctx.dataset.scaling)
    for note in notes:
        ctx.log(f"  {note}")
    if notes:
        info["input_layer_notes"] = notes
    saved = save_keras_model(model, artifact_file(ctx.out_dir, "keras"))
    return Artifact("keras", saved, "float32", info)
