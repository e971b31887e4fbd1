"""The Raspberry Pi 5 PMIC meter through a fake `vcgencmd` on PATH printing a real-format dump."""

from __future__ import annotations

import time

import pytest
from energy_fakes import PI5_PMIC_DUMP, hide_meters, install_fake_vcgencmd, pmic_watts

from edgeopt.common.errors import EdgeoptError
from edgeopt.profile.energy import measure_energy
from edgeopt.profile.energy.meter import (EnergyUnavailableError, MeterFrozenError,
                                          MeterPermissionError)
from edgeopt.profile.energy.rapl_meter import measure_windows
from edgeopt.profile.energy.rpi_pmic import open_rpi_pmic, parse_pmic_adc


@pytest.fixture
def pi5(tmp_path, monkeypatch):
    hide_meters(monkeypatch, tmp_path)
    return install_fake_vcgencmd(monkeypatch, tmp_path / "bin")


def test_currents_and_voltages_pair_by_rail_name_not_by_channel_number():
    paired, alone = parse_pmic_adc(PI5_PMIC_DUMP)
    assert paired["VDD_CORE"] == (0.72097620, 0.92871990)  # current(7) with volt(15)
    assert len(paired) == 12 and set(alone) == {"EXT5V_V", "BATT_V"}


def test_the_pmic_meter_sums_v_times_i_of_every_rail_as_regulator_rails(pi5):
    counter = open_rpi_pmic(period_s=0.02)
    try:
        assert (counter.source, counter.scope) == ("rpi-pmic", "regulator-rails")
        assert "after the regulators" in counter.describe()
        token = counter.start()
        time.sleep(0.4)
        delta = counter.stop(token)
        counter.check()  # the fake jitters like a live PMIC
    finally:
        counter.close()
    assert delta.package_uj / delta.seconds == pytest.approx(pmic_watts() * 1e6, rel=0.01)


def test_one_rail_can_be_chosen_and_an_unknown_one_lists_the_rails(pi5):
    counter = open_rpi_pmic("VDD_CORE", period_s=0.02)
    counter.close()
    assert counter.scope == "rail" and "VDD_CORE" in counter.describe()
    with pytest.raises(EdgeoptError, match="No rpi-pmic rail named 'VDD_GPU'.*VDD_CORE"):
        open_rpi_pmic("VDD_GPU")


def test_a_pmic_whose_readings_never_change_is_frozen(tmp_path, monkeypatch):
    hide_meters(monkeypatch, tmp_path)
    install_fake_vcgencmd(monkeypatch, tmp_path / "bin", jitter=False)
    counter = open_rpi_pmic(period_s=0.01)
    try:
        with pytest.raises(MeterFrozenError, match="same reading.*vcgencmd pmic_read_adc"):
            measure_windows(counter, lambda: None, window_s=0.05, windows=3)
    finally:
        counter.close()


def test_a_pi_4_without_current_sensing_says_so(tmp_path, monkeypatch):
    hide_meters(monkeypatch, tmp_path)
    install_fake_vcgencmd(monkeypatch, tmp_path / "bin", dump='error=2 error_msg="Invalid request"\n',
                          exit_code=255)
    with pytest.raises(EnergyUnavailableError, match="Only a Raspberry Pi 5.*Pi 4 has none"):
        open_rpi_pmic()


def test_no_access_to_the_videocore_mailbox_says_which_group_to_join(tmp_path, monkeypatch):
    hide_meters(monkeypatch, tmp_path)
    install_fake_vcgencmd(monkeypatch, tmp_path / "bin",
                          dump="VCHI initialization failed\nfailed to open vchiq instance\n",
                          exit_code=255)
    with pytest.raises(MeterPermissionError, match="group `video`"):
        open_rpi_pmic()


def test_no_vcgencmd_means_no_pmic(tmp_path, monkeypatch):
    hide_meters(monkeypatch, tmp_path)
    with pytest.raises(EnergyUnavailableError, match="vcgencmd` is not on PATH"):
        open_rpi_pmic()


def test_auto_measures_with_the_pmic_when_rapl_and_hwmon_are_absent(pi5, tiny_tflite_models):
    result = measure_energy(tiny_tflite_models.int8, "auto", window_s=0.2)
    assert (result.source, result.scope, result.measured) == ("rpi-pmic", "regulator-rails", True)
    assert result.gross_mj > 0 and result.idle_w == pytest.approx(pmic_watts(), rel=0.01)
    assert "auto: measured with rpi-pmic" in result.note and "hwmon:" in result.note
    assert "sensor readings in the shortest window" in result.note  # 0.2 s at 0.1 s: too few
