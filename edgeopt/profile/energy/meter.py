"""What every energy meter shares: its errors, one window's energy, the counter protocol, reads.

A meter is anything the windowed protocol (`rapl_meter.measure_windows`) and the stage meter can
open a window on and close it: RAPL through powercap or pyRAPL, hwmon energy counters, and power
sensors integrated by `sampler.SampledPowerCounter` (hwmon, Jetson IIO, Raspberry Pi 5 PMIC).
Every file read goes through one `Reader` so tests can inject `PermissionError` (chmod does
nothing when tests run as root).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

from edgeopt.common.errors import EdgeoptError

Reader = Callable[[Path], str]


class EnergyUnavailableError(EdgeoptError):
    """Energy cannot be measured here; `short` is a one-line reason for a fallback note."""

    def __init__(self, message: str, short: str | None = None):
        super().__init__(message)
        self.short = short or message.split(". ")[0]


class MeterPermissionError(EnergyUnavailableError):
    """A meter exists but this user may not read it."""


class MeterFrozenError(EnergyUnavailableError):
    """A meter can be read but its value never changes."""


@dataclass(frozen=True)
class EnergyDelta:
    """Energy between two samples.

    Attributes:
        package_uj: The meter's energy (the package for RAPL, the chosen rails for a power
            sensor), None when the sample had to be dropped.
        dram_uj: Summed dram energy, None when there is no dram zone or it was dropped.
        seconds: Time between the two samples.
        dropped: Why `package_uj` is None ("wrapped, max_energy_range_uj unreadable",
            "did not move", ...), else None.
    """

    package_uj: int | None
    dram_uj: int | None
    seconds: float
    dropped: str | None = None


class EnergyCounter(Protocol):
    """What the protocol needs from a meter: start a window, end it, say what it reads.

    `source` is the row's `energy_source` ("rapl", "hwmon", ...) and `scope` its
    `energy_scope` ("cpu-package", "board-input", ...). A counter may also have `check()`,
    called once after all windows, which raises `MeterFrozenError` when the meter never changed.
    """

    source: str
    scope: str

    def start(self) -> object: ...

    def stop(self, token: object) -> EnergyDelta: ...

    def describe(self) -> str: ...


def read_text(path: Path) -> str:
    """The default reader: the file's text (sysfs attributes are small text files)."""
    with open(path, encoding="ascii", errors="replace") as handle:
        return handle.read()


def parse_int(text: str) -> int | None:
    """The integer a sysfs attribute holds, None when it holds none.

    Example:
        >>> parse_int("4200\\n"), parse_int("n/a")
        (4200, None)
    """
    try:
        return int(text.strip())
    except ValueError:
        return None


def delta_with_wrap(before: int | None, after: int | None, wrap_at: int | None,
                    unknown_range: str) -> tuple[int | None, str | None]:
    """Energy between two readings of one cumulative counter, correcting one wraparound.

    Args:
        before: First reading, None if it was unreadable.
        after: Second reading, None if it was unreadable.
        wrap_at: Where the counter wraps; None when unknown.
        unknown_range: The reason given when it wrapped and `wrap_at` is None.

    Returns:
        (delta, None), or (None, reason) when the sample must be dropped. Never a negative or
        zero delta.

    Example:
        >>> delta_with_wrap(9_000, 500, 10_000, "range unknown")
        (1500, None)
    """
    if before is None or after is None:
        return None, "the counter held no integer"
    delta = after - before
    if delta < 0:
        if wrap_at is None:
            return None, unknown_range
        delta += wrap_at
        if delta <= 0:
            return None, f"went backwards by more than its range ({wrap_at})"
    if delta == 0:
        return None, "did not move"
    return delta, None
