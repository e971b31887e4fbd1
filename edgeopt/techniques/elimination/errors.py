"""The one error of elimination, in its own module: `groups.py` and `surgery.py` both raise it, and
`surgery.py` reads channel groups, so neither may hold it without an import circle."""

from __future__ import annotations

from edgeopt.common.errors import EdgeoptError


class EliminationError(EdgeoptError, ValueError):
    """The layer or the neuron count asked for cannot be eliminated; the message says why."""
