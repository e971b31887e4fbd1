"""`edgeopt profile`: .tflite files, a run folder or a latency kit, timed on this machine."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import List, Optional

import typer

from edgeopt.cli.common import app, echo_note, scaling_option, user_errors_exit_2
from edgeopt.cli.help import EdgeoptCommand, complete_from
from edgeopt.common.errors import EdgeoptError
from edgeopt.profile.defaults import PROFILE_DEFAULTS
from edgeopt.profile.energy import ENERGY_METHODS


@app.command(cls=EdgeoptCommand)
@user_errors_exit_2
def profile(
    models: List[Path] = typer.Argument(..., metavar="MODEL", help="one or more .tflite files, one run folder made by `edgeopt run`, "
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
        None, "--energy", metavar=f"[{'|'.join(ENERGY_METHODS)}]", autocompletion=complete_from(ENERGY_METHODS), help="auto (the first meter that can be read: rapl, hwmon, rpi-pmic; else the estimate) "
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
        from edgeopt.cli.kit import kit_summary
        from edgeopt.rundir.latency_kit import measure_kit

        started = time.monotonic()
        table, path = measure_kit(models[0], threads=threads, log_fn=log)
        for line in kit_summary(table, path, time.monotonic() - started):
            typer.echo(line)
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
    from edgeopt.report.names import model_names, unrelated_reason
    from edgeopt.report.table import (best_within_budget, energy_notes, profile_document, render_breakdown,
                                      render_json, render_table)

    names = model_names(models)  # a file given twice stops here, before any data loads
    settings = {**PROFILE_DEFAULTS, **{key: value for key, value in options.items() if value is not None}}
    if input_range and not data:
        raise EdgeoptError("--input-range scales the dataset given with --data; add --data NAME.")
    dataset = load_dataset(data, data_path, limit_test=limit_test, scaling=scaling_option(input_range)) \
        if data else None
    # Timed together, in interleaved rounds: speed-ups against the first model hold on a busy machine.
    rows = profile_tflites(models, names=names,
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
        unrelated = unrelated_reason([tuple(row.extra.get("input_shape") or ()) for row in rows])
        typer.echo(render_table(rows, rank=unrelated is None))
        for line in best_within_budget(rows, None, None) if unrelated is None else [f"Not ranked: {unrelated}."]:
            typer.echo(line)
        if breakdown:
            typer.echo("\n" + render_breakdown(rows))
        if ops:
            from edgeopt.report.ops import render_op_times

            typer.echo("\n" + "\n\n".join(render_op_times(row) for row in rows))
    sys.stdout.flush()
    for note in energy_notes(rows):
        echo_note(note, err=True)


def _profile_run_folder(run_dir: Path, options: dict, device_name: Optional[str], as_json: bool,
                        breakdown: bool, ops: bool = False) -> None:
    from edgeopt.common.progress import log
    from edgeopt.report.machines import accuracy_comparison, device_label, device_table_rows, on_the_runs_host
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
    typer.echo(f"{recipe.get('name')} on {device_label(document, results)}:")
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
        echo_note(note)
    if on_the_runs_host(results, document):
        typer.echo(f"\nwrote {path}: this machine made the run, so it is already in the run folder; "
                   f"`edgeopt report {run_dir}` shows it beside the run's own table.")
    else:
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
        echo_note(note, err=True)
    document["rows"] = [row.to_dict() for row in rows]
    atomic_write_text(path, json.dumps(document, indent=2) + "\n")
