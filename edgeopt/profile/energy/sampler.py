"""Power sensors made into energy counters: sampled by a background thread, integrated over time.

A power sensor (hwmon `powerN_input`, INA3221 V × I, Jetson IIO `in_powerN_input`, the Pi 5
PMIC) says how many watts flow now, not how many joules have flowed. `SampledPowerCounter`
reads it every `period_s` seconds from a daemon thread and integrates the readings with the
trapezoid rule into a running energy total. `start()` / `stop()` read that total (extrapolated
from the last reading to the present instant), so a sensor plugs into the same windowed protocol
as a RAPL counter (`rapl_meter.measure_windows`: idle windows measured and subtracted, medians,
spread) and into the stage meter.

A sensor that cannot be read stops the counter with its error (the next `stop()` raises it);
one whose raw readings never change across the whole measurement is reported frozen by
`check()` — a real sensor always jitters by at least one step — never as a constant power.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

from edgeopt.profile.energy.meter import EnergyDelta, EnergyUnavailableError, MeterFrozenError

MIN_SAMPLES_PER_WINDOW = 100  # DESIGN.md §4: a window long enough for a hundred readings

# One reading: (watts, raw values). The raw values are what the files held: a frozen sensor
# repeats them exactly, while the watts could coincide by chance.
PowerReading = tuple[float, tuple]


class SampledPowerCounter:
    """An `EnergyCounter` integrating a power sensor sampled at a fixed period.

    Args:
        read: Returns one `PowerReading`; raises `EnergyUnavailableError` when it cannot.
        source: The row's `energy_source` ("hwmon", "rpi-pmic").
        scope: The row's `energy_scope` ("board-input", "rail", "regulator-rails").
        description: What is summed, e.g. "ina3221 VDD_IN (in1 × curr1)".
        files: The files or command read, for the frozen message.
        period_s: Sampling period.
        clock: Time source (tests).

    Raises:
        EnergyUnavailableError: The first reading fails (so a missing or root-only sensor is
            reported before anything is measured).

    Example:
        >>> counter = SampledPowerCounter(lambda: (5.0, (5000,)), "hwmon", "rail", "x", ["f"])
        >>> token = counter.start(); time.sleep(0.2)
        >>> 0.9e6 < counter.stop(token).package_uj < 1.1e6  # about 5 W x 0.2 s, in µJ
        True
        >>> counter.close()
    """

    def __init__(self, read: Callable[[], PowerReading], source: str, scope: str,
                 description: str, files: list[str], *, period_s: float = 0.01,
                 clock: Callable[[], float] = time.perf_counter):
        self._read, self.source, self.scope = read, source, scope
        self._description, self._files = description, files
        self.period_s = period_s
        self._clock = clock
        self._lock = threading.Lock()
        watts, raw = read()  # fails here, before any window, if the sensor cannot be read
        self._first_raw, self._changed = raw, False
        self._last_w, self._last_t = watts, clock()
        self._energy_uj = 0.0
        self._samples = 1
        self._shortest_window: int | None = None
        self._error: EnergyUnavailableError | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True,
                                        name=f"edgeopt-{source}-sampler")
        self._thread.start()

    # -- EnergyCounter -------------------------------------------------------------------

    def start(self) -> object:
        return self._now()

    def stop(self, token: object) -> EnergyDelta:
        t0, e0, n0 = token
        t1, e1, n1 = self._now()
        samples = n1 - n0
        if self._shortest_window is None or samples < self._shortest_window:
            self._shortest_window = samples
        return EnergyDelta(int(round(e1 - e0)), None, t1 - t0)

    def describe(self) -> str:
        return self._description

    def check(self) -> None:
        """Raise `MeterFrozenError` when no reading differed from the first one."""
        if self._error is not None:
            raise self._error
        if not self._changed:
            files = ", ".join(self._files)
            raise MeterFrozenError(
                f"The {self.source} sensor ({self._description}) gave the very same reading "
                f"{self._samples} times in a row ({files}): it is exposed but not updated (a "
                "driver that stopped sampling, or a copied sysfs tree). A real sensor jitters. "
                "Check the driver (dmesg), or use `--energy estimate` for the labelled time × "
                "power estimate.",
                short=f"the {self.source} sensor does not change ({files})",
            )

    def notes(self) -> list[str]:
        if self._shortest_window is not None and self._shortest_window < MIN_SAMPLES_PER_WINDOW:
            return [f"{self.source}: only {self._shortest_window} sensor readings in the shortest "
                    f"window (sampled every {self.period_s * 1e3:g} ms); the protocol wants "
                    f">= {MIN_SAMPLES_PER_WINDOW}: use longer windows (--energy-window)"]
        return []

    def close(self) -> None:
        """Stop the sampling thread (idempotent)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    # -- sampling ------------------------------------------------------------------------

    def _now(self) -> tuple[float, float, int]:
        """(time, energy so far in µJ extrapolated with the last power, readings so far)."""
        with self._lock:
            if self._error is not None:
                raise self._error
            now = self._clock()
            return now, self._energy_uj + self._last_w * (now - self._last_t) * 1e6, self._samples

    def _loop(self) -> None:
        while not self._stop.wait(self.period_s):
            try:
                watts, raw = self._read()
            except EnergyUnavailableError as err:
                with self._lock:
                    self._error = err
                return
            with self._lock:
                now = self._clock()
                self._energy_uj += (self._last_w + watts) / 2 * (now - self._last_t) * 1e6
                self._last_w, self._last_t = watts, now
                self._samples += 1
                self._changed = self._changed or raw != self._first_raw
