"""Jetson boards on JetPack 4 (Nano, TX2, Xavier): the INA3221 seen through IIO, not hwmon.

JetPack 4's out-of-tree `ina3221x` driver exposes each monitor as an IIO device:
`/sys/bus/i2c/drivers/ina3221x/<bus>-00<addr>/iio:device<N>/in_power<ch>_input` (mW), named by
`rail_name_<ch>` (Nano: `POM_5V_IN` is the board's input, `POM_5V_GPU`, `POM_5V_CPU` are inside
it). The rails join the hwmon meter's (`hwmon.py`): same selection, same sampler. The tree's root
can be moved with `EDGEOPT_INA3221X_ROOT` (containers, tests).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from edgeopt.profile.energy.meter import Reader, read_text
from edgeopt.profile.energy.rails import INPUT_RAIL, Rail

IIO_ROOT_ENV = "EDGEOPT_INA3221X_ROOT"
DEFAULT_IIO_ROOT = Path("/sys/bus/i2c/drivers/ina3221x")
_POWER = re.compile(r"^in_power(?P<ch>[0-9]+)_input$")


def iio_root() -> Path:
    """The JetPack 4 INA3221 tree: `$EDGEOPT_INA3221X_ROOT`, else the driver's sysfs folder."""
    value = os.environ.get(IIO_ROOT_ENV)
    return Path(value) if value else DEFAULT_IIO_ROOT


def discover_iio(root: Path, reader: Reader = read_text) -> list[Rail]:
    """Every `in_power<ch>_input` rail under `root`; [] where there is no such tree.

    The board's input rail (`POM_5V_IN`, `VDD_IN`) is the default; the others are listed and
    counted when `--rail` names them.

    Example:
        >>> [r.name for r in discover_iio(Path("/sys/bus/i2c/drivers/ina3221x"))]  # doctest: +SKIP
        ['POM_5V_IN', 'POM_5V_GPU', 'POM_5V_CPU']
    """
    rails = []
    for device in sorted(root.glob("*/iio:device*")):
        try:
            names = sorted(p.name for p in device.iterdir())
        except OSError:
            continue
        for name in names:
            m = _POWER.match(name)
            if not m:
                continue
            ch = m["ch"]
            fallback = f"ina3221x/{device.parent.name}/power{ch}"
            try:
                label = reader(device / f"rail_name_{ch}").strip() or fallback
            except OSError:
                label = fallback
            board_input = bool(INPUT_RAIL.search(label))
            rails.append(Rail(label, f"{device.parent.name}/{label}", "ina3221x", "power",
                              (str(device / name),), "board-input" if board_input else "rail",
                              board_input))
    return rails
