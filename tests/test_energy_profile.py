"""Energy through `profile_tflite` and `edgeopt profile`: RAPL end to end, model45, notes."""

from __future__ import annotations

import json

import pytest
from energy_fakes import denying_reader, hide_meters, start_constant_power_writer, write_zone
from typer.testing import CliRunner

from edgeopt.cli import app
from edgeopt.profile import profile_tflite
from edgeopt.profile.energy import RaplPermissionError, measure_energy
from edgeopt.profile.energy.powercap import POWERCAP_ROOT_ENV, Powercap
from edgeopt.profile.energy.rapl_meter import PowercapCounter

WATTS = 10.0


@pytest.fixture
def no_rapl(tmp_path, monkeypatch):
    """This machine has no meter at all; make that explicit (and true on any test machine)."""
    hide_meters(monkeypatch, tmp_path)
    return tmp_path / "no-powercap"


def _cli(*args: str):
    return CliRunner().invoke(app, ["profile", *args])




def test_rapl_end_to_end_gross_energy_is_power_times_the_windows_time_and_net_is_zero(
        midsize_float32, tmp_path, monkeypatch):
    """A fake package counter advanced at a constant P: gross ≈ P × the windows' time per
    inference, net ≈ 0.

    The counter is advanced by another process, which lags on a shared 2-core machine, so the
    power figures get up to five runs and must hold in one of them; everything else must hold in
    every run. Gross is compared with the windows' own time per inference: the timing rounds run
    after them, and under two busy neighbours the windows ran 1.4–1.7× slower (issue 34).
    """
    ratios = []
    for attempt in range(5):
        root = tmp_path / f"powercap{attempt}"
        zone = write_zone(root, "intel-rapl:0", "package-0", 5_000_000)
        monkeypatch.setenv(POWERCAP_ROOT_ENV, str(root))
        writer = start_constant_power_writer(zone, WATTS)
        try:
            done = _cli(str(midsize_float32), "--energy", "rapl", "--json",
                        "--runs", "300", "--warmup", "20",
                        "--energy-window", "0.3", "--energy-windows", "3")
        finally:
            writer.kill()
            writer.wait()
        assert done.exit_code == 0, done.output
        row = json.loads(done.stdout)["rows"][0]
        assert (row["energy_source"], row["energy_measured"]) == ("rapl", True)
        assert row["energy_windows"] == 3 and row["energy_counters"] == "package-0 (intel-rapl:0)"
        # Net is lost in the idle noise: the headline figure is missing, not 0, and says why.
        if row["energy_net_mj"] <= 0:
            assert row["energy_mj"] is None and "idle noise" in row["energy_note"]
        else:
            assert row["energy_mj"] == row["energy_net_mj"]
        # Counting inferences wrong (a batch, a window) would be off by 3× or more; load alone was 1.7×.
        assert 0.5 < row["energy_window_ms_per_inference"] / row["latency_ms_mean"] < 3, row
        # Timed against the writer process, so retried: idle ≈ P (the writer may lag a bit), net ≈ 0
        # (the counter runs at P whether or not we infer: all of it is idle power), gross ≈ P × window time.
        ratios.append({"idle_w": row["energy_idle_w"], "net/gross": row["energy_net_mj"] / row["energy_gross_mj"],
                       "gross/(P x window ms)": row["energy_gross_mj"] / (WATTS * row["energy_window_ms_per_inference"])})
        if _holds(ratios[-1]):
            break
    assert _holds(ratios[-1]), f"per run: {ratios}"


def _holds(run: dict) -> bool:
    return (run["idle_w"] == pytest.approx(WATTS, rel=0.2) and abs(run["net/gross"]) < 0.25
            and abs(run["gross/(P x window ms)"] - 1) <= 0.25)


def test_rapl_asked_for_on_a_machine_without_it_is_exit_2_with_the_reason(
        tiny_tflite_models, no_rapl):
    done = _cli(str(tiny_tflite_models.int8), "--energy", "rapl", "--runs", "5")
    assert done.exit_code == 2
    assert "does not exist" in done.stderr and "--energy estimate" in done.stderr
    assert "Traceback" not in done.output


