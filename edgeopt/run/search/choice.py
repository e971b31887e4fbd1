"""Which final row a search returns, and why: the lowest objective within the budget, ties to accuracy.

Rows are the search's `.tflite` rows after profiling (`run/profiling.py`: timed together), each
with `val_accuracy` (%, on the split the search chooses on: `selection.py`) in `extra`. Rows whose
time does not differ significantly from the fastest one's (the profiler's ≈, `report/speed.py`)
are a tie, and a tie goes to the more accurate row: noise must not buy speed with accuracy.
"""

from __future__ import annotations

from edgeopt.common.row import Row
from edgeopt.report.speed import ties

OBJECTIVE_FIGURES = {"p50": "p50 latency", "energy": "energy per inference", "size": "file size"}


def objective_of(row: Row, objective: str) -> float | None:
    """The row's figure for `objective` ("p50", "energy" or "size"); lower is better.

    Example:
        >>> objective_of(Row("a", "a", "tflite", latency_ms_p50=2.0, extra={"latency_ms_quiet": 1.5}), "p50")
        1.5
    """
    if objective in ("p50", "energy") and "target_p50_ms" in row.extra:
        return row.extra["target_p50_ms"]  # the target's latency table decides, not this host's clock
    # p50: the quiet level of the rounds every row shared (docs/timing.md), else the p50.
    latency = row.extra.get("latency_ms_quiet", row.latency_ms_p50)
    return {"p50": latency, "energy": row.energy_mj, "size": row.size_bytes}[objective]


def within_budget(rows: list[Row], floor: float) -> list[Row]:
    return [r for r in rows if r.extra.get("val_accuracy") is not None and r.extra["val_accuracy"] >= floor]


def choose(rows: list[Row], floor: float, objective: str) -> Row | None:
    """The row with the lowest objective whose selection accuracy is at least `floor` (%); among the
    rows tied with it in time (timed together, not significantly different), the most accurate.

    Example:
        >>> rows = [Row("a", "a", "tflite", latency_ms_p50=2.0, extra={"val_accuracy": 91.0}),
        ...         Row("b", "b", "tflite", latency_ms_p50=1.0, extra={"val_accuracy": 89.0})]
        >>> choose(rows, 90.0, "p50").name, choose(rows, 88.0, "p50").name
        ('a', 'b')
    """
    within = [r for r in within_budget(rows, floor) if objective_of(r, objective) is not None]
    if not within:
        return None
    fastest = min(within, key=lambda r: (objective_of(r, objective), -r.extra["val_accuracy"]))
    if objective != "p50" or "target_p50_ms" in fastest.extra:
        return fastest
    return max([fastest] + ties(fastest, within), key=lambda r: (r.extra["val_accuracy"], r is fastest))


def why(best: Row | None, rows: list[Row], reference: Row, reference_accuracy: float, floor: float, budget: float,
        objective: str, split: str) -> str:
    """One sentence for `search.json` and the log: what won, by which figure, against the reference;
    or what was missing when nothing could win."""
    figure = OBJECTIVE_FIGURES[objective]
    if best is None:
        within = within_budget(rows, floor)
        if within and all(objective_of(r, objective) is None for r in within):
            return (f"no {figure} was measured for any of the {len(within)} row(s) within the budget "
                    f"({', '.join(r.name for r in within[:4])}{', …' if len(within) > 4 else ''}), so none can be "
                    f"chosen by --objective {objective}; see the profile's notes on why the figure is missing")
        return (f"no row stays within {budget:g} points of {reference.name} ({reference_accuracy:.2f} %) on the "
                f"{split} split: the most accurate scores "
                f"{max((r.extra.get('val_accuracy') or 0) for r in rows):.2f} %")
    mine, theirs = objective_of(best, objective), objective_of(reference, objective)
    ratio = f"; {theirs / mine:.2f}× {reference.name}'s {figure}" if mine and theirs else ""
    by = " on the target's latency table" if "target_p50_ms" in best.extra else ""
    return (f"{best.name}: the lowest {figure}{by} of the rows whose accuracy on the {split} split is within "
            f"{budget:g} points of {reference.name} ({best.extra['val_accuracy']:.2f} % vs "
            f"{reference_accuracy:.2f} %){ratio}")


def margins(rows: list[Row], best: Row | None, floor: float, objective: str) -> dict:
    """The best uniform cut and the best plain conversion within budget (rows' `extra["candidate"]`:
    "uniform", "plain"), and how many times better `best` is than each by the objective.

    Example:
        >>> rows = [Row("base", "b", "tflite", latency_ms_p50=4.0, extra={"val_accuracy": 91.0, "candidate": "plain"}),
        ...         Row("uniform50", "u", "tflite", latency_ms_p50=2.0, extra={"val_accuracy": 90.5, "candidate": "uniform"}),
        ...         Row("alloc1", "a", "tflite", latency_ms_p50=1.6, extra={"val_accuracy": 90.2, "candidate": "allocated"})]
        >>> margins(rows, rows[2], 90.0, "p50")
        {'best_uniform': 'uniform50', 'best_plain': 'base', 'margin_over_uniform': 1.25, 'margin_over_plain': 2.5}
    """
    found: dict = {}
    for kind in ("uniform", "plain"):
        other = choose([r for r in rows if r.extra.get("candidate") == kind], floor, objective)
        found[f"best_{kind}"] = other.name if other else None
        if best is not None and other is not None and objective_of(best, objective):
            found[f"margin_over_{kind}"] = objective_of(other, objective) / objective_of(best, objective)
    return {k: found[k] for k in ("best_uniform", "best_plain", "margin_over_uniform", "margin_over_plain")
            if k in found}
