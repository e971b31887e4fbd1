"""Where the time goes: the per-op tables and report.md's short section, from rows' `op_times`.

`edgeopt.profile.ops` measures; this only chooses which rows to explain and renders what was
measured: a table per model (op, output shape, dtype, MACs, µs, share of the p50, GMAC/s, where it
ran) with a line saying how the ops add up against the p50, and per machine a few sentences on
where each explained row spends its time. How to read them: docs/where-time-goes.md.
"""

from __future__ import annotations

from collections import defaultdict

from tabulate import tabulate

from edgeopt.common.row import Row
from edgeopt.profile.ops import OPS_KEY
from edgeopt.report.table import NA, best_rows


def rows_to_explain(rows: list[Row], baseline: str | None, budget_points: float | None) -> list[str]:
    """The baseline and the best rows within budget (latency, energy, size), `.tflite` only, in table order.

    Example:
        >>> rows = [Row("a", "a", "tflite", accuracy=0.9, size_bytes=10, latency_ms_p50=2.0),
        ...         Row("b", "b", "tflite", accuracy=0.9, size_bytes=5, latency_ms_p50=1.0)]
        >>> rows_to_explain(rows, "a", 1.0)
        ['a', 'b']
    """
    chosen = {row.name for row in best_rows(rows, baseline, budget_points).values()}
    chosen.add(baseline if baseline is not None else (rows[0].name if rows else ""))
    return [row.name for row in rows if row.name in chosen and row.format == "tflite"]


def _shape(shape) -> str:
    return "×".join(str(d) for d in shape) if shape else "-"


def _runs_on(op: dict) -> str:
    return f"XNNPACK #{op['partition']}" if op["runs_on"] == "XNNPACK" and op.get("partition") else op["runs_on"]


def _kernels(op: dict) -> str:
    if op["how"] == "fused":
        return "(no operator of its own: fused, or done once at load)"
    if op["how"] == "no event":
        return "(not timed)"
    text = " + ".join(op["kernels"])  # "Static Reshape (NC) + Fully Connected (NC, F32) GEMM"
    return text + " (by order)" if op["how"] == "by order" else text


def table_p50_ms(row: Row) -> float:
    """The p50 an op's share is of: the row's, as the table above shows it (the op profile's own p50,
    timed alongside the profiled inferences, only when the row has none)."""
    return row.latency_ms_p50 or row.extra[OPS_KEY]["p50_ms"]


def _two_figures(value: float) -> str:
    """A rate from times rounded to 0.1 µs holds two significant figures: 1.2, 35, 120."""
    return f"{float(f'{value:.2g}'):g}"


def ops_table(profile: dict, fmt: str = "simple", p50_ms: float | None = None) -> str:
    """One model's per-op table, the "outside the ops" remainder, and the shares of `p50_ms` (the
    table's p50; by default the op profile's own)."""
    p50_us = 1e3 * (p50_ms or profile["p50_ms"])
    headers = ["#", "op", "output", "dtype", "MACs", "µs", "% of p50", "GMAC/s", "runs on", "XNNPACK operators"]
    body = []
    for op in profile["ops"]:
        time_us = op["time_us"]
        # below the profiler's 1 µs resolution a rate means nothing
        rate = op["macs"] / time_us / 1e3 if op["macs"] and time_us and time_us >= 1 else None
        body.append([NA if op["index"] is None else op["index"], op["op_name"], _shape(op["output_shape"]),
                     op["dtype"] or NA, f"{op['macs']:,}" if op["macs"] else "0",
                     "—" if time_us is None else f"{time_us:.1f}",
                     "—" if time_us is None or not p50_us else f"{100 * time_us / p50_us:.1f}",
                     NA if rate is None else _two_figures(rate), _runs_on(op),
                     op["op_name"] if op["runs_on"] == "LiteRT" and op["how"] == "measured" else _kernels(op)])
    outside = p50_us - 1e3 * profile["ops_sum_ms"]
    body.append(["", "outside the ops", "", "", "", f"{outside:.1f}",
                 f"{100 * outside / p50_us:.1f}" if p50_us else NA, "", "",
                 "the interpreter's own work per inference; XNNPACK's µs rounding"])
    return tabulate(body, headers=headers, tablefmt=fmt, disable_numparse=True)


