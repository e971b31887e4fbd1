"""A latency-table kit: the search's cost model for a target it cannot run on.

For each precision deployed, the kit holds the model's whole `.tflite` and, for every op whose
activations a unit's channels flow through, that op alone at a grid of the unit widths it sees
(`profile/tflite_cut.py` on `profile/tflite_channels.py`'s narrowed graph). `edgeopt profile KIT`
times every file on the target, TensorFlow-free (`rundir/latency_kit.py`), and writes
`latency_table.json`; `edgeopt search --latency-table` then prices a configuration as the whole
model's time plus, op by op, what its narrowed widths change (interpolated between grid points).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from edgeopt.common.atomic import atomic_write_bytes, atomic_write_text
from edgeopt.profile.tflite_channels import narrowed, op_groups
from edgeopt.profile.tflite_cut import op_model
from edgeopt.rundir.latency_kit import KIT_FILE, KIT_SCHEMA
from edgeopt.run.search.units import Unit

GRID_POINTS = 5  # widths timed per unit and op; the table interpolates between them


def unit_grid(unit: Unit) -> list[int]:
    """Up to GRID_POINTS widths on the unit's grid, from its minimum to its full width.

    Example:
        >>> from edgeopt.run.search.units import grid_unit
        >>> unit_grid(grid_unit("conv2", ["conv2"], 64))
        [8, 24, 36, 52, 64]
    """
    on_grid = list(range(unit.minimum, unit.width + 1, unit.step))
    if on_grid[-1] != unit.width:
        on_grid.append(unit.width)
    if len(on_grid) <= GRID_POINTS:
        return on_grid
    picks = {round(i * (len(on_grid) - 1) / (GRID_POINTS - 1)) for i in range(GRID_POINTS)}
    return [on_grid[i] for i in sorted(picks)]


def write_kit(bases: dict[str, bytes], units: list[Unit], groups: dict[str, dict[str, int]], out_dir: Path,
              *, threads: int = 1) -> Path:
    """Write the kit for `bases` (precision → .tflite) into `out_dir`; return the manifest's path.

    `groups` is precision → unit name → channel group id (`costs.unit_groups`).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    grids = {u.name: unit_grid(u) for u in units}
    entries, models = [], {}
    for precision, data in bases.items():
        name = f"{precision}/model.tflite"
        atomic_write_bytes(out_dir / name, data)
        models[precision] = {"file": name, "sha256": hashlib.sha256(data).hexdigest()}
        unit_of = {gid: unit for unit, gid in groups[precision].items()}
        for index, (op_name, gids) in enumerate(op_groups(data)):
            touched = [unit_of[g] for g in gids if g in unit_of]
            if not touched:
                continue  # no unit's channels pass here: the op costs the same at every width
            for widths in _grid_points(touched, grids):
                cut = {groups[precision][u]: w for u, w in widths.items()}
                file = f"{precision}/op{index}_" + "_".join(f"{u}{w}" for u, w in widths.items()) + ".tflite"
                atomic_write_bytes(out_dir / file, op_model(narrowed(data, cut), index))
                entries.append({"file": file, "precision": precision, "op": index, "op_name": op_name,
                                "widths": widths})
    manifest = {"schema": KIT_SCHEMA, "kind": "edgeopt latency kit", "threads": threads, "models": models,
                "units": [{"name": u.name, "width": u.width, "grid": grids[u.name]} for u in units],
                "entries": entries}
    return atomic_write_text(out_dir / KIT_FILE, json.dumps(manifest, indent=2) + "\n")


def _grid_points(touched: list[str], grids: dict[str, list[int]]) -> list[dict[str, int]]:
    points: list[dict[str, int]] = [{}]
    for unit in touched:
        points = [{**p, unit: w} for p in points for w in grids[unit]]
    return points


def check_table_matches(table: dict, bases: dict[str, bytes], source: Path) -> None:
    """Raise unless `table` was measured on a kit made from these very models."""
    from edgeopt.common.errors import EdgeoptError

    for precision, data in bases.items():
        theirs = (table.get("models") or {}).get(precision, {}).get("sha256")
        if theirs != hashlib.sha256(data).hexdigest():
            raise EdgeoptError(f"latency table {source} was measured on a kit of other models (its {precision} "
                               "model differs from this search's). Write the kit again with `edgeopt search ... "
                               "--kit-only`, time it on the target with `edgeopt profile KIT`, and pass its "
                               "latency_table.json.")
