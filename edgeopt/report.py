"""Rendering rows for people (terminal table, markdown report) and programs (JSON).

The report never measures anything: it formats `Row`s and compares each with the baseline row.
"""

from __future__ import annotations

import json
from typing import Any

from tabulate import tabulate

from edgeopt.row import SCHEMA_VERSION, Row

NA = "n/a"


def _fmt(value: Any, spec: str) -> str:
    return NA if value is None else format(value, spec)


def _ratio(base: float | None, value: float | None) -> str:
    """How many times smaller/faster `value` is than `base` ("2.5×"), or n/a."""
    if not base or not value:
        return NA
    return f"{base / value:.2f}×"


def table_rows(rows: list[Row], baseline: str | None = None) -> tuple[list[str], list[list[str]]]:
    base = next((r for r in rows if r.name == baseline), rows[0] if rows else None)
    headers = ["name", "format", "dtype", "params", "MACs", "size KiB", "gzip KiB", "accuracy %",
               "Δacc pts", "p50 ms", "p90 ms", "energy mJ", "energy source", "smaller", "faster"]
    body = []
    for r in rows:
        delta = None if (r.accuracy is None or base.accuracy is None) else 100 * (r.accuracy - base.accuracy)
        source = NA if r.energy_source is None else r.energy_source + ("" if r.energy_measured else " (estimate)")
        body.append([
            r.name, r.format, r.dtype or NA, _fmt(r.params, ","), _fmt(r.macs, ","),
            _fmt(None if r.size_bytes is None else r.size_bytes / 1024, ".1f"),
            _fmt(None if r.gzip_bytes is None else r.gzip_bytes / 1024, ".1f"),
            _fmt(None if r.accuracy is None else 100 * r.accuracy, ".2f"),
            _fmt(delta, "+.2f"), _fmt(r.latency_ms_p50, ".3f"), _fmt(r.latency_ms_p90, ".3f"),
            _fmt(r.energy_mj, ".4g"), source,
            _ratio(base.size_bytes, r.size_bytes), _ratio(base.latency_ms_p50, r.latency_ms_p50),
        ])
    return headers, body


def render_table(rows: list[Row], baseline: str | None = None, fmt: str = "simple") -> str:
    """The comparison table; "smaller"/"faster" and Δacc are against the baseline row."""
    headers, body = table_rows(rows, baseline)
    return tabulate(body, headers=headers, tablefmt=fmt, disable_numparse=True)


def render_markdown(document: dict) -> str:
    """report.md: the table, then what a reader needs to reproduce or cite it."""
    rows = [Row.from_dict(r) for r in document["rows"]]
    recipe, machine = document.get("recipe", {}), document.get("machine", {})
    baseline = recipe.get("baseline")
    lines = [f"# edgeopt report: {recipe.get('name', 'profile')}", ""]
    lines += [render_table(rows, baseline, fmt="github"), ""]
    lines += [f"Deltas (Δacc, smaller, faster) are against `{baseline or rows[0].name}`. "
              "Sizes are raw file bytes and gzip -9 bytes: pruned weights are stored as zeros, so "
              "pruning shows in the gzip column, not the raw one.", ""]
    if "dataset" in document:
        d = document["dataset"]
        lines += [f"- **Data:** {d['name']} ({d['train']} train / {d['test']} test, shape {d['input_shape']}), from {d['source']}"]
    if recipe:
        lines += [f"- **Recipe:** `{recipe.get('path')}` (sha256 `{recipe.get('sha256', '')[:16]}…`, seed {recipe.get('seed')})"]
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
