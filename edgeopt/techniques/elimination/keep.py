"""How many neurons or channels a cut keeps: checked against the width of a layer or a channel group.

Shared by the Dense sweep (`sweep.py`) and the channel-group eliminator (`group_eliminator.py`), so
neither imports the other for it.
"""

from __future__ import annotations

from edgeopt.techniques.elimination.surgery import EliminationError, Site


def _label(target) -> str:
    """How a message names what is narrowed: a layer (Site) or a channel group."""
    return f"layer '{target.layer}'" if isinstance(target, Site) else f"the channel group {target.describe()}"


def check_keep(target, neurons_kept: int) -> None:
    """Raise EliminationError unless 1 ≤ neurons_kept < the width of `target` (a Site or a ChannelGroup)."""
    if not 1 <= neurons_kept < target.width:
        raise EliminationError(
            f"{_label(target)} has {target.width} {target.unit}, so the number kept must be in [1, {target.width - 1}]"
            f"{'' if isinstance(target, Site) else ': a group cannot lose all its channels, and keeping all of them removes nothing'}. "
            f"Received: keep={neurons_kept}")


def keep_from_fraction(target, fraction: float) -> int:
    """round(fraction × width) neurons of a Site or ChannelGroup, or EliminationError when that rounds to none or all."""
    count = int(round(fraction * target.width))
    if not 1 <= count < target.width:
        raise EliminationError(
            f"keep_fraction={fraction} of the {target.width} {target.unit} of {_label(target)} rounds to {count}; it "
            f"must leave between 1 and {target.width - 1} {target.unit}. Choose another fraction or give `keep`.")
    return count
