"""The latency-table kit: what it holds, timing it, and costs read from a table."""

from __future__ import annotations

import json

import pytest

from edgeopt.common.errors import EdgeoptError
from edgeopt.run.search.costs import TableCosts, unit_groups
from edgeopt.run.search.kit import check_table_matches, unit_grid, write_kit
from edgeopt.run.search.units import grid_unit


def fake_table(per_channel: dict[str, float]) -> dict:
    """One op per unit whose time is linear in its width, and a 2-unit op, in two precisions."""
    units = [grid_unit("a", ["a"], 16), grid_unit("b", ["b"], 32)]
    entries = []
    for precision, scale in (("float32", 1.0), ("int8", 2.0)):
        for unit in units:
            for w in unit_grid(unit):
                entries.append({"precision": precision, "op": 0 if unit.name == "a" else 1,
                                "widths": {unit.name: w}, "p50_ms": scale * per_channel[unit.name] * w})
        for wa in unit_grid(units[0]):
            for wb in unit_grid(units[1]):
                entries.append({"precision": precision, "op": 2, "widths": {"a": wa, "b": wb},
                                "p50_ms": scale * 0.001 * wa * wb})
    return {"models": {"float32": {"p50_ms": 1.0}, "int8": {"p50_ms": 1.5}}, "entries": entries,
            "units": [{"name": u.name, "width": u.width, "grid": unit_grid(u)} for u in units]}, units


def test_table_costs_add_each_ops_change_to_the_whole_models_time():
    table, units = fake_table({"a": 0.01, "b": 0.002})
    costs = TableCosts(table, units)
    assert costs.estimate("float32", {"a": 16, "b": 32}) == pytest.approx(1.0)
    # a: 16 → 8 saves 0.01·8 on its op and 0.001·8·32 on the shared op.
    assert costs.estimate("float32", {"a": 8, "b": 32}) == pytest.approx(1.0 - 0.08 - 0.256)
    # between grid points the table interpolates linearly (a linear cost is exact)
    between = [w for w in range(2, 16) if w not in unit_grid(units[0])][0]
    assert costs.estimate("float32", {"a": between, "b": 32}) == pytest.approx(
        1.0 - 0.01 * (16 - between) - 0.001 * 32 * (16 - between))
    (cost, precision), = costs([{"a": 16, "b": 32}])
    assert (cost, precision) == (pytest.approx(1.0), "float32")


def test_a_table_of_another_search_is_refused():
    table, units = fake_table({"a": 0.01, "b": 0.002})
    with pytest.raises(EdgeoptError, match="no entries for c"):
        TableCosts(table, units + [grid_unit("c", ["c"], 8)])
    with pytest.raises(EdgeoptError, match="kit of other models"):
        check_table_matches({"models": {"int8": {"sha256": "0" * 64}}}, {"int8": b"TFL3 model"}, "t.json")


def _kit_op(path):
    """The operators of a kit file, read from its flatbuffer (what it holds, not what its name says)."""
    from edgeopt.profile.tflite_graph import parse_tflite

    return parse_tflite(path, path.read_bytes()).ops


def test_a_kit_holds_each_model_and_each_touched_op_at_the_grid_widths_and_times_them(tmp_path):
    import numpy as np

    from edgeopt.models.conversion import tflite_bytes
    from edgeopt.rundir.latency_kit import measure_kit
    from edgeopt.tf.runtime import keras

    # A conv big enough that width shows in its time: 22×22 outputs × 3×3×8 taps, 64 channels at full width.
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((24, 24, 8)), keras.layers.Conv2D(64, 3, activation="relu", name="c1"),
                              keras.layers.GlobalAveragePooling2D(name="gap"), keras.layers.Dense(3, name="out")])
    calibration = np.random.default_rng(0).random((10, 24, 24, 8), np.float32)
    bases = {p: tflite_bytes(model, p, calibration) for p in ("float32", "int8")}
    units = [grid_unit("c1", ["c1"], 64)]
    groups = {p: unit_groups(data, units) for p, data in bases.items()}
    manifest = json.loads(write_kit(bases, units, groups, tmp_path / "kit").read_text())
    grid = unit_grid(units[0])
    assert grid[0] < 64 / 4 and grid[-1] == 64
    for precision in bases:
        ops = {e["op_name"] for e in manifest["entries"] if e["precision"] == precision}
        assert {"CONV_2D", "MEAN", "FULLY_CONNECTED"} <= ops
        conv = [e for e in manifest["entries"] if e["precision"] == precision and e["op_name"] == "CONV_2D"]
        assert [e["widths"]["c1"] for e in conv] == grid
        for entry in conv:  # each file holds the conv at its width, not the full one
            (op,) = [o for o in _kit_op(tmp_path / "kit" / entry["file"]) if o.op_name == "CONV_2D"]
            assert op.output_shape[-1] == entry["widths"]["c1"], entry
    table, path = measure_kit(tmp_path / "kit", rounds=3, log_fn=lambda _: None)
    assert path.name == "latency_table.json" and len(table["entries"]) == len(manifest["entries"])
    for precision in bases:
        conv = {e["widths"]["c1"]: e["p50_ms"] for e in table["entries"]
                if e["precision"] == precision and e["op_name"] == "CONV_2D"}
        # ≥ 4× the MACs: generous against a busy machine, still fails a table that ignores widths.
        assert conv[64] > 1.5 * conv[grid[0]], (precision, conv)
    costs = TableCosts(table, units)
    (full, _), (narrow, _) = costs([{"c1": 64}, {"c1": grid[0]}])
    assert full > narrow > 0
    _what_the_kit_commands_say(tmp_path, table, path, len(manifest["entries"]))


def _what_the_kit_commands_say(folder, table, path, entries: int) -> None:
    """`search --kit-only` names the precisions the kit holds (float16 stands on float32's time), `profile KIT`
    sums up what it measured, and `report` on the folder says it holds a kit, not a table."""
    import pytest

    from edgeopt.cli.kit import kit_next_steps, kit_summary
    from edgeopt.common.errors import RunFolderError
    from edgeopt.rundir.folder import read_results

    said = kit_next_steps(folder / "kit", ("float32", "float16", "int8"))
    assert said.startswith("The kit holds the model in float32, int8 (float16 runs float32's kernels")
    assert said.count("latency_table.json") == 2 and "wrote" not in said  # the driver already said it wrote it
    summary = kit_summary(table, path, 3.0)
    assert "in 3 s: the whole model p50 float32 " in summary[0] and f"; {entries} single ops" in summary[0]
    with pytest.raises(RunFolderError, match="holds a latency kit"):
        read_results(folder)
