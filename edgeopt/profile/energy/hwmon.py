"""The hwmon meter: energy counters and power sensors under `/sys/class/hwmon` (and Jetson's IIO).

The tree lives at `/sys/class/hwmon` (or wherever `EDGEOPT_HWMON_ROOT` says): one folder
`hwmonN` per chip, named by its `name` file (the number varies between boots: never rely on it).
What edgeopt reads (DESIGN.md §4):

- `energyN_input`: a cumulative counter in µJ (e.g. the `amd_energy` driver, labels
  `Esocket*` and `Ecore*`, mode 0440). Counters below 2³² wrap there; a counter that went
  backwards is corrected by one 2³² wrap, or the window is dropped when it was already past 2³²
  (it cannot be a 32-bit counter). Default: the `Esocket*` counters summed ("cpu-package"); the
  `Ecore*` ones are parts of a socket, never added.
- `powerN_input`: instantaneous µW (`ina2xx`: INA219/INA226/...).
- INA3221 (`name` = ina3221), which has no power file: per channel N = 1..3, bus voltage
  `inN_input` (mV) × current `currN_input` (mA), named by `inN_label` (Jetson Orin: `VDD_IN`
  is the board's input, `VDD_CPU_GPU_CV`, `VDD_SOC` are inside it).
- Jetson JetPack 4 (`jetson_iio.py`): `in_powerN_input` (mW) named by `rail_name_N`.

Default rail: the one labelled as the board's input (`VDD_IN`, `POM_5V_IN`: scope
"board-input"); else the `amd_energy` sockets ("cpu-package"); else a lone INA power sensor
("rail"). A GPU's or battery's power sensor is listed, and counted only when `--rail` names it.
Power sensors are sampled every 10 ms and integrated (`sampler.py`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from edgeopt.profile.energy.meter import (EnergyDelta, EnergyUnavailableError, Reader,
                                          delta_with_wrap, read_text)
from edgeopt.profile.energy.rails import INPUT_RAIL, Rail, read_sysfs_int, select_rails
from edgeopt.profile.energy.sampler import SampledPowerCounter

HWMON_ROOT_ENV = "EDGEOPT_HWMON_ROOT"
DEFAULT_HWMON_ROOT = Path("/sys/class/hwmon")
SAMPLE_PERIOD_S = 0.01  # INA3221/INA226 convert in about 1-8 ms; 100 readings per 1 s window
WRAP_32 = 2 ** 32
INA3221_CHANNELS = (1, 2, 3)  # bus voltage in1..in3 pairs with curr1..curr3 (in4..in6 are shunts)
LOOKED_FOR = ("energyN_input, powerN_input and INA3221 inN_input × currN_input under "
              "{hwmon}/hwmon*/, and Jetson JetPack 4 in_powerN_input under {iio}/*/iio:device*/")
GRANT = ("with a udev rule such as /etc/udev/rules.d/99-edgeopt-hwmon.rules: "
         "`SUBSYSTEM==\"hwmon\", ACTION==\"add\", RUN+=\"/bin/sh -c 'chgrp power /sys%p/*_input; "
         "chmod g+r /sys%p/*_input'\"` (then add yourself to group `power`).")
_SENSOR = re.compile(r"^(?P<kind>energy|power|in|curr)(?P<n>[0-9]+)_input$")


def hwmon_root() -> Path:
    """The hwmon tree to read: `$EDGEOPT_HWMON_ROOT`, else `/sys/class/hwmon`."""
    value = os.environ.get(HWMON_ROOT_ENV)
    return Path(value) if value else DEFAULT_HWMON_ROOT


def discover_hwmon(root: Path, reader: Reader = read_text) -> tuple[list[Rail], list[str]]:
    """Every energy counter and power sensor under `root`, and the chips that have none.

    Returns:
        (rails, ["hwmon0 (coretemp): no power or energy sensor", ...]).
    """
    rails: list[Rail] = []
    without: list[str] = []
    for folder in _chip_dirs(root):
        try:
            chip = reader(folder / "name").strip() or folder.name
        except OSError:
            chip = folder.name
        found = _chip_rails(folder, chip, reader)
        if found:
            rails += found
        else:
            without.append(f"{folder.name} ({chip}): no power or energy sensor")
    return rails, without


def _chip_dirs(root: Path) -> list[Path]:
    try:
        return sorted((p for p in root.iterdir() if p.is_dir()), key=_natural)
    except OSError:
        return []


def _natural(path: Path) -> tuple:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name))


def _chip_rails(folder: Path, chip: str, reader: Reader) -> list[Rail]:
    try:
        names = {p.name for p in folder.iterdir()}
    except OSError:
        return []
    sensors: dict[str, set[int]] = {}
    for name in names:
        m = _SENSOR.match(name)
        if m:
            sensors.setdefault(m["kind"], set()).add(int(m["n"]))
    rails = []
    sockets = any(_label(folder, f"energy{n}", reader, "").startswith("Esocket")
                  for n in sensors.get("energy", ()))
    for n in sorted(sensors.get("energy", ())):
        label = _label(folder, f"energy{n}", reader, f"{chip}/energy{n}")
        default = label.startswith("Esocket") if sockets else chip == "amd_energy"
        rails.append(Rail(label, f"{folder.name}/{label}", chip, "energy",
                          (str(folder / f"energy{n}_input"),),
                          "cpu-package" if label.startswith("Esocket") else "rail", default))
    for n in sorted(sensors.get("power", ())):
        label = _label(folder, f"power{n}", reader, f"{chip}/power{n}")
        rails.append(_power_rail(folder, chip, label, (str(folder / f"power{n}_input"),),
                                 lone=len(sensors["power"]) == 1))
    if chip == "ina3221":
        channels = [n for n in INA3221_CHANNELS
                    if n in sensors.get("in", ()) and n in sensors.get("curr", ())]
        for n in channels:
            label = _label(folder, f"in{n}", reader, f"{chip}/in{n}")
            rails.append(_power_rail(folder, chip, label,
                                     (str(folder / f"in{n}_input"), str(folder / f"curr{n}_input")),
                                     lone=len(channels) == 1))
    return rails


def _power_rail(folder: Path, chip: str, label: str, files: tuple[str, ...], lone: bool) -> Rail:
    board_input = bool(INPUT_RAIL.search(label))
    known = chip.startswith("ina")  # INA219/226/3221...: shunt monitors wired to a board's rails
    return Rail(label, f"{folder.name}/{label}", chip, "power", files,
                "board-input" if board_input else "rail", known and (board_input or lone))


def _label(folder: Path, sensor: str, reader: Reader, fallback: str) -> str:
    try:
        return reader(folder / f"{sensor}_label").strip() or fallback
    except OSError:
        return fallback


def prefer_input_rails(rails: list[Rail]) -> list[Rail]:
    """One default: an input rail beats sockets, which beat a lone INA sensor."""
    tiers = ([r for r in rails if r.default and r.scope == "board-input"],
             [r for r in rails if r.default and r.scope == "cpu-package"],
             [r for r in rails if r.default])
    chosen = next((tier for tier in tiers if tier), [])
    if len(chosen) > 1 and chosen[0].kind == "power":
        chosen = []  # two input rails, or two lone sensors on two chips: the user must choose
    return [r if r in chosen else _not_default(r) for r in rails]


def _not_default(rail: Rail) -> Rail:
    return Rail(rail.name, rail.key, rail.chip, rail.kind, rail.files, rail.scope, False)


def open_hwmon(rail: str | None = None, *, root: Path | None = None,
               iio_root: Path | None = None, reader: Reader = read_text,
               period_s: float = SAMPLE_PERIOD_S):
    """The hwmon meter over the chosen rails: an energy counter, or a sampled power counter.

    Args:
        rail: `--rail` (comma-separated names), None for the default.
        root: The hwmon tree; default `hwmon_root()`.
        iio_root: The Jetson JetPack 4 IIO tree; default `jetson_iio.iio_root()`.
        reader: Reads one file (tests inject errors).
        period_s: Power sensors' sampling period.

    Raises:
        EnergyUnavailableError: No sensor (the message lists what was looked for where), no
            default rail, or a sensor that cannot be read (`MeterPermissionError`: root-only).
        EdgeoptError: `rail` names no rail here.
    """
    from edgeopt.profile.energy.jetson_iio import discover_iio, iio_root as default_iio_root

    root = Path(root) if root is not None else hwmon_root()
    iio = Path(iio_root) if iio_root is not None else default_iio_root()
    looked = LOOKED_FOR.format(hwmon=root, iio=iio)
    rails, without = discover_hwmon(root, reader)
    rails += discover_iio(iio, reader)
    if not rails:
        where = (f"{root} does not exist" if not root.is_dir() else
                 f"chips under {root}: {'; '.join(without) or 'none'}")
        hint = (f" ({root} is where {HWMON_ROOT_ENV} points.)" if os.environ.get(HWMON_ROOT_ENV)
                else f" If the host's tree is mounted elsewhere (containers), set {HWMON_ROOT_ENV}.")
        raise EnergyUnavailableError(
            f"No hwmon power or energy sensor: {where}. Looked for {looked}.{hint} Use "
            "`--energy estimate` for the labelled time × power estimate.",
            short=f"no power or energy sensor ({where})",
        )
    chosen, scope = select_rails(prefer_input_rails(rails), rail, "hwmon", looked)
    if chosen[0].kind == "energy":
        return HwmonEnergyCounter(chosen, scope, reader)
    return SampledPowerCounter(_power_reader(chosen, reader), "hwmon", scope,
                               " + ".join(r.describe() for r in chosen),
                               [f for r in chosen for f in r.files], period_s=period_s)


def _power_reader(rails: list[Rail], reader: Reader):
    """A `PowerReading` function summing the chosen power rails, in W."""
    def read() -> tuple[float, tuple]:
        watts, raw = 0.0, []
        for r in rails:
            values = [read_sysfs_int(Path(f), reader, "hwmon", GRANT) for f in r.files]
            raw += values
            if len(values) == 2:
                watts += values[0] * values[1] * 1e-6  # mV × mA = µW
            elif r.chip == "ina3221x":
                watts += values[0] * 1e-3  # JetPack 4 IIO: mW
            else:
                watts += values[0] * 1e-6  # hwmon powerN_input: µW
        return watts, tuple(raw)

    return read


@dataclass
class HwmonEnergyCounter:
    """An `EnergyCounter` over hwmon `energyN_input` counters (µJ), 32-bit wrap corrected."""

    rails: list[Rail]
    scope: str
    reader: Reader = read_text
    source: str = field(default="hwmon", init=False)

    def __post_init__(self) -> None:
        self.start()  # a root-only counter fails here, before any window

    def start(self) -> object:
        import time

        values = [read_sysfs_int(Path(r.files[0]), self.reader, "hwmon", GRANT)
                  for r in self.rails]
        return values, time.perf_counter()

    def stop(self, token: object) -> EnergyDelta:
        before, t0 = token
        after, t1 = self.start()
        total = 0
        for rail, b, a in zip(self.rails, before, after):
            delta, why = delta_with_wrap(
                b, a, WRAP_32 if b < WRAP_32 else None,
                "went backwards past 2^32 (not a 32-bit wrap: reset?)")
            if delta is None:
                return EnergyDelta(None, None, t1 - t0, f"{rail.files[0]} {why}")
            total += delta
        return EnergyDelta(total, None, t1 - t0)

    def describe(self) -> str:
        return " + ".join(r.describe() for r in self.rails)
