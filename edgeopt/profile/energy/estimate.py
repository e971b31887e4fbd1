"""Energy from the clock where no meter can be read: the model's CPU time × the power of a busy core.

On a CPU the energy of an inference is power × time (DESIGN.md §4). Without a meter, the time is
the CPU time the interpreter's threads used per inference (measured over the timed invokes: the
invoking thread's for one interpreter thread, the process's for more), not the wall clock: when
the OS runs another process, that time is not the model's and is not billed to it. The power of
one busy core is estimated as `TDP / cores`, from:

1. the user's figure for the CPU package (`--cpu-watts`, `profile.cpu_watts`), else
2. CodeCarbon's CPU power table (`codecarbon/data/hardware/cpu_power.csv`, columns Name, TDP),
   matched by CPU model name the way CodeCarbon matches it, else
3. CodeCarbon's own rule for a CPU its table does not know: 4 W per thread
   (`codecarbon.core.cpu.DEFAULT_POWER_PER_CORE`, used per thread in its `TDP._main`).

The table is read from an installed `codecarbon` distribution without importing codecarbon (its
import pulls pandas, rapidfuzz, requests, prometheus...): `pip install --no-deps codecarbon` is
enough, which keeps a device install light. `EDGEOPT_CPU_POWER_TABLE` may name another CSV of
the same format. The row always says which of the three gave the figure
(`energy_power_source`), and the figure is never reported as measured. Between two rows with the
same threads the energy ratio is exactly their CPU-time ratio: it cannot contradict the clock.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from edgeopt.common.errors import EdgeoptError

CPU_POWER_TABLE_ENV = "EDGEOPT_CPU_POWER_TABLE"
CODECARBON_TABLE = Path("data") / "hardware" / "cpu_power.csv"  # inside the codecarbon package
# codecarbon.core.cpu.DEFAULT_POWER_PER_CORE (3.3.2): what CodeCarbon uses for an unknown CPU.
CODECARBON_DEFAULT_W_PER_THREAD = 4.0
# ARM kernels print no model name, only the core's part number (`CPU part`, implementer 0x41 =
# Arm Ltd); util-linux's lscpu decodes it the same way. CodeCarbon's table names these cores
# ("Cortex-A72" for a Raspberry Pi 4, "Cortex-A76" for a Pi 5).
ARM_CORES = {
    0xD03: "Cortex-A53", 0xD04: "Cortex-A35", 0xD05: "Cortex-A55", 0xD07: "Cortex-A57",
    0xD08: "Cortex-A72", 0xD09: "Cortex-A73", 0xD0A: "Cortex-A75", 0xD0B: "Cortex-A76",
    0xD0C: "Neoverse-N1", 0xD0D: "Cortex-A77", 0xD41: "Cortex-A78", 0xD42: "Cortex-A78AE",
    0xD44: "Cortex-X1", 0xD46: "Cortex-A510", 0xD47: "Cortex-A710", 0xD48: "Cortex-X2",
    0xD4B: "Cortex-A78C",
}


@dataclass(frozen=True)
class CpuPowerTable:
    """CPU model name → TDP in W, and where the table came from."""

    tdp_w: dict[str, float]
    origin: str  # "codecarbon 3.3.2 (/…/cpu_power.csv)" or the file EDGEOPT_CPU_POWER_TABLE names


@dataclass(frozen=True)
class ThreadPower:
    """The power of the threads an inference runs on, and how it was obtained.

    Attributes:
        power_w: Power of the `threads` counted, in W (what one inference's time is priced at).
        per_core_w: Power of one busy core.
        threads: Threads counted (the interpreter's threads, at most the machine's CPUs).
        source: "user" (--cpu-watts), "codecarbon-table" or "codecarbon-default".
        cpu_model: The CPU model name matched, as the OS reports it.
        tdp_w: The package TDP used, None for the per-thread default.
        cores: Cores per package the TDP was divided by, None for the default.
        detail: One sentence saying how `power_w` was obtained.
    """

    power_w: float
    per_core_w: float
    threads: int
    source: str
    cpu_model: str | None
    tdp_w: float | None
    cores: int | None
    detail: str

    def energy_mj(self, latency_ms: float | None) -> float | None:
        """Energy of one inference taking `latency_ms` on all `threads` (W × ms = mJ), None when unknown."""
        return None if latency_ms is None else self.power_w * latency_ms

    def energy_for_cpu_mj(self, cpu_ms: float | None) -> float | None:
        """Energy of one inference that used `cpu_ms` of CPU time, summed over its threads (mJ).

        Example:
            >>> ThreadPower(8.0, 4.0, 2, "user", None, 8.0, 2, "").energy_for_cpu_mj(0.5)
            2.0
        """
        return None if cpu_ms is None else self.per_core_w * cpu_ms


def check_cpu_watts(cpu_watts: float | None) -> float | None:
    """Validate a user's CPU package power; None means "look it up".

    Example:
        >>> check_cpu_watts(65)
        65.0
    """
    if cpu_watts is None:
        return None
    if isinstance(cpu_watts, bool) or not isinstance(cpu_watts, (int, float)) \
            or not 0 < cpu_watts < float("inf"):
        raise EdgeoptError("`cpu_watts` (--cpu-watts, profile.cpu_watts) must be the CPU "
                           "package's power (TDP) in W, a number > 0. "
                           f"Received: cpu_watts={cpu_watts!r}")
    return float(cpu_watts)


def thread_power(threads: int, cpu_watts: float | None = None, *,
                 cpuinfo: dict[str, str] | None = None,
                 table: CpuPowerTable | None | bool = True) -> ThreadPower:
    """The power of `threads` busy threads on this CPU (see the module docstring for the rule).

    Args:
        threads: Interpreter threads.
        cpu_watts: The user's package power (TDP) in W, or None to look it up.
        cpuinfo: `/proc/cpuinfo` fields (tests); default this machine's.
        table: A table (tests), True to load the installed one, None for no table.

    Returns:
        A `ThreadPower`.

    Raises:
        EdgeoptError: `cpu_watts` is not > 0, or `EDGEOPT_CPU_POWER_TABLE` names no readable CSV.

    Example:
        >>> p = thread_power(2, 65.0, cpuinfo={"model name": "X", "cpu cores": "4"}, table=None)
        >>> p.power_w, p.source
        (32.5, 'user')
    """
    cpu_watts = check_cpu_watts(cpu_watts)
    if cpuinfo is None:
        from edgeopt.profile.machine import read_cpuinfo  # machine imports this package

        cpuinfo = read_cpuinfo()
    names = [n for n in ((cpuinfo.get("model name") or "").strip(), arm_core_name(cpuinfo)) if n]
    model = names[0] if names else None
    cores = _cores_per_package(cpuinfo)
    counted = max(1, min(threads, os.cpu_count() or threads))
    vm = " (a virtual machine: it may see fewer cores than the chip has, which makes the "\
         "per-core figure too high; --cpu-watts sets it)" if "hypervisor" in \
         cpuinfo.get("flags", "").split() else ""
    if cpu_watts is not None:
        per_core = cpu_watts / cores
        return ThreadPower(per_core * counted, per_core, counted, "user", model, cpu_watts, cores,
                           f"{counted} thread(s) × {per_core:.3g} W per core = --cpu-watts "
                           f"{cpu_watts:g} W / {cores} cores per package{vm}")
    if table is True:
        table = load_cpu_power_table()
    why = None
    if table is None:
        why = ("CodeCarbon's CPU power table is not installed (`pip install --no-deps "
               "codecarbon` adds it; edgeopt reads only its CSV)")
    elif model is None:
        why = "the OS reports no CPU model name"
    else:
        for model in names:  # the OS's model name first, then an ARM core's decoded name
            name, candidates = match_cpu(model, table.tdp_w)
            if name is not None:
                break
        if name is not None:
            tdp = table.tdp_w[name]
            per_core = tdp / cores
            return ThreadPower(per_core * counted, per_core, counted, "codecarbon-table", model,
                               tdp, cores,
                               f"{counted} thread(s) × {per_core:.3g} W per core = TDP {tdp:g} W "
                               f"of {name!r} in {table.origin} / {cores} cores per package{vm}")
        why = (f"CPU {model!r} matches no single row of {table.origin}"
               + (f" ({candidates} rows share its words)" if candidates else ""))
    per_thread = CODECARBON_DEFAULT_W_PER_THREAD
    return ThreadPower(per_thread * counted, per_thread, counted, "codecarbon-default", model,
                       None, None,
                       f"{counted} thread(s) × {per_thread:g} W, CodeCarbon's own figure per "
                       f"thread for a CPU it does not know: {why}; --cpu-watts sets the CPU's TDP")


def arm_core_name(cpuinfo: dict[str, str]) -> str | None:
    """"Cortex-A76" for an Arm Ltd core's `CPU part`, None for any other CPU.

    Example:
        >>> arm_core_name({"CPU implementer": "0x41", "CPU part": "0xd0b"})
        'Cortex-A76'
    """
    try:
        implementer = int(cpuinfo.get("CPU implementer", ""), 16)
        part = int(cpuinfo.get("CPU part", ""), 16)
    except ValueError:
        return None
    return ARM_CORES.get(part) if implementer == 0x41 else None


def match_cpu(model: str, tdp_w: dict[str, float]) -> tuple[str | None, int]:
    """The table row a CPU model name matches, the way CodeCarbon's `TDP._get_matching_cpu` does.

    An exact (case-insensitive) name first; then the same after removing "(R)", " CPU" and the
    clock ("@ 2.90GHz"); then a row whose words are all in the model's, or the reverse — only if
    exactly one row does (CodeCarbon's non-greedy rule: an ambiguous name matches nothing).

    Returns:
        (row name or None, how many rows matched by words when that was ambiguous, else 0).

    Example:
        >>> match_cpu("Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", {"Intel Xeon Gold 6248": 150})
        ('Intel Xeon Gold 6248', 0)
        >>> match_cpu("AMD EPYC", {"AMD EPYC 7203": 120, "AMD EPYC 7251": 120})
        (None, 2)
    """
    lowered = {name.lower(): name for name in tdp_w}
    if model.lower() in lowered:
        return lowered[model.lower()], 0
    cleaned = model.replace("(R)", "")
    at = cleaned.find(" CPU @ ")
    cleaned = cleaned[:at] if at > 0 else cleaned
    cleaned = re.sub(r" @\s*\d+\.\d+GHz", "", cleaned.replace(" CPU", ""))
    if cleaned.lower() in lowered:
        return lowered[cleaned.lower()], 0
    words = _words(cleaned)
    if not words:
        return None, 0
    hits = [name for name in tdp_w
            if (row := _words(name)) and (row <= words or words <= row)]
    return (hits[0], 0) if len(hits) == 1 else (None, len(hits))


def load_cpu_power_table() -> CpuPowerTable | None:
    """CodeCarbon's CPU power table, or the CSV `EDGEOPT_CPU_POWER_TABLE` names; None if neither.

    Raises:
        EdgeoptError: `EDGEOPT_CPU_POWER_TABLE` is set but names no readable table.
    """
    override = os.environ.get(CPU_POWER_TABLE_ENV)
    if override:
        return _load_table(Path(override), f"{override} ({CPU_POWER_TABLE_ENV})")
    path = codecarbon_table_path()
    if path is None:
        return None
    try:
        origin = f"CodeCarbon {version('codecarbon')}'s cpu_power.csv"
    except PackageNotFoundError:
        origin = f"CodeCarbon's cpu_power.csv ({path})"
    return _load_table(path, origin)


def codecarbon_table_path() -> Path | None:
    """Where an installed codecarbon keeps its CPU table, found without importing codecarbon."""
    try:
        spec = importlib.util.find_spec("codecarbon")  # a top-level name: nothing is executed
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / CODECARBON_TABLE
        if path.is_file():
            return path
    return None


@lru_cache(maxsize=4)
def _load_table(path: Path, origin: str) -> CpuPowerTable:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise EdgeoptError(f"Cannot read the CPU power table {path}: {err}. It must be a CSV "
                           "with columns Name,TDP (CodeCarbon's cpu_power.csv format).") from None
    table = {}
    for row in rows:
        try:
            tdp = float(row.get("TDP") or "")
        except ValueError:
            continue
        if row.get("Name") and tdp > 0:
            table[row["Name"].strip()] = tdp
    if not table:
        raise EdgeoptError(f"The CPU power table {path} holds no Name,TDP rows with a TDP > 0 "
                           "(CodeCarbon's cpu_power.csv format).")
    return CpuPowerTable(table, origin)


def _cores_per_package(cpuinfo: dict[str, str]) -> int:
    """Cores of one package: x86's `cpu cores`, else every CPU the OS has (one-package boards)."""
    try:
        cores = int(cpuinfo.get("cpu cores", ""))
    except ValueError:
        cores = 0
    return cores if cores > 0 else (os.cpu_count() or 1)


def _words(name: str) -> frozenset[str]:
    """rapidfuzz's default_process: lower case, every non-alphanumeric a separator."""
    return frozenset(re.sub(r"[^0-9a-z]+", " ", name.lower()).split())
