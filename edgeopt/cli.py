"""The `edgeopt` command: a thin Typer layer that chains recipe → pipeline → profile → report.

User errors (`EdgeoptError`) become one message on stderr and exit code 2; anything else is a
bug and keeps its traceback (exit 1). TensorFlow is imported only by commands that train or
convert: `profile` runs on devices that have LiteRT alone.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import sys
from pathlib import Path
from typing import Callable, List, Optional

import typer

from edgeopt.common.errors import EdgeoptError
from edgeopt.profile.defaults import PROFILE_DEFAULTS


SET_HELP = ("change the recipe for this command: a dotted key, a step by its id, the value as YAML, "
            "e.g. steps.base.epochs=1 or data.limit_train=2000; repeatable")


class Executor(str, enum.Enum):  # how `run` runs the steps
    sequential = "sequential"
    ray = "ray"


app = typer.Typer(add_completion=True, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Optimise CNNs for CPU edge devices and measure accuracy, latency, size and energy.")


def user_errors_exit_2(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from edgeopt.common.signals import exit_code, signal_name, stop_signals_interrupt

        try:
            with stop_signals_interrupt():  # SIGTERM/SIGHUP clean up like Ctrl-C
                return fn(*args, **kwargs)
        except EdgeoptError as exc:
            typer.echo(f"edgeopt: error: {exc}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt as exc:
            kept = getattr(exc, "kept", None)  # `run` says what its folder keeps
            typer.echo(f"edgeopt: stopped by {signal_name(exc)}" + (f"; {kept}" if kept else "."), err=True)
            raise typer.Exit(exit_code(exc)) from None

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
            typer.echo(f"note: {note}")
        report, plot = write_run_report(out_dir, result.document, devices=[])  # the host's report, as always
        typer.echo(f"\nwrote {out_dir / 'results.json'}, {report}" + (f" and {plot}" if plot else ""))


def _scaling_option(value: str | None):
    """`--input-range LO,HI` as an InputScaling (None: the default [0, 1])."""
    from edgeopt.data.scaling import InputScaling

    if value is None:
        return None
    try:
        lo, hi = (float(part) for part in value.split(","))
    except ValueError:
        raise EdgeoptError(f"--input-range must be two numbers LO,HI, e.g. 0,255 or -1,1. Received: {value!r}") from None
    return InputScaling((lo, hi))


@app.command()
@user_errors_exit_2
def search(
    model: Path = typer.Argument(..., help="your Keras model (.keras or .h5)"),
    data: str = typer.Option(..., "--data", help="dataset it was trained on (see `edgeopt datasets`)"),
    data_path: Optional[Path] = typer.Option(None, "--data-path", help="read the dataset from this file or folder"),
    input_range: Optional[str] = typer.Option(None, "--input-range", metavar="LO,HI",
                                              help="the range your model takes pixels in, e.g. 0,255 or -1,1 "
                                                   "(default 0,1)"),
    budget: float = typer.Option(..., "--budget", help="accuracy points the result may lose against the model's "
                                 "own float32 .tflite (1 = one point)"),
    objective: str = typer.Option("p50", "--objective", help="p50 (latency), energy, or size"),
    time_limit: float = typer.Option(30.0, "--time-limit", help="minutes for the whole search"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="output folder (default: runs/search_<model name>)"),
    precisions: str = typer.Option("float32,float16,dynamic,int8", "--precisions",
                                   help="deployed precisions to consider, comma-separated"),
    latency_table: Optional[Path] = typer.Option(None, "--latency-table", help="latency table measured on the target "
                                                 "by `edgeopt profile KIT` (default: time on this CPU)"),
    kit_only: bool = typer.Option(False, "--kit-only", help="write OUT/kit, the latency-table kit to time on the "
                                  "target with `edgeopt profile KIT`, and stop"),
    threads: int = typer.Option(PROFILE_DEFAULTS["threads"], "--threads", min=1, help="interpreter threads"),
    seed: int = typer.Option(0, "--seed", min=0, help="seed of the validation split, fine-tunes and choices"),
    limit_train: Optional[int] = typer.Option(None, "--limit-train", min=1, help="use a seeded subset of the training split"),
    limit_test: Optional[int] = typer.Option(None, "--limit-test", min=1, help="use a seeded subset of the test split"),
    executor: Executor = typer.Option("sequential", "--executor", case_sensitive=False,
                                      help="ray: each iteration's candidate fine-tunes as Ray tasks"),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Ray cluster for --executor ray"),
    wait: bool = typer.Option(False, "--wait", help="if another command is writing into the output folder, wait for it"),
) -> None:
    """Make MODEL as fast as it can be on this CPU within an accuracy budget, by measuring.

    Tries precisions and narrower layers (NetAdapt: each iteration cuts the latency a little, at the
    layer that loses least accuracy, with a short fine-tune), times every candidate here, and picks
    the fastest `.tflite` whose accuracy on a validation split (held out of the training data) is
    within BUDGET points of the model's own float32 `.tflite`. The output folder is a run folder:
    its table, `best.tflite`, `search.json` (the trace) and `recipe.yaml` (rebuilds the choice).
    Ctrl-C keeps what is done; the same command resumes.
    """
    from edgeopt.common.train_extra import require_train

    require_train("`edgeopt search`")
    from edgeopt.common.progress import log
    from edgeopt.report.table import best_within_budget, render_table
    from edgeopt.run.search.driver import search as run_search
    from edgeopt.run.search.options import search_options
    from edgeopt.rundir.guard import guard_run_folder

    options = search_options(model=model, data=data, data_path=data_path, budget=budget, objective=objective,
                             time_limit_min=time_limit, seed=seed, threads=threads, limit_train=limit_train,
                             limit_test=limit_test, latency_table=latency_table, kit_only=kit_only,
                             input_range=_scaling_option(input_range).input_range if input_range else None,
                             precisions=tuple(p.strip() for p in precisions.split(",") if p.strip()))
    if not model.is_file():
        raise EdgeoptError(f"model {model} not found. Give a .keras or .h5 file.")
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
            kit = out_dir / "kit"
            typer.echo(f"wrote the latency kit {kit} ({result.trace['final']['files']} files). Copy it to the target, "
                       f"run `edgeopt profile {kit.name}` there (no TensorFlow needed), copy {kit.name}/latency_table.json "
                       f"back and run this search again with --latency-table {kit}/latency_table.json.")
            return
        baseline = result.document["recipe"]["baseline"]
        typer.echo(render_table(result.rows, baseline, budget_points=budget))
        for line in best_within_budget(result.rows, baseline, budget):
            typer.echo(line)
        typer.echo(f"\nchosen on the validation split: {result.trace['final']['why']}")
        if result.best is not None:
            typer.echo(f"wrote {out_dir / 'best.tflite'}, {out_dir / 'recipe.yaml'} (rebuilds it), "
                       f"{out_dir / 'search.json'} (the trace) and {out_dir / 'results.json'}")


@app.command()
@user_errors_exit_2
def profile(
    models: List[Path] = typer.Argument(..., help="one or more .tflite files, one run folder made by `edgeopt run`, "
                                        "or a latency kit made by `edgeopt search --kit-only`"),
    data: Optional[str] = typer.Option(None, "--data", help="dataset for accuracy (see `edgeopt datasets`)"),
    data_path: Optional[Path] = typer.Option(None, "--data-path", help="read the dataset from this file or folder"),
    limit_test: Optional[int] = typer.Option(None, "--limit-test", min=1, help="use a seeded subset of the test split"),
    input_range: Optional[str] = typer.Option(None, "--input-range", metavar="LO,HI",
                                              help="the range the model takes pixels in, e.g. 0,255 or -1,1 "
                                                   "(default 0,1; a recipe's data.input_range)"),
    runs: Optional[int] = typer.Option(None, "--runs", min=1, help=f"timed invokes per model (default: {PROFILE_DEFAULTS['runs']}; a run folder: the run's)"),
    warmup: Optional[int] = typer.Option(None, "--warmup", min=0, help=f"untimed invokes first (default: {PROFILE_DEFAULTS['warmup']}; a run folder: the run's)"),
    rounds: Optional[int] = typer.Option(None, "--rounds", min=1, help=f"interleaved timing rounds, at most --runs: every model timed once per round, in a fresh random order (default: {PROFILE_DEFAULTS['rounds']}; a run folder: the run's)"),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help=f"interpreter threads (default: {PROFILE_DEFAULTS['threads']}; a run folder: the run's)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON (schema_version 1) instead of a table"),
    energy: Optional[str] = typer.Option(
        None, "--energy", help="auto (the first meter that can be read: rapl, hwmon, rpi-pmic; else the estimate) "
        "| rapl | pyrapl | hwmon | rpi-pmic | estimate (the model's CPU time × CPU power, labelled) | model45 (45 nm "
        f"accelerator model) | off (default: {PROFILE_DEFAULTS['energy']}; a run folder: the run's)"),
    cpu_watts: Optional[float] = typer.Option(None, "--cpu-watts",
                                              help="this CPU package's power (TDP) in W for the estimate "
                                                   "(default: CodeCarbon's table by CPU model)"),
    rail: Optional[str] = typer.Option(None, "--rail", help="power-sensor rail(s) to count, comma-separated "
                                       "(hwmon, rpi-pmic; default: the board's input rail)"),
    breakdown: bool = typer.Option(False, "--breakdown", help="per-layer 45 nm model: compute / SRAM / DRAM"),
    ops: bool = typer.Option(False, "--ops", help="where the time goes: each op's measured time (LiteRT's "
                             "profiler), shape, dtype, MACs, XNNPACK or not; a run folder: its baseline and best rows"),
    energy_window_s: Optional[float] = typer.Option(None, "--energy-window", min=0.01,
                                                    help=f"seconds per meter window (default: {PROFILE_DEFAULTS['energy_window_s']}; a run folder: the run's)"),
    energy_windows: Optional[int] = typer.Option(None, "--energy-windows", min=3,
                                                 help=f"meter idle and inference windows (default: {PROFILE_DEFAULTS['energy_windows']}; a run folder: the run's)"),
    device_name: Optional[str] = typer.Option(None, "--device-name",
                                              help="run folder: write devices/NAME.json (default: this machine's hostname)"),
) -> None:
    """Run .tflite models through the LiteRT interpreter: latency, size, params, MACs, energy, accuracy.

    Given a run folder (copied from the machine that ran the recipe), profiles every .tflite row of
    its results.json with the run's settings and test split, writes RUN_DIR/devices/<hostname>.json
    and prints the run's table for this machine.
    """
    from edgeopt.profile.energy import check_energy_method
    from edgeopt.profile.energy.estimate import check_cpu_watts

    if energy is not None:
        check_energy_method(energy)  # before any model is loaded: a bad option fails at once
    check_cpu_watts(cpu_watts)
    if ops:
        from edgeopt.profile.litert_profiler import check_op_profiler

        check_op_profiler()  # an old LiteRT fails here, before any model is profiled
    # cpu_watts and the rail describe this machine, never the run's host: taken from the command line only.
    options = {"runs": runs, "warmup": warmup, "rounds": rounds, "threads": threads, "energy": energy,
               "energy_window_s": energy_window_s, "energy_windows": energy_windows,
               "cpu_watts": cpu_watts, "energy_rail": rail}
    if len(models) == 1 and models[0].is_dir() and (models[0] / "kit.json").is_file():
        from edgeopt.common.progress import log
        from edgeopt.rundir.latency_kit import measure_kit

        _, path = measure_kit(models[0], threads=threads, log_fn=log)
        typer.echo(f"wrote {path}; copy it back to the host and pass it to `edgeopt search --latency-table`.")
        return
    if any(model.is_dir() for model in models):
        if len(models) > 1:
            raise EdgeoptError("give one run folder, or .tflite files, not both: "
                               + ", ".join(str(m) for m in models if m.is_dir()) + " is a folder.")
        if data or data_path or limit_test or input_range:
            raise EdgeoptError("--data, --data-path, --limit-test and --input-range do not apply to a run folder: it "
                               "is measured on the test split it carries (data/test.npz), the inputs the host measured.")
        return _profile_run_folder(models[0], options, device_name, as_json, breakdown, ops)
    if device_name:
        raise EdgeoptError("--device-name names the device file of a run folder; give a run folder "
                           "(edgeopt profile RUN_DIR --device-name NAME).")
    from edgeopt.common.progress import log
    from edgeopt.data.datasets import load_dataset
    from edgeopt.profile import profile_tflites
    from edgeopt.profile.machine import machine_info
    from edgeopt.report.table import (best_within_budget, energy_notes, profile_document, render_breakdown,
                                      render_json, render_table)

    settings = {**PROFILE_DEFAULTS, **{key: value for key, value in options.items() if value is not None}}
    if input_range and not data:
        raise EdgeoptError("--input-range scales the dataset given with --data; add --data NAME.")
    dataset = load_dataset(data, data_path, limit_test=limit_test, scaling=_scaling_option(input_range)) \
        if data else None
    # Timed together, in interleaved rounds: speed-ups against the first model hold on a busy machine.
    rows = profile_tflites(models, names=[model.stem if len(models) == 1 else str(model) for model in models],
                           x_test=dataset.x_test if dataset else None, y_test=dataset.y_test if dataset else None,
                           breakdown=breakdown, log_fn=log if len(models) > 1 else (lambda _: None), **settings)
    if ops:
        from edgeopt.profile.ops import OPS_KEY, profile_ops

        for row, model in zip(rows, models):
            row.extra[OPS_KEY] = profile_ops(model, runs=max(settings["runs"], 4), warmup=settings["warmup"],
                                             threads=settings["threads"]).to_dict()
    if as_json:
        sys.stdout.write(render_json(profile_document(rows, machine_info())))
    else:
        typer.echo(render_table(rows))
        for line in best_within_budget(rows, None, None):
            typer.echo(line)
        if breakdown:
            typer.echo("\n" + render_breakdown(rows))
        if ops:
            from edgeopt.report.ops import render_op_times

            typer.echo("\n" + "\n\n".join(render_op_times(row) for row in rows))
    sys.stdout.flush()
    for note in energy_notes(rows):
        typer.echo(f"note: {note}", err=True)


def _profile_run_folder(run_dir: Path, options: dict, device_name: Optional[str], as_json: bool,
                        breakdown: bool, ops: bool = False) -> None:
    from edgeopt.common.progress import log
    from edgeopt.report.machines import accuracy_comparison, device_label, device_table_rows
    from edgeopt.report.table import best_within_budget, energy_notes, render_breakdown, render_json, render_table
    from edgeopt.rundir.device_profile import profile_run_folder
    from edgeopt.rundir.folder import read_results

    document, path = profile_run_folder(run_dir, device_name=device_name, overrides=options, breakdown=breakdown,
                                        log_fn=log)
    if ops:
        _add_device_op_times(run_dir, document, path)
    if as_json:
        sys.stdout.write(render_json(document))
        sys.stdout.flush()
        typer.echo(f"wrote {path}", err=True)
        return
    results = read_results(run_dir)
    recipe = results.get("recipe") or {}
    rows = device_table_rows(results, document)
    typer.echo(f"{recipe.get('name')} on {device_label(document)}:")
    typer.echo(render_table(rows, recipe.get("baseline"), budget_points=recipe.get("accuracy_budget")))
    for line in best_within_budget(rows, recipe.get("baseline"), recipe.get("accuracy_budget")):
        typer.echo(line)
    typer.echo(accuracy_comparison(results, document))
    if breakdown:
        typer.echo("\n" + render_breakdown(rows))
    if ops:
        from edgeopt.report.ops import render_op_times

        typer.echo("\n" + "\n\n".join(text for text in map(render_op_times, rows) if text))
    for note in energy_notes([row for row in rows if row.format == "tflite"]):
        typer.echo(f"note: {note}")
    typer.echo(f"\nwrote {path}; copy it back into the run folder's devices/ and run `edgeopt report RUN_DIR`.")


def _add_device_op_times(run_dir: Path, document: dict, path: Path) -> None:
    """Time each op of the device's baseline and best rows; write them into its device file too."""
    import json

    from edgeopt.common.atomic import atomic_write_text
    from edgeopt.common.progress import log
    from edgeopt.profile.ops import attach_op_times
    from edgeopt.report.ops import rows_to_explain
    from edgeopt.rundir.device_profile import device_rows
    from edgeopt.rundir.folder import read_results

    recipe = read_results(run_dir).get("recipe") or {}
    rows = device_rows(document)
    settings = document["settings"]
    names = rows_to_explain(rows, recipe.get("baseline"), recipe.get("accuracy_budget"))
    notes = attach_op_times(rows, names, lambda row: run_dir / row.path, runs=settings["runs"],
                            warmup=settings["warmup"], threads=settings["threads"], log_fn=log)
    for note in notes:
        typer.echo(f"note: {note}", err=True)
    document["rows"] = [row.to_dict() for row in rows]
    atomic_write_text(path, json.dumps(document, indent=2) + "\n")


