"""The hwmon meter on fake sysfs trees: energy counters, power sensors, INA3221, Jetson IIO."""

from __future__ import annotations

import json
import time

import pytest
from energy_fakes import (denying_reader, hide_meters, set_value, start_constant_rail_writer,
                          write_chip, write_iio_device, write_orin_ina3221)
from typer.testing import CliRunner

from edgeopt.cli import app
from edgeopt.common.errors import EdgeoptError
from edgeopt.profile.energy import measure_energy
from edgeopt.profile.energy.hwmon import HWMON_ROOT_ENV, WRAP_32, HwmonEnergyCounter, open_hwmon
from edgeopt.profile.energy.jetson_iio import IIO_ROOT_ENV
from edgeopt.profile.energy.meter import (EnergyUnavailableError, MeterFrozenError,
                                          MeterPermissionError)
from edgeopt.profile.energy.rapl_meter import measure_windows
from edgeopt.profile.energy.sampler import SampledPowerCounter


def _open(root, tmp_path, **kw):
    return open_hwmon(root=root, iio_root=tmp_path / "no-iio", period_s=0.002, **kw)


def _amd_energy(root, socket_uj=1_000_000, core_uj=500_000):
    return write_chip(root, "hwmon2", "amd_energy", {
        "energy1_label": "Ecore000", "energy1_input": core_uj,
        "energy2_label": "Esocket0", "energy2_input": socket_uj,
    })


# --- energy counters ---------------------------------------------------------------------------


def test_amd_energy_counts_the_sockets_and_never_adds_the_cores(tmp_path):
    chip = _amd_energy(tmp_path)
    write_chip(tmp_path, "hwmon0", "coretemp", {"temp1_input": 45000})
    counter = _open(tmp_path, tmp_path)
    assert isinstance(counter, HwmonEnergyCounter)
    assert (counter.source, counter.scope) == ("hwmon", "cpu-package")
    assert "Esocket0" in counter.describe() and "Ecore000" not in counter.describe()
    token = counter.start()
    set_value(chip / "energy2_input", 3_500_000)
    set_value(chip / "energy1_input", 900_000)
    assert counter.stop(token).package_uj == 2_500_000


def test_a_32_bit_energy_counter_that_wraps_is_corrected(tmp_path):
    chip = _amd_energy(tmp_path, socket_uj=WRAP_32 - 1_000)
    counter = _open(tmp_path, tmp_path)
    token = counter.start()
    set_value(chip / "energy2_input", 4_000)  # wrapped at 2^32
    assert counter.stop(token).package_uj == 5_000


def test_a_counter_past_32_bits_that_goes_back_is_dropped_not_negative(tmp_path):
    chip = _amd_energy(tmp_path, socket_uj=WRAP_32 + 10_000)
    counter = _open(tmp_path, tmp_path)
    token = counter.start()
    set_value(chip / "energy2_input", 5_000)
    delta = counter.stop(token)
    assert delta.package_uj is None and "not a 32-bit wrap" in delta.dropped


def test_a_frozen_energy_counter_is_reported_frozen_naming_the_meter(tmp_path):
    _amd_energy(tmp_path)  # never advances
    counter = _open(tmp_path, tmp_path)
    with pytest.raises(MeterFrozenError, match="Esocket0.*did not move"):
        measure_windows(counter, lambda: None, window_s=0.02, windows=3)


def test_a_root_only_energy_counter_names_the_file_and_how_to_grant_access(tmp_path):
    _amd_energy(tmp_path)
    with pytest.raises(MeterPermissionError) as info:
        _open(tmp_path, tmp_path, reader=denying_reader("energy2_input"))
    message = str(info.value)
    assert "energy2_input" in message and "udev" in message and "chmod a+r" in message


# --- power sensors -----------------------------------------------------------------------------


def test_ina226_power_sensor_is_integrated_in_microwatts(tmp_path):
    chip = write_chip(tmp_path, "hwmon1", "ina226", {"power1_input": 2_000_000})  # 2 W
    counter = _open(tmp_path, tmp_path)
    assert isinstance(counter, SampledPowerCounter) and counter.scope == "rail"
    try:
        token = counter.start()
        time.sleep(0.3)
        delta = counter.stop(token)
        set_value(chip / "power1_input", 2_000_001)
        time.sleep(0.05)
        counter.check()  # it changed once: not frozen
    finally:
        counter.close()
    assert delta.package_uj / delta.seconds == pytest.approx(2e6, rel=0.01)


