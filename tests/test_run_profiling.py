"""A run's profile: every .tflite row timed together once the steps are done, reused when unchanged.

Built on the tiny .tflite fixtures with stand-in steps (no training), so it runs in seconds.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from edgeopt.run.profiling import PROFILE_FILE, profile_run
from edgeopt.run.recipe import ProfileSpec
from edgeopt.stages import Artifact


def planned(step_id: str, fingerprint: str):
    return SimpleNamespace(step=SimpleNamespace(id=step_id, profile=True, stage="convert", source=None),
                           fingerprint=fingerprint)


@pytest.fixture
def run_folder(tmp_path, tiny_tflite_models):
    m = tiny_tflite_models

    def add(step_id: str, source: Path) -> Artifact:
        (tmp_path / step_id).mkdir()
        path = tmp_path / step_id / "model.tflite"
        shutil.copy(source, path)
        return Artifact("tflite", path, "int8")

    artifacts = {"f32": add("f32", m.float32), "int8": add("int8", m.int8)}
    recipe = SimpleNamespace(profile=ProfileSpec(runs=20, warmup=2, rounds=4, energy="estimate"), baseline="f32")
    dataset = SimpleNamespace(x_test=m.x, y_test=m.keras_labels)
    return SimpleNamespace(dir=tmp_path, artifacts=artifacts, recipe=recipe, dataset=dataset, add=add, models=m)


def profile(folder, plan, force=False):
    log = []
    rows = profile_run(plan, folder.artifacts, folder.recipe, folder.dataset, folder.dir, force, log.append)
    return rows, "\n".join(log)


def test_rows_are_timed_together_and_an_unchanged_run_reuses_them(run_folder):
    plan = [planned("f32", "fp-a"), planned("int8", "fp-b")]
    rows, log = profile(run_folder, plan)
    assert "profiling 2 .tflite model(s) together" in log
    f32, int8 = rows
    assert f32.extra["timing_session"] == int8.extra["timing_session"]
    assert len(f32.extra["latency_ms_rounds"]) == 4 and f32.extra["speedup_vs_baseline"] == 1.0
    assert int8.extra["speedup_baseline"] == "f32" and int8.extra["speedup_ci_low"] <= int8.extra["speedup_vs_baseline"]
    assert int8.path == "int8/model.tflite" and len(int8.extra["sha256"]) == 64
    assert json.loads((run_folder.dir / "int8" / PROFILE_FILE).read_text())["group"]

    again, log = profile(run_folder, plan)
    assert log.count("unchanged, reusing it") == 2 and "profiling" not in log
    assert [r.to_dict() for r in again] == [r.to_dict() for r in rows]


def test_a_new_row_retimes_every_row_together_and_keeps_unchanged_accuracy(run_folder):
    plan = [planned("f32", "fp-a"), planned("int8", "fp-b")]
    first, _ = profile(run_folder, plan)
    run_folder.artifacts["int8_again"] = run_folder.add("int8_again", run_folder.models.int8)
    rows, log = profile(run_folder, plan + [planned("int8_again", "fp-c")])
    assert "profiling 3 .tflite model(s) together (the accuracy of 2 unchanged one(s) kept)" in log
    assert len({r.extra["timing_session"] for r in rows}) == 1
    assert rows[0].extra["timing_session"] != first[0].extra["timing_session"]
    assert [r.accuracy for r in rows[:2]] == [r.accuracy for r in first]


def test_other_profile_settings_or_force_measure_again(run_folder):
    plan = [planned("f32", "fp-a"), planned("int8", "fp-b")]
    profile(run_folder, plan)
    _, log = profile(run_folder, plan, force=True)
    assert "reusing" not in log and "(the accuracy" not in log
    run_folder.recipe.profile = ProfileSpec(runs=20, warmup=2, rounds=5, energy="estimate")
    rows, log = profile(run_folder, plan)
    assert "reusing" not in log and len(rows[0].extra["latency_ms_rounds"]) == 5


def test_a_hook_sees_each_warm_interpreter_at_batch_one_before_accuracy(tiny_tflite_models):
    from edgeopt.profile import profile_tflites

    m, seen = tiny_tflite_models, []

    def hook(path, interpreter, row):
        seen.append((row.name, int(interpreter.get_input_details()[0]["shape"][0]), row.accuracy))
        row.extra["per_op"] = ["conv", "mean", "dense"]

    rows = profile_tflites([m.float32, m.int8], x_test=m.x, y_test=m.keras_labels, runs=10, rounds=2, warmup=1,
                           energy="off", hook=hook)
    assert seen == [("tiny_float32", 1, None), ("tiny_int8", 1, None)]
    assert all(r.accuracy is not None and r.extra["per_op"] for r in rows)
