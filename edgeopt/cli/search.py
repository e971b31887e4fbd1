"""`edgeopt search`: a user's Keras model made as fast as it can be within an accuracy budget."""

from __future__ import annotations

import contextlib
import typing
from pathlib import Path
from typing import Optional

import typer

from edgeopt.cli.common import Executor, app, scaling_option, user_errors_exit_2
from edgeopt.cli.help import EdgeoptCommand, complete_from
from edgeopt.cli.kit import kit_next_steps
from edgeopt.common.errors import EdgeoptError
from edgeopt.profile.defaults import PROFILE_DEFAULTS
from edgeopt.run.search.options import PRECISIONS, SearchOptions

OBJECTIVES = typing.get_args(SearchOptions.model_fields["objective"].annotation)  # p50, energy, size
SELECTIONS = typing.get_args(SearchOptions.model_fields["selection"].annotation)  # auto, validation, test


@app.command(cls=EdgeoptCommand)
@user_errors_exit_2
def search(
    model: Path = typer.Argument(..., metavar="MODEL", help="your Keras model (.keras or .h5)"),
    data: str = typer.Option(..., "--data", help="dataset it was trained on (see `edgeopt datasets`)"),
    data_path: Optional[Path] = typer.Option(None, "--data-path", help="read the dataset from this file or folder"),
    input_range: Optional[str] = typer.Option(None, "--input-range", metavar="LO,HI",
                                              help="the range your model takes pixels in, e.g. 0,255 or -1,1 "
                                                   "(default 0,1)"),
    budget: float = typer.Option(..., "--budget", help="accuracy points the result may lose against the model's "
                                 "own float32 .tflite (1 = one point)"),
    objective: str = typer.Option("p50", "--objective", metavar=f"[{'|'.join(OBJECTIVES)}]",
                                  autocompletion=complete_from(OBJECTIVES),
                                  help="what to make smallest: p50 latency, energy or size"),
    time_limit: float = typer.Option(SearchOptions.model_fields["time_limit_min"].default, "--time-limit",
                                     help="minutes for the whole search, across Ctrl-C and resumes"),
    selection: str = typer.Option("auto", "--selection", metavar=f"[{'|'.join(SELECTIONS)}]",
                                  autocompletion=complete_from(SELECTIONS),
                                  help="the images candidates are chosen on: the validation split, half the test "
                                       "split, or auto (the test half when the model has seen the validation split)"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="output folder (default: runs/search_<model name>)"),
    precisions: str = typer.Option("float32,float16,dynamic,int8", "--precisions",
                                   metavar="P,P,...", help="deployed precisions to consider, comma-separated, "
                                   f"from {', '.join(PRECISIONS)}"),
    latency_table: Optional[Path] = typer.Option(None, "--latency-table", help="latency table measured on the target "
                                                 "by `edgeopt profile KIT` (default: time on this CPU)"),
    kit_only: bool = typer.Option(False, "--kit-only", help="write OUT/kit, the latency-table kit to time on the "
                                  "target with `edgeopt profile KIT`, and stop"),
    threads: int = typer.Option(PROFILE_DEFAULTS["threads"], "--threads", min=1, help="interpreter threads"),
    seed: int = typer.Option(0, "--seed", min=0, help="seed of the validation split, fine-tunes and choices"),
    limit_train: Optional[int] = typer.Option(None, "--limit-train", min=1, help="use a seeded subset of the training split"),
    limit_test: Optional[int] = typer.Option(None, "--limit-test", min=1, help="use a seeded subset of the test split"),
    executor: Executor = typer.Option("sequential", "--executor", case_sensitive=False,
                                      help="ray: run the search's steps as Ray tasks"),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Ray cluster for --executor ray"),
    wait: bool = typer.Option(False, "--wait", help="if another command is writing into the output folder, wait for it"),
) -> None:
    """Make MODEL as fast as it can be on this CPU within an accuracy budget, by measuring.

    Tries every precision and narrower layers: each layer's cost is timed here at every width, only
    the widths where the kernels' cost steps down are kept, widths are allocated over all layers at
    once for a ladder of targets, and the uniform cuts (75/50/37.5/25 %) compete with the same
    fine-tune. Picks the fastest `.tflite` whose accuracy on images the model never saw is within
    BUDGET points of the model's own float32 `.tflite`, and reports every row on test images it
    did not choose on. The output folder is a run folder: its table, `best.tflite`, `search.json`
    (the trace) and `recipe.yaml` (rebuilds the choice). Ctrl-C keeps what is done; the same
    command resumes. Exits 1 when no row stays within the budget.
    """
    from edgeopt.common.train_extra import require_train

    chosen = _check_search_input(model, data, objective, selection, precisions, kit_only, latency_table)
    require_train("`edgeopt search`")
    from edgeopt.common.progress import log
    from edgeopt.report.table import best_within_budget, render_table
    from edgeopt.run.search.driver import search as run_search
    from edgeopt.run.search.options import search_options
    from edgeopt.rundir.guard import guard_run_folder

    options = search_options(model=model, data=data, data_path=data_path, budget=budget, objective=objective,
                             time_limit_min=time_limit, seed=seed, threads=threads, limit_train=limit_train,
                             limit_test=limit_test, latency_table=latency_table, kit_only=kit_only, selection=selection,
                             input_range=scaling_option(input_range).input_range if input_range else None,
                             precisions=chosen)
    if ray_address and executor is not Executor.ray:
        raise EdgeoptError("--ray-address applies only with --executor ray. Add `--executor ray`, or drop --ray-address.")
    steps_on = None
    if executor is Executor.ray:
        from edgeopt.run.ray_executor import RayExecutor, import_ray

        import_ray()
        steps_on = RayExecutor(ray_address)
    out_dir = out or Path("runs") / f"search_{model.stem}"
    with guard_run_folder(out_dir, wait=wait), steps_on.session(log) if steps_on else contextlib.nullcontext():
        result = run_search(options, out_dir, log_fn=log, executor=steps_on)
        if kit_only:
            typer.echo(kit_next_steps(out_dir / "kit", options.precisions))
            return
        baseline = result.document["recipe"]["baseline"]
        typer.echo(render_table(result.rows, baseline, budget_points=budget))
        for line in best_within_budget(result.rows, baseline, budget):
            typer.echo(line)
        typer.echo(f"\nchosen on the {result.trace['selection']['split']} split: {result.trace['final']['why']}")
        if result.best is None:  # nothing to deploy: a failed promise, like a failed `edgeopt check`
            typer.echo(f"edgeopt: error: no best.tflite: {result.trace['final']['why']}. Every row is in "
                       f"{out_dir / 'results.json'}; a larger --budget or --time-limit may find one.", err=True)
            raise typer.Exit(1)
        typer.echo(f"wrote {out_dir / 'best.tflite'}, {out_dir / 'recipe.yaml'} (rebuilds it), "
                   f"{out_dir / 'search.json'} (the trace) and {out_dir / 'results.json'}")


