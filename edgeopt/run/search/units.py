"""The search's channel units and the widths it may give them.

Each channel group a Conv2D or Dense layer writes is a *unit* (`techniques/elimination/groups.py`):
a plain conv alone, a residual stream with every conv and shortcut that writes into it, a
squeeze-excite gate with the channels it gates. A configuration gives every unit a width.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

Widths = dict[str, int]  # unit name → channels kept

UNIFORM_FRACTIONS = (0.75, 0.5, 0.375, 0.25)  # the width multipliers every search also tries (issue 32)


@dataclass(frozen=True)
class Unit:
    """A channel unit the search may narrow: a Conv2D or Dense layer's outputs, or a channel group.

    Attributes:
        name: The unit's name (its group's first layer), used in step ids and the trace.
        layers: The Keras layers that write it (the `eliminate` stage narrows the group of any of them).
        width: Its channels in the model the search starts from.
        step: The grid its widths are measured on (channels).
        minimum: The narrowest it may become.
    """

    name: str
    layers: tuple[str, ...]
    width: int
    step: int
    minimum: int

    def grid(self) -> list[int]:
        """Every width on the unit's grid, narrowest first, its full width last.

        Example:
            >>> grid_unit("conv1", ["conv1"], 16).grid()
            [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
        """
        widths = list(range(self.width - self.step * ((self.width - self.minimum) // self.step), self.width + 1,
                            self.step))
        return sorted({w for w in widths if w >= self.minimum} | {self.width})


def grid_unit(name: str, layers: Iterable[str], width: int) -> Unit:
    """A unit on a grid of 1/16 of its width (at least 1 channel), never below 1/8 of it.

    Example:
        >>> grid_unit("conv2", ["conv2"], 64)
        Unit(name='conv2', layers=('conv2',), width=64, step=4, minimum=8)
    """
    step = max(1, round(width / 16))
    return Unit(name, tuple(layers), width, step, max(step, round(width / 8)))


def uniform_widths(units: list[Unit], fraction: float, allowed: dict[str, list[int]]) -> Widths:
    """Every unit at `fraction` of its width, rounded up to the next width in `allowed` (the tops of
    the cost plateaus the kernels show, so a uniform cut is not handicapped by an untiled width).

    Example:
        >>> u = grid_unit("conv1", ["conv1"], 32)
        >>> uniform_widths([u], 0.375, {"conv1": [8, 16, 32]})
        {'conv1': 16}
    """
    widths = {}
    for unit in units:
        wanted = max(unit.minimum, round(unit.width * fraction))
        above = [w for w in allowed.get(unit.name, [unit.width]) if w >= wanted]
        widths[unit.name] = min(above) if above else unit.width
    return widths
