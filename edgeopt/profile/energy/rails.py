"""Rails: the named power or energy sensors a board exposes, and which of them a figure counts.

hwmon chips, Jetson's INA3221 (hwmon or JetPack 4 IIO) and the Raspberry Pi 5 PMIC all expose
several sensors at once: a board input rail (`VDD_IN`, `POM_5V_IN`) next to rails inside it
(`VDD_CPU_GPU_CV`, `VDD_SOC`), or a sum of regulator outputs. Adding them all would count the
sub-rails twice, so exactly which ones count is a choice (`--rail NAME[,NAME...]`), with a
default each meter documents, and is reported in `energy_counters` and `energy_scope`.

Sysfs values are read through one `Reader` (tests inject `PermissionError` through it); a file
that cannot be read becomes a message naming the file and how to grant access, never a zero.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from edgeopt.common.errors import EdgeoptError
from edgeopt.profile.energy.meter import (EnergyUnavailableError, MeterPermissionError, Reader,
                                          parse_int)

# A board's input rail: VDD_IN (Jetson Orin/Xavier, TX2), POM_5V_IN (Jetson Nano), VIN, IN.
INPUT_RAIL = re.compile(r"(^|_)V?IN$", re.IGNORECASE)


@dataclass(frozen=True)
class Rail:
    """One sensor a meter can count.

    Attributes:
        name: What the user types in `--rail`: the label (`VDD_IN`), else `chip/sensor`.
        key: A unique spelling (`hwmon3/VDD_IN`) for boards where names repeat.
        chip: The chip's name (`ina3221`, `amd_energy`, `ina226`, `pmic`).
        kind: "energy" (cumulative µJ counter) or "power" (instantaneous reading).
        files: What is read: one file, or voltage and current files for V × I.
        scope: What it covers when counted alone: "board-input", "cpu-package", "rail".
        default: True when the meter counts it unless `--rail` says otherwise.
    """

    name: str
    key: str
    chip: str
    kind: str
    files: tuple[str, ...]
    scope: str
    default: bool = False

    def describe(self) -> str:
        parts = " × ".join(Path(f).name for f in self.files)
        return f"{self.chip} {self.name} ({parts})"


def select_rails(rails: list[Rail], wanted: str | None, meter: str, looked: str,
                 default_scope: str | None = None) -> tuple[list[Rail], str]:
    """The rails to count and the scope of their sum.

    Args:
        rails: Every rail the meter found.
        wanted: The user's `--rail` (comma-separated names or keys), None for the default.
        meter: The meter's name, for messages.
        looked: What was looked for where, for messages.
        default_scope: The scope of the default selection when it sums several rails
            ("regulator-rails"); None: the chosen rail's own scope.

    Returns:
        (rails, scope).

    Raises:
        EdgeoptError: A wanted rail does not exist (the message lists the rails), or wanted
            rails mix energy counters with power sensors.
        EnergyUnavailableError: No rail is counted by default (the message lists the rails and
            says to choose with `--rail`).

    Example:
        >>> r = Rail("VDD_IN", "hwmon1/VDD_IN", "ina3221", "power", ("in1_input",), "board-input", True)
        >>> select_rails([r], None, "hwmon", "")[1]
        'board-input'
    """
    listing = ", ".join(f"{r.name} [{r.chip}, {r.kind}]" for r in rails)
    if wanted is not None:
        chosen = []
        for name in (n.strip() for n in wanted.split(",")):
            hits = [r for r in rails if name in (r.name, r.key)]
            if not hits:
                raise EdgeoptError(
                    f"No {meter} rail named {name!r}. The rails here: {listing or 'none'}. "
                    "Pass one or more of these names, comma-separated, to --rail "
                    f"(profile.energy_rail). Received: rail={wanted!r}")
            if len(hits) > 1:
                raise EdgeoptError(
                    f"{name!r} names {len(hits)} {meter} rails ({', '.join(r.key for r in hits)});"
                    f" pass one of these keys to --rail instead. Received: rail={wanted!r}")
            if hits[0] not in chosen:
                chosen.append(hits[0])
        if len({r.kind for r in chosen}) > 1:
            raise EdgeoptError(
                f"--rail mixes energy counters and power sensors "
                f"({', '.join(f'{r.name}: {r.kind}' for r in chosen)}); they are read "
                f"differently: choose rails of one kind. Received: rail={wanted!r}")
        scope = chosen[0].scope if len(chosen) == 1 else "rail"
        return chosen, scope
    chosen = [r for r in rails if r.default]
    if not chosen:
        raise EnergyUnavailableError(
            f"The {meter} sensors here ({listing}) include none edgeopt counts by default "
            f"(looked for {looked}). If one of them measures what you want, choose it with "
            "--rail NAME (profile.energy_rail).",
            short=f"{meter}: no rail to count by default ({listing}); --rail chooses one",
        )
    if default_scope is not None:
        return chosen, default_scope
    return chosen, chosen[0].scope if len(chosen) == 1 else "rail"


def read_sysfs_int(path: Path, reader: Reader, meter: str, grant: str) -> int:
    """One integer attribute of a sensor, or a clear error naming the file.

    Args:
        path: The attribute file.
        reader: Reads its text.
        meter: The meter's name, for messages.
        grant: How to grant read access (a udev rule, a group), appended to a permission error.

    Raises:
        MeterPermissionError: The file may not be read.
        EnergyUnavailableError: It vanished, cannot be read (EIO, ENODATA) or holds no integer.
    """
    try:
        text = reader(path)
    except PermissionError as err:
        raise MeterPermissionError(
            f"Permission denied reading {path}. Run as root (sudo), or grant read access: "
            f"`sudo chmod a+r {path}` until the next reboot, or for good {grant} "
            "Or use `--energy estimate` for the labelled time × power estimate.",
            short=f"{path} is not readable by this user (`--energy {meter}` says how to grant "
                  "access)",
        ) from err
    except OSError as err:
        raise EnergyUnavailableError(
            f"Cannot read {meter} sensor {path}: {err.strerror or err}. The driver may not be "
            "ready, or the tree is incomplete. Use `--energy estimate` for the labelled "
            "time × power estimate.",
            short=f"cannot read {path} ({err.strerror or err})",
        ) from err
    value = parse_int(text)
    if value is None:
        raise EnergyUnavailableError(
            f"{meter} sensor {path} holds no integer ({text.strip()[:40]!r}).",
            short=f"{path} holds no integer",
        )
    return value
