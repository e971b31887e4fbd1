"""Do two profiles of one run folder agree while a neighbour keeps the machine busy? (issue #24)

Starts a background load that keeps every core busy `--busy` seconds and idle `--idle` seconds, in
phase (a browser, a CI neighbour), runs `edgeopt profile RUN_DIR` twice back to back under it, stops
the load, and compares the two device files: each `.tflite` row's speed-up over the run's baseline,
its energy relative to the baseline, and the fastest row within the accuracy budget.

    python benchmarks/busy_profiles.py runs/fashion_full [--edgeopt .venv/bin/edgeopt] [--names a b]
    python benchmarks/busy_profiles.py runs/fashion_full --compare-only before1 before2

A figure, not a test: it names the CPU and the load average, which other jobs share.
The speed-up is the row's `speedup_vs_baseline` where the profile wrote one (timed in interleaved
rounds), else the ratio of p50s (what older profiles show).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import time
from pathlib import Path


def spin(busy_s: float, idle_s: float) -> None:
    """Keep one core busy `busy_s` out of every `busy_s + idle_s` seconds, in phase with the others."""
    period = busy_s + idle_s
    while True:
        phase = time.time() % period
        if phase < busy_s:
            end = time.time() + busy_s - phase
            while time.time() < end:
                pass
        else:
            time.sleep(period - phase)


def figures(document: dict, baseline: str, budget: float | None) -> dict[str, dict]:
    rows = {row["name"]: row for row in document["rows"]}
    base = rows[baseline]
    out = {}
    for name, row in rows.items():
        paired = row.get("speedup_vs_baseline")
        energy = row.get("energy_mj"), base.get("energy_mj")
        drop = None if row.get("accuracy") is None else 100 * (base["accuracy"] - row["accuracy"])
        out[name] = {"speedup": paired if paired is not None else base["latency_ms_p50"] / row["latency_ms_p50"],
                     "energy": energy[0] / energy[1] if all(energy) else None,
                     "within": budget is None or (drop is not None and drop <= budget + 1e-9)}
    return out


def compare(run_dir: Path, names: list[str]) -> None:
    results = json.loads((run_dir / "results.json").read_text())
    recipe = results.get("recipe") or {}
    baseline, budget = recipe.get("baseline"), recipe.get("accuracy_budget")
    docs = [json.loads((run_dir / "devices" / f"{name}.json").read_text()) for name in names]
    baseline = baseline or docs[0]["rows"][0]["name"]
    a, b = (figures(d, baseline, budget) for d in docs)
    print(f"{'row':24s} {'speed-up':>17s} {'diff':>6s}   {'energy / base':>17s} {'diff':>6s}")
    worst_speed = worst_energy = 0.0
    for name in a:
        s = a[name]["speedup"], b[name]["speedup"]
        e = a[name]["energy"], b[name]["energy"]
        ds = 100 * abs(s[0] / s[1] - 1)
        de = 100 * abs(e[0] / e[1] - 1) if all(e) else float("nan")
        worst_speed, worst_energy = max(worst_speed, ds), max(worst_energy, 0.0 if de != de else de)
        print(f"{name:24s} {s[0]:8.3f} {s[1]:8.3f} {ds:5.1f}%   {e[0] or float('nan'):8.3f} "
              f"{e[1] or float('nan'):8.3f} {de:5.1f}%")
    over = sum(100 * abs(a[n]["speedup"] / b[n]["speedup"] - 1) > 5 for n in a)
    print(f"largest speed-up difference {worst_speed:.1f} % ({over} of {len(a)} rows over 5 %); "
          f"largest energy-ratio difference {worst_energy:.1f} %")
    best = [max((n for n in f if f[n]["within"]), key=lambda n: f[n]["speedup"]) for f in (a, b)]
    print(f"fastest within budget: `{best[0]}` / `{best[1]}`")
    for number, f in enumerate((a, b), start=1):
        x, y = f[best[0]]["speedup"], f[best[1]]["speedup"]
        print(f"  in profile {number}: {x:.3f}× and {y:.3f}×, {100 * abs(x / y - 1):.1f} % apart")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--edgeopt", default=str(Path(sys.executable).with_name("edgeopt")))
    parser.add_argument("--names", nargs=2, default=["busy1", "busy2"], help="device names of the two profiles")
    parser.add_argument("--busy", type=float, default=0.7)
    parser.add_argument("--idle", type=float, default=0.7)
    parser.add_argument("--compare-only", nargs=2, metavar="NAME", help="compare two existing device files")
    args = parser.parse_args()
    if args.compare_only:
        compare(args.run_dir, args.compare_only)
        return 0
    with open("/proc/cpuinfo") as info:
        fields = dict(line.split(":", 1) for line in info if ":" in line)
    print(f"CPU: {fields.get('model name', '?').strip()}, family {fields.get('cpu family', '?').strip()} "
          f"model {fields.get('model', '?').strip()}, {os.cpu_count()} logical cores")
    load = [mp.Process(target=spin, args=(args.busy, args.idle), daemon=True) for _ in range(os.cpu_count() or 1)]
    for process in load:
        process.start()
    try:
        for name in args.names:
            started, before = time.perf_counter(), os.getloadavg()[0]
            subprocess.run([args.edgeopt, "profile", str(args.run_dir), "--device-name", name], check=True,
                           stdout=subprocess.DEVNULL)
            print(f"{name}: {time.perf_counter() - started:.0f} s, load average {before:.1f} → "
                  f"{os.getloadavg()[0]:.1f}")
    finally:
        for process in load:
            process.terminate()
            process.join()
    compare(args.run_dir, args.names)
    return 0


if __name__ == "__main__":
    sys.exit(main())
