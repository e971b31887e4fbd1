"""Energy of one pipeline stage (training included): a meter when readable, else a CPU-time estimate.

Seeds 000 and 001 report training energy next to inference energy. A stage runs for seconds to
hours, so the meter (RAPL, hwmon, the Pi 5 PMIC: the same ones `edgeopt profile` uses, tried in
the same order) is read from a background thread every `interval_s` seconds and the deltas
summed, each corrected for one wraparound: a counter wraps after some minutes at full power, and
summing short intervals never misses a wrap. The figure is everything the meter covers during
the stage — other processes and idle power included — and is labelled so.

Without a meter the estimate is CPU time (this process and its waited-for children,
`os.times()`) × the power of one busy core, from the same source as the inference estimate
(`estimate.thread_power`: the user's `profile.cpu_watts`, else CodeCarbon's table, else
CodeCarbon's per-thread default), labelled "cpu_time_estimate" and never reported as measured.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Sequence

from edgeopt.profile.energy.estimate import ThreadPower, check_cpu_watts, thread_power
from edgeopt.profile.energy.meter import EnergyCounter, EnergyUnavailableError

DEFAULT_INTERVAL_S = 5.0


@dataclass(frozen=True)
class StageEnergy:
    """Energy one stage used.

    Attributes:
        joules: Energy in J, None when nothing could be measured or estimated.
        source: The meter ("rapl", "hwmon", "rpi-pmic", ...) or "cpu_time_estimate".
        scope: What the figure covers ("cpu-package", "board-input", ..., "cpu-time").
        measured: True only for a meter.
        seconds: Wall time of the stage.
        cpu_seconds: CPU time of this process and its children during the stage.
        note: How the figure was obtained, in one line.
    """

    joules: float | None
    source: str
    scope: str
    measured: bool
    seconds: float
    cpu_seconds: float
    note: str

    def info(self) -> dict:
        """The keys a step's info and row carry."""
        return {"stage_energy_j": self.joules, "stage_energy_source": self.source,
                "stage_energy_scope": self.scope, "stage_energy_measured": self.measured,
                "stage_cpu_seconds": self.cpu_seconds, "stage_energy_note": self.note}


class StageEnergyMeter:
    """Context manager measuring the energy of the code inside it.

    Args:
        cpu_watts: The CPU package's power (TDP) in W for the estimate; None: look it up.
        meters: Meter names to try in order ("rapl", "hwmon", "rpi-pmic"); () for the estimate.
        rail: Rail(s) of a power-sensor meter (see `measure_energy`).
        counter: A ready meter (tests); replaces `meters`.
        interval_s: Sampling period of the meter.
        power: The per-core power to use (tests); default `thread_power(1, cpu_watts)`.

    Example:
        >>> with StageEnergyMeter(cpu_watts=65) as meter:  # doctest: +SKIP
        ...     model.fit(x, y, epochs=3)
        >>> meter.result.joules, meter.result.source  # doctest: +SKIP
        (512.4, 'cpu_time_estimate')
    """

    def __init__(self, cpu_watts: float | None = None, *, meters: Sequence[str] = ("rapl",),
                 rail: str | None = None, counter: EnergyCounter | None = None,
                 interval_s: float = DEFAULT_INTERVAL_S, power: ThreadPower | None = None):
        self.cpu_watts = check_cpu_watts(cpu_watts)
        self.meters = tuple(meters)
        self.rail = rail
        self.interval_s = interval_s
        self._counter = counter
        self._power = power
        self._problems: list[str] = []  # why meters were passed over, or why one failed
        self._failed = False  # the open meter failed while sampling
        self._total_uj = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.result: StageEnergy | None = None

    def __enter__(self) -> "StageEnergyMeter":
        self._wall0 = time.perf_counter()
        self._cpu0 = _cpu_seconds()
        counter = self._counter if self._counter is not None else self._open()
        if counter is not None:
            try:
                self._token = counter.start()
            except EnergyUnavailableError as err:
                self._problems.append(f"{counter.source}: {err.short}")
                _close(counter)
                counter = None
        self._counter = counter
        if counter is not None:
            self._thread = threading.Thread(target=self._sample_loop, daemon=True,
                                            name="edgeopt-stage-energy")
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        counter, failed = self._counter, False
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            failed = not self._sample()  # the last partial interval
            if not failed:
                try:
                    getattr(counter, "check", lambda: None)()
                except EnergyUnavailableError as err:
                    self._problems.append(f"{counter.source}: {err.short}")
                    failed = True
            _close(counter)
        seconds = time.perf_counter() - self._wall0
        cpu = _cpu_seconds() - self._cpu0
        if counter is not None and not failed and self._total_uj <= 0:
            self._problems.append(f"{counter.source}: the meter did not move during the stage")
            failed = True
        if counter is not None and not failed:
            self.result = StageEnergy(
                self._total_uj / 1e6, counter.source, getattr(counter, "scope", "cpu-package"),
                True, seconds, cpu,
                f"{counter.source} {counter.describe()} during the stage: everything it covers, "
                "other processes and idle power included"
                + (f" (passed over: {'; '.join(self._problems)})" if self._problems else ""))
            return
        power = self._power or thread_power(1, self.cpu_watts)
        why = f"; no meter ({'; '.join(self._problems)})" if self._problems else ""
        self.result = StageEnergy(
            cpu * power.per_core_w, "cpu_time_estimate", "cpu-time", False, seconds, cpu,
            f"estimate: {cpu:.1f} CPU-seconds × {power.per_core_w:.3g} W per core "
            f"({power.source}: {power.detail}){why}")

    def _open(self) -> EnergyCounter | None:
        from edgeopt.profile.energy import open_meter

        for name in self.meters:
            try:
                return open_meter(name, self.rail)
            except EnergyUnavailableError as err:
                self._problems.append(f"{name}: {err.short}")
        return None

    def _sample_loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            if not self._sample():
                return

    def _sample(self) -> bool:
        with self._lock:
            if self._failed:
                return False
            try:
                delta = self._counter.stop(self._token)
                self._token = self._counter.start()
            except EnergyUnavailableError as err:
                self._problems.append(f"{self._counter.source}: {err.short}")
                self._failed = True
                return False
            if delta.package_uj is None:
                if (delta.dropped or "").endswith("did not move"):
                    # No tick in this interval (a short last one, or a test's coarse counter);
                    # a meter frozen for the whole stage is caught by the zero total.
                    return True
                self._problems.append(f"{self._counter.source}: a sample was dropped: "
                                      f"{delta.dropped}")
                self._failed = True
                return False
            self._total_uj += delta.package_uj
            return True


def stage_meter_for(energy: str, cpu_watts: float | None,
                    rail: str | None) -> StageEnergyMeter | None:
    """Which stage meter a recipe's `profile.energy` asks for (None: "off" records none).

    A named meter is tried alone, "auto" tries the inference chain, "estimate" and "model45"
    use the CPU-time estimate (the 45 nm model prices inference graphs, not training).
    """
    from edgeopt.profile.energy import AUTO_METERS, METERS

    if energy == "off":
        return None
    meters = (energy,) if energy in METERS else AUTO_METERS if energy == "auto" else ()
    if rail is not None:
        meters = tuple(m for m in meters if m not in ("rapl", "pyrapl"))
    return StageEnergyMeter(cpu_watts, meters=meters, rail=rail)


def _close(counter: EnergyCounter | None) -> None:
    close = getattr(counter, "close", None)
    if close is not None:
        close()


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system
