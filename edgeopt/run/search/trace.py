"""search.json: what a search decided and measured, so that a resumed search makes the same choices.

Each batch of costs is kept with its own figures (a batch is timed side by side; figures of two
batches are not comparable), accuracies per step, and the time spent over every invocation, so
the time limit counts the whole search and not only its last part.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from edgeopt.common.atomic import atomic_write_text

TRACE_FILE = "search.json"


@dataclass
class Trace:
    """search.json: what was decided and measured, so a resumed search makes the same choices."""

    identity: str
    units: list[dict] = field(default_factory=list)
    reference: dict = field(default_factory=dict)
    selection: dict = field(default_factory=dict)  # the split chosen on, and why (`selection.py`)
    plateaus: dict = field(default_factory=dict)  # precision → unit → tops, tiles, cost by width (one batch)
    sensitivity: dict = field(default_factory=dict)  # unit → width → accuracy cut alone, untrained, %
    candidates: list[dict] = field(default_factory=list)  # `finalists.Candidate`s: widths, costs (one batch), cheap
    finetune: dict = field(default_factory=dict)  # the one fine-tune every finalist gets, and why that size
    finalists: list[str] = field(default_factory=list)  # candidates fine-tuned, in order
    accuracy: dict[str, float] = field(default_factory=dict)  # step id → selection accuracy, %
    seconds: float = 0.0  # search time spent over every invocation
    stop: str = ""
    mixed: dict[str, dict] = field(default_factory=dict)  # model step → float layers chosen, per-layer times
    final: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, identity: str) -> "Trace":
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return cls(identity)
        if not isinstance(data, dict) or data.get("identity") != identity:
            return cls(identity)  # another search's trace: start afresh (its steps may still be reused)
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)

    def save(self, path: Path) -> None:
        atomic_write_text(path, json.dumps(self.__dict__, indent=2) + "\n")
