"""What a width configuration costs on the target, without building it: latency proxies.

A configuration's proxy is the deployed `.tflite` of the model the search started from with each
unit's channel group cut to its width (`profile/tflite_channels.py`): the same ops, shapes,
dtypes and XNNPACK partitions as the eliminated model, made in milliseconds. All proxies of one
batch (the plateau sweep, the candidates) are timed side by side, in interleaved rounds, in every
precision the search deploys; a configuration costs its fastest precision's time. With objective `size` a
configuration costs its smallest file instead, which needs no timing at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from edgeopt.common.errors import EdgeoptError
from edgeopt.profile.side_by_side import interleaved_quiet_ms
from edgeopt.profile.tflite_channels import ChannelGroup, channel_groups, narrowed
from edgeopt.run.search.units import Unit, Widths


def layer_of(tensor_name: str, layer_names: set[str]) -> str | None:
    """The Keras layer a converted op came from: the innermost path part of its output name that
    is a layer of the model ('gap_cnn/conv2/Relu;gap_cnn/conv2/Conv2D' → 'conv2').

    Example:
        >>> layer_of("gap_cnn/conv2/Relu;gap_cnn/conv2/Conv2D", {"conv1", "conv2"})
        'conv2'
    """
    for part in tensor_name.split(";"):
        for piece in reversed(part.split("/")[:-1]):
            if piece in layer_names:
                return piece
    return None


def unit_groups(flatbuffer: bytes, units: list[Unit]) -> dict[str, int]:
    """Each unit's channel group in a converted model (unit name → group id).

    Raises:
        EdgeoptError: A unit's layers write no group of the graph, or a fixed one.
    """
    layer_names = {layer for unit in units for layer in unit.layers}
    found: dict[str, list[ChannelGroup]] = {}
    for group in channel_groups(flatbuffer):
        for producer in group.producers:
            layer = layer_of(producer, layer_names)
            unit = next((u for u in units if layer in u.layers), None)
            if unit is not None and all(g.id != group.id for g in found.get(unit.name, [])):
                found.setdefault(unit.name, []).append(group)
    missing = [u.name for u in units if u.name not in found]
    fixed = [f"{name} ({groups[0].fixed})" for name, groups in found.items() if groups[0].fixed]
    # A Keras group (a residual stream) must be one group of the graph too, or its proxies would
    # narrow only part of what the eliminate stage narrows.
    split = [f"{name} (its layers write {len(groups)} separate channel groups of the .tflite)"
             for name, groups in found.items() if len(groups) > 1]
    if missing or fixed or split:
        raise EdgeoptError("the converted model does not show these units as channels that can be cut: "
                           + "; ".join([f"{m} (no op of the .tflite comes from its layers)" for m in missing]
                                       + fixed + split))
    return {name: groups[0].id for name, groups in found.items()}


@dataclass
class ProxyCosts:
    """Costs of width configurations from latency proxies of the deployed models.

    Attributes:
        bases: Precision → the deployed `.tflite` of the model the search started from.
        units: The units, as the search narrows them.
        objective: "p50" or "energy" (time the proxies) or "size" (their bytes).
        threads: Interpreter threads, as the models will run.
        measure: Times a list of flatbuffers side by side (injectable for tests).
    """

    bases: dict[str, bytes]
    units: list[Unit]
    objective: str = "p50"
    threads: int = 1
    measure: Callable[..., list[float]] = interleaved_quiet_ms

    def __post_init__(self) -> None:
        self.groups = {precision: unit_groups(data, self.units) for precision, data in self.bases.items()}
        self.full = {unit.name: unit.width for unit in self.units}

    def proxy(self, precision: str, widths: Widths) -> bytes:
        cut = {self.groups[precision][name]: w for name, w in widths.items() if w != self.full[name]}
        return narrowed(self.bases[precision], cut) if cut else self.bases[precision]

    def per_precision(self, configurations: list[Widths]) -> list[dict[str, float]]:
        """Each configuration's cost in every precision, all proxies timed together in one batch."""
        precisions = list(self.bases)
        models = [self.proxy(p, widths) for widths in configurations for p in precisions]
        if self.objective == "size":
            figures = [float(len(m)) for m in models]
        else:
            figures = self.measure(models, threads=self.threads)
        per_config = np.array(figures).reshape(len(configurations), len(precisions))
        return [dict(zip(precisions, map(float, row))) for row in per_config]

    def __call__(self, configurations: list[Widths]) -> list[tuple[float, str]]:
        return cheapest(self.per_precision(configurations))


