"""`edgeopt report` and `edgeopt check`: a finished run folder rendered again, or gated on thresholds."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from edgeopt.cli.common import app, counted, user_errors_exit_2
from edgeopt.cli.help import EdgeoptCommand
from edgeopt.common.errors import EdgeoptError


@app.command(cls=EdgeoptCommand)
@user_errors_exit_2
def report(run_dir: Path = typer.Argument(..., metavar="RUN_DIR", help="a run folder made by `edgeopt run`, with devices/*.json")) -> None:
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
               + f" ({counted(len(devices), 'device file')})")


@app.command(cls=EdgeoptCommand)
@user_errors_exit_2
def check(
    run_dir: Path = typer.Argument(..., metavar="RUN_DIR", help="a run folder (the --out of `edgeopt run`)"),
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
    typer.echo(f"{counted(len(results), 'check')} on {figures.source}: {len(results) - failed} passed, {failed} failed")
    if junit:
        try:
            atomic_write_text(junit, junit_xml(results, figures.name + (f".{device}" if device else "")))
        except OSError as exc:
            raise EdgeoptError(f"cannot write --junit {junit}: {exc.strerror or exc}") from None
        typer.echo(f"wrote {junit}")
    if failed:
        raise typer.Exit(1)
