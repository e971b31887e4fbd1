"""The search's candidates, measured before anything is trained.

1. **Plateaus.** Each unit's cost at every width of its grid, in every precision, one batch of
   proxies timed side by side (`plateaus.py`); only plateau tops are searched.
2. **Sensitivity.** Each unit alone at each top, refit by least squares, scored on the selection
   split without training (`sensitivity.py`).
3. **Candidates.** The uniform cuts (every unit at 75 / 50 / 37.5 / 25 %, rounded up to a top) and,
   per precision, the knapsack allocations for a ladder of cost targets (`allocation.py`). All of
   them are measured together in one batch (real proxies, so interactions between cuts count) and
   scored with every unit cut at once, BatchNorm re-estimated.

Everything measured goes into the trace, so a resumed search reads it instead of measuring again.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from edgeopt.run.search.allocation import LADDER, cost_targets, ladder
from edgeopt.run.search.finalists import Candidate
from edgeopt.run.search.plateaus import measure_curves, plateau_table, searched_widths
from edgeopt.run.search.trace import Trace
from edgeopt.run.search.units import UNIFORM_FRACTIONS, Unit, uniform_widths

CALIBRATION_IMAGES = 256  # training images a cheap score's least-squares refit is fitted on (positions × images)
SENSITIVITY_IMAGES = 1000  # selection images every cheap score is taken on (one pass per cell or candidate)


def curves_of(trace: Trace, units: list[Unit], costs, log: Callable[[str], None]) -> dict:
    """Every unit's cost curve per precision (measured once, then read from the trace)."""
    if not trace.plateaus:
        configurations = 1 + sum(len(u.grid()) - 1 for u in units)
        log(f"  plateaus: timing {configurations} width configurations × {len(getattr(costs, 'bases', {}) or [1])} "
            f"precision(s) side by side")
        trace.plateaus = plateau_table(measure_curves(units, costs.per_precision), units)
    curves = {p: {u: {int(w): c for w, c in table["cost_by_width"].items()} for u, table in per_unit.items()}
              for p, per_unit in trace.plateaus.items()}
    for precision, per_unit in trace.plateaus.items():
        log(f"    {precision}: " + "; ".join(f"{u} tops {t['tops']}"
                                          + (f" (steps of {t['tiles']})" if t["tiles"] else "")
                                          for u, t in per_unit.items()))
    return curves


def sensitivity_of(trace: Trace, model, units: list[Unit], tops: dict[str, list[int]], calibration: np.ndarray,
                   x: np.ndarray, y: np.ndarray, log: Callable[[str], None]) -> dict[str, dict[int, float]]:
    """Accuracy (%) with one unit cut to each of its tops, refit, untrained (measured once)."""
    from edgeopt.run.search.sensitivity import unit_table

    if not trace.sensitivity:
        log(f"  sensitivity: each unit alone at each plateau top, refit, on {len(x)} selection images")
        table = unit_table(model, units, tops, calibration, x, y, log)
        trace.sensitivity = {u: {str(w): a for w, a in widths.items()} for u, widths in table.items()}
    return {u: {int(w): a for w, a in widths.items()} for u, widths in trace.sensitivity.items()}


def configurations(units: list[Unit], curves: dict, table: dict[str, dict[int, float]],
                   reference: float) -> list[Candidate]:
    """The uniform cuts (rounded up to any plateau top), then the allocations over the widths whose
    accuracy `table` holds (duplicates of earlier candidates dropped)."""
    full = {u.name: u.width for u in units}
    found: list[Candidate] = []
    seen = {tuple(sorted(full.items()))}

    def add(candidate: Candidate) -> None:
        key = tuple(sorted(candidate.widths.items()))
        if key not in seen:
            seen.add(key)
            found.append(candidate)

    every_top = searched_widths(curves, units, most=max(len(u.grid()) for u in units))
    for fraction in UNIFORM_FRACTIONS:
        add(Candidate(f"uniform{fraction * 100:g}".replace(".", "_"), "uniform",
                      uniform_widths(units, fraction, every_top)))
    # Targets are fractions of the cheapest precision's full cost; each is allocated in every
    # precision, and the precision whose allocation loses least takes it (int8 may be cheapest at full
    # width while float32 wins once everything is cut: the allocation sees both).
    fastest = min(per_unit[units[0].name][units[0].width] for per_unit in curves.values())
    allocations = {}
    for precision, per_unit in curves.items():
        full_cost = per_unit[units[0].name][units[0].width]
        options = {u.name: {w: (full_cost - per_unit[u.name][w], reference - table[u.name].get(w, reference))
                            for w in table[u.name] if w in per_unit[u.name]} | {u.width: (0.0, 0.0)}
                   for u in units}
        allocations[precision] = {a.target: a for a in ladder(options, full_cost, cost_targets(full_cost, fastest))}
    number = 0
    for target in LADDER:
        offers = [per_precision[target] for per_precision in allocations.values() if target in per_precision]
        if offers:
            best = min(offers, key=lambda a: (a.loss, -a.saving))
            number += 1
            add(Candidate(f"alloc{number}", "allocated", best.widths, target=target))
    return found


def measured_candidates(trace: Trace, units: list[Unit], candidates: list[Candidate], costs, score,
                        log: Callable[[str], None]) -> list[Candidate]:
    """Every candidate with its cost in each precision (one batch, with the full model first) and its
    cheap accuracy (`score(widths)`), measured once and then read from the trace."""
    if not trace.candidates:
        full = {u.name: u.width for u in units}
        log(f"  candidates: {len(candidates)} width configurations ({sum(c.kind == 'uniform' for c in candidates)} "
            "uniform), timed side by side and scored with every unit cut at once")
        figures = costs.per_precision([full] + [c.widths for c in candidates])
        trace.reference["costs"] = figures[0]
        for candidate, figure in zip(candidates, figures[1:]):
            candidate.costs = figure
            candidate.cheap = score(candidate.widths)
            log(f"    {candidate.name}: {_widths_text(candidate.widths, full)} — {candidate.precision} "
                f"{candidate.cost:.4g}, {candidate.cheap:.2f} % before fine-tuning")
        trace.candidates = [c.to_dict() for c in candidates]
    return [Candidate(**c) for c in trace.candidates]


def _widths_text(widths: dict[str, int], full: dict[str, int]) -> str:
    return " ".join(f"{w}/{full[u]}" for u, w in widths.items())
