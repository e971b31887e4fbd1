"""Rendering rows for people (terminal table, markdown report) and programs (JSON).

The report never measures anything: it formats `Row`s and compares each with the baseline row.
Speed-ups of rows timed together are their paired per-round ratios, with an interval where it is
wider than ±2 %; rows not significantly slower than the fastest are marked ≈ (`speed.py`).
"""

from __future__ import annotations

import json
from typing import Any

from tabulate import tabulate

from edgeopt.common.row import SCHEMA_VERSION, Row
from edgeopt.report.speed import TIE_MARK, fastest, faster_cell, interval_text, ties

NA = "n/a"


def _fmt(value: Any, spec: str) -> str:
    return NA if value is None else format(value, spec)


def _ratio(base: float | None, value: float | None) -> str:
    """How many times smaller/faster `value` is than `base` ("2.5×"), or n/a."""
    if not base or not value:
        return NA
    return f"{base / value:.2f}×"


def table_rows(rows: list[Row], baseline: str | None = None, budget_points: float | None = None,
               rank: bool = True) -> tuple[list[str], list[list[str]]]:
    """The table's cells; `rank=False` leaves "smaller" and "faster" empty (models of different tasks)."""
    base = baseline_row(rows, baseline)
    verdicts = within_budget(rows, baseline, budget_points)
    headers = ["name", "format", "dtype", "params", "MACs", "size KiB", "gzip KiB", "accuracy %",
               "Δacc pts", "p50 ms", "p90 ms", "energy mJ", "energy source", "smaller", "faster"]
    top = fastest_row(rows, baseline, budget_points)
    tied = {r.name for r in ties(top, _eligible(rows, verdicts, budget_points))} if top is not None else set()
    body = []
    for r in rows:
        delta = None if (r.accuracy is None or base.accuracy is None) else 100 * (r.accuracy - base.accuracy)
        source = energy_label(r)
        body.append([
            r.name, r.format, r.dtype or NA, _fmt(r.params, ","), _fmt(r.macs, ","),
            _fmt(None if r.size_bytes is None else r.size_bytes / 1024, ".1f"),
            _fmt(None if r.gzip_bytes is None else r.gzip_bytes / 1024, ".1f"),
            _fmt(None if r.accuracy is None else 100 * r.accuracy, ".2f"),
            _fmt(delta, "+.2f"), _fmt(r.latency_ms_p50, ".3f"), _fmt(r.latency_ms_p90, ".3f"),
            _fmt(r.energy_mj, ".4g"), source,
            _ratio(base.size_bytes, r.size_bytes) if rank else NA,
            (faster_cell(r, base) + (f" {TIE_MARK}" if r.name in tied else "")) if rank else NA,
        ])
        if budget_points is not None:
            body[-1].append({True: "yes", False: "OVER", None: NA}[verdicts[r.name]])
    if budget_points is not None:
        headers.append(f"within {budget_points:g} pts")
    if any(r.extra.get("sparsity") is not None for r in rows):  # only recipes that prune show it
        headers.insert(7, "sparsity %")
        for r, line in zip(rows, body):
            s = r.extra.get("sparsity")
            line.insert(7, NA if s is None else f"{100 * s:.1f}")
    return headers, body


def baseline_row(rows: list[Row], baseline: str | None) -> Row | None:
    return next((r for r in rows if r.name == baseline), rows[0] if rows else None)


def within_budget(rows: list[Row], baseline: str | None, budget_points: float | None) -> dict[str, bool | None]:
    """Per row: is its accuracy at most `budget_points` below the baseline's? None if unknown."""
    base = baseline_row(rows, baseline)
    if budget_points is None or base is None or base.accuracy is None:
        return {r.name: None for r in rows}
    return {r.name: None if r.accuracy is None else 100 * (base.accuracy - r.accuracy) <= budget_points + 1e-9
            for r in rows}


