"""`edgeopt check`: thresholds over a run folder, exit 0/1/2, JUnit XML, recipe `checks:`, device files."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

import pytest

from edgeopt.common.errors import EdgeoptError, RecipeError
from edgeopt.common.row import Row
from edgeopt.report.check import ChecksSpec, merge_checks, read_run, run_checks
from edgeopt.run.recipe import parse_recipe
from edgeopt.rundir.device_profile import run_identity
from test_cli import assert_user_error, edgeopt


def rows() -> list[Row]:
    return [
        Row("base", "base/model.keras", "keras", "float32", size_bytes=300 * 1024, accuracy=0.964, latency_ms_p50=0.6),
        Row("f32", "f32/model.tflite", "tflite", "float32", size_bytes=259 * 1024, accuracy=0.964,
            latency_ms_p50=0.029, energy_mj=0.055, energy_source="model45"),
        Row("int8", "int8/model.tflite", "tflite", "int8", size_bytes=76 * 1024, accuracy=0.962,
            latency_ms_p50=0.014, energy_mj=0.0116, energy_source="model45"),
        Row("noenergy", "n/model.tflite", "tflite", "int8", size_bytes=70 * 1024, accuracy=0.90, latency_ms_p50=0.01),
    ]


def write_run(folder: Path, *, budget: float | None = 1.0, checks: dict | None = None,
              the_rows: list[Row] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    document = {"schema_version": 1, "recipe": {"name": "qs", "baseline": "f32", "accuracy_budget": budget,
                                                "checks": checks},
                "rows": [r.to_dict() for r in (the_rows or rows())]}
    (folder / "results.json").write_text(json.dumps(document))
    return folder


def verdicts(folder: Path, **cli) -> list[tuple[str, str, bool]]:
    figures = read_run(folder, cli.pop("device", None))
    return [(r.row, r.check, r.passed) for r in run_checks(figures, merge_checks(figures.checks, cli))]


def test_default_rows_are_the_best_within_budget(tmp_path):
    # int8 is lowest in energy, latency and size within 1 point; noenergy is 6.4 points down.
    assert verdicts(write_run(tmp_path), max_size_kib=80) == [("int8", "max_size_kib", True)]


def test_each_threshold_compares_the_right_figure(tmp_path):
    run = write_run(tmp_path)
    assert verdicts(run, rows=["int8"], min_accuracy=96.2, max_accuracy_drop=0.2, max_p50_ms=0.014,
                    max_size_kib=76, max_energy_mj=0.0116) == [
        ("int8", key, True) for key in ("min_accuracy", "max_accuracy_drop", "max_p50_ms", "max_size_kib", "max_energy_mj")]
    assert verdicts(run, rows=["int8"], min_accuracy=96.3, max_accuracy_drop=0.1, max_p50_ms=0.013,
                    max_size_kib=75, max_energy_mj=0.011) == [
        ("int8", key, False) for key in ("min_accuracy", "max_accuracy_drop", "max_p50_ms", "max_size_kib", "max_energy_mj")]


def test_a_figure_not_measured_fails_its_check(tmp_path):
    (result,) = run_checks(read_run(write_run(tmp_path)), ChecksSpec(rows=["noenergy"], max_energy_mj=1.0))
    assert not result.passed and result.value is None and "n/a" in result.line() and "not measured" in result.line()


def test_no_row_to_pick_within_budget_is_a_failing_check(tmp_path):
    unmeasured = [Row("f32", "f", "tflite", size_bytes=10), Row("x", "x", "tflite", accuracy=0.5, size_bytes=5)]
    (result,) = run_checks(read_run(write_run(tmp_path, the_rows=unmeasured)), ChecksSpec(max_size_kib=1))
    assert not result.passed and result.check == "within_budget" and "no row is within 1 points" in result.line()


def test_recipe_checks_apply_and_options_override_them(tmp_path):
    run = write_run(tmp_path, checks={"rows": ["f32"], "max_p50_ms": 0.01})
    assert verdicts(run) == [("f32", "max_p50_ms", False)]
    assert verdicts(run, max_p50_ms=0.05) == [("f32", "max_p50_ms", True)]
    assert verdicts(run, rows=["int8"]) == [("int8", "max_p50_ms", False)]


def test_no_threshold_unknown_row_and_no_budget_are_user_errors(tmp_path):
    run = write_run(tmp_path)
    with pytest.raises(EdgeoptError, match="nothing to check"):
        verdicts(run)
    with pytest.raises(EdgeoptError, match="no row named 'int9'.*Did you mean 'int8'"):
        verdicts(run, rows=["int9"], max_p50_ms=1)
    with pytest.raises(EdgeoptError, match="no accuracy_budget.*--row"):
        verdicts(write_run(tmp_path / "nobudget", budget=None), max_p50_ms=1)


def test_accuracy_as_a_fraction_is_refused_with_the_option_named(tmp_path):
    with pytest.raises(EdgeoptError, match=r"--min-accuracy: .*percent.*Received: 0.95"):
        verdicts(write_run(tmp_path), min_accuracy=0.95)


@pytest.mark.parametrize("limit", [float("inf"), float("nan"), 0.0, -1.0])
def test_limits_that_check_nothing_are_refused(tmp_path, limit):
    with pytest.raises(EdgeoptError, match=r"--max-p50-ms: "):
        verdicts(write_run(tmp_path), max_p50_ms=limit)


def test_cli_exit_codes_and_lines(tmp_path):
    run = write_run(tmp_path)
    holds = edgeopt("check", run, "--max-p50-ms", "0.02", "--min-accuracy", "96")
    assert holds.returncode == 0, holds.stderr
    assert "PASS  int8  p50 latency 0.014 ms ≤ 0.02 ms" in holds.stdout and "2 passed, 0 failed" in holds.stdout
    fails = edgeopt("check", run, "--max-p50-ms", "0.01", "--row", "int8", "--row", "f32")
    assert fails.returncode == 1 and "Traceback" not in fails.stderr
    assert "FAIL  int8  p50 latency 0.014 ms > 0.01 ms" in fails.stdout and "FAIL  f32" in fails.stdout
    assert_user_error(edgeopt("check", tmp_path / "nope", "--max-p50-ms", "1"), "is not a folder")
    assert_user_error(edgeopt("check", run), "nothing to check")


def test_junit_file_has_one_testcase_per_check(tmp_path):
    run = write_run(tmp_path)
    junit = tmp_path / "reports" / "edgeopt.xml"
    result = edgeopt("check", run, "--row", "int8", "--max-p50-ms", "0.01", "--max-size-kib", "100", "--junit", junit)
    assert result.returncode == 1
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    cases = suite.findall("testcase")
    assert suite.get("tests") == "2" and suite.get("failures") == "1"
    assert [(c.get("classname"), c.get("name"), c.find("failure") is not None) for c in cases] == [
        ("edgeopt.check.qs.int8", "max_p50_ms", True), ("edgeopt.check.qs.int8", "max_size_kib", False)]
    assert "0.014 ms > 0.01 ms" in cases[0].find("failure").get("message")
    assert not list(junit.parent.glob("*.partial"))


def test_unwritable_junit_is_a_user_error(tmp_path):
    run = write_run(tmp_path)
    (tmp_path / "file").write_text("")
    assert_user_error(edgeopt("check", run, "--max-p50-ms", "1", "--junit", tmp_path / "file" / "x.xml"), "--junit")


def test_corrupt_or_foreign_results_are_user_errors(tmp_path):
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(EdgeoptError, match="not readable JSON"):
        read_run(tmp_path)
    (tmp_path / "results.json").write_text('{"schema_version": 7, "rows": []}')
    with pytest.raises(EdgeoptError, match="schema_version 7"):
        read_run(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(EdgeoptError, match="no results.json"):
        read_run(tmp_path / "empty")


def test_device_rows_are_checked_against_the_run_budget(tmp_path):
    run = write_run(tmp_path)
    slower = [Row(r.name, r.path, r.format, r.dtype, size_bytes=r.size_bytes, accuracy=r.accuracy,
                  latency_ms_p50=None if r.latency_ms_p50 is None else 10 * r.latency_ms_p50) for r in rows()]
    (run / "devices").mkdir()
    results = json.loads((run / "results.json").read_text())
    (run / "devices" / "pi5.json").write_text(json.dumps(  # as `edgeopt profile RUN_DIR` writes it
        {"schema_version": 1, "machine": {"hostname": "pi5"}, "run": run_identity(results),
         "rows": [r.to_dict() for r in slower if r.format == "tflite"]}))
    assert verdicts(run, max_p50_ms=0.1) == [("int8", "max_p50_ms", True)]
    assert verdicts(run, max_p50_ms=0.1, device="pi5") == [("int8", "max_p50_ms", False)]
    result = edgeopt("check", run, "--device", "jetson", "--max-p50-ms", "1")
    assert_user_error(result, "no device file", "devices/jetson.json", "Device files in this run: pi5")
    assert_user_error(edgeopt("check", run, "--device", "../x", "--max-p50-ms", "1"), "cannot name a file")


RECIPE = """
data: {name: digits}
steps:
  - {id: base, stage: train, architecture: small_cnn, epochs: 1}
  - {id: int8, stage: convert, mode: int8}
