"""A search's best.tflite against the rows of hand-written recipes, timed together (issue 32).

    python benchmarks/search/side_by_side.py SEARCH_DIR RUN_DIR [RUN_DIR ...] [--budget 1] [--every RUN_DIR]

Every `.tflite` row of each RUN_DIR whose accuracy is within the budget of that run's baseline,
each run's baseline, every row of each `--every` RUN_DIR, and SEARCH_DIR/best.tflite are
profiled in ONE `edgeopt profile` (interleaved
rounds), all on the test images the search never chose on (SEARCH_DIR/data/test.npz), and the
speed-up of best.tflite over each is printed with the CPU it was measured on.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def within_budget_rows(run_dir: Path, budget: float) -> list[tuple[str, Path]]:
    results = json.loads((run_dir / "results.json").read_text())
    rows = [r for r in results["rows"] if r["format"] == "tflite"]
    base = next(r for r in rows if r["name"] == results["recipe"]["baseline"])
    return [(f"{run_dir.name}/{r['name']}", run_dir / r["path"]) for r in rows
            if r["name"] == base["name"] or (r["accuracy"] is not None and r["accuracy"] >= base["accuracy"] - budget / 100)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("search_dir", type=Path)
    parser.add_argument("run_dirs", type=Path, nargs="+")
    parser.add_argument("--budget", type=float, default=1.0)
    parser.add_argument("--every", type=Path, action="append", default=[], help="a run whose every row is timed")
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    models = [("search/best", args.search_dir / "best.tflite")]
    for run_dir in args.run_dirs:
        models += within_budget_rows(run_dir, args.budget)
    for run_dir in args.every:
        models += within_budget_rows(run_dir, float("inf"))
    with np.load(args.search_dir / "data" / "test.npz", allow_pickle=False) as f:
        x, y = f["x_test"], f["y_test"]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "unseen.npz"
        np.savez(data, x_train=x, y_train=y, x_test=x, y_test=y)
        done = subprocess.run([sys.executable, "-m", "edgeopt.cli", "profile", *(str(p) for _, p in models), "--data", "npz",
                               "--data-path", str(data), "--runs", str(args.runs), "--json"],
                              capture_output=True, text=True, check=True)
    document = json.loads(done.stdout)
    assert len(document["rows"]) == len(models), "edgeopt profile returns one row per file, in order"
    rows = {name: row for (name, _), row in zip(models, document["rows"])}
    best = rows["search/best"]
    print(f"CPU: {document['machine'].get('cpu_model')}; {len(rows)} models timed together, "
          f"{len(y)} test images the search never chose on")
    print(f"{'model':45} {'accuracy %':>10} {'quiet ms':>9} {'best is':>8}")
    for name, row in sorted(rows.items(), key=lambda kv: kv[1].get("latency_ms_quiet") or 1e9):
        quiet = row.get("latency_ms_quiet") or row["latency_ms_p50"]
        mine = best.get("latency_ms_quiet") or best["latency_ms_p50"]
        print(f"{name:45} {100 * row['accuracy']:10.2f} {quiet:9.4f} {quiet / mine:7.2f}×")


if __name__ == "__main__":
    main()