def test_ina3221_multiplies_volts_by_amps_per_rail_and_defaults_to_the_input_rail(tmp_path):
    write_orin_ina3221(tmp_path, vdd_in_mv=5000, vdd_in_ma=1200)
    counter = _open(tmp_path, tmp_path)
    try:
        assert counter.scope == "board-input"
        assert counter.describe() == "ina3221 VDD_IN (in1_input × curr1_input)"
        token = counter.start()
        time.sleep(0.2)
        delta = counter.stop(token)
    finally:
        counter.close()
    assert delta.package_uj / delta.seconds == pytest.approx(6e6, rel=0.01)  # 5 V x 1.2 A


def test_two_ina3221_rails_chosen_by_name_are_summed(tmp_path):
    write_orin_ina3221(tmp_path)
    counter = _open(tmp_path, tmp_path, rail="VDD_CPU_GPU_CV,VDD_SOC")
    try:
        assert counter.scope == "rail"
        assert "VDD_CPU_GPU_CV" in counter.describe() and "VDD_SOC" in counter.describe()
        token = counter.start()
        time.sleep(0.2)
        delta = counter.stop(token)
    finally:
        counter.close()
    expected_w = 4.992 * 0.320 + 4.984 * 0.560
    assert delta.package_uj / delta.seconds == pytest.approx(expected_w * 1e6, rel=0.01)


def test_an_unknown_rail_is_a_user_error_listing_the_rails(tmp_path):
    write_orin_ina3221(tmp_path)
    with pytest.raises(EdgeoptError) as info:
        _open(tmp_path, tmp_path, rail="VDD_GPU")
    message = str(info.value)
    assert "No hwmon rail named 'VDD_GPU'" in message
    assert all(name in message for name in ("VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"))
    assert not isinstance(info.value, EnergyUnavailableError)  # auto must not hide it


def test_a_gpu_power_sensor_is_listed_but_never_counted_by_default(tmp_path):
    write_chip(tmp_path, "hwmon4", "amdgpu", {"power1_input": 30_000_000})
    with pytest.raises(EnergyUnavailableError, match="none edgeopt counts by default.*--rail"):
        _open(tmp_path, tmp_path)
    counter = _open(tmp_path, tmp_path, rail="amdgpu/power1")  # but a user may choose it
    counter.close()


def test_a_root_only_power_sensor_fails_before_any_window(tmp_path):
    write_orin_ina3221(tmp_path)
    with pytest.raises(MeterPermissionError, match="curr1_input.*udev"):
        _open(tmp_path, tmp_path, reader=denying_reader("curr1_input"))


def test_a_sensor_that_becomes_unreadable_stops_the_measurement_with_its_message(tmp_path):
    write_orin_ina3221(tmp_path)
    denied = {"now": False}
    base = denying_reader("in1_input")

    def reader(path):
        return base(path) if denied["now"] else path.read_text()

    counter = _open(tmp_path, tmp_path, reader=reader)
    try:
        token = counter.start()
        denied["now"] = True
        time.sleep(0.05)
        with pytest.raises(MeterPermissionError, match="in1_input"):
            counter.stop(token)
    finally:
        counter.close()


def test_a_frozen_power_sensor_is_reported_frozen_naming_its_files(tmp_path):
    write_orin_ina3221(tmp_path)  # nothing ever changes the readings
    counter = _open(tmp_path, tmp_path)
    try:
        with pytest.raises(MeterFrozenError, match="same reading.*curr1_input"):
            measure_windows(counter, lambda: None, window_s=0.05, windows=3)
    finally:
        counter.close()


# --- Jetson JetPack 4 --------------------------------------------------------------------------


def test_jetson_jetpack4_iio_rails_are_read_in_milliwatts_input_rail_by_default(tmp_path):
    iio = tmp_path / "ina3221x"
    write_iio_device(iio, {"POM_5V_IN": 4200, "POM_5V_GPU": 300, "POM_5V_CPU": 900})
    counter = open_hwmon(root=tmp_path / "no-hwmon", iio_root=iio, period_s=0.002)
    try:
        assert counter.scope == "board-input" and "POM_5V_IN" in counter.describe()
        token = counter.start()
        time.sleep(0.2)
        delta = counter.stop(token)
    finally:
        counter.close()
    assert delta.package_uj / delta.seconds == pytest.approx(4.2e6, rel=0.01)
    cpu = open_hwmon(root=tmp_path / "no-hwmon", iio_root=iio, rail="POM_5V_CPU")
    cpu.close()
    assert cpu.scope == "rail"


