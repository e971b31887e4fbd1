"""Energy of one pipeline stage (training included): RAPL when readable, else a CPU-time estimate.

Seeds 000 and 001 report training energy next to inference energy. A stage runs for seconds to
hours, so the RAPL counters are sampled from a background thread every `interval_s` seconds and
the deltas summed, each corrected for one wraparound: a counter wraps after some minutes at full
power, and summing short intervals never misses a wrap. The figure is the whole package's energy
during the stage — other processes and idle power included — and is labelled so.

Without RAPL the estimate is CPU time (this process and its waited-for children, `os.times()`)
× a per-core power the user sets (`profile.cpu_watts_per_core` in a recipe), labelled
"cpu_time_estimate" and never reported as measured.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

from edgeopt.errors import EdgeoptError
from edgeopt.profile.energy.powercap import EnergyUnavailableError, Powercap

DEFAULT_CPU_WATTS_PER_CORE = 15.0  # a busy desktop-class core; users should set their own
DEFAULT_INTERVAL_S = 5.0


@dataclass(frozen=True)
class StageEnergy:
    """Energy one stage used.

    Attributes:
        joules: Energy in J, None when nothing could be measured or estimated.
        source: "rapl" or "cpu_time_estimate".
        measured: True only for RAPL.
        seconds: Wall time of the stage.
        cpu_seconds: CPU time of this process and its children during the stage.
        note: How the figure was obtained, in one line.
    """

    joules: float | None
    source: str
    measured: bool
    seconds: float
    cpu_seconds: float
    note: str

    def info(self) -> dict:
        """The keys a step's info and row carry."""
        return {"stage_energy_j": self.joules, "stage_energy_source": self.source,
                "stage_energy_measured": self.measured, "stage_cpu_seconds": self.cpu_seconds,
                "stage_energy_note": self.note}


class StageEnergyMeter:
    """Context manager measuring the energy of the code inside it.

    Args:
        cpu_watts_per_core: Power of one busy core for the CPU-time estimate.
        use_rapl: Try RAPL first (False: always the estimate).
        powercap: A ready `Powercap` to read (tests); default: discover the system's.
        interval_s: RAPL sampling period.

    Example:
        >>> with StageEnergyMeter(cpu_watts_per_core=12) as meter:  # doctest: +SKIP
        ...     model.fit(x, y, epochs=3)
        >>> meter.result.joules, meter.result.source  # doctest: +SKIP
        (512.4, 'cpu_time_estimate')
    """

    def __init__(self, cpu_watts_per_core: float = DEFAULT_CPU_WATTS_PER_CORE, *,
                 use_rapl: bool = True, powercap: Powercap | None = None,
                 interval_s: float = DEFAULT_INTERVAL_S):
        if not cpu_watts_per_core > 0:
            raise EdgeoptError("`cpu_watts_per_core` must be a power in W > 0. "
                               f"Received: cpu_watts_per_core={cpu_watts_per_core!r}")
        self.cpu_watts_per_core = float(cpu_watts_per_core)
        self.use_rapl = use_rapl
        self.interval_s = interval_s
        self._powercap = powercap
        self._rapl_problem: str | None = None if use_rapl else "not asked for"
        self._total_uj = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.result: StageEnergy | None = None

    def __enter__(self) -> "StageEnergyMeter":
        self._wall0 = time.perf_counter()
        self._cpu0 = _cpu_seconds()
        if self.use_rapl:
            try:
                if self._powercap is None:
                    self._powercap = Powercap()
                self._last = self._powercap.read()
            except EnergyUnavailableError as err:
                self._rapl_problem = err.short
            else:
                self._thread = threading.Thread(target=self._sample_loop, daemon=True,
                                                name="edgeopt-stage-energy")
                self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._sample()  # the last partial interval
        seconds = time.perf_counter() - self._wall0
        cpu = _cpu_seconds() - self._cpu0
        if self._thread is not None and self._rapl_problem is None and self._total_uj <= 0:
            self._rapl_problem = "the package counter did not move during the stage"
        if self._thread is not None and self._rapl_problem is None:
            self.result = StageEnergy(
                self._total_uj / 1e6, "rapl", True, seconds, cpu,
                f"RAPL {self._powercap.describe()} during the stage: the whole package, "
                "other processes and idle power included")
            return
        why = f"; no RAPL ({self._rapl_problem})" if self._rapl_problem else ""
        self.result = StageEnergy(
            cpu * self.cpu_watts_per_core, "cpu_time_estimate", False, seconds, cpu,
            f"estimate: {cpu:.1f} CPU-seconds × {self.cpu_watts_per_core:g} W per core "
            f"(profile.cpu_watts_per_core){why}")

    def _sample_loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            if not self._sample():
                return

    def _sample(self) -> bool:
        if self._rapl_problem is not None:
            return False
        try:
            now = self._powercap.read()
        except EnergyUnavailableError as err:
            self._rapl_problem = err.short
            return False
        delta = self._powercap.delta(self._last, now)
        self._last = now
        if delta.package_uj is None:
            if (delta.dropped or "").endswith("did not move"):
                # No tick in this interval (a short last one, or a test's coarse counter); a
                # counter frozen for the whole stage is caught by the zero total in __exit__.
                return True
            self._rapl_problem = f"a sample was dropped: {delta.dropped}"
            return False
        self._total_uj += delta.package_uj
        return True


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system