"""


def test_recipe_checks_section_is_validated_with_the_recipe():
    recipe = parse_recipe(RECIPE + "checks: {rows: [int8], max_p50_ms: 0.5}\n")
    assert recipe.checks.rows == ["int8"] and recipe.checks.max_p50_ms == 0.5
    with pytest.raises(RecipeError) as info:
        parse_recipe(RECIPE + "checks: {rows: [int9], max_p50ms: 0.5, min_accuracy: 0.9}\n", Path("x.yaml"))
    message = str(info.value)
    assert "unknown key `checks.max_p50ms`" in message and "Did you mean 'max_p50_ms'" in message
    assert "percent" in message and "x.yaml" in message
    with pytest.raises(RecipeError, match=r"`checks.rows` names no step. Received: 'int9'. Did you mean 'int8'"):
        parse_recipe(RECIPE + "checks: {rows: [int9]}\n", Path("x.yaml"))


def test_a_device_without_the_baseline_row_is_judged_against_the_hosts_baseline_accuracy(tmp_path):
    run = write_run(tmp_path)
    results = json.loads((run / "results.json").read_text())
    (run / "devices").mkdir()
    (run / "devices" / "pi5.json").write_text(json.dumps(
        {"schema_version": 1, "run": run_identity(results),
         "rows": [r.to_dict() for r in rows() if r.name == "int8"]}))
    # the same test split travels with the run, so the host's baseline accuracy is the device's too
    assert verdicts(run, rows=["int8"], max_accuracy_drop=1, device="pi5") == [("int8", "max_accuracy_drop", True)]
    assert verdicts(run, rows=["int8"], min_accuracy=90, device="pi5") == [("int8", "min_accuracy", True)]


