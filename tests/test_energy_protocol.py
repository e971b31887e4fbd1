"""The RAPL measurement protocol: idle subtracted, repeated windows, medians, spread, drops."""

from __future__ import annotations

import time

import pytest
from energy_fakes import write_zone

from edgeopt.common.errors import EdgeoptError
from edgeopt.profile.energy.powercap import (EnergyDelta, EnergyUnavailableError, Powercap,
                                             RaplFrozenError)
from edgeopt.profile.energy.rapl_meter import PowercapCounter, measure_windows

WINDOW_S = 0.05


class SyntheticCounter:
    """Package energy = idle_w × time + uj_per_inference × inferences, like an ideal chip."""

    source = "rapl"

    def __init__(self, idle_w: float, uj_per_inference: float, *, drop: int = 0,
                 jitter: tuple[float, ...] = ()):
        self.idle_w, self.uj = idle_w, uj_per_inference
        self.inferences = 0
        self.drop = drop  # the first `drop` windows come back dropped
        self.jitter = list(jitter)  # per active window factor on the inference energy

    def invoke(self) -> None:
        self.inferences += 1

    def start(self):
        return time.perf_counter(), self.inferences

    def stop(self, token) -> EnergyDelta:
        t0, n0 = token
        seconds = time.perf_counter() - t0
        n = self.inferences - n0
        if self.drop:
            self.drop -= 1
            return EnergyDelta(None, None, seconds, "intel-rapl:0 (package-0) wrapped and "
                                                    "max_energy_range_uj is unreadable")
        factor = self.jitter.pop(0) if (n and self.jitter) else 1.0
        energy = self.idle_w * 1e6 * seconds + self.uj * n * factor
        return EnergyDelta(round(energy), None, seconds)

    def describe(self) -> str:
        return "synthetic package"


def test_net_energy_is_the_inference_energy_above_idle():
    counter = SyntheticCounter(idle_w=5.0, uj_per_inference=40.0)
    result = measure_windows(counter, counter.invoke, window_s=WINDOW_S, windows=3)
    assert result.net_mj == pytest.approx(0.040, rel=0.02)
    # Gross includes the idle power spread over the inferences of each window.
    active = [(s, n) for kind, s, n, _ in result.raw_windows if kind == "inference"]
    assert len(active) == 3 and sum(n for _, n in active) == result.inferences
    gross = sorted(0.040 + 5.0 * s / n * 1e3 for s, n in active)
    assert result.gross_mj == pytest.approx(gross[1], rel=0.01)
    # The windows' time per inference (row key energy_window_ms_per_inference): the median over them.
    assert result.ms_per_inference == pytest.approx(sorted(1e3 * s / n for s, n in active)[1])
    assert result.idle_w == pytest.approx(5.0, rel=0.01)
    assert result.active_w > result.idle_w
    assert result.windows == 3 and result.dropped == () and result.spread < 0.10
    assert result.source == "rapl" and result.counters == "synthetic package"


def test_short_windows_and_a_noisy_spread_are_flagged():
    counter = SyntheticCounter(idle_w=0.5, uj_per_inference=40.0, jitter=(1.0, 1.5, 0.6))
    result = measure_windows(counter, counter.invoke, window_s=WINDOW_S, windows=3)
    assert result.spread > 0.10 and result.noisy
    notes = " ".join(result.notes)
    assert "spread" in notes and "> 10%" in notes
    assert "shorter than the protocol's 1 s" in notes


def test_dropped_windows_are_retried_and_counted():
    counter = SyntheticCounter(idle_w=1.0, uj_per_inference=10.0, drop=2)
    result = measure_windows(counter, counter.invoke, window_s=WINDOW_S, windows=3)
    assert result.windows == 3 and len(result.dropped) == 2
    assert "wrapped" in result.dropped[0]
    assert any("2 window(s) dropped" in n for n in result.notes)
    assert result.net_mj == pytest.approx(0.010, rel=0.02)


def test_windows_that_keep_dropping_are_an_error_not_a_figure():
    counter = SyntheticCounter(idle_w=1.0, uj_per_inference=10.0, drop=100)
    with pytest.raises(EnergyUnavailableError, match="Only 0 of 3 idle windows"):
        measure_windows(counter, counter.invoke, window_s=0.01, windows=3)


def test_a_frozen_counter_is_reported_as_frozen(tmp_path):
    write_zone(tmp_path, "intel-rapl:0", "package-0", 123_456)  # nobody advances it
    counter = PowercapCounter(Powercap(tmp_path))
    with pytest.raises(RaplFrozenError) as info:
        measure_windows(counter, lambda: None, window_s=0.01, windows=3)
    assert "did not move" in str(info.value) and "--energy estimate" in str(info.value)
    assert "does not move" in info.value.short


