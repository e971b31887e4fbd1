"""The `edgeopt` command: a thin Typer layer that chains recipe → pipeline → profile → report.

User errors (`EdgeoptError`) become one message on stderr and exit code 2; anything else is a
bug and keeps its traceback (exit 1). TensorFlow is imported only by commands that train or
convert: `profile` runs on devices that have LiteRT alone.
"""

from __future__ import annotations

import enum
import functools
import sys
from pathlib import Path
from typing import Callable, List, Optional

import typer

from edgeopt.errors import EdgeoptError


class EnergyMethod(str, enum.Enum):  # mirrors edgeopt.profile.energy.ENERGY_METHODS
    auto = "auto"
    rapl = "rapl"
    pyrapl = "pyrapl"
    model = "model"
    off = "off"


class Executor(str, enum.Enum):  # how `run` runs the steps
    sequential = "sequential"
    ray = "ray"


app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Optimise CNNs for CPU edge devices and measure accuracy, latency, size and energy.")


def user_errors_exit_2(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except EdgeoptError as exc:
            typer.echo(f"edgeopt: error: {exc}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("edgeopt: interrupted; finished steps are kept, unfinished ones were removed.", err=True)
            raise typer.Exit(130) from None

    return wrapper


@app.command()
@user_errors_exit_2
def run(
    recipe: Path = typer.Argument(..., help="recipe YAML file, e.g. recipes/quickstart.yaml"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="output folder (default: runs/<recipe name>)"),
    force: bool = typer.Option(False, "--force", help="redo every step and profile, even those unchanged since the last run"),
    executor: Executor = typer.Option("sequential", "--executor", case_sensitive=False,
                                      help="sequential: one step after another here; ray: steps as Ray tasks, "
                                           "independent branches in parallel (docs/scale.md)"),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Ray cluster to use with --executor ray "
                                              "(default: RAY_ADDRESS, else a new local Ray)"),
) -> None:
    """Validate a recipe, run its steps, profile every artifact, print and save the table.

    Steps finished by an earlier run into the same folder, with unchanged inputs and parameters,
    are reused; `--force` reruns them.
    """
    from edgeopt.atomic import atomic_write_text
    from edgeopt.pipeline import run_recipe
    from edgeopt.plot import write_pareto_plot
    from edgeopt.recipe import load_recipe
    from edgeopt.report import baseline_row, best_within_budget, energy_notes, render_markdown, render_table

    if ray_address and executor is not Executor.ray:
        raise EdgeoptError("--ray-address applies only with --executor ray. Add `--executor ray`, or drop --ray-address.")
    parsed = load_recipe(recipe)
    out_dir = out or Path("runs") / parsed.name
    steps_on = None
    if executor is Executor.ray:
        from edgeopt.executors.ray_executor import RayExecutor, import_ray

        import_ray()  # before any work: without Ray, say how to install it
        steps_on = RayExecutor(ray_address)
    result = run_recipe(parsed, out_dir, force=force, executor=steps_on)
    typer.echo(render_table(result.rows, parsed.baseline, budget_points=parsed.accuracy_budget))
    for line in best_within_budget(result.rows, parsed.baseline, parsed.accuracy_budget):
        typer.echo(line)
    for note in energy_notes(result.rows):
        typer.echo(f"note: {note}")
    base = baseline_row(result.rows, parsed.baseline)
    floor = None if parsed.accuracy_budget is None or base is None or base.accuracy is None \
        else base.accuracy - parsed.accuracy_budget / 100
    plot = write_pareto_plot(result.rows, out_dir / "pareto.png", floor)
    document = {**result.document, "plot": plot.name if plot else None}
    report = atomic_write_text(out_dir / "report.md", render_markdown(document))
    typer.echo(f"\nwrote {out_dir / 'results.json'}, {report}" + (f" and {plot}" if plot else ""))


@app.command()
@user_errors_exit_2
def profile(
    models: List[Path] = typer.Argument(..., help="one or more .tflite files"),
    data: Optional[str] = typer.Option(None, "--data", help="dataset for accuracy (see `edgeopt datasets`)"),
    data_path: Optional[Path] = typer.Option(None, "--data-path", help="read the dataset from this file or folder"),
    limit_test: Optional[int] = typer.Option(None, "--limit-test", min=1, help="use a seeded subset of the test split"),
    runs: int = typer.Option(100, "--runs", min=1, help="timed invokes per model"),
    warmup: int = typer.Option(10, "--warmup", min=0, help="untimed invokes first"),
    threads: int = typer.Option(1, "--threads", min=1, help="interpreter threads"),
    as_json: bool = typer.Option(False, "--json", help="print JSON (schema_version 1) instead of a table"),
    energy: EnergyMethod = typer.Option("auto", "--energy", case_sensitive=False,
                                        help="auto: RAPL if readable, else the 45 nm model (labelled)"),
    breakdown: bool = typer.Option(False, "--breakdown", help="per-layer modelled energy: compute / SRAM / DRAM"),
    energy_window_s: float = typer.Option(1.0, "--energy-window", min=0.01, help="seconds per RAPL window"),
    energy_windows: int = typer.Option(3, "--energy-windows", min=3, help="RAPL idle and inference windows"),
) -> None:
    """Run .tflite models through the LiteRT interpreter: latency, size, params, MACs, energy, accuracy."""
    from edgeopt.data import load_dataset
    from edgeopt.profile import profile_tflite
    from edgeopt.profile.machine import machine_info
    from edgeopt.report import energy_notes, profile_document, render_breakdown, render_json, render_table

    dataset = load_dataset(data, data_path, limit_test=limit_test) if data else None
    rows = []
    for model in models:
        rows.append(profile_tflite(model, name=model.stem if len(models) == 1 else str(model), runs=runs,
                                   warmup=warmup, threads=threads,
                                   x_test=dataset.x_test if dataset else None,
                                   y_test=dataset.y_test if dataset else None,
                                   energy=energy.value, energy_window_s=energy_window_s,
                                   energy_windows=energy_windows, breakdown=breakdown))
    if as_json:
        sys.stdout.write(render_json(profile_document(rows, machine_info())))
    else:
        typer.echo(render_table(rows))
        if breakdown:
            typer.echo("\n" + render_breakdown(rows))
    sys.stdout.flush()
    for note in energy_notes(rows):
        typer.echo(f"note: {note}", err=True)


@app.command()
@user_errors_exit_2
def validate(recipe: Path = typer.Argument(..., help="recipe YAML file")) -> None:
    """Check a recipe completely without running it."""
    from edgeopt.recipe import load_recipe

    parsed = load_recipe(recipe)
    typer.echo(f"{recipe}: valid — {len(parsed.steps)} steps on '{parsed.data.name}':")
    for step in parsed.steps:
        typer.echo(f"  {step.id}: {step.stage}" + (f" ← {step.source}" if step.source else ""))


@app.command()
def stages() -> None:
    """List the stages a recipe can use, with their parameters."""
    from edgeopt.stages import STAGES

    for spec in STAGES.values():
        takes = f"{spec.consumes} → {spec.produces}" if spec.consumes else f"→ {spec.produces}"
        typer.echo(f"{spec.name}  ({takes})  {spec.summary}")
        for name, field in spec.params.model_fields.items():
            default = "required" if field.is_required() else f"default {field.get_default(call_default_factory=True)!r}"
            typer.echo(f"    {name}: {_type_name(field.annotation)} ({default})"
                       + (f" — {field.description}" if field.description else ""))


def _type_name(annotation) -> str:
    """`int`, `float | None`, `one of: float32, dynamic, int8` — what a recipe author can write."""
    import typing

    if typing.get_origin(annotation) is typing.Literal:
        return "one of: " + ", ".join(map(str, typing.get_args(annotation)))
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


@app.command()
def datasets() -> None:
    """List the datasets a recipe or `profile --data` can name."""
    from edgeopt.data import DATASETS

    for name, (_, summary) in DATASETS.items():
        typer.echo(f"{name}  {summary}")


@app.command()
def architectures() -> None:
    """List the base architectures the `train` stage can build."""
    from edgeopt.models import ARCHITECTURES, architecture_options

    for name, (_, summary) in ARCHITECTURES.items():
        opts = ", ".join(f"{k}={v!r}" for k, v in architecture_options(name).items())
        typer.echo(f"{name}  {summary}" + (f"  [options: {opts}]" if opts else ""))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
