"""Energy of pipeline stages (training included): RAPL when readable, else a labelled estimate."""

from __future__ import annotations

import json
import time

import pytest
from energy_fakes import (MAX_RANGE_UJ, hide_meters, set_energy, start_constant_rail_writer,
                          write_orin_ina3221, write_zone)

from edgeopt.common.errors import RecipeError
from edgeopt.profile.energy.estimate import thread_power
from edgeopt.profile.energy.powercap import Powercap
from edgeopt.profile.energy.rapl_meter import PowercapCounter
from edgeopt.profile.energy.stage_meter import StageEnergyMeter, stage_meter_for
from edgeopt.run.recipe import parse_recipe


def _busy(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_without_a_meter_stage_energy_is_cpu_time_times_the_estimates_power_per_core(
        tmp_path, monkeypatch):
    hide_meters(monkeypatch, tmp_path)
    meter = stage_meter_for("auto", 40.0, None)
    with meter:
        _busy(0.2)
    result = meter.result
    per_core = thread_power(1, 40.0).per_core_w  # the same source as the inference estimate
    assert (result.source, result.scope, result.measured) == ("cpu_time_estimate", "cpu-time", False)
    assert result.cpu_seconds >= 0.15  # os.times() ticks in 10 ms steps
    assert result.joules == pytest.approx(per_core * result.cpu_seconds)
    assert "estimate" in result.note and "user" in result.note
    assert "does not exist" in result.note and "hwmon:" in result.note  # why no meter was used


def test_recipe_energy_settings_choose_the_stage_meter():
    assert stage_meter_for("off", None, None) is None
    assert stage_meter_for("model45", None, None).meters == ()
    assert stage_meter_for("hwmon", None, "VDD_IN").meters == ("hwmon",)
    assert stage_meter_for("auto", None, None).meters == ("rapl", "hwmon", "rpi-pmic")
    assert stage_meter_for("auto", None, "VDD_IN").meters == ("hwmon", "rpi-pmic")


def test_with_rapl_stage_energy_sums_sampled_deltas_across_a_wrap(tmp_path):
    zone = write_zone(tmp_path, "intel-rapl:0", "package-0", MAX_RANGE_UJ - 3_000_000)
    meter = StageEnergyMeter(counter=PowercapCounter(Powercap(tmp_path)), interval_s=0.02)
    with meter:
        time.sleep(0.1)
        set_energy(zone, MAX_RANGE_UJ - 1_000_000)  # +2 J
        time.sleep(0.1)
        set_energy(zone, 4_000_000)  # wrapped: +5 J
        time.sleep(0.1)
    result = meter.result
    assert (result.source, result.measured) == ("rapl", True)
    assert result.joules == pytest.approx(7.0)
    assert result.scope == "cpu-package" and "idle power included" in result.note


def test_stage_energy_uses_the_same_hwmon_meter_as_profile(tmp_path, monkeypatch):
    from edgeopt.profile.energy.hwmon import HWMON_ROOT_ENV

    hide_meters(monkeypatch, tmp_path)
    chip = write_orin_ina3221(tmp_path / "hwmon")
    monkeypatch.setenv(HWMON_ROOT_ENV, str(tmp_path / "hwmon"))
    writer = start_constant_rail_writer(chip, 4.0)
    try:
        time.sleep(0.2)  # the writer's first value is in place
        meter = stage_meter_for("auto", None, None)
        meter.interval_s = 0.05
        with meter:
            time.sleep(0.5)
    finally:
        writer.kill()
        writer.wait()
    result = meter.result
    assert (result.source, result.scope, result.measured) == ("hwmon", "board-input", True)
    assert result.joules == pytest.approx(4.0 * result.seconds, rel=0.05)
    assert "VDD_IN" in result.note


def test_a_rapl_counter_that_stalls_during_a_stage_falls_back_to_the_estimate(tmp_path):
    write_zone(tmp_path, "intel-rapl:0", "package-0", 1_000)  # never advances
    meter = StageEnergyMeter(10.0, counter=PowercapCounter(Powercap(tmp_path)), interval_s=0.02)
    with meter:
        _busy(0.1)
    assert meter.result.source == "cpu_time_estimate"
    assert "did not move" in meter.result.note


def test_recipe_profile_section_takes_energy_settings():
    recipe = parse_recipe(
        "data: {name: digits}\n"
        "profile: {energy: hwmon, cpu_watts: 9.5, energy_window_s: 2, energy_windows: 5, "
        "energy_rail: VDD_IN}\n"
        "steps: [{id: base, stage: train, architecture: small_cnn}]\n")
    p = recipe.profile
    assert (p.energy, p.cpu_watts, p.energy_window_s, p.energy_windows, p.energy_rail) == (
        "hwmon", 9.5, 2.0, 5, "VDD_IN")
    assert parse_recipe("steps: [{stage: train, architecture: small_cnn}]").profile.energy == "auto"


@pytest.mark.parametrize("profile, key", [("{energy: joules}", "energy"),
                                          ("{energy: model}", "model45.*energy"),
                                          ("{cpu_watts: 0}", "cpu_watts"),
                                          ("{cpu_watts: -4}", "cpu_watts"),
                                          ("{cpu_watts_per_core: 9}", "cpu_watts"),
                                          ("{energy: rapl, energy_rail: VDD_IN}", "energy_rail"),
                                          ("{energy_windows: 2}", "energy_windows")])
def test_bad_energy_settings_in_a_recipe_name_the_key_and_value(profile, key):
    with pytest.raises(RecipeError, match=f"{key}.*Received"):
        parse_recipe(f"profile: {profile}\nsteps: [{{stage: train, architecture: small_cnn}}]\n")


@pytest.mark.slow
def test_a_run_records_each_stage_time_and_energy(tmp_path, monkeypatch):
    from edgeopt.run.pipeline import run_recipe

    hide_meters(monkeypatch, tmp_path)
    recipe = parse_recipe(
        "seed: 0\n"
        "data: {name: digits, limit_train: 200, limit_test: 100}\n"
        "profile: {runs: 20, warmup: 2, energy: auto, cpu_watts: 12}\n"
        "steps:\n"
        "  - {id: base, stage: train, architecture: small_cnn, epochs: 1, batch_size: 50}\n"
        "  - {id: base_int8, stage: convert, from: base, mode: int8, calibration_samples: 50}\n",
        tmp_path / "tiny.yaml")
    result = run_recipe(recipe, tmp_path / "run", log_fn=lambda _: None)
    base, int8 = result.rows
    assert base.train_energy_j > 0 and base.extra["train_energy_source"] == "cpu_time_estimate"
    assert base.train_energy_j == base.extra["stage_energy_j"]
    assert int8.train_energy_j is None  # converting is not training
    assert int8.extra["stage_energy_j"] > 0 and int8.extra["stage_seconds"] > 0
    assert (int8.energy_source, int8.energy_scope, int8.energy_measured) == (
        "estimate", "estimate", False)
    step = json.loads((tmp_path / "run" / "base" / "step.json").read_text())
    assert step["info"]["stage_energy_source"] == "cpu_time_estimate"
    assert step["info"]["stage_energy_j"] == pytest.approx(
        thread_power(1, 12.0).per_core_w * step["info"]["stage_cpu_seconds"])
