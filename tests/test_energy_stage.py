"""Energy of pipeline stages (training included): RAPL when readable, else a labelled estimate."""

from __future__ import annotations

import json
import time

import pytest
from energy_fakes import MAX_RANGE_UJ, set_energy, write_zone

from edgeopt.errors import RecipeError
from edgeopt.profile.energy.powercap import POWERCAP_ROOT_ENV, Powercap
from edgeopt.profile.energy.stage_meter import StageEnergyMeter
from edgeopt.recipe import parse_recipe


def _busy(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_without_rapl_stage_energy_is_cpu_time_times_watts_per_core(tmp_path, monkeypatch):
    monkeypatch.setenv(POWERCAP_ROOT_ENV, str(tmp_path / "none"))
    with StageEnergyMeter(cpu_watts_per_core=20.0) as meter:
        _busy(0.2)
    result = meter.result
    assert (result.source, result.measured) == ("cpu_time_estimate", False)
    assert result.cpu_seconds >= 0.15  # os.times() ticks in 10 ms steps
    assert result.joules == pytest.approx(20.0 * result.cpu_seconds)
    assert "estimate" in result.note and "20 W per core" in result.note
    assert "does not exist" in result.note  # says why RAPL was not used


def test_with_rapl_stage_energy_sums_sampled_deltas_across_a_wrap(tmp_path):
    zone = write_zone(tmp_path, "intel-rapl:0", "package-0", MAX_RANGE_UJ - 3_000_000)
    meter = StageEnergyMeter(powercap=Powercap(tmp_path), interval_s=0.02)
    with meter:
        time.sleep(0.1)
        set_energy(zone, MAX_RANGE_UJ - 1_000_000)  # +2 J
        time.sleep(0.1)
        set_energy(zone, 4_000_000)  # wrapped: +5 J
        time.sleep(0.1)
    result = meter.result
    assert (result.source, result.measured) == ("rapl", True)
    assert result.joules == pytest.approx(7.0)
    assert "whole package" in result.note


def test_a_rapl_counter_that_stalls_during_a_stage_falls_back_to_the_estimate(tmp_path):
    write_zone(tmp_path, "intel-rapl:0", "package-0", 1_000)  # never advances
    meter = StageEnergyMeter(cpu_watts_per_core=10.0, powercap=Powercap(tmp_path),
                             interval_s=0.02)
    with meter:
        _busy(0.1)
    assert meter.result.source == "cpu_time_estimate"
    assert "did not move" in meter.result.note


def test_recipe_profile_section_takes_energy_settings():
    recipe = parse_recipe(
        "data: {name: digits}\n"
        "profile: {energy: model, cpu_watts_per_core: 9.5, energy_window_s: 2, energy_windows: 5}\n"
        "steps: [{id: base, stage: train, architecture: small_cnn}]\n")
    p = recipe.profile
    assert (p.energy, p.cpu_watts_per_core, p.energy_window_s, p.energy_windows) == (
        "model", 9.5, 2.0, 5)
    assert parse_recipe("steps: [{stage: train, architecture: small_cnn}]").profile.energy == "auto"


@pytest.mark.parametrize("profile, key", [("{energy: joules}", "energy"),
                                          ("{cpu_watts_per_core: 0}", "cpu_watts_per_core"),
                                          ("{energy_windows: 2}", "energy_windows")])
def test_bad_energy_settings_in_a_recipe_name_the_key_and_value(profile, key):
    with pytest.raises(RecipeError, match=f"{key}.*Received"):
        parse_recipe(f"profile: {profile}\nsteps: [{{stage: train, architecture: small_cnn}}]\n")


@pytest.mark.slow
def test_a_run_records_each_stage_time_and_energy(tmp_path, monkeypatch):
    from edgeopt.pipeline import run_recipe

    monkeypatch.setenv(POWERCAP_ROOT_ENV, str(tmp_path / "none"))
    recipe = parse_recipe(
        "seed: 0\n"
        "data: {name: digits, limit_train: 200, limit_test: 100}\n"
        "profile: {runs: 20, warmup: 2, energy: auto, cpu_watts_per_core: 12}\n"
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
    assert (int8.energy_source, int8.energy_measured) == ("model", False)
    step = json.loads((tmp_path / "run" / "base" / "step.json").read_text())
    assert step["info"]["stage_energy_source"] == "cpu_time_estimate"
    assert step["info"]["stage_energy_j"] == pytest.approx(
        12 * step["info"]["stage_cpu_seconds"])
