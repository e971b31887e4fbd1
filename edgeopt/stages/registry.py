"""The stage registry: each stage is a function registered by name with its parameter model.

Adding a stage is adding one file to `edgeopt/stages/` that uses `@register_stage`; the package
imports every module in it, so there is no second hand-kept list. Another package can add stages
the same way through the `edgeopt.stages` entry-point group (`edgeopt/stages/plugins.py`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Literal

from pydantic import BaseModel, ConfigDict

ArtifactKind = Literal["keras", "tflite"]


class StageParams(BaseModel):
    """Base of every stage's parameters: frozen, and unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Artifact:
    """What a step leaves behind: one model file plus the facts the stage measured on the way."""

    kind: ArtifactKind
    path: Path
    dtype: str = "float32"
    info: dict[str, Any] = field(default_factory=dict)  # e.g. train_seconds, precision, sparsity


@dataclass
class StageContext:
    """What a stage may use besides its parameters and input model."""

    step_id: str
    out_dir: Path  # the step's own (temporary) folder; the pipeline renames it when done
    dataset: Any  # edgeopt.data.datasets.Dataset
    seed: int
    recipe_dir: Path
    log: Callable[[str], None] = print


StageFn = Callable[[Any, StageContext, "Artifact | None"], Artifact]


@dataclass(frozen=True)
class StageSpec:
    name: str
    fn: StageFn
    params: type[StageParams]
    consumes: ArtifactKind | None  # None: the stage starts from nothing (e.g. train)
    produces: ArtifactKind
    summary: str
    package: str = "edgeopt"  # the distribution that registered it: edgeopt, or a plugin's


STAGES: dict[str, StageSpec] = {}
_LOADING: list[str] = []  # the package whose plugin module is being imported, innermost last


@contextlib.contextmanager
def registering_for(package: str) -> Iterator[None]:
    """Attribute the stages registered inside this block to `package` (used by the plugin loader)."""
    _LOADING.append(package)
    try:
        yield
    finally:
        _LOADING.pop()


def register_stage(
    name: str,
    *,
    params: type[StageParams],
    consumes: ArtifactKind | None,
    produces: ArtifactKind,
) -> Callable[[StageFn], StageFn]:
    """Register `fn` as the stage `name`; its docstring's first line is the summary.

    Example:
        >>> @register_stage("noop", params=StageParams, consumes="keras", produces="keras")
        ... def noop(params, ctx, source):
        ...     '''Pass the model through.'''
        ...     return source
    """

    def decorate(fn: StageFn) -> StageFn:
        package = _LOADING[-1] if _LOADING else fn.__module__.split(".")[0]
        if name in STAGES:
            raise RuntimeError(f"stage {name!r} is already registered by package '{STAGES[name].package}'; "
                               "give this one another name")
        summary = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        STAGES[name] = StageSpec(name, fn, params, consumes, produces, summary, package)
        return fn

    return decorate


def artifact_file(out_dir: Path, kind: ArtifactKind) -> Path:
    """The conventional file name of a step's model inside its folder."""
    return out_dir / ("model.keras" if kind == "keras" else "model.tflite")
