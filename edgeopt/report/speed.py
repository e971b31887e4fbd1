"""Speed-ups as the table shows them: from the interleaved rounds, with their intervals, and ties.

Rows timed together (`edgeopt.profile.profile_tflites`) share a `timing_session` and carry their
per-round figures (`latency_ms_rounds`). Between two such rows `edgeopt.common.paired_stats` gives
the speed-up (the ratio of their quiet levels) and its paired bootstrap interval; an interval that
includes 1 means the two are not significantly different. Rows not timed together (a Keras row,
rows of different machines or runs) fall back to the ratio of their p50s, with no interval. Nothing
here measures anything.
"""

from __future__ import annotations

from edgeopt.common.paired_stats import RatioSummary, differ, speedup
from edgeopt.common.row import Row

TIE_MARK = "≈"


def timed_together(a: Row, b: Row) -> bool:
    """True when both rows were timed in the same interleaved rounds.

    Example:
        >>> timed_together(Row("a", "a", "tflite", extra={"timing_session": "s1", "latency_ms_rounds": [1.0]}),
        ...                Row("b", "b", "tflite", extra={"timing_session": "s1", "latency_ms_rounds": [2.0]}))
        True
    """
    ra, rb = a.extra.get("latency_ms_rounds"), b.extra.get("latency_ms_rounds")
    return (a.extra.get("timing_session") is not None and a.extra.get("timing_session") == b.extra.get("timing_session")
            and isinstance(ra, list) and isinstance(rb, list) and len(ra) == len(rb) > 0)


def paired_speedup(row: Row, base: Row) -> RatioSummary | None:
    """How many times faster `row` is than `base`, from their paired rounds; None if not timed together."""
    if not timed_together(row, base):
        return None
    return speedup(base.extra["latency_ms_rounds"], row.extra["latency_ms_rounds"])


def faster_cell(row: Row, base: Row | None, *, interval: bool = True) -> str:
    """The "faster" column: "2.91×", "2.91× (2.70–3.12)" when the interval is wider than ±2 %, or n/a.

    Example:
        >>> faster_cell(Row("a", "a", "tflite", latency_ms_p50=1.0), Row("b", "b", "tflite", latency_ms_p50=2.0))
        '2.00×'
    """
    ratio = paired_speedup(row, base) if base is not None else None
    if ratio is not None:
        cell = f"{ratio.ratio:.2f}×"
        return cell + (f" ({ratio.low:.2f}–{ratio.high:.2f})" if interval and ratio.wide and row is not base else "")
    if base is None or not base.latency_ms_p50 or not row.latency_ms_p50:
        return "n/a"
    return f"{base.latency_ms_p50 / row.latency_ms_p50:.2f}×"


def fastest(candidates: list[Row], base: Row | None) -> Row | None:
    """The fastest candidate: among rows timed together by speed-up from the rounds, else by p50.

    The rows timed together with the baseline (or, if it was not timed with them, with the first
    candidate that was timed in rounds) are ranked by their paired speed-up; any other row (a Keras
    row, say) wins only with a lower p50 than theirs.

    Example:
        >>> rows = [Row("a", "a", "tflite", latency_ms_p50=2.0), Row("b", "b", "tflite", latency_ms_p50=1.0)]
        >>> fastest(rows, None).name
        'b'
    """
    timed = [r for r in candidates if r.latency_ms_p50 is not None]
    if not timed:
        return None
    in_rounds = [r for r in timed if r.extra.get("latency_ms_rounds")]
    reference = base if base is not None and base.extra.get("latency_ms_rounds") else \
        (in_rounds[0] if in_rounds else None)
    group = [r for r in timed if reference is not None and (r is reference or timed_together(r, reference))]
    ratios = {r.name: paired_speedup(r, reference) for r in group}
    group = [r for r in group if ratios[r.name] is not None]
    best = max(group, key=lambda r: ratios[r.name].ratio) if group else None
    others = [r for r in timed if r not in group]
    other = min(others, key=lambda r: r.latency_ms_p50) if others else None
    if best is None or (other is not None and other.latency_ms_p50 < best.latency_ms_p50):
        return other
    return best


def ties(best: Row, rows: list[Row]) -> list[Row]:
    """The rows (other than `best`) whose time does not differ significantly from `best`'s.

    Only rows timed together with `best` can tie: for others there is no paired interval.
    """
    return [r for r in rows if r is not best and r.name != best.name and timed_together(r, best)
            and not differ(r.extra["latency_ms_rounds"], best.extra["latency_ms_rounds"])]


def interval_text(row: Row, base: Row) -> str:
    """", 95 % CI 2.70–3.12" for a row timed together with the base, else ""."""
    ratio = paired_speedup(row, base)
    if ratio is None or row is base:
        return ""
    return f" (95 % CI {ratio.low:.2f}–{ratio.high:.2f} over {ratio.rounds} rounds)"