def test_auto_without_a_meter_prints_the_estimate_and_a_note_per_row(tiny_tflite_models,
                                                                     no_rapl):
    m = tiny_tflite_models
    done = _cli(str(m.float32), str(m.int8), "--runs", "5", "--json")
    assert done.exit_code == 0, done.output
    rows = json.loads(done.stdout)["rows"]
    assert [(r["energy_source"], r["energy_scope"], r["energy_measured"]) for r in rows] == [
        ("estimate", "estimate", False)] * 2
    # A note is its "note:" line and the indented sentences under it.
    notes = [" ".join(block.split()) for block in done.stderr.split("note: ")[1:]]
    # Each row's note names its own power × latency, so there is one per row.
    assert 1 <= len(notes) <= 2 and all("no meter could be read" in n for n in notes)
    for tried in ("rapl:", "hwmon:", "rpi-pmic:"):
        assert tried in notes[0]
    f32, i8 = rows
    assert i8["energy_model45_mj"] < f32["energy_model45_mj"]


def test_every_row_carries_the_derived_metrics(tiny_tflite_models, no_rapl):
    row = profile_tflite(tiny_tflite_models.int8, runs=20, warmup=2, energy="model45")
    assert row.energy_source == "model45" and not row.energy_measured
    assert row.edp_mj_ms == pytest.approx(row.energy_mj * row.latency_ms_mean)
    assert row.extra["inferences_per_j"] == pytest.approx(1e3 / row.energy_mj)
    assert row.extra["ops_per_j"] == pytest.approx(2 * row.macs / (row.energy_mj * 1e-3))
    assert 0 < row.extra["dram_energy_mj"] < row.energy_mj
    assert row.extra["energy_model45_mj"] == row.energy_mj
    assert row.extra["energy_gross_mj"] is None  # nothing was measured
    json.dumps(row.to_dict())


def test_breakdown_table_lists_each_layer_and_sums_to_the_total(tiny_tflite_models, no_rapl):
    done = _cli(str(tiny_tflite_models.int8), "--runs", "5", "--energy", "model45",
                "--breakdown")
    assert done.exit_code == 0, done.output
    assert "Energy breakdown of tiny_int8" in done.stdout and "an estimate" in done.stdout
    lines = done.stdout.splitlines()
    assert any(line.split()[1:2] == ["CONV_2D"] for line in lines if line.split())
    total_line = next(line for line in lines if line.split()[:1] == ["total"])
    total_uj = float(total_line.split()[-2])
    row = json.loads(_cli(str(tiny_tflite_models.int8), "--runs", "5", "--energy", "model45",
                          "--json", "--breakdown").stdout)["rows"][0]
    assert total_uj == pytest.approx(row["energy_mj"] * 1e3, rel=1e-3)
    assert sum(op["total_uj"] for op in row["energy_breakdown"]) == pytest.approx(
        row["energy_mj"] * 1e3)


def test_energy_off_leaves_energy_missing(tiny_tflite_models):
    done = _cli(str(tiny_tflite_models.int8), "--runs", "5", "--energy", "off", "--json")
    row = json.loads(done.stdout)["rows"][0]
    assert row["energy_mj"] is None and row["energy_source"] is None
    assert row["edp_mj_ms"] is None and row["ops_per_j"] is None


def test_no_litert_info_line_reaches_the_terminal(tiny_tflite_models, no_rapl, capfd):
    profile_tflite(tiny_tflite_models.float32, runs=5, warmup=0, energy="model45")
    assert "XNNPACK" not in capfd.readouterr().err


def test_root_only_counters_fall_back_in_auto_and_fail_clearly_in_rapl(tiny_tflite_models,
                                                                        tmp_path):
    write_zone(tmp_path, "intel-rapl:0", "package-0")
    counter = PowercapCounter(Powercap(tmp_path, reader=denying_reader("energy_uj")))
    auto = measure_energy(tiny_tflite_models.int8, "auto", counter=counter, window_s=0.05)
    assert (auto.source, auto.measured) == ("estimate", False)
    assert "root-only" in auto.note and "CVE-2020-8694" in auto.note
    with pytest.raises(RaplPermissionError, match="chmod a\\+r"):
        measure_energy(tiny_tflite_models.int8, "rapl", counter=counter, window_s=0.05)
