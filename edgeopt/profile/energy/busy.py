"""How much of the machine other processes used during a meter's windows (Linux `/proc/stat`).

A meter counts the whole package (or board), whoever runs on it. The windowed protocol subtracts
idle power measured in windows of its own, which holds only while everything else is steady. When
other processes keep the CPU busy and come and go (a browser, a CI neighbour, a training job), the
idle and inference windows see different neighbours and the net figure means nothing: it can rank
two models opposite to their measured time. So each window also reads the machine's busy CPU time
(`/proc/stat`, every CPU, steal included) and this process's own (`os.times`); what is left over is
the others' share, and a median share above `BUSY_SHARE` turns the figure into a note.
Where `/proc/stat` cannot be read (not Linux) the share is unknown and nothing is judged.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

BUSY_SHARE = 0.10  # other processes' median share of every CPU above which a window means nothing
PROC_STAT = Path("/proc/stat")
# /proc/stat's `cpu` line: user nice system idle iowait irq softirq steal guest guest_nice (ticks);
# guest time is already inside user, idle and iowait are not busy.
_BUSY_FIELDS = (0, 1, 2, 5, 6, 7)


@dataclass(frozen=True)
class CpuSnapshot:
    """Busy CPU seconds of the whole machine and of this process at one instant.

    Attributes:
        machine_busy_s: Busy seconds summed over every CPU since boot.
        own_s: This process's user + system seconds (all its threads).
        wall_s: A monotonic clock, seconds.
        cpus: CPUs the machine's figure sums over.
    """

    machine_busy_s: float
    own_s: float
    wall_s: float
    cpus: int


def cpu_snapshot() -> CpuSnapshot | None:
    """The machine's and this process's busy CPU time now; None where `/proc/stat` is unreadable.

    Example:
        >>> snap = cpu_snapshot()  # doctest: +SKIP
        >>> snap.cpus  # doctest: +SKIP
        2
    """
    return read_proc_stat(PROC_STAT)


def read_proc_stat(path: Path) -> CpuSnapshot | None:
    """`cpu_snapshot` from a `/proc/stat`-format file; None when it cannot be read or parsed."""
    try:
        lines = path.read_text(encoding="ascii", errors="replace").splitlines()
        ticks = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, AttributeError):
        return None
    total = next((line.split()[1:] for line in lines if line.startswith("cpu ")), None)
    cpus = sum(1 for line in lines if line.startswith("cpu") and line[3:4].isdigit())
    if not total or len(total) < 8 or cpus < 1 or ticks <= 0:
        return None
    try:
        busy = sum(int(total[i]) for i in _BUSY_FIELDS)
    except ValueError:
        return None
    own = os.times()
    return CpuSnapshot(busy / ticks, own.user + own.system, time.monotonic(), cpus)


def others_share(before: CpuSnapshot | None, after: CpuSnapshot | None) -> float | None:
    """The share of all CPUs that other processes kept busy between two snapshots (0..1), or None.

    Example:
        >>> others_share(CpuSnapshot(10.0, 1.0, 0.0, 2), CpuSnapshot(11.5, 1.9, 1.0, 2))
        0.3
    """
    if before is None or after is None or after.wall_s <= before.wall_s:
        return None
    others = (after.machine_busy_s - before.machine_busy_s) - (after.own_s - before.own_s)
    share = others / ((after.wall_s - before.wall_s) * after.cpus)
    return round(min(1.0, max(0.0, share)), 6)


class LoadProbe:
    """Measures the others' share over each window: `start()` before it, `stop(token)` after.

    Example:
        >>> probe = LoadProbe(); token = probe.start()  # doctest: +SKIP
        >>> probe.stop(token)  # doctest: +SKIP
        0.02
    """

    def __init__(self, snapshot: Callable[[], CpuSnapshot | None] | None = None):
        self._snapshot = snapshot

    def start(self) -> CpuSnapshot | None:
        return (self._snapshot or cpu_snapshot)()

    def stop(self, token: CpuSnapshot | None) -> float | None:
        return others_share(token, (self._snapshot or cpu_snapshot)())


def busy_note(share: float, source: str, gross_mj: float | None) -> str:
    """The note that replaces a meter's figure measured on a busy machine."""
    gross = f" (gross {gross_mj:.3g} mJ per inference, kept as energy_gross_mj)" if gross_mj is not None else ""
    return (f"the machine was busy during the {source} windows: other processes kept {share:.0%} of its CPUs "
            f"busy (/proc/stat), so the meter counted their work too and idle subtraction cannot remove it; "
            f"no figure is given{gross}. Measure on a quiet machine, or use `--energy estimate`, which bills "
            "only the CPU time this model used")
