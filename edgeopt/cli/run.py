"""`edgeopt run` and `edgeopt validate`: a recipe, checked and run."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from edgeopt.cli.common import SET_HELP, Executor, app, counted, echo_note, user_errors_exit_2
from edgeopt.cli.help import EdgeoptCommand
from edgeopt.common.errors import EdgeoptError


@app.command(cls=EdgeoptCommand)
@user_errors_exit_2
def run(
    recipe: Path = typer.Argument(..., metavar="RECIPE", help="recipe YAML file, e.g. recipes/quickstart.yaml"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="output folder (default: runs/<recipe name>)"),
    force: bool = typer.Option(False, "--force", help="redo every step and profile, even those unchanged since the last run"),
    executor: Executor = typer.Option("sequential", "--executor", case_sensitive=False,
                                      help="sequential: one step after another here; ray: steps as Ray tasks, "
                                           "independent branches in parallel (docs/scale.md)"),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Ray cluster to use with --executor ray "
                                              "(default: RAY_ADDRESS, else a new local Ray)"),
    overrides: Optional[List[str]] = typer.Option(None, "--set", metavar="KEY=VALUE", help=SET_HELP),
    wait: bool = typer.Option(False, "--wait", help="if another run is writing into the output folder, wait for it instead of stopping"),
) -> None:
    """Validate a recipe, run its steps, profile every artifact, print and save the table.

    Steps finished by an earlier run into the same folder, with unchanged inputs and parameters,
    are reused; `--force` reruns them. `--set steps.base.epochs=1 --set data.limit_train=2000`
    changes the recipe for this run only (recorded in results.json). One run at a time writes into
    a folder: a second one stops with a message naming the first (exit 2), or waits with `--wait`.
    """
    from edgeopt.common.train_extra import require_train

    require_train("`edgeopt run`")
    from edgeopt.report.machines import write_run_report
    from edgeopt.report.table import best_within_budget, energy_notes, render_table
    from edgeopt.run.pipeline import run_recipe
    from edgeopt.run.recipe import load_recipe
    from edgeopt.rundir.guard import guard_run_folder

    if ray_address and executor is not Executor.ray:
        raise EdgeoptError("--ray-address applies only with --executor ray. Add `--executor ray`, or drop --ray-address.")
    parsed = load_recipe(recipe, overrides or ())
    out_dir = out or Path("runs") / parsed.name
    steps_on = None
    if executor is Executor.ray:
        from edgeopt.run.ray_executor import RayExecutor, import_ray

        import_ray()  # before any work: without Ray, say how to install it
        steps_on = RayExecutor(ray_address)
    with guard_run_folder(out_dir, wait=wait):  # one writer; a stop or a full disk says what was kept
        result = run_recipe(parsed, out_dir, force=force, executor=steps_on)
        typer.echo(render_table(result.rows, parsed.baseline, budget_points=parsed.accuracy_budget))
        for line in best_within_budget(result.rows, parsed.baseline, parsed.accuracy_budget):
            typer.echo(line)
        for note in energy_notes(result.rows):
            echo_note(note)
        report, plot = write_run_report(out_dir, result.document, devices=[])  # the host's report, as always
        typer.echo(f"\nwrote {out_dir / 'results.json'}, {report}" + (f" and {plot}" if plot else ""))


@app.command(cls=EdgeoptCommand)
@user_errors_exit_2
def validate(recipe: Path = typer.Argument(..., metavar="RECIPE", help="recipe YAML file"),
             overrides: Optional[List[str]] = typer.Option(None, "--set", metavar="KEY=VALUE", help=SET_HELP)) -> None:
    """Check a recipe completely (with any `--set` overrides) without running it."""
    from edgeopt.run.recipe import load_recipe

    parsed = load_recipe(recipe, overrides or ())
    with_set = "".join(f" --set {o}" for o in parsed.overrides)
    typer.echo(f"{recipe}{with_set}: valid — {counted(len(parsed.steps), 'step')} on '{parsed.data.name}':")
    for step in parsed.steps:
        typer.echo(f"  {step.id}: {step.stage}" + (f" ← {step.source}" if step.source else ""))