@pytest.mark.parametrize("kwargs, key", [({"windows": 2}, "energy_windows"),
                                         ({"windows": 3.0}, "energy_windows"),
                                         ({"window_s": 0}, "energy_window_s"),
                                         ({"window_s": -1.0}, "energy_window_s")])
def test_fewer_than_three_windows_or_no_window_length_are_user_errors(kwargs, key):
    counter = SyntheticCounter(idle_w=1.0, uj_per_inference=1.0)
    with pytest.raises(EdgeoptError, match=f"{key}.*Received"):
        measure_windows(counter, counter.invoke, **{"window_s": WINDOW_S, "windows": 3, **kwargs})


def test_inference_windows_are_back_to_back_and_fill_the_window():
    counter = SyntheticCounter(idle_w=0.5, uj_per_inference=1.0)
    started = time.perf_counter()
    result = measure_windows(counter, counter.invoke, window_s=WINDOW_S, windows=3)
    elapsed = time.perf_counter() - started
    # warm-up (half a window) + 3 idle + 3 inference windows: never shorter. The upper bound only
    # catches a window that does not end; a busy machine may deschedule the loop for seconds.
    assert 6.5 * WINDOW_S <= elapsed < 6.5 * WINDOW_S + 30.0
    assert result.inferences > 100  # the loop does nothing but invoke


def fake_snapshots(others_per_s: float, cpus: int = 2):
    """/proc/stat as if other processes kept `others_per_s` CPU-seconds busy per second of wall time."""
    from edgeopt.profile.energy.busy import CpuSnapshot

    ticks = iter(range(10**6))
    return lambda *args, **kwargs: (lambda i: CpuSnapshot(i * (others_per_s + 0.1), i * 0.1, float(i), cpus))(
        next(ticks))


def test_each_window_records_the_share_of_the_cpus_other_processes_used():
    from edgeopt.profile.energy.busy import LoadProbe

    counter = SyntheticCounter(idle_w=5.0, uj_per_inference=40.0)
    result = measure_windows(counter, counter.invoke, window_s=WINDOW_S, windows=3,
                             load_probe=LoadProbe(fake_snapshots(0.8)))
    assert result.others_cpu_share == pytest.approx(0.4)  # 0.8 CPU-seconds per second of 2 CPUs
    quiet = measure_windows(counter, counter.invoke, window_s=WINDOW_S, windows=3,
                            load_probe=LoadProbe(fake_snapshots(0.0)))
    assert quiet.others_cpu_share == 0.0


def test_a_meter_on_a_busy_machine_gives_a_note_instead_of_a_figure(tiny_tflite_models, monkeypatch):
    from edgeopt.profile.energy import measure_energy

    counter = SyntheticCounter(idle_w=5.0, uj_per_inference=40.0)
    monkeypatch.setattr("edgeopt.profile.energy.busy.cpu_snapshot", fake_snapshots(1.0))
    busy = measure_energy(tiny_tflite_models.int8, "rapl", counter=counter, window_s=WINDOW_S)
    assert busy.measured and busy.energy_mj is None and busy.gross_mj > 0
    assert busy.others_cpu_share == pytest.approx(0.5)
    assert "other processes kept 50%" in busy.note and "--energy estimate" in busy.note
    monkeypatch.setattr("edgeopt.profile.energy.busy.cpu_snapshot", fake_snapshots(0.05))
    quiet = measure_energy(tiny_tflite_models.int8, "rapl", counter=counter, window_s=WINDOW_S)
    # (the synthetic counter bills no inference of the real interpreter: net is idle noise, said so)
    assert quiet.others_cpu_share == pytest.approx(0.025) and "other processes kept" not in (quiet.note or "")


def test_the_machine_share_reads_proc_stat_where_there_is_one(tmp_path):
    from edgeopt.profile.energy.busy import others_share, read_proc_stat

    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 50 800 10 5 5 40 0 0\ncpu0 50 0 25 400 5 2 3 20 0 0\n"
                    "cpu1 50 0 25 400 5 3 2 20 0 0\nintr 1\n")
    snap = read_proc_stat(stat)
    assert snap.cpus == 2 and snap.machine_busy_s * 100 == pytest.approx(200)  # user+nice+system+irq+softirq+steal
    assert read_proc_stat(tmp_path / "missing") is None
    assert others_share(snap, None) is None