# What "best" is judged on: (row attribute, what it measures, the word for less of it).
BEST_KEYS = (("energy_mj", "energy per inference", "less energy"),
             ("latency_ms_p50", "latency", "faster"), ("size_bytes", "file size", "smaller"))


def best_rows(rows: list[Row], baseline: str | None, budget_points: float | None) -> dict[str, Row]:
    """Per key of BEST_KEYS (measured on the baseline too), the lowest row within the accuracy budget.

    Example:
        >>> rows = [Row("a", "a", "tflite", accuracy=0.9, size_bytes=10), Row("b", "b", "tflite", accuracy=0.9, size_bytes=5)]
        >>> {key: row.name for key, row in best_rows(rows, "a", 1.0).items()}
        {'size_bytes': 'b'}
    """
    base = baseline_row(rows, baseline)
    verdicts = within_budget(rows, baseline, budget_points)
    eligible = [r for r in rows if verdicts[r.name]]
    best = {}
    for key, _, _ in BEST_KEYS:
        candidates = [r for r in eligible if getattr(r, key) is not None]
        if key == "energy_mj" and energy_unrankable(base, candidates):
            continue  # energies of different sources or scopes do not compare
        if candidates and getattr(base, key) is not None:
            # Latency: by the paired speed-up of rows timed together, which survives a busy machine.
            best[key] = fastest(candidates, base) if key == "latency_ms_p50" else \
                min(candidates, key=lambda r: getattr(r, key))
    return best


def fastest_row(rows: list[Row], baseline: str | None, budget_points: float | None) -> Row | None:
    """The row the ≈ marks compare with: the fastest within budget, or the fastest of all without one."""
    if budget_points is None:
        return fastest(rows, baseline_row(rows, baseline))
    return best_rows(rows, baseline, budget_points).get("latency_ms_p50")


def _eligible(rows: list[Row], verdicts: dict, budget_points: float | None) -> list[Row]:
    return rows if budget_points is None else [r for r in rows if verdicts[r.name]]


def energy_unrankable(base: Row, candidates: list[Row]) -> str | None:
    """Why these rows' energies cannot be ranked against each other and the base, or None if they can."""
    groups = energy_groups(candidates)
    if len(groups) > 1:
        listing = "; ".join(f"{label}: {', '.join(f'`{n}`' for n in names)}" for label, names in groups.items())
        return (f"cannot rank — the rows' energy figures come from different sources or cover different things "
                f"({listing}), and only figures of one source and scope compare. Profile every row with the same "
                "`--energy`.")
    if groups and base.energy_mj is not None and energy_label(base) not in groups:
        return (f"not ranked against `{base.name}` — its energy is {energy_label(base)}, the others' "
                f"{next(iter(groups))}.")
    return None


def best_within_budget(rows: list[Row], baseline: str | None, budget_points: float | None) -> list[str]:
    """Sentences naming the best row within budget for energy, latency and size, as ratios to the base."""
    base = baseline_row(rows, baseline)
    verdicts = within_budget(rows, baseline, budget_points)
    if budget_points is None:
        return _fastest_line(rows, base)
    if not any(verdicts.values()):
        return [f"No row is within the {budget_points:g}-point accuracy budget."]
    lines = []
    best_of = best_rows(rows, baseline, budget_points)
    eligible = [r for r in rows if verdicts[r.name]]
    for key, what, word in BEST_KEYS:
        if key == "energy_mj":
            reason = energy_unrankable(base, [r for r in eligible if r.energy_mj is not None])
            if reason:
                lines.append(f"Lowest {what} within {budget_points:g} points: {reason}")
                continue
        if key not in best_of:
            continue
        best = best_of[key]
        delta = 100 * (best.accuracy - base.accuracy)
        source = f", {energy_provenance(best)}" if key == "energy_mj" else ""
        if best.name == base.name:  # "1.00× less energy than itself" says nothing
            lines.append(f"Lowest {what} within {budget_points:g} points: `{best.name}`, the baseline itself: "
                         f"no other row within the budget beats it{source}.")
            continue
        if key == "latency_ms_p50":  # from the rounds when timed together: with its interval and ties
            ratio = faster_cell(best, base, interval=False)
            lines.append(f"Lowest {what} within {budget_points:g} points: `{best.name}` — {ratio} {word} than "
                         f"`{base.name}`{interval_text(best, base)}, {delta:+.2f} points."
                         + _tie_sentence(best, ties(best, eligible), base))
            continue
        lines.append(f"Lowest {what} within {budget_points:g} points: `{best.name}` — "
                     f"{getattr(base, key) / getattr(best, key):.2f}× {word} than `{base.name}`, {delta:+.2f} points{source}.")
    return lines


