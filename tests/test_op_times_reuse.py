"""A rerun with nothing changed reuses the per-op times measured with its rows instead of timing
every op again (issue 33, item 12)."""

from __future__ import annotations

import json

from edgeopt.common.row import Row
from edgeopt.profile.ops import OPS_KEY
from edgeopt.run import explain
from edgeopt.run.profiling import PROFILE_FILE, keep_op_times
from edgeopt.stages import Artifact


def test_rows_that_bring_their_op_times_are_not_timed_again(monkeypatch, tmp_path):
    timed: list[list[str]] = []
    monkeypatch.setattr(explain, "attach_op_times", lambda rows, names, *a, **k: timed.append(list(names)) or [])
    rows = [Row("base", "base/model.tflite", "tflite", extra={OPS_KEY: {"ops": []}}),
            Row("int8", "int8/model.tflite", "tflite")]
    lines: list[str] = []
    explain.explain_named_rows(rows, ["base", "int8"], tmp_path, lines.append, runs=4, warmup=0, threads=1)
    assert timed == [["int8"]]
    assert "  per-op times of base unchanged, reusing them" in lines


def test_op_times_are_kept_in_the_steps_saved_profile(tmp_path):
    folder = tmp_path / "base"
    folder.mkdir()
    (folder / "model.tflite").write_bytes(b"x")
    (folder / PROFILE_FILE).write_text(json.dumps({"key": "k", "group": "g", "row": Row("base", "base/model.tflite", "tflite").to_dict()}))
    row = Row("base", "base/model.tflite", "tflite", extra={OPS_KEY: {"p50_ms": 0.1, "ops": []}})
    keep_op_times({"base": Artifact("tflite", folder / "model.tflite", "int8", {})}, [row])
    saved = json.loads((folder / PROFILE_FILE).read_text())
    assert saved["key"] == "k" and saved["group"] == "g"  # still matches: the next run reuses the row
    assert Row.from_dict(saved["row"]).extra[OPS_KEY] == {"p50_ms": 0.1, "ops": []}
