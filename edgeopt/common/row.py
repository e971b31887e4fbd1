"""One row of the comparison table: the stable contract of results.json (DESIGN.md §3).

Units are in the names; a figure that was not measured is `None` (JSON null, shown "n/a"),
never 0. More keys may be added; these names never change meaning.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

SCHEMA_VERSION = 1


@dataclass
class Row:
    name: str
    path: str
    format: Literal["keras", "tflite"]
    dtype: str | None = None  # "float32" | "int8" | "dynamic" (int8 weights, float activations)
    params: int | None = None
    macs: int | None = None
    size_bytes: int | None = None
    gzip_bytes: int | None = None
    accuracy: float | None = None  # fraction in [0, 1] on the dataset's test split
    latency_ms_p50: float | None = None
    latency_ms_p90: float | None = None
    latency_ms_mean: float | None = None
    latency_ms_std: float | None = None
    energy_mj: float | None = None  # per inference
    # "rapl" | "pyrapl" | "hwmon" | "rpi-pmic" | "estimate" | "model45"; None when not measured
    energy_source: str | None = None
    # what the figure covers: "cpu-package" | "board-input" | "rail" | "regulator-rails" |
    # "estimate" | "model"; energies compare only within one source and scope
    energy_scope: str | None = None
    energy_measured: bool = False
    edp_mj_ms: float | None = None
    train_seconds: float | None = None
    train_energy_j: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # further keys, flattened into the JSON

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: contract keys first, then `extra` keys flattened beside them."""
        data = asdict(self)
        extra = data.pop("extra")
        data.update({k: v for k, v in extra.items() if k not in data})
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Row":
        names = {f.name for f in fields(cls)} - {"extra"}
        known = {k: v for k, v in data.items() if k in names}
        return cls(**known, extra={k: v for k, v in data.items() if k not in names})


CONTRACT_KEYS = tuple(f.name for f in fields(Row) if f.name != "extra")