def sum_line(profile: dict, p50_ms: float | None = None) -> str:
    """"The ops add up to 129.3 µs = 95.7 % of the table's p50 (135.2 µs); ...": against the p50 the table
    shows, and against the p50 timed alongside the profiled inferences (the check of issue #24)."""
    table_us, alongside_us = 1e3 * (p50_ms or profile["p50_ms"]), 1e3 * profile["p50_ms"]
    ops_us = 1e3 * profile["ops_sum_ms"]
    share = f"{100 * ops_us / table_us:.1f} %" if table_us else NA
    coverage = profile.get("coverage")
    paired = profile.get("paired_coverage")
    alongside = (f"; against the p50 timed alongside the profiled inferences ({alongside_us:.1f} µs), "
                 f"{NA if coverage is None else f'{100 * coverage:.1f} %'}"
                 + (f", inference by inference {100 * paired:.1f} %" if paired is not None else ""))
    operators = sum(len(op["kernels"]) for op in profile["ops"] if op["runs_on"] == "XNNPACK")
    rounding = (f" XNNPACK times each of its {operators} operators in whole µs, rounded down: up to "
                f"{operators} µs of the remainder is that." if operators else "")
    return (f"The ops add up to {ops_us:.1f} µs = {share} of the table's p50 ({table_us:.1f} µs){alongside}; "
            f"op times: mean of the {profile['typical_runs']} of {profile['runs']} inferences nearest the p50's, "
            f"{profile['threads']} thread{'s' if profile['threads'] != 1 else ''}, LiteRT's own profiler."
            + rounding)


def render_op_times(row: Row, fmt: str = "simple") -> str:
    """The title, the table, the sum line and the notes for one row with `op_times`; "" without them."""
    profile = row.extra.get(OPS_KEY)
    if not profile:
        return ""
    title = f"Where the time goes: {row.name} ({row.dtype or NA})"
    p50_ms = table_p50_ms(row)
    parts = [title, ops_table(profile, fmt, p50_ms), sum_line(profile, p50_ms)]
    parts += [f"note: {note}" for note in profile.get("notes", ())]
    return "\n".join(parts)


def by_kind(profile: dict) -> list[tuple[str, int, float, int]]:
    """(op kind, ops, µs, MACs) per kind, most time first.

    Example:
        >>> by_kind({"ops": [{"op_name": "CONV_2D", "time_us": 3.0, "macs": 9},
        ...                  {"op_name": "CONV_2D", "time_us": 1.0, "macs": 1}]})
        [('CONV_2D', 2, 4.0, 10)]
    """
    groups: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0])
    for op in profile["ops"]:
        group = groups[op["op_name"]]
        group[0] += 1
        group[1] += op["time_us"] or 0.0
        group[2] += op["macs"]
    return sorted(((kind, n, t, m) for kind, (n, t, m) in groups.items()), key=lambda g: -g[1])


def explain(row: Row) -> list[str]:
    """Sentences on where one row spends its time: the costliest op against its share of the MACs, the kinds."""
    profile = row.extra.get(OPS_KEY)
    if not profile:
        return []
    p50_us = 1e3 * table_p50_ms(row)
    total_macs = sum(op["macs"] for op in profile["ops"]) or None
    timed = [op for op in profile["ops"] if op["time_us"] is not None]
    lines = []
    if timed and p50_us:
        top = max(timed, key=lambda op: op["time_us"])
        macs = f", {100 * top['macs'] / total_macs:.0f} % of the MACs" if total_macs else ""
        lines.append(f"`{row.name}` ({row.dtype or NA}): p50 {p50_us:.1f} µs; the costliest op is #{top['index']} "
                     f"{top['op_name']} {_shape(top['output_shape'])} {top['dtype'] or ''}: {top['time_us']:.1f} µs = "
                     f"{100 * top['time_us'] / p50_us:.0f} % of the time{macs}, on {_runs_on(top)}.")
        kinds = ", ".join(f"{kind} ×{n} {100 * t / p50_us:.0f} %" for kind, n, t, _ in by_kind(profile)[:4])
        lines.append(f"  By kind: {kinds}; outside the ops {100 * (1 - profile['ops_sum_ms'] * 1e3 / p50_us):.0f} %.")
    outside_xnnpack = [op for op in profile["ops"] if op["runs_on"] == "LiteRT"]
    if outside_xnnpack:
        t = sum(op["time_us"] or 0.0 for op in outside_xnnpack)
        lines.append(f"  Outside XNNPACK ({profile['partitions']} partition(s)): "
                     + ", ".join(f"#{op['index']} {op['op_name']}" for op in outside_xnnpack[:6])
                     + (", ..." if len(outside_xnnpack) > 6 else "") + f" — {t:.1f} µs in LiteRT's own kernels.")
    return lines


def time_goes_section(label: str, rows: list[Row]) -> list[str]:
    """report.md's lines for one machine: sentences per explained row, the tables folded away."""
    explained = [row for row in rows if row.extra.get(OPS_KEY)]
    if not explained:
        return []
    lines = [f"## Where the time goes — {label}", ""]
    for row in explained:
        lines += [f"- {line.strip()}" if not line.startswith("  ") else f"  - {line.strip()}" for line in explain(row)]
        lines += [f"  - {sum_line(row.extra[OPS_KEY], table_p50_ms(row))}"]
    lines += ["", "<details><summary>Per-op tables</summary>", ""]
    for row in explained:
        lines += [f"**{row.name}**", "", ops_table(row.extra[OPS_KEY], "github", table_p50_ms(row)), ""]
        lines += [f"- note: {note}" for note in row.extra[OPS_KEY].get("notes", ())]
        lines += [""]
    lines += ["</details>", "", "How to read these tables: docs/where-time-goes.md.", ""]
    return lines
