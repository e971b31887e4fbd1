"""`edgeopt stages`, `datasets`, `architectures`: what a recipe can name."""

from __future__ import annotations

import typer

from edgeopt.cli.common import app
from edgeopt.cli.help import EdgeoptCommand


@app.command(cls=EdgeoptCommand)
def stages() -> None:
    """List the stages a recipe can use, with their parameters and the package each comes from."""
    from edgeopt.stages import STAGES

    for spec in STAGES.values():
        takes = f"{spec.consumes} → {spec.produces}" if spec.consumes else f"→ {spec.produces}"
        typer.echo(f"{spec.name}  ({takes})  {spec.summary}  [{spec.package}]")
        for name, field in spec.params.model_fields.items():
            default = "required" if field.is_required() else f"default {field.get_default(call_default_factory=True)!r}"
            typer.echo(f"    {name}: {_type_name(field.annotation)} ({default})"
                       + (f" — {field.description}" if field.description else ""))


def _type_name(annotation) -> str:
    """`int`, `float | None`, `one of: float32, dynamic, int8`, `hidden | all | list[str]` — what a
    recipe author can write (never Python's `Union`)."""
    import types
    import typing

    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return "one of: " + ", ".join(map(str, typing.get_args(annotation)))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(" | ".join(map(str, typing.get_args(arg))) if typing.get_origin(arg) is typing.Literal
                          else "None" if arg is type(None) else _type_name(arg) for arg in typing.get_args(annotation))
    if origin is not None:  # list[str], dict[str, int]
        return str(annotation).replace("typing.", "")
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


@app.command(cls=EdgeoptCommand)
def datasets() -> None:
    """List the datasets a recipe or `profile --data` can name."""
    from edgeopt.data.datasets import DATASETS

    width = max(map(len, DATASETS))
    for name, (_, summary) in DATASETS.items():
        typer.echo(f"{name:<{width}}  {summary}")


@app.command(cls=EdgeoptCommand)
def architectures() -> None:
    """List the base architectures the `train` stage can build."""
    from edgeopt.models.architectures import ARCHITECTURES, architecture_options

    width = max(map(len, ARCHITECTURES))
    for name, (_, summary) in ARCHITECTURES.items():
        opts = ", ".join(f"{k}={v!r}" for k, v in architecture_options(name).items())
        typer.echo(f"{name:<{width}}  {summary}" + (f"\n{'':<{width}}  options: {opts}" if opts else ""))
