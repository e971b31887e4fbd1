"""What machine a measurement was taken on: recorded beside every result (DESIGN.md §7.6).

Latency and energy are only comparable on identical hardware and software, so each results file
carries the CPU, its ISA extensions, core counts, memory and runtime versions. Nothing here
imports TensorFlow: package versions come from installed metadata.
"""

from __future__ import annotations

import os
import platform
import socket
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from edgeopt.profile.energy.powercap import powercap_root

# ISA extensions that decide which kernels LiteRT/XNNPACK and mixed precision can use.
CPU_FLAGS_OF_INTEREST = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
_PACKAGES = ("ai-edge-litert", "numpy", "flatbuffers", "edgeopt")


def machine_info() -> dict:
    """Describe this machine and runtime for a results file.

    Missing facts are None (e.g. CPU flags off Linux, physical cores psutil cannot tell).

    Returns:
        A JSON-ready dict: hostname, os, kernel, arch, python, cpu_model, cpu_logical_cores,
        cpu_physical_cores, memory_bytes, cpu_flags ({flag: bool} or None), cpu_governor,
        packages ({distribution: version or None}), powercap_present.

    Example:
        >>> info = machine_info()
        >>> sorted(info["cpu_flags"]) if info["cpu_flags"] else []  # doctest: +SKIP
        ['amx_bf16', 'avx2', 'avx512_bf16', 'avx512f']
    """
    cpuinfo = read_cpuinfo()
    flags = set(cpuinfo.get("flags", "").split()) if cpuinfo else None
    return {
        "hostname": socket.gethostname(),
        "os": platform.system(),
        "kernel": platform.release(),
        "arch": platform.machine(),
        "python": platform.python_version(),
        "cpu_model": cpuinfo.get("model name") or platform.processor() or None,
        **_cores_and_memory(),
        "cpu_flags": {f: f in flags for f in CPU_FLAGS_OF_INTEREST} if flags else None,
        "cpu_governor": _read_text("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        "packages": {name: _version(name) for name in _PACKAGES},
        "powercap_present": powercap_root().is_dir(),
    }


def read_cpuinfo() -> dict[str, str]:
    """The first processor's block of /proc/cpuinfo ({} where there is none, e.g. macOS)."""
    text = _read_text("/proc/cpuinfo")
    if not text:
        return {}
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break  # every core repeats the same block; the first one is enough
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    # ARM kernels name the CPU under other keys than x86's "model name".
    if "model name" not in fields:
        fields["model name"] = fields.get("Hardware") or fields.get("Model") or ""
    if "flags" not in fields and "Features" in fields:
        fields["flags"] = fields["Features"]
    return fields


def _cores_and_memory() -> dict:
    try:
        import psutil
    except ImportError:  # keep the profiler usable on a device where psutil did not install
        return {"cpu_logical_cores": os.cpu_count(), "cpu_physical_cores": None,
                "memory_bytes": None}
    return {
        "cpu_logical_cores": psutil.cpu_count(logical=True),
        "cpu_physical_cores": psutil.cpu_count(logical=False),
        "memory_bytes": psutil.virtual_memory().total,
    }


def _read_text(path: str) -> str | None:
    try:
        return Path(path).read_text().strip() or None
    except OSError:
        return None


def _version(distribution: str) -> str | None:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None
