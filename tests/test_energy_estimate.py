"""The clock-based estimate where no meter can be read: mean latency × the power of the threads."""

from __future__ import annotations

import json
import os

import pytest
from energy_fakes import hide_meters
from typer.testing import CliRunner

from edgeopt.cli import app
from edgeopt.common.errors import EdgeoptError
from edgeopt.profile import profile_tflite
from edgeopt.profile.energy.estimate import (CODECARBON_DEFAULT_W_PER_THREAD,
                                             CPU_POWER_TABLE_ENV, CpuPowerTable, match_cpu,
                                             thread_power)

TABLE = {"Intel Xeon Gold 6248": 150.0, "Intel Core i7-8550U": 15.0, "AMD EPYC 7B13": 240.0,
         "AMD EPYC 7763": 280.0, "Cortex-A72": 7.5}
XEON = {"model name": "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", "cpu cores": "20",
        "flags": "fpu avx2"}


@pytest.fixture
def no_meters(tmp_path, monkeypatch):
    hide_meters(monkeypatch, tmp_path)


@pytest.fixture
def table_file(tmp_path, monkeypatch):
    """A CPU power table in CodeCarbon's format, named by EDGEOPT_CPU_POWER_TABLE."""
    path = tmp_path / "cpu_power.csv"
    path.write_text("Name,TDP\n" + "".join(f'"{k}",{v}\n' for k, v in TABLE.items())
                    + "Broken row,n/a\n")
    monkeypatch.setenv(CPU_POWER_TABLE_ENV, str(path))
    return path


@pytest.mark.parametrize("model, expected", [
    ("Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", "Intel Xeon Gold 6248"),  # CodeCarbon's cleanup
    ("intel core i7-8550u", "Intel Core i7-8550U"),  # case-insensitive exact
    ("AMD EPYC 7B13 64-Core Processor", "AMD EPYC 7B13"),  # the row's words are all in the name
    ("Cortex-A72", "Cortex-A72"),
])
def test_cpu_names_match_the_table_the_way_codecarbon_matches_them(model, expected):
    assert match_cpu(model, TABLE) == (expected, 0)


def test_an_ambiguous_or_unknown_cpu_matches_nothing_and_says_how_many_rows_share_its_words():
    assert match_cpu("AMD EPYC", TABLE) == (None, 2)  # this project's VMs say just "AMD EPYC"
    assert match_cpu("Some Future CPU 9000", TABLE) == (None, 0)


def test_a_known_cpu_gets_its_tdp_per_core_times_threads(table_file):
    power = thread_power(2, cpuinfo=XEON)
    assert power.source == "codecarbon-table" and power.tdp_w == 150.0 and power.cores == 20
    assert power.per_core_w == pytest.approx(7.5)
    assert power.power_w == pytest.approx(15.0)  # 2 threads x 150 W / 20 cores
    assert "Intel Xeon Gold 6248" in power.detail and str(table_file) in power.detail


def test_an_unknown_cpu_uses_codecarbons_own_default_and_says_so(table_file):
    power = thread_power(1, cpuinfo={"model name": "AMD EPYC", "cpu cores": "2",
                                     "flags": "hypervisor avx2"})
    assert power.source == "codecarbon-default" and power.tdp_w is None
    assert power.power_w == CODECARBON_DEFAULT_W_PER_THREAD
    assert "'AMD EPYC' matches no single row" in power.detail and "2 rows" in power.detail
    assert "--cpu-watts" in power.detail


def test_without_the_table_the_default_says_how_to_install_it():
    power = thread_power(1, cpuinfo=XEON, table=None)
    assert power.source == "codecarbon-default"
    assert "pip install --no-deps codecarbon" in power.detail


def test_the_users_cpu_watts_replaces_the_table_and_vm_figures_carry_a_warning():
    power = thread_power(3, 65.0, cpuinfo={"model name": "X", "cpu cores": "8",
                                           "flags": "hypervisor"},
                         table=CpuPowerTable(TABLE, "t"))
    assert power.source == "user"
    assert power.power_w == pytest.approx(min(3, power.threads) * 65.0 / 8)
    assert "virtual machine" in power.detail


@pytest.mark.parametrize("bad", [0, -5.0, float("nan"), True])
def test_cpu_watts_must_be_a_positive_power(bad):
    with pytest.raises(EdgeoptError, match="cpu_watts.*> 0.*Received"):
        thread_power(1, bad, cpuinfo=XEON, table=None)


def test_a_table_path_that_does_not_exist_is_a_user_error(tmp_path, monkeypatch):
    monkeypatch.setenv(CPU_POWER_TABLE_ENV, str(tmp_path / "missing.csv"))
    with pytest.raises(EdgeoptError, match="Cannot read the CPU power table"):
        thread_power(1, cpuinfo=XEON)


