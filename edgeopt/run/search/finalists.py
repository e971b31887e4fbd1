"""Which configurations get a fine-tune: every uniform cut, then allocated ones chosen by what the
uniform ones showed.

Every candidate has a measured cost (its cheapest precision, proxies timed side by side) and a
cheap accuracy (refit + BatchNorm re-estimation, no training: `sensitivity.py`). Fine-tuning wins
back an amount that depends on how much was lost, so after each fine-tune the search knows more:
the recovery seen so far (tuned − cheap, interpolated over the cheap accuracy) predicts each
untried candidate's tuned accuracy. The next one tried is the fastest allocated candidate that is
faster than every candidate already within budget, not dominated by one that failed, and
predicted to clear the floor by a margin. Deterministic given the measurements: tested with fakes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from edgeopt.run.search.units import Widths

MARGIN = 0.25  # accuracy points a prediction must clear the floor by: predictions are rough


@dataclass
class Candidate:
    """A width configuration the search may fine-tune.

    Attributes:
        name: "uniform50" (a uniform cut to 50 %) or "alloc<N>" (an allocation), its steps' prefix.
        kind: "uniform" or "allocated".
        widths: Every unit's width.
        costs: Its cost in every precision (ms, or bytes for objective size), from one batch.
        cheap: Accuracy (%) on the selection split before fine-tuning.
        target: For an allocation, the fraction of the full model's cost it aimed at.
        tuned: Accuracy (%) on the selection split after its fine-tune, once done.
    """

    name: str
    kind: str
    widths: Widths
    costs: dict[str, float] = field(default_factory=dict)
    cheap: float | None = None
    target: float | None = None
    tuned: float | None = None

    @property
    def cost(self) -> float:
        return min(self.costs.values())

    @property
    def precision(self) -> str:
        return min(self.costs, key=self.costs.get)

    def precisions_within(self, share: float = 0.1) -> list[str]:
        """The precisions costing at most `share` more than the cheapest: the ones worth converting."""
        return [p for p, c in sorted(self.costs.items(), key=lambda kv: kv[1]) if c <= self.cost * (1 + share)]

    def to_dict(self) -> dict:
        return asdict(self)


def pareto(candidates: list[Candidate]) -> list[Candidate]:
    """The allocated candidates that no other candidate beats on both cost and cheap accuracy.

    Example:
        >>> u = Candidate("uniform50", "uniform", {}, {"f": 1.0}, 80.0)
        >>> a = Candidate("alloc1", "allocated", {}, {"f": 0.8}, 81.0)
        >>> b = Candidate("alloc2", "allocated", {}, {"f": 1.1}, 79.0)
        >>> [c.name for c in pareto([u, a, b])]
        ['alloc1']
    """
    def beaten(c: Candidate) -> bool:
        return any(o is not c and o.cost <= c.cost and o.cheap >= c.cheap and (o.cost, -o.cheap) != (c.cost, -c.cheap)
                   for o in candidates)
    return [c for c in candidates if c.kind == "allocated" and not beaten(c)]


def predicted(candidate: Candidate, tuned: list[Candidate]) -> float:
    """Its accuracy after a fine-tune, predicted from the recovery the tuned candidates showed.

    Example:
        >>> done = [Candidate("u1", "uniform", {}, {}, 90.0, tuned=91.0), Candidate("u2", "uniform", {}, {}, 70.0,
        ...         tuned=88.0)]
        >>> predicted(Candidate("a", "allocated", {}, {}, 80.0), done)
        89.5
    """
    done = sorted((c for c in tuned if c.tuned is not None), key=lambda c: c.cheap)
    if not done:
        return candidate.cheap
    recovery = np.interp(candidate.cheap, [c.cheap for c in done], [c.tuned - c.cheap for c in done])
    return float(candidate.cheap + recovery)


def next_finalist(candidates: list[Candidate], floor: float, ceiling_cost: float,
                  margin: float = MARGIN) -> Candidate | None:
    """The next allocated candidate to fine-tune, or None when none is worth it.

    Args:
        candidates: Every candidate; the tuned ones carry `tuned`.
        floor: The accuracy (%) the budget allows on the selection split.
        ceiling_cost: A candidate must cost less than this (the reference's cost) to be of use.
        margin: What a prediction must clear the floor by.

    Example:
        >>> u50 = Candidate("uniform50", "uniform", {}, {"f": 1.0}, 80.0, tuned=90.0)
        >>> u25 = Candidate("uniform25", "uniform", {}, {"f": 0.6}, 60.0, tuned=87.0)   # below the floor
        >>> fast = Candidate("alloc1", "allocated", {}, {"f": 0.7}, 75.0)             # predicted 89.25
        >>> faster = Candidate("alloc2", "allocated", {}, {"f": 0.5}, 60.0)           # no better than uniform25
        >>> next_finalist([u50, u25, fast, faster], floor=88.0, ceiling_cost=2.0).name
        'alloc1'
    """
    tuned = [c for c in candidates if c.tuned is not None]
    passing = [c for c in tuned if c.tuned >= floor]
    failed = [c for c in tuned if c.tuned < floor]
    bar = min([c.cost for c in passing] + [ceiling_cost])
    pool = [c for c in pareto(candidates) if c.tuned is None and c.cost < bar
            and not any(f.cost >= c.cost and f.cheap >= c.cheap for f in failed)]  # a failure did better there
    hopeful = [c for c in pool if predicted(c, tuned) >= floor + margin]
    return min(hopeful, key=lambda c: (c.cost, -c.cheap)) if hopeful else None
