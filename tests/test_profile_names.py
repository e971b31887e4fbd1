"""What `edgeopt profile` calls each model, and when it ranks them: short unique names, one row per
file, no speed-up between models of different tasks."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeopt.common.errors import EdgeoptError
from edgeopt.common.row import Row
from edgeopt.report.names import model_names, unrelated_reason
from edgeopt.report.table import render_table
from test_cli import assert_user_error, edgeopt


def test_names_are_the_shortest_tails_that_tell_files_apart():
    assert model_names([Path("/data/mlperf/vww.tflite"), Path("/data/mlperf/kws.tflite")]) == ["vww", "kws"]
    assert model_names([Path("a/x.tflite"), Path("b/x.tflite")]) == ["a/x", "b/x"]


def test_a_run_folder_file_is_named_by_its_step_not_model():
    assert model_names([Path("runs/q/base_int8/model.tflite"), Path("runs/q/base_float32/model.tflite")]) == \
        ["base_int8", "base_float32"]
    assert model_names([Path("runs/q/base_int8/model.tflite"), Path("base_int8.tflite")]) == \
        ["q/base_int8", "base_int8"]


def test_the_same_file_twice_is_refused(tmp_path):
    with pytest.raises(EdgeoptError, match="given twice"):
        model_names([tmp_path / "m.tflite", tmp_path / "." / "m.tflite"])
    result = edgeopt("profile", tmp_path / "m.tflite", tmp_path / "m.tflite")
    assert_user_error(result, "m.tflite is given twice", "Give each model once")


def test_models_with_different_inputs_are_not_ranked():
    rows = [Row("vww", "vww.tflite", "tflite", latency_ms_p50=10.0, size_bytes=300_000),
            Row("kws", "kws.tflite", "tflite", latency_ms_p50=0.2, size_bytes=50_000)]
    reason = unrelated_reason([(1, 96, 96, 3), (1, 49, 10, 1)])
    assert reason and "49×10×1, 96×96×3" in reason
    table = render_table(rows, rank=False)
    assert "×" not in table.split("\n", 2)[2]  # no "50.00× faster" between a person detector and a keyword spotter
    assert unrelated_reason([(1, 28, 28, 1), (4, 28, 28, 1)]) is None  # versions of one model: ranked
