"""Width as the target's kernels price it: plateaus of cost over each unit's widths.

XNNPACK packs a conv's output channels in tiles of its GEMM width `nr` (int8: 8 on AVX2, 16 on
AVX512-VNNI, 64 on AMX; float32: 8–32), so a model's cost is a staircase over a unit's width, and
not always a monotone one (24 float32 channels measured slower than 32 on one Xeon). Every width
but the widest of a step costs accuracy and buys nothing. The search measures each unit's curve
once, in every precision, all proxies side by side (`costs.py`), and searches only the *tops*: the
widths that some narrower width cannot match for cost.
"""

from __future__ import annotations

from typing import Callable

from edgeopt.run.search.units import Unit, Widths

TOLERANCE = 0.015  # of the whole model's cost: steps smaller than this are the rounds' noise, not a tile
MAX_TOPS = 6  # widths searched per unit (the full one included): each costs a scoring pass

Curves = dict[str, dict[str, dict[int, float]]]  # precision → unit → width → the whole model's cost


def plateau_tops(costs: dict[int, float], tolerance: float = TOLERANCE) -> list[int]:
    """The widths worth searching, narrowest first: `w` is kept when every wider width costs more
    than `w` does by over `tolerance` (relative). The full width is always kept.

    Example (int8 on AMX: one tile up to 64 channels; float32 at 24 slower than at 32):
        >>> plateau_tops({8: 33, 16: 33, 32: 33.2, 64: 33.1, 72: 68, 128: 68.5})
        [64, 128]
        >>> plateau_tops({8: 42, 16: 42, 24: 88, 32: 61, 48: 118, 64: 118})
        [16, 32, 64]
    """
    widths = sorted(costs)
    tops = []
    for i, width in enumerate(widths):
        wider = widths[i + 1:]
        if all(costs[w] > costs[width] * (1 + tolerance) for w in wider):
            tops.append(width)
    return tops


def tile_widths(tops: list[int]) -> list[int]:
    """The steps between consecutive plateau tops: the tile the kernels seem to use (for the trace).

    Example:
        >>> tile_widths([16, 32, 48, 64])
        [16]
    """
    return sorted({b - a for a, b in zip(tops, tops[1:])})


def measure_curves(units: list[Unit], per_precision: Callable[[list[Widths]], list[dict[str, float]]]) -> Curves:
    """Each unit's cost at every width of its grid, the others at full width, in every precision,
    all configurations measured in one batch (side by side, so their figures compare)."""
    full = {u.name: u.width for u in units}
    configurations = [dict(full)] + [{**full, u.name: w} for u in units for w in u.grid() if w != u.width]
    figures = per_precision(configurations)
    curves: Curves = {}
    for precision in figures[0]:
        curves[precision] = {u.name: {u.width: figures[0][precision]} for u in units}
        index = 1
        for unit in units:
            for width in unit.grid():
                if width != unit.width:
                    curves[precision][unit.name][width] = figures[index][precision]
                    index += 1
    return curves


def searched_widths(curves: Curves, units: list[Unit], tolerance: float = TOLERANCE,
                    most: int = MAX_TOPS) -> dict[str, list[int]]:
    """Per unit, the plateau tops of any precision (a width is worth trying if one precision pays for
    it), at most `most` of them spread over the range (the full width always among them).

    Example:
        >>> u = Unit("a", ("a",), 16, 1, 2)
        >>> searched_widths({"float32": {"a": {w: float(w) for w in range(2, 17)}}}, [u])
        {'a': [2, 5, 8, 12, 15, 16]}
    """
    found = {}
    for unit in units:
        tops = sorted({w for precision in curves for w in plateau_tops(curves[precision][unit.name], tolerance)})
        if len(tops) > most:
            picks = {round(i * (len(tops) - 2) / (most - 2)) for i in range(most - 1)}
            tops = [tops[i] for i in sorted(picks)] + [tops[-1]]
        found[unit.name] = tops
    return found


def plateau_table(curves: Curves, units: list[Unit], tolerance: float = TOLERANCE) -> dict:
    """search.json's record of what was measured: per precision and unit, the tops and the tile steps."""
    return {precision: {u.name: {"tops": plateau_tops(curves[precision][u.name], tolerance),
                                 "tiles": tile_widths(plateau_tops(curves[precision][u.name], tolerance)),
                                 "cost_by_width": {str(w): c for w, c in sorted(curves[precision][u.name].items())}}
                        for u in units}
            for precision in curves}
