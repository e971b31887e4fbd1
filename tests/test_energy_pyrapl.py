"""The pyRAPL wrapper: its quirks (wraps, PermissionError, printing, import noise) stay inside."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import pytest

from edgeopt.profile.energy import measure_energy
from edgeopt.profile.energy.powercap import EnergyUnavailableError, RaplPermissionError
from edgeopt.profile.energy.pyrapl_meter import PyraplCounter


class _CantRecord(Exception):
    pass


class _PyraplError(Exception):
    pass


def fake_pyrapl(results: list, *, setup_error: Exception | None = None) -> types.ModuleType:
    """A stand-in for pyRAPL 0.2: `Measurement.end()` yields the next (pkg, dram, µs) result.

    Like the real one it prints on export when given no output, and prints in begin() here so
    a test can see that nothing reaches stdout.
    """
    module = types.ModuleType("pyRAPL")
    module.PyRAPLCantRecordEnergyConsumption = _CantRecord
    module.PyRAPLException = _PyraplError
    module.setup_calls = 0

    def setup():
        module.setup_calls += 1
        if setup_error is not None:
            raise setup_error

    class Measurement:
        def __init__(self, label, output=None):
            self.output, self.result = output, None

        def begin(self):
            print("pyRAPL chatter")

        def end(self):
            pkg, dram, micros = results.pop(0)
            self.result = types.SimpleNamespace(pkg=pkg, dram=dram, duration=micros)
            if self.output is None:
                print(self.result)

    module.setup, module.Measurement = setup, Measurement
    return module


def test_a_window_becomes_package_and_dram_energy_summed_over_sockets(capsys):
    counter = PyraplCounter(fake_pyrapl([([1_000.0, 2_000.0], [300.0, 200.0], 1_000_000)]))
    delta = counter.stop(counter.start())
    assert (delta.package_uj, delta.dram_uj, delta.seconds) == (3_000, 500, 1.0)
    assert delta.dropped is None
    assert capsys.readouterr().out == ""  # pyRAPL's printing never reaches the user


@pytest.mark.parametrize("pkg", [None, [-5_000.0], [1_000.0, -3.0]])
def test_a_wrapped_pyrapl_window_is_dropped_not_negative(pkg):
    # pyRAPL does not correct wraps: pkg is None when every socket wrapped, negative otherwise.
    counter = PyraplCounter(fake_pyrapl([(pkg, None, 1_000_000)]))
    delta = counter.stop(counter.start())
    assert delta.package_uj is None and "wrap" in delta.dropped


def test_a_still_pyrapl_counter_is_dropped_not_zero():
    counter = PyraplCounter(fake_pyrapl([([0.0], None, 1_000_000)]))
    delta = counter.stop(counter.start())
    assert delta.package_uj is None and delta.dropped.endswith("did not move")


def test_a_permission_error_from_pyrapl_setup_becomes_the_cve_message():
    denied = PermissionError(13, "Permission denied",
                             "/sys/class/powercap/intel-rapl/intel-rapl:0/energy_uj")
    with pytest.raises(RaplPermissionError) as info:
        PyraplCounter(fake_pyrapl([], setup_error=denied))
    assert "CVE-2020-8694" in str(info.value) and "intel-rapl:0/energy_uj" in str(info.value)


def test_pyrapl_without_powercap_is_unavailable_with_a_message():
    with pytest.raises(EnergyUnavailableError, match="pyRAPL cannot record energy"):
        PyraplCounter(fake_pyrapl([], setup_error=_CantRecord()))


def test_other_pyrapl_failures_are_unavailable_with_their_name():
    with pytest.raises(EnergyUnavailableError, match="pyRAPL failed: _PyraplError"):
        PyraplCounter(fake_pyrapl([], setup_error=_PyraplError("socket 3")))


@pytest.mark.skipif(Path("/sys/class/powercap/intel-rapl").exists(),
                    reason="this machine has RAPL: real pyRAPL can measure here")
def test_the_real_pyrapl_on_a_machine_without_rapl_is_a_clear_error():
    with pytest.raises(EnergyUnavailableError, match="pyRAPL cannot record energy"):
        PyraplCounter()


def test_importing_pyrapl_prints_nothing_and_leaves_logging_alone():
    code = ("import logging\n"
            "from edgeopt.profile.energy.pyrapl_meter import import_pyrapl\n"
            "import_pyrapl()\n"
            "assert not logging.getLogger().handlers, logging.getLogger().handlers\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""


def test_measure_energy_through_pyrapl_runs_the_protocol(tiny_tflite_models):
    # 3 idle windows at 1 W, then 3 inference windows at 3 W (1 s each, as pyRAPL reports).
    results = [([1e6], None, 1_000_000)] * 3 + [([3e6], None, 1_000_000)] * 3
    counter = PyraplCounter(fake_pyrapl(results))
    result = measure_energy(tiny_tflite_models.int8, "pyrapl", counter=counter, window_s=0.05)
    assert (result.source, result.measured) == ("pyrapl", True)
    assert result.idle_w == pytest.approx(1.0) and result.active_w == pytest.approx(3.0)
    assert result.net_mj == pytest.approx(result.gross_mj * 2 / 3)
    assert result.energy_mj == result.net_mj and result.model45_mj > 0
