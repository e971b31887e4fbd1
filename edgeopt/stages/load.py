"""`load`: start a recipe from a Keras model file you already have, instead of training one."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from edgeopt.stages.registry import Artifact, StageContext, StageParams, artifact_file, register_stage


class LoadParams(StageParams):
    path: str = Field(description="a .keras (or .h5) model file; relative paths start at the recipe's folder")


@register_stage("load", params=LoadParams, consumes=None, produces="keras")
def load(params: LoadParams, ctx: StageContext, source: Artifact | None) -> Artifact:
    """Start from an existing Keras model file (checked against the recipe's dataset)."""
    from edgeopt.models.keras_io import load_checked_model, save_keras_model

    path = Path(params.path).expanduser()
    full = (path if path.is_absolute() else ctx.recipe_dir / path).resolve()  # only ever read
    ctx.log(f"  reading model {full}")
    model = load_checked_model(full, ctx.dataset, f"model {params.path}")
    saved = save_keras_model(model, artifact_file(ctx.out_dir, "keras"))
    return Artifact("keras", saved, "float32", {"loaded_from": str(full)})