def cheapest(per_precision: list[dict[str, float]]) -> list[tuple[float, str]]:
    """(cost, precision) of each configuration's cheapest precision.

    Example:
        >>> cheapest([{"float32": 2.0, "int8": 1.5}])
        [(1.5, 'int8')]
    """
    return [(figures[best], best) for figures in per_precision for best in [min(figures, key=figures.get)]]


@dataclass
class TableCosts:
    """Costs of width configurations read from a latency table measured on the target.

    A configuration costs, in each precision, the whole model's time on the target plus what each
    op's narrowed widths change against its full widths (multilinear interpolation between the
    kit's grid points); the cheapest precision wins, as with proxies.
    """

    table: dict
    units: list[Unit]

    def __post_init__(self) -> None:
        from scipy.interpolate import RegularGridInterpolator

        self.full = {unit.name: unit.width for unit in self.units}
        grids = {u["name"]: sorted(u["grid"]) for u in self.table["units"]}
        missing = [name for name in self.full if name not in grids]
        if missing:
            raise EdgeoptError(f"the latency table has no entries for {', '.join(missing)}: it was measured on a kit "
                               "of another search. Write the kit again with --kit-only.")
        ops: dict[tuple[str, int], list[dict]] = {}
        for entry in self.table["entries"]:
            ops.setdefault((entry["precision"], entry["op"]), []).append(entry)
        self.ops: dict[str, list[tuple[list[str], object]]] = {p: [] for p in self.table["models"]}
        for (precision, _), entries in ops.items():
            names = list(entries[0]["widths"])
            axes = [grids[n] for n in names]
            values = np.zeros([len(a) for a in axes])
            for entry in entries:
                values[tuple(axes[k].index(entry["widths"][n]) for k, n in enumerate(names))] = entry["p50_ms"]
            if any(len(a) < 2 for a in axes):
                continue  # a unit with one width on its grid never changes this op's cost
            self.ops[precision].append((names, RegularGridInterpolator(axes, values, bounds_error=False,
                                                                       fill_value=None)))

    def estimate(self, precision: str, widths: Widths) -> float:
        """The configuration's p50 on the target in `precision`, in ms."""
        total = float(self.table["models"][precision]["p50_ms"])
        for names, interpolate in self.ops[precision]:
            now = [widths.get(n, self.full[n]) for n in names]
            full = [self.full[n] for n in names]
            total += float(interpolate([now])[0] - interpolate([full])[0])
        return total

    def per_precision(self, configurations: list[Widths]) -> list[dict[str, float]]:
        return [{p: self.estimate(p, widths) for p in self.table["models"]} for widths in configurations]

    def __call__(self, configurations: list[Widths]) -> list[tuple[float, str]]:
        return cheapest(self.per_precision(configurations))


def read_latency_table(path: Path, bases: dict[str, bytes], log: Callable[[str], None]) -> dict:
    """The table `edgeopt profile KIT` measured on the target, checked to be of a kit of these models."""
    from edgeopt.run.search.kit import check_table_matches

    try:
        table = json.loads(path.read_text())
        table["models"], table["entries"], table["units"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EdgeoptError(f"--latency-table {path} is not a latency table made by `edgeopt profile KIT` "
                           f"({exc.__class__.__name__}: {exc}).") from None
    check_table_matches(table, bases, path)
    machine = table.get("machine") or {}
    log(f"  costs: the latency table {path}, measured on {machine.get('hostname', '?')} "
        f"({machine.get('cpu_model', '?')})")
    return table
