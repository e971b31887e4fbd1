"""The CLI's contract: user errors exit 2 with one message and no traceback; help everywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def edgeopt(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "edgeopt.cli", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def assert_user_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


@pytest.mark.parametrize("command", ["run", "profile", "report", "validate", "check", "stages", "datasets",
                                     "architectures"])
def test_every_command_has_help(command):
    result = edgeopt(command, "--help")
    assert result.returncode == 0 and "Usage" in result.stdout


def test_profile_help_shows_the_profilers_defaults():
    """The defaults come from edgeopt.profile.defaults, the same ones a recipe's `profile:` block starts
    from, and show in the help (rich markup once swallowed "[default: …]" as a tag)."""
    from edgeopt.profile.defaults import PROFILE_DEFAULTS
    from edgeopt.run.recipe import ProfileSpec

    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "250"}
    result = subprocess.run([sys.executable, "-m", "edgeopt.cli", "profile", "--help"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=300)
    for key in ("runs", "warmup", "threads", "energy_window_s", "energy_windows"):
        assert f"(default: {PROFILE_DEFAULTS[key]}; a run folder: the run's)" in result.stdout, key
    assert ProfileSpec().model_dump(include=set(PROFILE_DEFAULTS)) == PROFILE_DEFAULTS


def test_stages_lists_each_stage_with_parameters():
    out = edgeopt("stages").stdout
    assert "train  (→ keras)" in out and "convert  (keras → tflite)" in out and "calibration_samples" in out


def test_validate_accepts_the_quickstart_recipe():
    result = edgeopt("validate", "recipes/quickstart.yaml")
    assert result.returncode == 0 and "valid" in result.stdout


def test_missing_recipe_is_a_user_error(tmp_path):
    assert_user_error(edgeopt("run", tmp_path / "none.yaml"), "not found")


def test_unparseable_recipe_is_a_user_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: [unclosed\n")
    assert_user_error(edgeopt("validate", bad), "YAML does not parse")


def test_unknown_stage_on_run_leaves_nothing_behind(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps:\n  - {stage: pruen}\n")
    result = edgeopt("run", bad, "--out", tmp_path / "out")
    assert_user_error(result, "Did you mean 'prune'" if "prune" in edgeopt("stages").stdout else "unknown stage")
    assert not (tmp_path / "out").exists()


def test_missing_tflite_is_a_user_error(tmp_path):
    assert_user_error(edgeopt("profile", tmp_path / "model.tflite"), "not found")


def test_text_file_renamed_tflite_is_a_user_error(tmp_path):
    fake = tmp_path / "fake.tflite"
    fake.write_text("this is not a model\n" * 20)
    assert_user_error(edgeopt("profile", fake), "fake.tflite")


def test_truncated_tflite_is_a_user_error(tmp_path, tiny_tflite_models):
    data = tiny_tflite_models.int8.read_bytes()
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(data[: len(data) // 2])
    assert_user_error(edgeopt("profile", cut), "cut.tflite")


def test_dataset_that_does_not_fit_the_model_is_a_user_error(tiny_tflite_models):
    # The tiny model takes 8x8x1 images; MNIST digits are 28x28x1.
    assert_user_error(edgeopt("profile", tiny_tflite_models.int8, "--data", "mnist_embedded"), "(28, 28, 1)")


def test_unknown_dataset_is_a_user_error(tiny_tflite_models):
    assert_user_error(edgeopt("profile", tiny_tflite_models.int8, "--data", "mnistt"), "Did you mean 'mnist'")


def test_bad_option_value_exits_2(tiny_tflite_models):
    result = edgeopt("profile", tiny_tflite_models.int8, "--runs", "0")
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_profile_json_has_every_contract_key(tiny_tflite_models):
    from edgeopt.common.row import CONTRACT_KEYS

    result = edgeopt("profile", tiny_tflite_models.int8, "--runs", "20", "--warmup", "2", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["schema_version"] == 1 and doc["machine"]["cpu_logical_cores"] >= 1
    (row,) = doc["rows"]
    assert set(CONTRACT_KEYS) <= set(row)
    assert row["format"] == "tflite" and row["dtype"] == "int8" and row["params"] > 0
    assert row["latency_ms_p50"] > 0 and row["accuracy"] is None  # no --data: not measured, not 0


def test_profile_several_models_prints_one_table(tiny_tflite_models):
    result = edgeopt("profile", tiny_tflite_models.float32, tiny_tflite_models.int8, "--runs", "10")
    assert result.returncode == 0, result.stderr
    assert "float32" in result.stdout and "int8" in result.stdout and "p50 ms" in result.stdout
