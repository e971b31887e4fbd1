"""Summarise an `eliminate` sweep's tradeoff.csv: SVD + pivoted QR (seed 003) against the
weight-norm baseline at every width the sweep visited, as a markdown table.

    python benchmarks/elimination_table.py runs/mnist_eliminate/sweep/tradeoff.csv [--every 10]

Needs a sweep run with `compare_baseline: true`. Reads the CSV only (no TensorFlow).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path)
    parser.add_argument("--every", type=int, default=10, help="print every n-th width (all are counted)")
    args = parser.parse_args()
    rows = list(csv.DictReader(args.csv.open()))
    for layer in dict.fromkeys(r["layer"] for r in rows):
        mine = [r for r in rows if r["layer"] == layer]
        original = next(r for r in mine if r["method"] == "original")
        ours = {int(r["neurons_kept"]): r for r in mine if r["method"] == "svd_qr"}
        base = {int(r["neurons_kept"]): r for r in mine if r["method"] == "weight_norm"}
        widths = sorted(set(ours) & set(base), reverse=True)
        if not widths:
            print(f"{layer}: no baseline rows (run the sweep with compare_baseline: true)")
            continue
        margin = {p: float(ours[p]["accuracy"]) - float(base[p]["accuracy"]) for p in widths}
        wins = [p for p in widths if margin[p] > 0]
        ties = [p for p in widths if margin[p] == 0]
        losses = [p for p in widths if margin[p] < 0]
        full_params = int(original["layer_params"])
        print(f"\n### {layer}: {original['width']} neurons, original accuracy {100 * float(original['accuracy']):.2f} %\n")
        print("| neurons kept | layer params (×smaller) | energy µJ (model) | SVD+QR acc % | baseline acc % | margin pts |")
        print("|---:|---:|---:|---:|---:|---:|")
        shown = [p for i, p in enumerate(widths) if i % args.every == 0 or p == widths[-1]]
        for p in shown:
            r = ours[p]
            print(f"| {p} | {int(r['layer_params'])} ({full_params / int(r['layer_params']):.2f}×) | "
                  f"{float(r['energy_uj']):.2f} | {100 * float(r['accuracy']):.2f} | "
                  f"{100 * float(base[p]['accuracy']):.2f} | {100 * margin[p]:+.2f} |")
        print(f"\nSVD+QR ahead at {len(wins)} of {len(widths)} widths, tied at {len(ties)}, behind at {len(losses)}"
              + (f" (widths {min(losses)}–{max(losses)}, by at most {-100 * min(margin.values()):.2f} points)"
                 if losses else "") + ".")
        if losses:
            below = [p for p in widths if p < min(losses)]
            print(f"Below {min(losses)} neurons SVD+QR is ahead or tied at every width ({len(below)} widths).")
        chosen = [r for r in mine if r["chosen"] == "True"]
        if chosen:
            c = chosen[0]
            print(f"Chosen: {c['neurons_kept']} neurons, accuracy {100 * float(c['accuracy']):.2f} %, "
                  f"energy {float(c['energy_uj']):.2f} µJ (original {float(original['energy_uj']):.2f}).")


if __name__ == "__main__":
    main()