# --- no meter, and end to end ------------------------------------------------------------------


def test_hwmon_asked_for_where_there_is_none_lists_what_was_looked_for(tiny_tflite_models,
                                                                       tmp_path, monkeypatch):
    hide_meters(monkeypatch, tmp_path)
    done = CliRunner().invoke(app, ["profile", str(tiny_tflite_models.int8), "--energy", "hwmon",
                                    "--runs", "5"])
    assert done.exit_code == 2 and "Traceback" not in done.output
    for looked in ("energyN_input", "powerN_input", "inN_input × currN_input", "in_powerN_input",
                   str(tmp_path / "no-hwmon"), HWMON_ROOT_ENV):
        assert looked in done.stderr


def test_cli_unknown_rail_is_exit_2_listing_the_rails(tiny_tflite_models, tmp_path, monkeypatch):
    hide_meters(monkeypatch, tmp_path)
    write_orin_ina3221(tmp_path / "hwmon")
    monkeypatch.setenv(HWMON_ROOT_ENV, str(tmp_path / "hwmon"))
    done = CliRunner().invoke(app, ["profile", str(tiny_tflite_models.int8), "--energy", "hwmon",
                                    "--rail", "VDD_NOPE", "--runs", "5"])
    assert done.exit_code == 2 and "Traceback" not in done.output
    assert "VDD_NOPE" in done.stderr and "VDD_IN" in done.stderr and "VDD_SOC" in done.stderr


def test_auto_picks_hwmon_after_rapl_and_says_why(tiny_tflite_models, tmp_path, monkeypatch):
    hide_meters(monkeypatch, tmp_path)
    chip = write_orin_ina3221(tmp_path / "hwmon")
    monkeypatch.setenv(HWMON_ROOT_ENV, str(tmp_path / "hwmon"))
    writer = start_constant_rail_writer(chip, 5.0)
    try:
        result = measure_energy(tiny_tflite_models.int8, "auto", window_s=0.1)
    finally:
        writer.kill()
        writer.wait()
    assert (result.source, result.scope, result.measured) == ("hwmon", "board-input", True)
    assert "auto: measured with hwmon" in result.note and "rapl:" in result.note


def test_a_constant_ina3221_rail_gives_gross_energy_of_power_times_the_windows_time_per_inference(
        midsize_float32, tmp_path, monkeypatch):
    """End to end through the CLI: a rail held at P → energy_gross_mj = P × the time per inference
    inside the meter's windows, and that time is the model's (near its timed latency).

    The gross energy is compared with the windows' own time, not the timing rounds' latency: the
    two phases run one after the other, and on a loaded machine (the suite beside two busy loops)
    the windows ran 1.4–1.7× slower than the rounds, in every retry.
    """
    model = midsize_float32
    hide_meters(monkeypatch, tmp_path)
    watts = 6.0
    chip = write_orin_ina3221(tmp_path / "hwmon")
    monkeypatch.setenv(HWMON_ROOT_ENV, str(tmp_path / "hwmon"))
    writer = start_constant_rail_writer(chip, watts)
    try:
        done = CliRunner().invoke(app, [
            "profile", str(model), "--energy", "hwmon", "--json", "--runs", "300",
            "--warmup", "20", "--energy-window", "0.3", "--energy-windows", "3"])
    finally:
        writer.kill()
        writer.wait()
    assert done.exit_code == 0, done.output
    row = json.loads(done.stdout)["rows"][0]
    assert (row["energy_source"], row["energy_scope"], row["energy_measured"]) == (
        "hwmon", "board-input", True)
    assert row["energy_counters"] == "ina3221 VDD_IN (in1_input × curr1_input)"
    assert row["energy_idle_w"] == pytest.approx(watts, rel=0.05)
    assert row["energy_active_w"] == pytest.approx(watts, rel=0.05)
    window_ms = row["energy_window_ms_per_inference"]
    assert row["energy_gross_mj"] == pytest.approx(watts * window_ms, rel=0.05)  # W·ms = mJ
    # Counting inferences wrong (a batch, a window) would be off by 3× or more; load alone was 1.7×.
    assert 0.5 < window_ms / row["latency_ms_mean"] < 3, (window_ms, row["latency_ms_mean"])