@app.command()
@user_errors_exit_2
def report(run_dir: Path = typer.Argument(..., help="a run folder made by `edgeopt run`, with devices/*.json")) -> None:
    """Render RUN_DIR/report.md and pareto.png again: the host's table and every devices/*.json.

    Each machine gets its table (same rows, baseline and budget) and its best rows within budget;
    the plot shows each machine. Every file is checked before anything is written.
    """
    from edgeopt.report.machines import machine_tables, write_run_report
    from edgeopt.report.table import best_within_budget
    from edgeopt.rundir.device_profile import read_device_documents
    from edgeopt.rundir.folder import read_results

    results = read_results(run_dir)
    devices = read_device_documents(run_dir, results)
    recipe = results.get("recipe") or {}
    report_path, plot = write_run_report(run_dir, results, devices)
    for label, rows in machine_tables(results, devices):
        typer.echo(label)
        for line in best_within_budget(rows, recipe.get("baseline"), recipe.get("accuracy_budget")) or ["  (no budget)"]:
            typer.echo(f"  {line}")
    typer.echo(f"\nwrote {report_path}" + (f" and {plot}" if plot else "")
               + f" ({len(devices)} device file{'s' if len(devices) != 1 else ''})")


@app.command()
@user_errors_exit_2
def validate(recipe: Path = typer.Argument(..., help="recipe YAML file"),
             overrides: Optional[List[str]] = typer.Option(None, "--set", metavar="KEY=VALUE", help=SET_HELP)) -> None:
    """Check a recipe completely (with any `--set` overrides) without running it."""
    from edgeopt.run.recipe import load_recipe

    parsed = load_recipe(recipe, overrides or ())
    with_set = "".join(f" --set {o}" for o in parsed.overrides)
    typer.echo(f"{recipe}{with_set}: valid — {len(parsed.steps)} steps on '{parsed.data.name}':")
    for step in parsed.steps:
        typer.echo(f"  {step.id}: {step.stage}" + (f" ← {step.source}" if step.source else ""))


