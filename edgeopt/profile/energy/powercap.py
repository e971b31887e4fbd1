"""edgeopt's own reader of the Linux powercap (RAPL) tree: find the zones, read them, subtract.

The tree lives at `/sys/class/powercap` (or wherever `EDGEOPT_POWERCAP_ROOT` says). Each zone is a
folder `intel-rapl:<hex>[:<hex>]` (or `intel-rapl-mmio:<hex>`) holding `name`, `energy_uj` and
`max_energy_range_uj`. What counts (DESIGN.md §4):

- package energy is the sum of the `package-N` zones, once each: a zone the MMIO interface
  (`intel-rapl-mmio`) exposes again, a second zone with the same name, and `package-N-die-M`
  zones that mirror one counter are duplicates, not more packages;
- `dram` zones are summed separately; `core`, `uncore` and `psys` are never added (core and
  uncore are parts of the package, psys is the whole platform and already contains it);
- a counter that went backwards wrapped: add `max_energy_range_uj`; if that is unreadable, or a
  delta is zero (the counter did not move), the sample is dropped — never reported as a negative
  or a zero.

Every file read goes through one `reader` function so tests can inject `PermissionError`
(chmod does nothing when tests run as root).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from edgeopt.profile.energy.meter import (EnergyDelta, EnergyUnavailableError, MeterFrozenError,
                                         MeterPermissionError, Reader, delta_with_wrap,
                                         parse_int, read_text)

__all__ = [  # the shared names are re-exported: older code imports them from here
    "DEFAULT_POWERCAP_ROOT", "POWERCAP_ROOT_ENV", "EnergyDelta", "EnergyUnavailableError",
    "Powercap", "RaplFrozenError", "RaplPermissionError", "Reader", "Sample", "Zone",
    "counter_delta_uj", "permission_message", "powercap_root", "read_text",
]

POWERCAP_ROOT_ENV = "EDGEOPT_POWERCAP_ROOT"
DEFAULT_POWERCAP_ROOT = Path("/sys/class/powercap")

_ZONE_DIR = re.compile(
    r"^intel-rapl(?P<mmio>-mmio)?:(?P<top>[0-9a-fA-F]+)(?::(?P<sub>[0-9a-fA-F]+))?$"
)
# Folder ids are hex (`intel-rapl:%x`), but the kernel writes names in decimal (`package-%d`).
_PACKAGE_NAME = re.compile(r"^package-(?P<pkg>[0-9]+)(?:-die-(?P<die>[0-9]+))?$")
_NOT_SUMMED = {
    "core": "core (cores only: part of the package, never added to it)",
    "uncore": "uncore (graphics/uncore: part of the package, never added to it)",
    "psys": "psys (whole platform: it already contains the package, never added to it)",
}


class RaplPermissionError(MeterPermissionError):
    """The RAPL counters exist but this user may not read them (root-only since Linux 5.10)."""


RaplFrozenError = MeterFrozenError  # the protocol raises it for every meter that never moves


def powercap_root() -> Path:
    """The powercap tree to read: `$EDGEOPT_POWERCAP_ROOT`, else `/sys/class/powercap`.

    Example:
        >>> os.environ[POWERCAP_ROOT_ENV] = "/mnt/host-powercap"
        >>> str(powercap_root())
        '/mnt/host-powercap'
        >>> del os.environ[POWERCAP_ROOT_ENV]
    """
    value = os.environ.get(POWERCAP_ROOT_ENV)
    return Path(value) if value else DEFAULT_POWERCAP_ROOT


def permission_message(path: Path | str) -> str:
    """What to tell a user who may not read a RAPL counter, with the ways to grant access."""
    return (
        f"Permission denied reading {path}. Since Linux 5.10 the RAPL energy counters are "
        "root-only (CVE-2020-8694, the 'Platypus' power side channel). Either run as root "
        "(sudo), or grant read access until the next reboot: "
        "`sudo chmod a+r /sys/class/powercap/intel-rapl:*/energy_uj`, or for good with a udev "
        "rule such as /etc/udev/rules.d/99-rapl.rules: "
        "`SUBSYSTEM==\"powercap\", ACTION==\"add\", RUN+=\"/bin/chgrp power /sys%p/energy_uj\", "
        "RUN+=\"/bin/chmod g+r /sys%p/energy_uj\"` (then add yourself to group `power`). "
        "Only grant it on machines where the side channel is acceptable. "
        "Or use `--energy estimate` for the labelled time × power estimate."
    )


@dataclass(frozen=True)
class Zone:
    """One RAPL zone folder.

    Attributes:
        zone_id: Folder name, e.g. "intel-rapl:0:1" or "intel-rapl-mmio:0".
        path: The folder.
        name: Contents of its `name` file ("package-0", "dram", "core", "psys", ...).
        kind: "package", "dram", "core", "uncore", "psys" or "other".
        mmio: True for the `intel-rapl-mmio` interface.
        package: Package number (from "package-N", or the parent zone's for sub-zones).
        die: Die number of a "package-N-die-M" zone, else None.
        max_energy_range_uj: Value at which `energy_uj` wraps, None when unreadable.
    """

    zone_id: str
    path: Path
    name: str
    kind: str
    mmio: bool
    package: int | None
    die: int | None
    max_energy_range_uj: int | None


@dataclass(frozen=True)
class Sample:
    """Counter values of the zones that are summed, read at one instant.

    Attributes:
        energy_uj: zone_id -> counter value, or None when the file held no integer.
        time_s: `time.perf_counter()` right after the reads.
    """

    energy_uj: dict[str, int | None]
    time_s: float


def counter_delta_uj(before: int | None, after: int | None,
                     max_energy_range_uj: int | None) -> tuple[int | None, str | None]:
    """Energy between two readings of one counter, correcting one wraparound.

    Args:
        before: First reading (µJ), None if it was unreadable.
        after: Second reading (µJ), None if it was unreadable.
        max_energy_range_uj: The counter's range; None when unreadable.

    Returns:
        (delta_uj, None), or (None, reason) when the sample must be dropped: a value was
        unreadable, the counter wrapped and its range is unknown, or it did not move. Never a
        negative or zero delta.

    Example:
        >>> counter_delta_uj(1_000, 4_000, 10_000)
        (3000, None)
        >>> counter_delta_uj(9_000, 500, 10_000)  # wrapped once
        (1500, None)
        >>> counter_delta_uj(9_000, 500, None)
        (None, 'wrapped and max_energy_range_uj is unreadable')
    """
    if before is None or after is None:
        return None, "energy_uj held no integer"
    return delta_with_wrap(before, after, max_energy_range_uj,
                           "wrapped and max_energy_range_uj is unreadable")


@dataclass
class Powercap:
    """The RAPL zones of one powercap tree, deduplicated, ready to sample.

    Args:
        root: The tree; default `powercap_root()`.
        reader: Reads one file's text; tests inject errors through it.

    Raises:
        EnergyUnavailableError: No tree, or no package zone in it.
        RaplPermissionError: A counter exists but may not be read.

    Example:
        >>> rapl = Powercap()  # doctest: +SKIP
        >>> before = rapl.read(); work()  # doctest: +SKIP
        >>> rapl.delta(before, rapl.read()).package_uj  # doctest: +SKIP
        1834221
    """

    root: Path | None = None
    reader: Reader = read_text
    packages: tuple[Zone, ...] = field(init=False)
    drams: tuple[Zone, ...] = field(init=False)
    ignored: tuple[str, ...] = field(init=False)  # "zone_id: why it is not summed"

    def __post_init__(self) -> None:
        self.root = Path(self.root) if self.root is not None else powercap_root()
        zones, ignored = self._discover()
        packages = [z for z in zones if z.kind == "package"]
        drams = [z for z in zones if z.kind == "dram"]
        for zone in zones:
            if zone.kind in _NOT_SUMMED:
                ignored.append(f"{zone.zone_id}: {_NOT_SUMMED[zone.kind]}")
            elif zone.kind == "other":
                ignored.append(f"{zone.zone_id}: unknown zone name {zone.name!r}, not summed")
        packages, dup = _dedupe_interfaces(packages)
        drams, dup_dram = _dedupe_interfaces(drams)
        ignored += dup + dup_dram
        if not packages:
            names = ", ".join(f"{z.zone_id}={z.name}" for z in zones) or "none"
            raise EnergyUnavailableError(
                f"No RAPL package zone under {self.root} (zones found: {names}). Without a "
                "package-N zone there is no CPU energy to read. Use `--energy estimate` for "
                "the labelled time × power estimate.",
                short=f"no RAPL package zone under {self.root}",
            )
        packages, mirrored = self._dedupe_mirrored_dies(packages)
        self.packages, self.drams = tuple(packages), tuple(drams)
        self.ignored = tuple(ignored + mirrored)

    # -- reading --------------------------------------------------------------------------

    def read(self) -> Sample:
        """Read every summed zone's counter now.

        Raises:
            RaplPermissionError: The counter is root-only.
            EnergyUnavailableError: The counter file vanished or cannot be read.
        """
        values = {z.zone_id: self._read_counter(z) for z in self.packages + self.drams}
        return Sample(values, time.perf_counter())

    def delta(self, before: Sample, after: Sample) -> EnergyDelta:
        """Package and dram energy between two samples (see `counter_delta_uj`)."""
        seconds = after.time_s - before.time_s
        package, why = self._sum(self.packages, before, after)
        dram = None
        if self.drams:
            dram, _ = self._sum(self.drams, before, after)
        return EnergyDelta(package, dram, seconds, why)

    def describe(self) -> str:
        """Which zones are summed, e.g. "package-0 (intel-rapl:0); dram: intel-rapl:0:0"."""
        text = " + ".join(f"{z.name} ({z.zone_id})" for z in self.packages)
        if self.drams:
            text += "; dram: " + " + ".join(z.zone_id for z in self.drams)
        return text

    def _sum(self, zones: tuple[Zone, ...], before: Sample,
             after: Sample) -> tuple[int | None, str | None]:
        total = 0
        for zone in zones:
            delta, why = counter_delta_uj(before.energy_uj.get(zone.zone_id),
                                          after.energy_uj.get(zone.zone_id),
                                          zone.max_energy_range_uj)
            if delta is None:
                # A partial sum would under-report: drop the whole sample.
                return None, f"{zone.zone_id} ({zone.name}) {why}"
            total += delta
        return total, None

    def _read_counter(self, zone: Zone) -> int | None:
        path = zone.path / "energy_uj"
        try:
            text = self.reader(path)
        except PermissionError as err:
            raise RaplPermissionError(
                permission_message(path),
                short=f"{path} is root-only since Linux 5.10 (CVE-2020-8694); "
                      "`--energy rapl` says how to grant access",
            ) from err
        except OSError as err:
            raise EnergyUnavailableError(
                f"Cannot read RAPL counter {path}: {err.strerror or err}. Is the powercap tree "
                f"under {self.root} complete? Use `--energy estimate` for the labelled time × power estimate.",
                short=f"cannot read {path}",
            ) from err
        return parse_int(text)

    # -- discovery ------------------------------------------------------------------------

    def _discover(self) -> tuple[list[Zone], list[str]]:
        root = self.root
        if not root.is_dir():
            hint = ("" if os.environ.get(POWERCAP_ROOT_ENV) else
                    " If the host's tree is mounted elsewhere (containers), set "
                    f"{POWERCAP_ROOT_ENV} to that folder.")
            raise EnergyUnavailableError(
                f"No RAPL energy counters: {root} does not exist. This machine exposes no Linux "
                "powercap interface (virtual machines usually do not; macOS and Windows have "
                f"none).{hint} Use `--energy estimate` for the labelled time × power estimate.",
                short=f"{root} does not exist",
            )
        folders: dict[tuple[bool, int, int | None], Path] = {}
        # Real sysfs lists every zone at the top as a symlink and nests sub-zones inside their
        # parent (and under the control-type folder `intel-rapl/`); look in all three places.
        parents = [root] + [root / p for p in ("intel-rapl", "intel-rapl-mmio")]
        candidates = [c for p in parents if p.is_dir() for c in _zone_dirs(p)]
        candidates += [c for top in list(candidates) for c in _zone_dirs(top)]
        for path in candidates:
            m = _ZONE_DIR.match(path.name)
            key = (bool(m["mmio"]), int(m["top"], 16), int(m["sub"], 16) if m["sub"] else None)
            folders.setdefault(key, path)
        zones: list[Zone] = []
        ignored: list[str] = []
        parent_package: dict[tuple[bool, int], int | None] = {}
        for key in sorted(folders, key=lambda k: (k[0], k[1], -1 if k[2] is None else k[2])):
            mmio, top, sub = key
            path = folders[key]
            try:
                name = self.reader(path / "name").strip()
            except OSError as err:
                ignored.append(f"{path.name}: its name file cannot be read ({err}), not summed")
                continue
            kind, package, die = _classify(name)
            if sub is None:
                parent_package[(mmio, top)] = package
            elif package is None:
                package = parent_package.get((mmio, top))
            zones.append(Zone(path.name, path, name, kind, mmio, package, die,
                              self._read_max(path)))
        return zones, ignored

    def _read_max(self, path: Path) -> int | None:
        try:
            value = parse_int(self.reader(path / "max_energy_range_uj"))
        except OSError:
            return None
        return value if value is not None and value > 0 else None

    def _dedupe_mirrored_dies(self, packages: list[Zone]) -> tuple[list[Zone], list[str]]:
        """Keep one zone of dies that report the very same counter; distinct dies are summed."""
        kept: list[Zone] = []
        ignored: list[str] = []
        by_package: dict[int | None, list[Zone]] = {}
        for zone in packages:
            by_package.setdefault(zone.package, []).append(zone)
        for package, group in by_package.items():
            if len(group) == 1 or package is None:
                kept += group
                continue
            # Mirrored zones read one counter: identical values read microseconds apart.
            # Distinct dies are never equal to the microjoule. Three rounds, so a counter tick
            # between two reads does not split a mirrored pair.
            mirrored = False
            for _ in range(3):
                values = {self._read_counter(z) for z in group}
                if len(values) == 1 and None not in values:
                    mirrored = True
                    break
            if mirrored:
                kept.append(group[0])
                ignored += [f"{z.zone_id}: {z.name} mirrors {group[0].zone_id} ({group[0].name}), "
                            "counted once" for z in group[1:]]
            else:
                kept += group
        return kept, ignored


def _zone_dirs(parent: Path) -> list[Path]:
    try:
        entries = sorted(parent.iterdir())
    except OSError:
        return []
    return [p for p in entries if _ZONE_DIR.match(p.name) and p.is_dir()]


def _classify(name: str) -> tuple[str, int | None, int | None]:
    m = _PACKAGE_NAME.match(name)
    if m:
        return "package", int(m["pkg"]), int(m["die"]) if m["die"] else None
    if name in ("dram", "core", "uncore", "psys"):
        return name, None, None
    return "other", None, None


def _dedupe_interfaces(zones: list[Zone]) -> tuple[list[Zone], list[str]]:
    """Drop MMIO copies of MSR zones and second zones of the same name in one package."""
    kept: list[Zone] = []
    ignored: list[str] = []
    # MSR zones first: when both interfaces expose a zone, the MSR one is kept.
    for zone in sorted(zones, key=lambda z: z.mmio):
        twin = next((k for k in kept if (k.name, k.package, k.die) == (zone.name, zone.package,
                                                                        zone.die)), None)
        if twin is None:
            kept.append(zone)
        elif zone.mmio:
            ignored.append(f"{zone.zone_id}: MMIO copy of {twin.zone_id} ({zone.name}), "
                           "counted once")
        else:
            ignored.append(f"{zone.zone_id}: second zone named {zone.name!r} like "
                           f"{twin.zone_id}, counted once")
    return kept, ignored
