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
    said = " ".join(result.stdout.split())  # help is wrapped to the terminal
    for key in ("runs", "warmup", "threads", "energy_window_s", "energy_windows"):
        assert f"(default: {PROFILE_DEFAULTS[key]}; a run folder: the run's)" in said, key
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


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_prints_the_package_version(flag):
    from edgeopt import __version__

    result = edgeopt(flag)
    assert result.returncode == 0 and result.stdout.strip() == f"edgeopt {__version__}"


def test_help_names_every_value_plainly_and_spells_out_choices():
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "100"}
    result = subprocess.run([sys.executable, "-m", "edgeopt.cli", "profile", "--help"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0
    assert "Usage: edgeopt profile [OPTIONS] MODEL..." in result.stdout
    assert "--energy [auto|rapl|pyrapl|hwmon|rpi-pmic|estimate|model45|off]" in result.stdout
    for noise in ("<bool>", "<list[Path]>", "<str>", "Union", "{models}", "╭"):
        assert noise not in result.stdout, noise


def test_the_energy_choices_complete_in_the_shell():
    env = {**os.environ, "PYTHONPATH": str(REPO), "_EDGEOPT_COMPLETE": "complete_bash",
           "COMP_WORDS": "edgeopt profile --energy r", "COMP_CWORD": "3"}
    result = subprocess.run([sys.executable, "-m", "edgeopt.cli"], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.stdout.split() == ["rapl", "rpi-pmic"], result.stdout + result.stderr


@pytest.mark.parametrize("args, needle", [(["profile", "--bogus"], "No such option: --bogus"),
                                          (["run"], "Missing argument 'RECIPE'"),
                                          (["frob"], "No such command 'frob'")])
def test_usage_errors_are_one_line_in_the_projects_style(args, needle):
    result = edgeopt(*args)
    assert_user_error(result, needle)
    assert result.stderr.startswith(f"edgeopt: error: {needle}") and "╭" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "--help`." in result.stderr


def test_validate_counts_in_the_right_number(tmp_path):
    recipe = tmp_path / "one.yaml"
    recipe.write_text("steps:\n  - {id: base, stage: train, architecture: small_cnn}\n")
    assert "valid — 1 step on 'mnist_embedded'" in edgeopt("validate", recipe).stdout


def test_validate_prints_every_problem_each_in_the_one_style(tmp_path):
    recipe = tmp_path / "typo.yaml"
    recipe.write_text("data: {name: digits, limit_trian: 5}\nsteps:\n  - {id: base, stage: trian}\n"
                      "  - {id: mine, stage: load, path: nothere.keras}\n")
    result = edgeopt("validate", recipe)
    assert_user_error(result, "limit_trian", "stage='trian'", "nothere.keras not found")
    assert all(line.startswith(f"edgeopt: error: {recipe}: ") for line in result.stderr.splitlines())


TFLITE_BYTES = b"\x1c\x00\x00\x00TFL3" + bytes(64)


@pytest.mark.parametrize("name, content, needle", [
    ("m.tflite", TFLITE_BYTES, "is a TensorFlow Lite model (.tflite). Give the Keras model it was converted from"),
    ("notes.txt", b"hello\n", "is neither a .keras archive nor an HDF5 .h5 file"),
    ("empty.keras", b"", "is empty (0 bytes)"),
    ("absent.keras", None, "absent.keras not found")])
def test_search_refuses_what_is_not_a_keras_model_before_any_work(tmp_path, name, content, needle):
    if content is not None:
        (tmp_path / name).write_bytes(content)
    result = edgeopt("search", tmp_path / name, "--data", "digits", "--budget", "1", "--out", tmp_path / "out")
    assert_user_error(result, "search takes your Keras model, a .keras or .h5 file", needle)
    assert "HDF5" not in result.stderr.replace("HDF5 .h5", "") and "loading" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_search_names_every_wrong_option_at_once(tmp_path):
    (tmp_path / "m.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))
    result = edgeopt("search", tmp_path / "m.h5", "--data", "fashoin", "--budget", "1", "--objective", "speed",
                     "--precisions", "int4,fp8", "--kit-only", "--latency-table", tmp_path / "t.json",
                     "--out", tmp_path / "out")
    assert_user_error(result, "Received: --data fashoin. Did you mean 'fashion_mnist'?",
                      "Received: --objective speed", "Received: --precisions 'int4,fp8' (unknown: int4, fp8)",
                      "--latency-table does not apply with --kit-only")
    assert "search.yaml" not in result.stderr and "('int4', 'fp8')" not in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("shell, marker", [("zsh", "#compdef edgeopt"), ("fish", "complete --command edgeopt"),
                                           ("bash", "complete -o default -F _edgeopt_completion edgeopt")])
def test_show_completion_prints_the_script_of_the_shell_named(shell, marker):
    result = edgeopt("--show-completion", shell)
    assert result.returncode == 0 and marker in result.stdout, result.stdout[:300]


def test_the_command_list_gives_each_commands_first_sentence_whole():
    said = " ".join(edgeopt("--help").stdout.split())
    assert "run Validate a recipe, run its steps, profile every artifact, print and save the table." in said
    assert "..." not in said.split("Commands:")[1]


def test_a_long_note_prints_a_sentence_a_line(capsys):
    from edgeopt.cli.common import echo_note

    echo_note("energy is an estimate, not a measurement: CPU time × 4 W. The power: 4 W (CodeCarbon). "
              "Why an estimate: no meter could be read (rapl: /sys/class/powercap does not exist)")
    assert capsys.readouterr().out.splitlines() == [
        "note: energy is an estimate, not a measurement: CPU time × 4 W.",
        "      The power: 4 W (CodeCarbon).",
        "      Why an estimate: no meter could be read (rapl: /sys/class/powercap does not exist)"]


def test_stages_name_types_as_a_recipe_author_writes_them():
    out = edgeopt("stages").stdout
    assert "Union" not in out and "typing." not in out and "NoneType" not in out
    assert "layers: hidden | all | list[str] (default 'hidden')" in out