def _check_search_input(model: Path, data: str, objective: str, selection: str, precisions: str, kit_only: bool,
                        latency_table: Optional[Path]) -> tuple[str, ...]:
    """What a newcomer can get wrong, all found in milliseconds, before TensorFlow starts or any data
    loads, and said at once; returns the precisions asked for."""
    from edgeopt.common.errors import did_you_mean
    from edgeopt.data.datasets import DATASETS
    from edgeopt.models.keras_file import keras_file_problem

    problems = []
    problem = keras_file_problem(model)
    if problem:
        tflite = "TensorFlow Lite" in problem
        problems.append(
            f"search takes your Keras model, a .keras or .h5 file; {model} {problem}. "
            + (f"Give the Keras model it was converted from; to measure this .tflite, run `edgeopt profile {model}`."
               if tflite else "Save it with `model.save('model.keras')` and give that file."))
    if data not in DATASETS:
        problems.append(f"--data names no dataset. Received: --data {data}.{did_you_mean(data, DATASETS)} "
                        f"Known: {', '.join(DATASETS)} (`edgeopt datasets`).")
    if objective not in OBJECTIVES:
        problems.append(f"--objective must be one of {', '.join(OBJECTIVES)}. Received: --objective {objective}")
    if selection not in SELECTIONS:
        problems.append(f"--selection must be one of {', '.join(SELECTIONS)}. Received: --selection {selection}")
    chosen = tuple(p.strip() for p in precisions.split(",") if p.strip())
    unknown = [p for p in chosen if p not in PRECISIONS]
    if unknown or not chosen:
        problems.append(f"--precisions must be one or more of {', '.join(PRECISIONS)}, comma-separated. "
                        f"Received: --precisions {precisions!r}"
                        + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
    if kit_only and latency_table:
        problems.append("--latency-table does not apply with --kit-only: the kit is what measures that table on the "
                        "target. Drop --latency-table to write the kit, or --kit-only to search with the table.")
    if problems:
        raise EdgeoptError("\n".join(problems))
    return chosen

