"""Widths for every unit at once, for a ladder of cost targets: a multiple-choice knapsack.

Each unit offers its plateau tops (`plateaus.py`), each with what it saves off the model's cost
(measured, the other units at full width) and what it loses in accuracy when cut alone without
fine-tuning (the sensitivity: least-squares refit plus BatchNorm re-estimation, `sensitivity.py`).
For a target cost the allocation minimises the summed losses over choices whose summed savings
reach the target, as HALP's knapsack and ModelOpt FastNAS's sensitivity map do, so "every unit
to 40 % in float32" is one move, not ten. Both sums are estimates (cuts interact); the search
measures each allocated configuration's real cost side by side and scores it before it trusts it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeopt.run.search.units import Widths

RESOLUTION = 400  # buckets the required saving is split into (the DP's grid)
# Target costs, fractions of the full model's, summed savings as the allocation counts them. The sum
# overstates what several cuts save together (a conv narrowed on both sides saves its cost twice in
# it: measured 3× on fashion_full's gap_cnn), so the ladder runs deep; every candidate's real cost is
# then measured side by side.
LADDER = (0.85, 0.7, 0.55, 0.45, 0.35, 0.27, 0.2, 0.15, 0.1, 0.07, 0.05, 0.03)

# unit → width → (cost saved against the full model, accuracy points lost); full width: (0, 0)
Options = dict[str, dict[int, tuple[float, float]]]


@dataclass(frozen=True)
class Allocation:
    widths: Widths
    target: float  # the fraction of the full cost aimed at
    saving: float  # the summed savings (an estimate)
    loss: float  # the summed losses, accuracy points (an estimate)


def allocate(options: Options, saving_needed: float,
             resolution: int = RESOLUTION) -> tuple[Widths, float, float] | None:
    """The widths that save at least `saving_needed` at the least summed loss, or None.

    Savings are rounded to the nearest of `resolution` steps of `saving_needed`. Among equal
    losses the wider widths win (a tiny penalty per channel fraction cut).

    Example:
        >>> options = {"a": {16: (0, 0), 8: (5, 0.2), 4: (8, 3.0)}, "b": {32: (0, 0), 16: (4, 0.1)}}
        >>> allocate(options, 9)
        ({'a': 8, 'b': 16}, 9.0, 0.30000000000000004)
        >>> allocate(options, 12)[0]
        {'a': 4, 'b': 16}
        >>> allocate(options, 20) is None
        True
    """
    if saving_needed <= 0:
        return {unit: max(widths) for unit, widths in options.items()}, 0.0, 0.0
    scale = saving_needed / resolution
    best = np.full(resolution + 1, np.inf)
    best[0] = 0.0
    picks: list[np.ndarray] = []
    units = list(options)
    for unit in units:
        full = max(options[unit])
        choices = [(w, s, l) for w, (s, l) in options[unit].items() if w == full or s > 0]
        new = np.full(resolution + 1, np.inf)
        pick = np.zeros(resolution + 1, dtype=int)
        for width, saving, loss in choices:
            step = min(resolution, int(round(max(saving, 0.0) / scale)))
            penalty = max(loss, 0.0) + 1e-6 * (1 - width / full)
            for bucket in np.nonzero(np.isfinite(best))[0]:
                target = min(resolution, bucket + step)
                if best[bucket] + penalty < new[target]:
                    new[target] = best[bucket] + penalty
                    pick[target] = width * (resolution + 1) + bucket
        best = new
        picks.append(pick)
    if not np.isfinite(best[resolution]):
        return None
    widths, bucket = {}, resolution
    for unit, pick in zip(reversed(units), reversed(picks)):
        widths[unit], bucket = divmod(int(pick[bucket]), resolution + 1)
    widths = {unit: widths[unit] for unit in units}
    return widths, float(sum(options[u][w][0] for u, w in widths.items())), \
        float(sum(max(options[u][w][1], 0.0) for u, w in widths.items()))


def cost_targets(full_cost: float, fastest_full_cost: float) -> dict[float, float]:
    """LADDER's targets for a precision whose full model costs `full_cost`, as fractions of its own
    cost: the ladder is one of absolute costs, fractions of the fastest precision's full model.

    Example:
        >>> cost_targets(2.0, 1.0)[0.45]
        0.225
    """
    return {target: target * fastest_full_cost / full_cost for target in LADDER}


def ladder(options: Options, full_cost: float, targets: dict[float, float] | None = None) -> list[Allocation]:
    """One allocation per reachable target (name → fraction of `full_cost`), duplicates dropped.

    Example:
        >>> options = {"a": {16: (0, 0), 8: (5, 0.2)}, "b": {32: (0, 0), 16: (4, 0.1)}}
        >>> [a.widths for a in ladder(options, 20.0, {0.9: 0.9, 0.8: 0.8, 0.6: 0.6})]
        [{'a': 16, 'b': 16}, {'a': 8, 'b': 16}]
    """
    seen, found = set(), []
    for target, fraction in (targets or {t: t for t in LADDER}).items():
        if fraction >= 1:
            continue  # this precision is already cheaper than the target at full width
        allocated = allocate(options, full_cost * (1 - fraction))
        if allocated is None:
            break  # deeper targets are out of reach too
        widths, saving, loss = allocated
        key = tuple(sorted(widths.items()))
        if key not in seen:
            seen.add(key)
            found.append(Allocation(widths, target, saving, loss))
    return found
