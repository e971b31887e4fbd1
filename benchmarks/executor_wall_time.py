"""Wall time and CPU use of one recipe run sequentially and with `--executor ray`, alternating.

    python benchmarks/executor_wall_time.py recipes/lr_sweep.yaml --rounds 1

Each run is `edgeopt run RECIPE --force` in a fresh process, so every step really trains. CPU
time is that of the run's whole process tree (the CLI, and for Ray its raylet, GCS and workers),
sampled every 0.2 s through psutil and kept per process: a process's last < 0.2 s before it
exits are missed, so the CPU figures are a slight lower bound. Utilisation is CPU time / (wall
time × cores). Prints one line per run, then the accuracies of each executor's last run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]


def measured_run(command: list[str]) -> tuple[float, float, int]:
    """(wall s, CPU s of the process tree, exit code)."""
    start = time.perf_counter()
    process = psutil.Popen(command, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    cpu: dict[int, float] = {}
    while process.poll() is None:
        try:
            tree = [process, *process.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        for p in tree:
            try:
                times = p.cpu_times()
                cpu[p.pid] = times.user + times.system + times.children_user + times.children_system
            except psutil.NoSuchProcess:
                pass
        time.sleep(0.2)
    return time.perf_counter() - start, sum(cpu.values()), process.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    cores = psutil.cpu_count()
    print(f"cpu: {_cpu_model()}, {cores} cores; load before: {os.getloadavg()}")
    accuracies = {}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for executor in ("sequential", "ray"):
                out = Path(tmp, executor)
                command = [sys.executable, "-m", "edgeopt.cli", "run", args.recipe, "--out", str(out), "--force",
                           "--executor", executor]
                wall_s, cpu_s, code = measured_run(command)
                print(f"round {round_ + 1} {executor:>10}: wall {wall_s:6.1f} s, CPU {cpu_s:6.1f} s, "
                      f"utilisation {100 * cpu_s / (wall_s * cores):5.1f} % of {cores} cores, exit {code}, "
                      f"load {os.getloadavg()[0]:.2f}")
                rows = json.loads((out / "results.json").read_text())["rows"] if code == 0 else []
                accuracies[executor] = {r["name"]: r["accuracy"] for r in rows}
    for executor, values in accuracies.items():
        print(f"{executor} accuracies: {values}")
    print("same accuracies:", accuracies.get("sequential") == accuracies.get("ray"))


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


if __name__ == "__main__":
    main()
