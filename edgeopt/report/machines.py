"""One run, several machines: the host's table, one table per device, the best rows per machine.

A device file (RUN_DIR/devices/<name>.json, from `edgeopt profile RUN_DIR`) holds the run's
`.tflite` rows measured on another machine. Each machine's table has the run's rows in the run's
order, its baseline and accuracy budget; Keras rows, which only the host can run, keep the
host's accuracy and size and show n/a for time and energy there. Like table.py, nothing here
measures anything.
"""

from __future__ import annotations

from pathlib import Path

from edgeopt.common.atomic import atomic_write_text
from edgeopt.common.row import Row
from edgeopt.report.table import NA, baseline_row, best_within_budget, energy_notes, render_markdown, render_table

# Figures that belong to the machine that measured them; a row not run on a device has none there.
MACHINE_FIGURES = ("latency_ms_p50", "latency_ms_p90", "latency_ms_mean", "latency_ms_std", "energy_mj",
                   "edp_mj_ms", "latency_ms_rounds", "timing_session", "cpu_ms_per_inference", "speedup_vs_baseline",
                   "speedup_ci_low", "speedup_ci_high", "op_times")


def host_label(results: dict) -> str:
    machine = results.get("machine") or {}
    return (f"{machine.get('hostname', NA)} — {_describe(machine, (results.get('profile') or {}).get('threads'))}"
            " (where the run was made)")


def device_label(document: dict, results: dict | None = None) -> str:
    machine = document.get("machine") or {}
    hostname, name = machine.get("hostname"), document.get("device")
    who = name if not hostname or hostname == name else f"{name} (host {hostname})"
    again = (" (where the run was made, profiled again)"
             if results is not None and on_the_runs_host(results, document) else "")
    return f"{who} — {_describe(machine, (document.get('settings') or {}).get('threads'))}{again}"


def on_the_runs_host(results: dict, document: dict) -> bool:
    """True when a device file was measured on the machine that made the run (`profile RUN_DIR` there)."""
    host = (results.get("machine") or {}).get("hostname")
    return bool(host) and (document.get("machine") or {}).get("hostname") == host


def _describe(machine: dict, threads: int | None) -> str:
    """'AMD EPYC, 2 logical cores, x86_64, LiteRT 2.3.0, 1 thread': what a figure depends on."""
    litert = (machine.get("packages") or {}).get("ai-edge-litert")
    return (f"{machine.get('cpu_model') or NA}, {machine.get('cpu_logical_cores', NA)} logical cores, "
            f"{machine.get('arch', NA)}, LiteRT {litert or NA}"
            + (f", {threads} thread{'s' if threads != 1 else ''}" if threads else ""))


def host_rows(results: dict) -> list[Row]:
    return [Row.from_dict(row) for row in results["rows"]]


def device_table_rows(results: dict, document: dict) -> list[Row]:
    """The run's rows as measured on the device: its own rows, host-only rows without machine figures."""
    measured = {row["name"]: row for row in document["rows"]}
    rows = []
    for host in results["rows"]:
        if host["name"] in measured:
            rows.append(Row.from_dict(measured[host["name"]]))
            continue
        row = Row.from_dict({**host, **{key: None for key in MACHINE_FIGURES},
                             "energy_source": None, "energy_measured": False})
        row.extra.pop("energy_note", None)
        row.extra["measured_on_host_only"] = True
        rows.append(row)
    return rows


def accuracy_comparison(results: dict, document: dict) -> str:
    """One sentence: do the device's accuracies equal the host's on the same test split?"""
    host = {row["name"]: row.get("accuracy") for row in results["rows"]}
    differ = [f"{row['name']} {100 * row['accuracy']:.2f} % here vs {100 * host[row['name']]:.2f} % on the host"
              for row in document["rows"]
              if row.get("accuracy") is not None and host.get(row["name"]) is not None
              and row["accuracy"] != host[row["name"]]]
    if differ:
        return "Accuracy differs from the host's on the same test split: " + "; ".join(differ) + "."
    return "Accuracy of every `.tflite` row equals the host's (same test split, data/test.npz)."


