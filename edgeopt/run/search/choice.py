"""Which final row a search returns, and why: the lowest objective within the budget.

Rows are the search's `.tflite` rows after profiling (`run/profiling.py`: timed together), each
with `val_accuracy` (%, on the validation split held out of the training data) in `extra`.
"""

from __future__ import annotations

from edgeopt.common.row import Row


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


def choose(rows: list[Row], floor: float, objective: str) -> Row | None:
    """The row with the lowest objective whose validation accuracy is at least `floor` (%).

    Equal figures (a row and its final fine-tune share widths): the more accurate one.

    Example:
        >>> rows = [Row("a", "a", "tflite", latency_ms_p50=2.0, extra={"val_accuracy": 91.0}),
        ...         Row("b", "b", "tflite", latency_ms_p50=1.0, extra={"val_accuracy": 89.0})]
        >>> choose(rows, 90.0, "p50").name, choose(rows, 88.0, "p50").name
        ('a', 'b')
    """
    within = [r for r in rows if r.extra.get("val_accuracy") is not None
              and r.extra["val_accuracy"] >= floor and objective_of(r, objective) is not None]
    return min(within, key=lambda r: (objective_of(r, objective), -r.extra["val_accuracy"])) if within else None


def why(best: Row | None, reference: Row, reference_accuracy: float, budget: float, objective: str) -> str:
    """One sentence for `search.json` and the log: what won, by which figure, against the reference."""
    if best is None:
        return "no row stays within the budget on the validation split"
    ratio = (objective_of(reference, objective) or 0) / (objective_of(best, objective) or 1)
    by = " on the target's latency table" if "target_p50_ms" in best.extra else ""
    return (f"{best.name}: the lowest {objective}{by} of the rows whose validation accuracy is within "
            f"{budget:g} points of {reference.name} ({best.extra['val_accuracy']:.2f} % vs "
            f"{reference_accuracy:.2f} %); {ratio:.2f}× {reference.name}'s {objective}")