def _tie_sentence(best: Row, tied: list[Row], base: Row) -> str:
    if not tied:
        return ""
    listing = ", ".join(f"`{r.name}`" + ("" if r.accuracy is None or base.accuracy is None
                                          else f" ({100 * (r.accuracy - base.accuracy):+.2f} points)") for r in tied)
    return (f" It ties with {listing}: the difference in time is not significant (the 95 % interval of their "
            f"ratio includes 1; marked {TIE_MARK} in the table).")


def _fastest_line(rows: list[Row], base: Row | None) -> list[str]:
    """Without a budget (`edgeopt profile a.tflite b.tflite`): the fastest row and its ties, if timed together."""
    best = fastest(rows, base)
    if best is None or base is None or len(rows) < 2 or not all(faster_cell(r, base) != NA for r in rows):
        return []
    tied = ties(best, rows)
    if best is base:
        line = f"Fastest: `{best.name}`."
    else:
        ratio = faster_cell(best, base, interval=False)
        line = f"Fastest: `{best.name}` — {ratio} faster than `{base.name}`{interval_text(best, base)}."
    return [line + _tie_sentence(best, tied, base)]


def energy_provenance(row: Row) -> str:
    """"energy measured (rapl: cpu-package)", "energy estimated, not measured": how far to trust a figure."""
    label = energy_label(row)
    if row.energy_measured:
        return f"energy measured ({label})"
    return "energy estimated, not measured" if label == "estimate" else f"energy modelled ({label}), not measured"


def energy_label(row: Row) -> str:
    """Where a row's energy comes from and what it covers: "hwmon: board-input", "estimate", "n/a"."""
    if row.energy_source is None:
        return NA
    scope = row.energy_scope
    return row.energy_source if scope in (None, row.energy_source) else f"{row.energy_source}: {scope}"


def energy_groups(rows: list[Row]) -> dict[str, list[str]]:
    """Row names by energy source and scope, for rows with an energy figure: energies compare within one group."""
    groups: dict[str, list[str]] = {}
    for r in rows:
        if r.energy_mj is not None:
            groups.setdefault(energy_label(r), []).append(r.name)
    return groups


def render_table(rows: list[Row], baseline: str | None = None, fmt: str = "simple",
                 budget_points: float | None = None, rank: bool = True) -> str:
    """The comparison table; "smaller"/"faster" and Δacc are against the baseline row (none if not `rank`)."""
    headers, body = table_rows(rows, baseline, budget_points, rank)
    return tabulate(body, headers=headers, tablefmt=fmt, disable_numparse=True)