def budget_floor(rows: list[Row], baseline: str | None, budget_points: float | None) -> float | None:
    """The lowest accuracy (fraction) still within the budget, for the plot's line; None if unknown."""
    base = baseline_row(rows, baseline)
    if budget_points is None or base is None or base.accuracy is None:
        return None
    return base.accuracy - budget_points / 100


def machine_names(results: dict, devices: list[dict]) -> list[str]:
    """Short names for a plot's legend: the host's hostname, then each device file's name."""
    return [f"{(results.get('machine') or {}).get('hostname', 'host')} (host)"] + [
        f"{d['device']} (profiled again)" if on_the_runs_host(results, d) else d["device"] for d in devices]


def machine_tables(results: dict, devices: list[dict]) -> list[tuple[str, list[Row]]]:
    """(label, rows) for the host, then for each device file."""
    return [(host_label(results), host_rows(results))] + [
        (device_label(document, results), device_table_rows(results, document)) for document in devices]


def device_sections(results: dict, devices: list[dict]) -> list[str]:
    """report.md's lines for the devices: one table each, then the best rows per machine."""
    if not devices:
        return []
    recipe = results.get("recipe") or {}
    baseline, budget = recipe.get("baseline"), recipe.get("accuracy_budget")
    tables = machine_tables(results, devices)
    lines = [f"The table above was measured on {tables[0][0]}. The same model files (sha256 checked) on "
             "other machines, profiled there with `edgeopt profile RUN_DIR`:", ""]
    said = set(energy_notes([r for r in tables[0][1] if r.format == "tflite"]))  # the host's, above
    for document, (label, rows) in zip(devices, tables[1:]):
        lines += [f"## {label}", "", render_table(rows, baseline, fmt="github", budget_points=budget), ""]
        lines += [f"- {line}" for line in best_within_budget(rows, baseline, budget)]
        lines += [f"- {accuracy_comparison(results, document)}"]
        if any(row.extra.get("measured_on_host_only") for row in rows):
            lines += ["- Keras rows run on the host only: their accuracy and size are the host's, time and energy n/a."]
        notes = energy_notes([r for r in rows if r.format == "tflite"])
        lines += [f"- **Energy:** {note}" if note not in said else "- **Energy:** as the note above says."
                  for note in notes]
        said.update(notes)  # each long note once in the report
        lines += [""]
    lines += ["## Best within budget per machine", ""]
    for label, rows in tables:
        best = best_within_budget(rows, baseline, budget)
        lines += [f"- **{label}**"] + [f"  - {line}" for line in best or ["no accuracy budget in the recipe"]]
    return lines + [""]


def time_goes_sections(results: dict, devices: list[dict]) -> list[str]:
    """report.md's "where the time goes" for each machine whose rows carry per-op times."""
    from edgeopt.report.ops import time_goes_section

    return [line for label, rows in machine_tables(results, devices) for line in time_goes_section(label, rows)]


def write_run_report(run_dir: str | Path, results: dict, devices: list[dict]) -> tuple[Path, Path | None]:
    """Write RUN_DIR/report.md and pareto.png: the host's alone, or every machine's side by side."""
    from edgeopt.report.plot import write_pareto_plot
    from edgeopt.report.plot_machines import write_machines_plot

    run_dir = Path(run_dir)
    recipe = results.get("recipe") or {}
    rows = host_rows(results)
    floor = budget_floor(rows, recipe.get("baseline"), recipe.get("accuracy_budget"))
    if devices:
        series = [(name, rows) for name, (_, rows) in zip(machine_names(results, devices),
                                                          machine_tables(results, devices))]
        plot = write_machines_plot(series, run_dir / "pareto.png", floor)
    else:
        plot = write_pareto_plot(rows, run_dir / "pareto.png", floor, results.get("machine"))
    sections = device_sections(results, devices) + time_goes_sections(results, devices)
    markdown = render_markdown({**results, "plot": plot.name if plot else None}, sections)
    return atomic_write_text(run_dir / "report.md", markdown), plot
