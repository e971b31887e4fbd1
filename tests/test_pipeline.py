"""run_recipe end to end on tiny real data: folders, results.json contract, atomic outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeopt.common.row import CONTRACT_KEYS
from edgeopt.run.recipe import load_recipe, parse_recipe
from shared_runs import TINY_DIGITS, run_shared

REPO = Path(__file__).resolve().parents[1]

TINY = TINY_DIGITS  # shared with test_device.py: trained once per session


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return run_shared(TINY, tmp_path_factory, "tiny_device")


def test_each_step_gets_its_folder_and_no_partial_is_left(tiny_run):
    out = tiny_run.out_dir
    assert (out / "base" / "model.keras").is_file()
    assert (out / "f32" / "model.tflite").is_file() and (out / "int8" / "model.tflite").is_file()
    assert not list(out.glob(".*partial*")) and not list(out.rglob("*.partial"))
    step = json.loads((out / "base" / "step.json").read_text())
    assert step["stage"] == "train" and step["info"]["train_seconds"] > 0


def test_results_json_follows_the_contract(tiny_run):
    doc = json.loads((tiny_run.out_dir / "results.json").read_text())
    assert doc["schema_version"] == 1 and doc["recipe"]["name"] == "tiny_device" and len(doc["recipe"]["sha256"]) == 64
    assert [r["name"] for r in doc["rows"]] == ["base", "f32", "int8"]
    for row in doc["rows"]:
        assert set(CONTRACT_KEYS) <= set(row)
    keras_row, f32, int8 = doc["rows"]
    assert keras_row["format"] == "keras" and f32["dtype"] == "float32" and int8["dtype"] == "int8"
    assert keras_row["train_seconds"] > 0 and f32["train_seconds"] is None  # conversion trains nothing


def test_int8_is_smaller_and_agrees_with_float(tiny_run):
    base, f32, int8 = tiny_run.rows
    assert base.accuracy > 0.5  # 12 epochs on 600 UCI digits: far above chance (0.1)
    assert f32.accuracy == pytest.approx(base.accuracy, abs=0.011)
    assert abs(int8.accuracy - f32.accuracy) <= 0.05
    assert int8.size_bytes < f32.size_bytes
    assert f32.params == base.params and f32.macs == base.macs  # Keras and TFLite count alike


def test_table_and_markdown_show_every_row(tiny_run):
    from edgeopt.report.table import render_markdown, render_table

    table = render_table(tiny_run.rows, "f32")
    assert all(name in table for name in ("base", "f32", "int8")) and "n/a" in table
    markdown = render_markdown(tiny_run.document)
    assert "| int8" in markdown and "digits" in markdown and "```yaml" in markdown


def test_the_baseline_row_carries_the_time_of_each_of_its_ops(tiny_run):
    doc = json.loads((tiny_run.out_dir / "results.json").read_text())
    rows = {r["name"]: r for r in doc["rows"]}
    ops = rows["f32"]["op_times"]  # the baseline
    assert ops["method"] == "litert-profiler" and ops["runs"] == 15
    assert [op["op_name"] for op in ops["ops"]][0] == "CONV_2D" and ops["ops"][0]["macs"] > 0
    assert "op_times" not in rows["base"]  # a Keras row is not timed op by op (int8 is, as the best within budget)


def test_a_failing_stage_leaves_no_partial_folder(tmp_path, monkeypatch):
    from edgeopt.run.pipeline import run_recipe
    from edgeopt.stages import STAGES

    def explode(params, ctx, source):
        (ctx.out_dir / "model.keras").write_text("half")
        raise RuntimeError("boom")

    monkeypatch.setitem(STAGES, "train", STAGES["train"].__class__(**{**STAGES["train"].__dict__, "fn": explode}))
    with pytest.raises(RuntimeError, match="boom"):
        run_recipe(parse_recipe(TINY, tmp_path / "t.yaml"), tmp_path / "out", log_fn=lambda _: None)
    assert not (tmp_path / "out" / "base").exists() and not list((tmp_path / "out").glob(".*"))
    assert not (tmp_path / "out" / "results.json").exists()


@pytest.mark.slow
def test_quickstart_meets_its_promise(tmp_path):
    """The README's `make demo`: int8 within 1 point of float32 and at least 3x smaller."""
    from edgeopt.run.pipeline import run_recipe

    result = run_recipe(load_recipe(REPO / "recipes" / "quickstart.yaml"), tmp_path, log_fn=lambda _: None)
    rows = {r.name: r for r in result.rows}
    f32, int8 = rows["base_float32"], rows["base_int8"]
    assert rows["base"].accuracy > 0.9
    assert abs(int8.accuracy - f32.accuracy) <= 0.01
    assert f32.size_bytes >= 3 * int8.size_bytes
