"""NetAdapt (Yang et al., ECCV 2018) over channel units: each iteration aims at a cost cut, tries
each unit at the widest width that reaches it, and keeps the cut that costs least accuracy.

This module is the decision logic only. The caller supplies what it measures: `costs` returns
the cost (latency in ms, or bytes) of width configurations — measured side by side on the target,
or read from a latency table — and `accuracy` narrows, briefly fine-tunes and scores one
configuration on the validation split. Deterministic given those two, so it is tested with fakes.

The short fine-tune understates what a cut costs once the model is fine-tuned properly: on a
ResNet-8 a quarter-epoch fine-tune lost about 2 points per cut that the final 2-epoch one won
back. So when the best proposal falls below the floor after its short fine-tune, an optional
`recover` gives it the final fine-tune and the iteration stops only if it still misses the budget.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable

Widths = dict[str, int]  # unit name → channels kept


@dataclass(frozen=True)
class Unit:
    """A channel unit the search may narrow: a Conv2D or Dense layer's outputs, or a channel group.

    Attributes:
        name: The unit's name (its layer, or its group's name), used in step ids and the trace.
        layers: The Keras layers the `eliminate` stage narrows for it.
        width: Its channels in the model the search starts from.
        step: The grid it is narrowed on (channels).
        minimum: The narrowest it may become.
    """

    name: str
    layers: tuple[str, ...]
    width: int
    step: int
    minimum: int

    def widths_below(self, current: int, count: int = 6) -> list[int]:
        """Candidate widths under `current`, widest first: a few grid steps, then larger cuts."""
        near = [current - k * self.step for k in range(1, count + 1)]
        far = [round(current * f / self.step) * self.step for f in (0.75, 0.5, 0.375, 0.25)]
        return sorted({w for w in near + far if self.minimum <= w < current}, reverse=True)


def grid_unit(name: str, layers: Iterable[str], width: int) -> Unit:
    """A unit on a grid of 1/16 of its width (at least 1 channel), never below 1/8 of it.

    Example:
        >>> grid_unit("conv2", ["conv2"], 64)
        Unit(name='conv2', layers=('conv2',), width=64, step=4, minimum=8)
    """
    step = max(1, round(width / 16))
    return Unit(name, tuple(layers), width, step, max(step, round(width / 8)))


@dataclass
class Proposal:
    unit: str
    width: int
    cost: float
    precision: str = ""  # the deployed precision in which this configuration was cheapest
    accuracy: float | None = None  # validation accuracy after the short fine-tune, in percent
    recovered: float | None = None  # after the final fine-tune, asked for when `accuracy` fell below the floor


@dataclass
class Iteration:
    number: int
    widths_before: Widths
    cost_before: float
    target: float
    proposals: list[Proposal] = field(default_factory=list)
    chosen: str | None = None  # the unit whose proposal was kept
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Iteration":
        proposals = [Proposal(**p) for p in data.get("proposals", [])]
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}  # the trace adds its own keys
        return cls(**{**known, "proposals": proposals})

    @property
    def kept(self) -> Proposal | None:
        return next((p for p in self.proposals if p.unit == self.chosen), None)


# Configurations → (cost, cheapest precision) of each, measured together.
CostFn = Callable[[list[Widths]], list[tuple[float, str]]]
# (iteration, widths before, proposals) → the validation accuracy of each, after its short fine-tune.
AccuracyFn = Callable[[int, Widths, list[Proposal]], list[float]]
# (iteration, widths before, proposal) → its validation accuracy after the final (long) fine-tune.
RecoverFn = Callable[[int, Widths, Proposal], float]


def next_iteration(number: int, units: list[Unit], widths: Widths, *, costs: CostFn, accuracy: AccuracyFn,
                   cut: float, floor: float, recover: RecoverFn | None = None,
                   budget_floor: float | None = None) -> Iteration:
    """One NetAdapt iteration from `widths`.

    Args:
        number: The iteration's number (1-based), for step ids and the trace.
        units: Every unit the search may narrow.
        widths: The current configuration (every unit's width).
        costs: Measures configurations side by side; the first one asked is `widths` itself.
        accuracy: Builds, fine-tunes briefly and scores the proposals (independent: may run in parallel).
        cut: The cost reduction each iteration aims at (0.1 = 10 %).
        floor: The validation accuracy (after the short fine-tune) below which a proposal is not kept.
        recover: Gives the best proposal the final fine-tune when it scores below `floor`.
        budget_floor: The accuracy the recovered proposal must reach to be kept (with `recover`).

    Returns:
        The iteration; `chosen` is None when no unit can reach the target or none stays above `floor`
        (nor, with `recover`, reaches `budget_floor` after the final fine-tune).
    """
    candidates = [(unit, w) for unit in units for w in unit.widths_below(widths[unit.name])]
    measured = costs([widths] + [{**widths, unit.name: w} for unit, w in candidates])
    (current, _), rest = measured[0], measured[1:]
    iteration = Iteration(number, dict(widths), current, current * (1 - cut))
    for unit in units:
        # The widest width of this unit whose configuration reaches the target (NetAdapt's choice).
        reaching = [(w, c, p) for (u, w), (c, p) in zip(candidates, rest) if u is unit and c <= iteration.target]
        if reaching:
            width, cost, precision = max(reaching)
            iteration.proposals.append(Proposal(unit.name, width, cost, precision))
    if not iteration.proposals:
        iteration.note = "no unit reaches the target cost at any width on its grid"
        return iteration
    for proposal, score in zip(iteration.proposals, accuracy(number, widths, iteration.proposals)):
        proposal.accuracy = score
    best = max(iteration.proposals, key=lambda p: (p.accuracy, -p.cost))
    if best.accuracy < floor:
        iteration.note = (f"the best proposal ({best.unit} → {best.width}) scores {best.accuracy:.2f} % < "
                          f"{floor:.2f} % after the short fine-tune")
        if recover is None:
            return iteration
        best.recovered = recover(number, widths, best)
        if best.recovered < budget_floor:
            iteration.note += f" and {best.recovered:.2f} % < {budget_floor:.2f} % after the final one"
            return iteration
        iteration.note += f"; {best.recovered:.2f} % ≥ {budget_floor:.2f} % after the final one: kept"
    iteration.chosen = best.unit
    return iteration
