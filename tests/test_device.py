"""A run folder profiled elsewhere: relocatable results.json, `profile RUN_DIR`, `report RUN_DIR`.

One tiny run (UCI digits, a few epochs) is made once; each test copies it to mutate or move it.
The device commands run as subprocesses, as a user runs them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeopt.common.errors import MissingExtraError
from edgeopt.run.recipe import parse_recipe
from edgeopt.rundir.folder import file_sha256, read_test_split, write_test_split
from shared_runs import TINY_DIGITS, run_shared

REPO = Path(__file__).resolve().parents[1]

TINY = TINY_DIGITS  # shared with test_pipeline.py: trained once per session


@pytest.fixture(scope="module")
def made_run(tmp_path_factory) -> Path:
    from edgeopt.report.machines import write_run_report

    result = run_shared(TINY, tmp_path_factory, "tiny_device")
    write_run_report(result.out_dir, result.document, devices=[])  # what `edgeopt run` writes after the steps
    return result.out_dir


@pytest.fixture
def copied_run(made_run, tmp_path) -> Path:
    """The run folder as a device receives it: copied somewhere else."""
    return Path(shutil.copytree(made_run, tmp_path / "on_device" / "tiny_device"))


def edgeopt(*args, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "edgeopt.cli", *map(str, args)], cwd=cwd or REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def assert_user_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def results(run: Path) -> dict:
    return json.loads((run / "results.json").read_text())


# --- the run folder ---------------------------------------------------------------------------


def test_results_paths_are_relative_to_the_run_folder_with_each_files_sha256(made_run):
    doc = results(made_run)
    assert [row["path"] for row in doc["rows"]] == ["base/model.keras", "f32/model.tflite", "int8/model.tflite"]
    for row in doc["rows"]:
        assert row["sha256"] == file_sha256(made_run / row["path"])
    assert doc["test_data"]["path"] == "data/test.npz"
    assert doc["profile"]["runs"] == 15 and doc["profile"]["energy"] == "model45"


def test_test_split_is_stored_as_uint8_and_decodes_to_the_exact_inputs_measured(made_run):
    from edgeopt.data.datasets import load_dataset

    doc = results(made_run)
    record = doc["test_data"]
    assert record["sha256"] == file_sha256(made_run / "data" / "test.npz")
    assert record["encoding"] == "uint8" and record["samples"] == 120 and record["dataset"]["name"] == "digits"
    with np.load(made_run / "data" / "test.npz") as f:
        assert f["x_test"].dtype == np.uint8 and f["x_test"].shape == (120, 8, 8, 1)
    x, y = read_test_split(made_run, doc)
    expected = load_dataset("digits", limit_train=600, limit_test=120, seed=1)  # TINY_DIGITS' data
    assert x.dtype == np.float32 and np.array_equal(x, expected.x_test) and np.array_equal(y, expected.y_test)
    assert not list((made_run / "data").glob(".*"))  # no temp file left beside it


def test_float_data_that_is_not_pixels_is_stored_as_float32_unchanged(tmp_path):
    x = np.random.default_rng(0).random((5, 4, 4, 1), dtype=np.float32)
    record = write_test_split(tmp_path, x, np.arange(5), {"name": "npz"})
    x_back, y_back = read_test_split(tmp_path, {"test_data": record})
    assert record["encoding"] == "float32" and np.array_equal(x_back, x) and y_back.tolist() == [0, 1, 2, 3, 4]


def test_missing_train_part_is_a_user_error_naming_the_extra():
    from edgeopt.common.train_extra import require_train

    with pytest.raises(MissingExtraError, match=r"install edgeopt\[train\]"):
        require_train("`edgeopt run`", {"edgeopt_no_such_module": "no-such-dist"})


# --- edgeopt profile RUN_DIR -------------------------------------------------------------------


def test_profile_run_dir_writes_a_device_file_with_the_runs_rows_and_host_accuracy(copied_run, made_run):
    result = edgeopt("profile", copied_run, "--device-name", "board-a", "--threads", "2", cwd=copied_run.parent)
    assert result.returncode == 0, result.stderr
    device = json.loads((copied_run / "devices" / "board-a.json").read_text())
    host = results(made_run)
    assert device["schema_version"] == 1 and device["device"] == "board-a"
    assert device["machine"]["cpu_model"] and device["machine"]["arch"] and device["machine"]["cpu_logical_cores"] >= 1
    assert device["machine"]["packages"]["ai-edge-litert"]
    assert device["run"]["recipe_sha256"] == host["recipe"]["sha256"]
    assert device["settings"] == {"runs": 15, "warmup": 2, "rounds": 60, "threads": 2, "energy": "model45",
                                  "energy_window_s": 1.0, "energy_windows": 3}  # the run's, --threads on top
    by_name = {row["name"]: row for row in host["rows"]}
    assert [row["name"] for row in device["rows"]] == ["f32", "int8"]
    for row in device["rows"]:
        assert row["threads"] == 2 and row["runs"] == 15 and row["latency_ms_p50"] > 0
        assert row["energy_source"] == "model45" and row["path"] == by_name[row["name"]]["path"]
        assert row["accuracy"] == by_name[row["name"]]["accuracy"]  # same files, same images
    # Timed together on the device, in interleaved rounds, against the run's baseline.
    assert len({row["timing_session"] for row in device["rows"]}) == 1
    assert device["rows"][1]["speedup_baseline"] == "f32" and len(device["rows"][1]["latency_ms_rounds"]) == 15  # runs
    # The run's table for this machine: same rows, baseline deltas and budget marks.
    assert "within 5 pts" in result.stdout and "Lowest latency within 5 points" in result.stdout
    assert "equals the host's" in result.stdout and "board-a" in result.stdout


def test_profile_run_dir_names_the_file_after_the_hostname_by_default(copied_run):
    import socket

    result = edgeopt("profile", copied_run, "--runs", "5", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert (copied_run / "devices" / f"{socket.gethostname()}.json").is_file()
    assert doc["settings"]["runs"] == 5 and {r["runs"] for r in doc["rows"]} == {5}


# --- edgeopt report RUN_DIR ---------------------------------------------------------------------


def test_report_shows_every_machine_and_its_best_rows(copied_run):
    for name, threads in (("one-thread", "1"), ("two-threads", "2")):
        assert edgeopt("profile", copied_run, "--device-name", name, "--threads", threads).returncode == 0
    (copied_run / "report.md").unlink()
    (copied_run / "pareto.png").unlink()
    result = edgeopt("report", copied_run)
    assert result.returncode == 0, result.stderr
    report = (copied_run / "report.md").read_text()
    assert "## one-thread" in report and "## two-threads" in report and "1 thread" in report and "2 threads" in report
    assert "## Best within budget per machine" in report
    assert report.count("Lowest file size within 5 points") == 6  # 3 tables + 3 per-machine lines
    assert (copied_run / "pareto.png").stat().st_size > 10_000
    assert "2 device files" in result.stdout


def test_report_without_devices_is_the_hosts_report(copied_run, made_run):
    assert edgeopt("report", copied_run).returncode == 0
    assert (copied_run / "report.md").read_text() == (made_run / "report.md").read_text()


def test_profile_and_report_import_no_training_module(copied_run):
    code = ("import sys\nfrom edgeopt.cli import app\n"
            f"for argv in (['profile', {str(copied_run)!r}, '--runs', '4', '--ops'], ['report', {str(copied_run)!r}]):\n"
            "    try:\n        app(argv)\n    except SystemExit as exit:\n        assert exit.code in (0, None), exit\n"
            "print('LOADED', sorted(m for m in ('tensorflow', 'tf_keras', 'tensorflow_model_optimization', "
            "'scipy', 'sklearn', 'mlxtend') if m in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(REPO)},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "LOADED []" in result.stdout


# --- bad input: one message, exit 2, nothing written --------------------------------------------


def test_folder_without_results_json_is_a_user_error(tmp_path):
    for command in ("profile", "report"):
        assert_user_error(edgeopt(command, tmp_path), "has no results.json")
    assert list(tmp_path.iterdir()) == []


def test_results_json_of_another_schema_version_is_a_user_error(copied_run):
    doc = results(copied_run)
    (copied_run / "results.json").write_text(json.dumps({**doc, "schema_version": 2}))
    assert_user_error(edgeopt("profile", copied_run), "schema_version 2", "reads schema_version 1")
    assert not (copied_run / "devices").exists()


def test_model_whose_sha256_changed_is_a_user_error(copied_run):
    model = copied_run / "int8" / "model.tflite"
    data = bytearray(model.read_bytes())
    data[-20] ^= 0xFF
    model.write_bytes(bytes(data))
    assert_user_error(edgeopt("profile", copied_run), "int8/model.tflite does not match the run", "re-exported or damaged")
    assert not (copied_run / "devices").exists()


def test_model_missing_from_the_copy_is_a_user_error(copied_run):
    (copied_run / "f32" / "model.tflite").unlink()
    assert_user_error(edgeopt("profile", copied_run), "f32/model.tflite is missing", "Copy the whole run folder")
    assert not (copied_run / "devices").exists()


def test_test_split_that_changed_is_a_user_error(copied_run):
    (copied_run / "data" / "test.npz").write_bytes(b"not the split")
    assert_user_error(edgeopt("profile", copied_run), "test.npz does not match the run")


def test_old_run_folder_with_absolute_paths_is_a_user_error(copied_run):
    doc = results(copied_run)
    doc["rows"][1]["path"] = str(copied_run / doc["rows"][1]["path"])
    (copied_run / "results.json").write_text(json.dumps(doc))
    assert_user_error(edgeopt("profile", copied_run), "not inside the run folder", "edgeopt run RECIPE")


def _device_file(run: Path, name: str = "board") -> Path:
    assert edgeopt("profile", run, "--device-name", name, "--runs", "3").returncode == 0
    return run / "devices" / f"{name}.json"


def test_device_file_from_another_run_is_a_user_error_and_the_report_is_kept(copied_run):
    before = (copied_run / "report.md").read_text()
    path = _device_file(copied_run)
    doc = json.loads(path.read_text())
    doc["run"]["models"]["int8"] = "0" * 64  # the host re-ran the recipe: other int8 bytes
    path.write_text(json.dumps(doc))
    assert_user_error(edgeopt("report", copied_run), "board.json was measured on another run", "int8")
    doc["run"]["recipe_sha256"] = "1" * 64
    path.write_text(json.dumps(doc))
    assert_user_error(edgeopt("report", copied_run), "board.json was measured on another run: recipe")
    assert (copied_run / "report.md").read_text() == before


def test_device_file_that_is_not_json_is_a_user_error(copied_run):
    before = (copied_run / "pareto.png").read_bytes()
    (copied_run / "devices").mkdir()
    (copied_run / "devices" / "notes.json").write_text("measured on the pi, see photo\n")
    assert_user_error(edgeopt("report", copied_run), "notes.json is not a JSON device file")
    assert (copied_run / "pareto.png").read_bytes() == before


@pytest.mark.parametrize("args, needle", [
    (["--data", "digits"], "do not apply to a run folder"),
    (["--device-name", "../elsewhere"], "cannot name a file"),
])
def test_bad_options_for_a_run_folder_are_user_errors(copied_run, args, needle):
    assert_user_error(edgeopt("profile", copied_run, *args), needle)
    assert not (copied_run / "devices").exists()


@pytest.mark.parametrize("step_id", ["data", "devices"])
def test_a_step_cannot_take_the_name_of_a_run_folder_part(step_id):
    from edgeopt.common.errors import RecipeError

    with pytest.raises(RecipeError, match=f"id '{step_id}' names a folder the run folder keeps"):
        parse_recipe(TINY.replace("{id: f32,", f"{{id: {step_id},").replace("baseline: f32", f"baseline: {step_id}"))


def test_profile_run_dir_ops_times_the_baseline_and_best_rows_into_the_device_file(copied_run):
    result = edgeopt("profile", copied_run, "--ops", "--runs", "8", "--device-name", "board-ops")
    assert result.returncode == 0, result.stderr
    assert "Where the time goes: f32" in result.stdout
    device = json.loads((copied_run / "devices" / "board-ops.json").read_text())
    timed = {row["name"]: row.get("op_times") for row in device["rows"]}
    assert timed["f32"]["method"] == "litert-profiler" and timed["f32"]["runs"] == 8  # the baseline
    assert all(op["op_name"] for op in timed["f32"]["ops"])
    assert edgeopt("report", copied_run).returncode == 0
    report = (copied_run / "report.md").read_text()
    assert "## Where the time goes — board-ops" in report  # and the host's, from results.json
    assert report.count("## Where the time goes") == 2