def render_markdown(document: dict, sections: list[str] = ()) -> str:
    """report.md: the table, then what a reader needs to reproduce or cite it.

    `sections` (markdown lines, e.g. the same models on other machines) go after the table's summary.
    """
    rows = [Row.from_dict(r) for r in document["rows"]]
    recipe, machine = document.get("recipe", {}), document.get("machine", {})
    baseline = recipe.get("baseline")
    budget = recipe.get("accuracy_budget")
    lines = [f"# edgeopt report: {recipe.get('name', 'profile')}", ""]
    lines += [render_table(rows, baseline, fmt="github", budget_points=budget), ""]
    summary = best_within_budget(rows, baseline, budget)
    if summary:
        lines += [f"- {line}" for line in summary] + [""]
    lines += list(sections)
    if document.get("plot"):
        lines += [f"![accuracy against energy and latency]({document['plot']})", ""]
    lines += [f"Deltas (Δacc, smaller, faster) are against `{baseline or rows[0].name}`. "
              "Sizes are raw file bytes and gzip -9 bytes: pruned weights are stored as zeros, so "
              "pruning shows in the gzip column, not the raw one.", ""]
    lines += [f"- **Energy:** {note}" for note in energy_notes(rows)]
    if "dataset" in document:
        d = document["dataset"]
        lines += [f"- **Data:** {d['name']} ({d['train']} train / {d['test']} test, shape {d['input_shape']}), from {d['source']}"]
    if recipe:
        lines += [f"- **Recipe:** `{recipe.get('path')}` (sha256 `{recipe.get('sha256', '')[:16]}…`, seed {recipe.get('seed')})"
                  + "".join(f" `--set {o}`" for o in recipe.get("overrides") or ())]
    if machine:
        lines += [f"- **Machine:** {machine.get('cpu_model', NA)}, {machine.get('cpu_logical_cores', NA)} logical cores, "
                  f"{machine.get('os', NA)}"]
    if recipe.get("text"):
        lines += ["", "<details><summary>Recipe</summary>", "", "```yaml", recipe["text"].rstrip(), "```", "", "</details>"]
    return "\n".join(lines) + "\n"


def profile_document(rows: list[Row], machine: dict) -> dict:
    return {"schema_version": SCHEMA_VERSION, "machine": machine, "rows": [r.to_dict() for r in rows]}


def render_json(document: dict) -> str:
    return json.dumps(document, indent=2) + "\n"


def energy_notes(rows: list[Row]) -> list[str]:
    """Each distinct `energy_note` once, prefixed with the rows it concerns unless it is all."""
    notes: dict[str, list[str]] = {}
    for r in rows:
        if r.extra.get("energy_note"):
            notes.setdefault(r.extra["energy_note"], []).append(r.name)
    return [note if len(names) == len(rows) else f"{', '.join(names)}: {note}"
            for note, names in notes.items()]


def render_breakdown(rows: list[Row]) -> str:
    """Per-layer modelled energy of each row (seed 003's table: compute, SRAM, DRAM), in µJ."""
    parts = []
    for r in rows:
        ops = r.extra.get("energy_breakdown")
        if ops is None:
            continue
        total = sum(op["total_uj"] for op in ops)
        headers = ["#", "op", "arithmetic", "MACs", "compute µJ", "SRAM weights µJ",
                   "SRAM activations µJ", "DRAM µJ", "total µJ", "share %"]
        body = [[op["index"], op["op_name"], op["arithmetic"] or "-", _fmt(op["macs"], ","),
                 _fmt(op["compute_uj"], ".4g"), _fmt(op["sram_weights_uj"], ".4g"),
                 _fmt(op["sram_activations_uj"], ".4g"), _fmt(op["dram_uj"], ".4g"),
                 _fmt(op["total_uj"], ".4g"), _fmt(100 * op["total_uj"] / total if total else None, ".1f")]
                for op in ops]
        sums = {k: sum(op[k] for op in ops) for k in ("compute_uj", "sram_weights_uj", "sram_activations_uj", "dram_uj")}
        body.append(["", "total", "", _fmt(sum(op["macs"] for op in ops), ","),
                     *(_fmt(v, ".4g") for v in sums.values()), _fmt(total, ".4g"), "100.0"])
        title = (f"Energy breakdown of {r.name}: 45 nm accelerator-style model (Horowitz's prices), "
                 "µJ per inference "
                 "— an estimate, not a measurement, and not the CPU's energy")
        if r.energy_source not in (None, "model45"):
            title += f" (the row's energy, {energy_label(r)}: {_fmt(r.energy_mj, '.4g')} mJ)"
        parts.append(title + "\n" + tabulate(body, headers=headers, disable_numparse=True))
    return "\n\n".join(parts)