def test_estimate_rows_are_labelled_and_priced_on_their_own_cpu_time(tiny_tflite_models, no_meters):
    row = profile_tflite(tiny_tflite_models.int8, runs=30, warmup=3, rounds=3, energy="auto",
                         cpu_watts=40.0)
    assert (row.energy_source, row.energy_scope, row.energy_measured) == (
        "estimate", "estimate", False)
    assert row.extra["energy_power_source"] == "user"
    per_core_w = row.extra["energy_power_w"] / row.extra["threads"]
    assert row.extra["cpu_ms_per_inference"] > 0
    assert row.energy_mj == pytest.approx(per_core_w * row.extra["cpu_ms_per_inference"])
    assert row.extra["energy_gross_mj"] is None and row.extra["energy_model45_mj"] > 0
    assert "no meter could be read" in row.extra["energy_note"]
    assert "CPU time" in row.extra["energy_note"]
    assert row.edp_mj_ms == pytest.approx(row.energy_mj * row.latency_ms_mean)


def test_between_rows_with_the_same_threads_the_energy_ratio_is_the_cpu_time_ratio(
        tiny_tflite_models, no_meters):
    m = tiny_tflite_models
    done = CliRunner().invoke(app, ["profile", str(m.float32), str(m.int8), str(m.dynamic),
                                    "--runs", "20", "--rounds", "3", "--energy", "estimate", "--json"])
    assert done.exit_code == 0, done.output
    rows = json.loads(done.stdout)["rows"]
    base = rows[0]
    for row in rows[1:]:
        assert row["energy_mj"] / base["energy_mj"] == pytest.approx(
            row["cpu_ms_per_inference"] / base["cpu_ms_per_inference"], rel=1e-9)
    assert {r["energy_scope"] for r in rows} == {"estimate"}
    assert all(r["energy_note"] and "CPU time" in r["energy_note"] for r in rows)


def test_a_row_without_cpu_time_is_priced_on_its_mean_latency_and_says_so():
    from edgeopt.common.row import Row
    from edgeopt.profile.energy import EnergyResult, apply_energy
    from edgeopt.profile.energy.estimate import thread_power

    power = thread_power(2, 40.0, cpuinfo={"model name": "X", "cpu cores": "4"}, table=None)
    row = Row("a", "a.tflite", "tflite", latency_ms_mean=2.0)
    apply_energy(row, EnergyResult("estimate", source="estimate", scope="estimate", power=power, note="n"))
    assert row.energy_mj == pytest.approx(power.power_w * 2.0)
    assert "mean latency" in row.extra["energy_note"] and "no CPU time" in row.extra["energy_note"]
    row = Row("b", "b.tflite", "tflite", latency_ms_mean=2.0, extra={"cpu_ms_per_inference": 3.0})
    apply_energy(row, EnergyResult("estimate", source="estimate", scope="estimate", power=power, note="n"))
    assert row.energy_mj == pytest.approx(10.0 * 3.0)  # 40 W / 4 cores per core × 3 ms of CPU time (2 threads)


@pytest.mark.parametrize("value", ["0", "-3"])
def test_cli_cpu_watts_zero_or_negative_is_exit_2_before_anything_runs(tiny_tflite_models, value):
    done = CliRunner().invoke(app, ["profile", str(tiny_tflite_models.int8),
                                    "--energy", "estimate", "--cpu-watts", value])
    assert done.exit_code == 2
    assert "cpu_watts" in done.stderr and "> 0" in done.stderr and "Traceback" not in done.output


def test_cli_old_model_name_is_exit_2_pointing_to_model45(tiny_tflite_models):
    done = CliRunner().invoke(app, ["profile", str(tiny_tflite_models.int8), "--energy", "model"])
    assert done.exit_code == 2 and "model45" in done.stderr and "Traceback" not in done.output


def test_an_arm_board_without_a_model_name_matches_its_cores_table_row(table_file):
    pi4 = {"model name": "", "CPU implementer": "0x41", "CPU part": "0xd08", "processor": "0"}
    power = thread_power(1, cpuinfo=pi4)
    assert power.source == "codecarbon-table" and power.tdp_w == 7.5  # Cortex-A72
    assert power.cores == (os.cpu_count() or 1)  # no `cpu cores` on ARM: one package of them all
    assert power.per_core_w == pytest.approx(7.5 / power.cores)


@pytest.mark.parametrize("method", ["estimate", "model45", "off"])
def test_a_rail_with_a_method_that_reads_no_rail_is_a_user_error(tiny_tflite_models, method):
    from edgeopt.profile.energy import measure_energy

    with pytest.raises(EdgeoptError, match="rail.*Received: rail='VDD_IN'"):
        measure_energy(tiny_tflite_models.int8, method, rail="VDD_IN")
