"""Fake powercap trees and energy counters for the energy tests (a helper, not a test module).

A fake tree has the files real sysfs has — `name`, `energy_uj`, `max_energy_range_uj` — in
folders named like the kernel names them (`intel-rapl:<hex>[:<hex>]`, `intel-rapl-mmio:<hex>`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

MAX_RANGE_UJ = 262_143_328_850  # a real Intel package's max_energy_range_uj


def write_zone(root: Path, zone_id: str, name: str, energy_uj: int = 1_000_000, *,
               max_energy_range_uj: int | None = MAX_RANGE_UJ, parent: str | None = None) -> Path:
    """Create one zone folder; a sub-zone goes inside its parent's folder, as in sysfs."""
    folder = (root / parent / zone_id) if parent else (root / zone_id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "name").write_text(name + "\n")
    set_energy(folder, energy_uj)
    if max_energy_range_uj is not None:
        (folder / "max_energy_range_uj").write_text(f"{max_energy_range_uj}\n")
    return folder


def set_energy(zone: Path, energy_uj: int) -> None:
    """Set a counter atomically, so a concurrent reader never sees half a number."""
    tmp = zone / ".energy_uj.tmp"
    tmp.write_text(f"{energy_uj}\n")
    os.replace(tmp, zone / "energy_uj")


def denying_reader(denied: str):
    """A reader that raises PermissionError for files whose path ends with `denied`."""

    def read(path: Path) -> str:
        if str(path).endswith(denied):
            raise PermissionError(13, "Permission denied", str(path))
        return Path(path).read_text()

    return read


def start_constant_power_writer(zone: Path, watts: float) -> subprocess.Popen:
    """A separate process advancing `zone`'s counter at `watts`, about every millisecond.

    A process rather than a thread, so the writer never competes with the measured inference
    loop for the GIL. The counter is computed from the clock at each write, so a late write is
    late, never wrong.
    """
    code = textwrap.dedent(f"""
        import os, sys, time
        zone, watts = {str(zone)!r}, {watts!r}
        start = time.perf_counter()
        base = 5_000_000
        tmp = os.path.join(zone, ".writer.tmp")
        while True:
            value = base + int(watts * (time.perf_counter() - start) * 1e6)
            with open(tmp, "w") as f:
                f.write(f"{{value}}\\n")
            os.replace(tmp, os.path.join(zone, "energy_uj"))
            time.sleep(0.001)
    """)
    return subprocess.Popen([sys.executable, "-c", code])
