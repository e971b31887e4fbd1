"""The measurement protocol that makes a meter's figure mean something (DESIGN.md §4).

RAPL counters tick about once a millisecond and count the whole package, so one inference cannot
be measured on its own. Instead:

1. warm up (caches, XNNPACK packing) and time a few invokes to size the inner loop;
2. measure idle power: `windows` windows of `window_s` seconds with this process asleep;
3. measure `windows` windows of `window_s` seconds of back-to-back inferences;
4. per window: gross energy per inference = package energy / inferences, net = (package energy
   − idle power × window time) / inferences; report the medians, and the spread (sample
   standard deviation / median of the gross values), with a warning above 10 %.

A window whose counter delta had to be dropped (see `powercap.counter_delta_uj`) is retried, up to
twice as many windows as asked for; dropped windows are counted in the result. The latency the
profiler reports is measured in a separate phase, so this loop never distorts it.

Every meter goes through this one protocol: RAPL counters, hwmon energy counters, and power
sensors that `sampler.SampledPowerCounter` integrates into the same start/stop windows.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable

from edgeopt.common.errors import EdgeoptError
from edgeopt.profile.energy.busy import LoadProbe
from edgeopt.profile.energy.meter import (EnergyCounter, EnergyDelta, EnergyUnavailableError,
                                          MeterFrozenError)
from edgeopt.profile.energy.powercap import Powercap
from edgeopt.profile.runner import NOISY_SPREAD

MIN_WINDOWS = 3  # the protocol's floor: one window says nothing about its own noise
PROTOCOL_WINDOW_S = 1.0  # shorter windows are allowed (tests) but flagged in the note
_CLOCK_CHECK_S = 0.005  # the inner loop reads the clock about this often


@dataclass
class PowercapCounter:
    """The protocol's view of edgeopt's own powercap reader.

    Example:
        >>> counter = PowercapCounter(Powercap())  # doctest: +SKIP
    """

    powercap: Powercap
    source: str = "rapl"
    scope: str = "cpu-package"

    def start(self) -> object:
        return self.powercap.read()

    def stop(self, token: object) -> EnergyDelta:
        return self.powercap.delta(token, self.powercap.read())

    def describe(self) -> str:
        return self.powercap.describe()


@dataclass(frozen=True)
class WindowedEnergy:
    """Energy of one inference measured over repeated windows.

    Attributes:
        source: The meter ("rapl", "pyrapl", "hwmon", "rpi-pmic").
        scope: What the meter covers ("cpu-package", "board-input", "rail", ...).
        counters: Which counters were summed.
        gross_mj: Median package energy per inference, idle included.
        net_mj: Median package energy per inference above idle power (can be ≤ 0 when the
            inference is lost in the idle noise).
        dram_mj: Median dram energy per inference (gross), None without a dram counter.
        idle_w: Median idle package power.
        active_w: Median package power while inferring.
        spread: Sample standard deviation / median of the per-window gross energies.
        windows: Windows kept (idle and active each).
        dropped: Windows dropped and retried, with the reasons.
        window_s: Asked window length.
        inferences: Inferences over all kept active windows.
        notes: Warnings a user should read (noise, short windows, dropped samples).
        raw_windows: Every kept window as (kind "idle"/"inference", seconds, inferences,
            package µJ), in order: the raw samples behind the medians.
        others_cpu_share: Median share of every CPU that other processes kept busy over the
            kept windows (`busy.others_share`), None where it cannot be read.
    """

    source: str
    scope: str
    counters: str
    gross_mj: float
    net_mj: float
    dram_mj: float | None
    idle_w: float
    active_w: float
    spread: float | None
    windows: int
    dropped: tuple[str, ...]
    window_s: float
    inferences: int
    notes: tuple[str, ...]
    raw_windows: tuple[tuple[str, float, int, int], ...] = ()
    others_cpu_share: float | None = None

    @property
    def noisy(self) -> bool:
        return self.spread is not None and self.spread > NOISY_SPREAD

    @property
    def ms_per_inference(self) -> float | None:
        """Median wall time per inference over the kept inference windows, the time the gross
        energy was spread over (like `gross_mj`, a median; on a busy machine it can exceed the
        timing rounds' latency)."""
        per_window = [1e3 * s / n for kind, s, n, _ in self.raw_windows if kind == "inference" and n]
        return statistics.median(per_window) if per_window else None


def measure_windows(counter: EnergyCounter, invoke: Callable[[], object], *,
                    window_s: float = PROTOCOL_WINDOW_S, windows: int = MIN_WINDOWS,
                    warmup_s: float | None = None,
                    sleep: Callable[[float], None] = time.sleep,
                    load_probe: LoadProbe | None = None) -> WindowedEnergy:
    """Run the protocol: warm-up, idle windows, inference windows; medians and spread.

    Args:
        counter: The energy backend.
        invoke: One inference (inputs already set).
        window_s: Length of each idle and inference window in seconds (≥ 1 s for real
            measurements; RAPL ticks about every millisecond).
        windows: Idle windows and inference windows to keep (≥ 3).
        warmup_s: Untimed inferences first; default half a window, at most 1 s.
        sleep: How to idle (tests may pass a stub).
        load_probe: Measures other processes' CPU share over each window (default /proc/stat).

    Returns:
        A `WindowedEnergy` in mJ and W.

    Raises:
        EdgeoptError: `window_s` or `windows` is out of range.
        MeterFrozenError: The meter did not move in any window (or its `check()` says so).
        EnergyUnavailableError: Every window was dropped for another reason.
        RaplPermissionError: The counter became unreadable.

    Example:
        >>> counter = PowercapCounter(Powercap())  # doctest: +SKIP
        >>> result = measure_windows(counter, interpreter.invoke)  # doctest: +SKIP
        >>> result.net_mj, result.spread  # doctest: +SKIP
        (0.041, 0.03)
    """
    if not isinstance(windows, int) or isinstance(windows, bool) or windows < MIN_WINDOWS:
        raise EdgeoptError(f"`energy_windows` must be an integer >= {MIN_WINDOWS} (the "
                           "protocol repeats windows to see their spread). "
                           f"Received: energy_windows={windows!r}")
    if not isinstance(window_s, (int, float)) or isinstance(window_s, bool) or not window_s > 0:
        raise EdgeoptError(f"`energy_window_s` must be a number of seconds > 0. "
                           f"Received: energy_window_s={window_s!r}")
    warmup_s = min(window_s / 2, 1.0) if warmup_s is None else warmup_s
    batch = _warm_up_and_size_batch(invoke, warmup_s)

    dropped: list[str] = []
    probe = load_probe or LoadProbe()
    shares: list[float] = []
    idle = _collect(counter, windows, dropped, "idle",
                    lambda: (sleep(window_s), 0)[1], probe, shares)
    idle_w = statistics.median(d.package_uj / d.seconds for d, _ in idle) / 1e6

    def run_window() -> int:
        done = 0
        clock = time.perf_counter
        end = clock() + window_s
        while clock() < end:
            for _ in range(batch):
                invoke()
            done += batch
        return done

    active = _collect(counter, windows, dropped, "inference", run_window, probe, shares)
    check = getattr(counter, "check", None)
    if check is not None:
        check()  # a power sensor that never changed is frozen, however its windows look
    gross = [d.package_uj / n / 1e3 for d, n in active]  # µJ per inference -> mJ
    net = [(d.package_uj - idle_w * 1e6 * d.seconds) / n / 1e3 for d, n in active]
    drams = [d.dram_uj / n / 1e3 for d, n in active if d.dram_uj is not None]
    gross_mj = statistics.median(gross)
    spread = statistics.stdev(gross) / gross_mj if len(gross) > 1 and gross_mj > 0 else None

    notes = []
    if spread is not None and spread > NOISY_SPREAD:
        notes.append(f"energy spread {spread:.0%} > {NOISY_SPREAD:.0%} across windows: the "
                     "machine is busy or the windows are too short; rerun on a quiet machine or "
                     "with longer windows")
    if window_s < PROTOCOL_WINDOW_S:
        notes.append(f"windows of {window_s:g} s are shorter than the protocol's "
                     f"{PROTOCOL_WINDOW_S:g} s: meters tick every ms or slower, expect more noise")
    if dropped:
        notes.append(f"{len(dropped)} window(s) dropped and retried ({dropped[0]})")
    notes += getattr(counter, "notes", lambda: [])()  # e.g. too few sensor samples per window
    return WindowedEnergy(
        source=counter.source,
        scope=getattr(counter, "scope", "cpu-package"),
        counters=counter.describe(),
        gross_mj=gross_mj,
        net_mj=statistics.median(net),
        dram_mj=statistics.median(drams) if len(drams) == len(active) else None,
        idle_w=idle_w,
        active_w=statistics.median(d.package_uj / d.seconds for d, _ in active) / 1e6,
        spread=spread,
        windows=windows,
        dropped=tuple(dropped),
        window_s=float(window_s),
        inferences=sum(n for _, n in active),
        notes=tuple(notes),
        raw_windows=tuple((kind, d.seconds, n, d.package_uj)
                          for kind, kept in (("idle", idle), ("inference", active))
                          for d, n in kept),
        others_cpu_share=statistics.median(shares) if shares else None,
    )


def _warm_up_and_size_batch(invoke: Callable[[], object], warmup_s: float) -> int:
    """Run untimed inferences; return how many to run between two clock reads."""
    clock = time.perf_counter
    start = clock()
    n = 0
    while True:
        invoke()
        n += 1
        elapsed = clock() - start
        if elapsed >= warmup_s and n >= 3:
            break
    per_invoke = elapsed / n
    return max(1, int(_CLOCK_CHECK_S / per_invoke)) if per_invoke > 0 else 1


def _collect(counter: EnergyCounter, wanted: int, dropped: list[str], what: str,
             body: Callable[[], int], probe: LoadProbe, shares: list[float]) -> list[tuple[EnergyDelta, int]]:
    """Run `body` inside counter windows until `wanted` are kept or 2×wanted were tried.

    Each kept window's share of the CPUs that other processes used is appended to `shares`.
    """
    kept: list[tuple[EnergyDelta, int]] = []
    reasons: list[str] = []
    for _ in range(2 * wanted):
        load = probe.start()
        token = counter.start()
        n = body()
        delta = counter.stop(token)
        share = probe.stop(load)
        if delta.package_uj is None or delta.package_uj <= 0 or delta.seconds <= 0:
            reasons.append(delta.dropped or "no energy")
            dropped.append(f"{what} window: {reasons[-1]}")
            continue
        kept.append((delta, n))
        if share is not None:
            shares.append(share)
        if len(kept) == wanted:
            return kept
    if reasons and all(r.endswith("did not move") for r in reasons):
        raise MeterFrozenError(
            f"The {counter.source} meter ({counter.describe()}) did not move during "
            f"{len(reasons)} {what} windows: energy is exposed but not updated (common in "
            "virtual machines and containers that show the host's sysfs files). Use "
            "`--energy estimate` for the labelled time × power estimate.",
            short=f"the {counter.source} meter does not move ({counter.describe()})",
        )
    raise EnergyUnavailableError(
        f"Only {len(kept)} of {wanted} {what} windows could be kept after {2 * wanted} tries "
        f"({'; '.join(sorted(set(reasons)))}). A figure from fewer windows would be "
        "unreliable. Rerun, or use `--energy estimate` for the labelled time × power estimate.",
        short=f"{what} windows kept dropping ({reasons[0] if reasons else 'no energy'})",
    )