@app.command()
@user_errors_exit_2
def check(
    run_dir: Path = typer.Argument(..., help="a run folder (the --out of `edgeopt run`)"),
    row: Optional[List[str]] = typer.Option(None, "--row", help="row to check; repeat for more (default: the rows "
                                            "the report names best within the accuracy budget)"),
    min_accuracy: Optional[float] = typer.Option(None, "--min-accuracy", help="lowest accuracy, in percent (95 = 95 %)"),
    max_accuracy_drop: Optional[float] = typer.Option(None, "--max-accuracy-drop",
                                                      help="largest drop below the recipe's baseline row, in points"),
    max_p50_ms: Optional[float] = typer.Option(None, "--max-p50-ms", help="largest p50 latency, in ms"),
    max_size_kib: Optional[float] = typer.Option(None, "--max-size-kib", help="largest file size, in KiB"),
    max_energy_mj: Optional[float] = typer.Option(None, "--max-energy-mj", help="largest energy per inference, in mJ"),
    device: Optional[str] = typer.Option(None, "--device", help="check the rows profiled on this host "
                                         "(RUN_DIR/devices/HOST.json) instead of the run's own"),
    junit: Optional[Path] = typer.Option(None, "--junit", help="also write the checks as JUnit XML to this file"),
) -> None:
    """Gate a finished run on thresholds: exit 0 when every check holds, 1 when one fails, 2 on bad input.

    Options override the same keys of the recipe's `checks:` section.
    """
    from edgeopt.common.atomic import atomic_write_text
    from edgeopt.report.check import junit_xml, merge_checks, read_run, run_checks

    figures = read_run(run_dir, device)
    checks = merge_checks(figures.checks, {"rows": row, "min_accuracy": min_accuracy,
                                           "max_accuracy_drop": max_accuracy_drop, "max_p50_ms": max_p50_ms,
                                           "max_size_kib": max_size_kib, "max_energy_mj": max_energy_mj})
    results = run_checks(figures, checks)
    for result in results:
        typer.echo(result.line())
    failed = sum(not r.passed for r in results)
    typer.echo(f"{len(results)} checks on {figures.source}: {len(results) - failed} passed, {failed} failed")
    if junit:
        try:
            atomic_write_text(junit, junit_xml(results, figures.name + (f".{device}" if device else "")))
        except OSError as exc:
            raise EdgeoptError(f"cannot write --junit {junit}: {exc.strerror or exc}") from None
        typer.echo(f"wrote {junit}")
    if failed:
        raise typer.Exit(1)


@app.command()
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
    """`int`, `float | None`, `one of: float32, dynamic, int8` — what a recipe author can write."""
    import typing

    if typing.get_origin(annotation) is typing.Literal:
        return "one of: " + ", ".join(map(str, typing.get_args(annotation)))
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


@app.command()
def datasets() -> None:
    """List the datasets a recipe or `profile --data` can name."""
    from edgeopt.data.datasets import DATASETS

    for name, (_, summary) in DATASETS.items():
        typer.echo(f"{name}  {summary}")


@app.command()
def architectures() -> None:
    """List the base architectures the `train` stage can build."""
    from edgeopt.models.architectures import ARCHITECTURES, architecture_options

    for name, (_, summary) in ARCHITECTURES.items():
        opts = ", ".join(f"{k}={v!r}" for k, v in architecture_options(name).items())
        typer.echo(f"{name}  {summary}" + (f"  [options: {opts}]" if opts else ""))


def main() -> None:
    app(prog_name="edgeopt")  # the same name in help and completion under `python -m edgeopt` or the script


if __name__ == "__main__":
    main()
