"""Summarise an `eliminate` sweep's tradeoff.csv: SVD + pivoted QR (seed 003) against the
weight-norm baseline at every width the sweep visited, as a markdown table.

    python benchmarks/elimination_table.py runs/mnist_eliminate/sweep/tradeoff.csv [--every 10]

Counts wins/ties/losses on test accuracy and on fidelity to the unmodified model (top-1
agreement, higher is better; relative output error, lower is better). Needs a sweep run with
`compare_baseline: true`. Reads the CSV only (no TensorFlow).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path


def tally(ours: dict, base: dict, widths: list[int], column: str, higher_is_better: bool = True) -> tuple:
    """(wins, ties, losses, margin) of ours against base on `column`: three lists of widths and
    each width's margin (positive: ours is better)."""
    sign = 1 if higher_is_better else -1
    margin = {p: sign * (float(ours[p][column]) - float(base[p][column])) for p in widths}
    return ([p for p in widths if margin[p] > 0], [p for p in widths if margin[p] == 0],
            [p for p in widths if margin[p] < 0], margin)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path)
    parser.add_argument("--every", type=int, default=10, help="print every n-th width (all are counted)")
    args = parser.parse_args()
    rows = list(csv.DictReader(args.csv.open()))
    fidelity = bool(rows) and "agreement" in rows[0]  # older sweeps did not record it
    for layer in dict.fromkeys(r["layer"] for r in rows):
        mine = [r for r in rows if r["layer"] == layer]
        original = next(r for r in mine if r["method"] == "original")
        ours = {int(r["neurons_kept"]): r for r in mine if r["method"] == "svd_qr"}
        base = {int(r["neurons_kept"]): r for r in mine if r["method"] == "weight_norm"}
        widths = sorted(set(ours) & set(base), reverse=True)
        if not widths:
            print(f"{layer}: no baseline rows (run the sweep with compare_baseline: true)")
            continue
        wins, ties, losses, margin = tally(ours, base, widths, "accuracy")
        full_params = int(original["layer_params"])
        original_accuracy = float(original["accuracy"])
        print(f"\n### {layer}: {original['width']} neurons, original accuracy {100 * original_accuracy:.2f} %\n")
        header = "| neurons kept | layer params (×smaller) | energy µJ (model) | SVD+QR acc % | baseline acc % | margin pts |"
        rule = "|---:|---:|---:|---:|---:|---:|"
        if fidelity:
            header += " agreement % SVD+QR / baseline | output error SVD+QR / baseline |"
            rule += "---:|---:|"
        print(header)
        print(rule)
        shown = [p for i, p in enumerate(widths) if i % args.every == 0 or p == widths[-1]]
        for p in shown:
            r, b = ours[p], base[p]
            line = (f"| {p} | {int(r['layer_params'])} ({full_params / int(r['layer_params']):.2f}×) | "
                    f"{float(r['energy_uj']):.2f} | {100 * float(r['accuracy']):.2f} | "
                    f"{100 * float(b['accuracy']):.2f} | {100 * margin[p]:+.2f} |")
            if fidelity:
                line += (f" {100 * float(r['agreement']):.2f} / {100 * float(b['agreement']):.2f} | "
                         f"{float(r['output_error']):.4f} / {float(b['output_error']):.4f} |")
            print(line)
        print(f"\nAccuracy: SVD+QR ahead at {len(wins)} of {len(widths)} widths, tied at {len(ties)}, behind at "
              f"{len(losses)}" + (f" (widths {min(losses)}–{max(losses)}, by at most {-100 * min(margin.values()):.2f} "
                                  "points)" if losses else "") + ".")
        if losses:
            above = [p for p in losses if float(base[p]["accuracy"]) > original_accuracy]
            print(f"At {len(above)} of those {len(losses)} widths the baseline scores above the unmodified model "
                  f"({100 * original_accuracy:.2f} %); SVD+QR there: "
                  f"{100 * min(float(ours[p]['accuracy']) for p in losses):.2f}–"
                  f"{100 * max(float(ours[p]['accuracy']) for p in losses):.2f} %.")
            below = [p for p in widths if p < min(losses)]
            print(f"Below {min(losses)} neurons SVD+QR is ahead or tied at every width ({len(below)} widths).")
        if fidelity:
            for column, label, higher in (("agreement", "top-1 agreement with the unmodified model", True),
                                          ("output_error", "relative output error", False)):
                w, t, lost, _ = tally(ours, base, widths, column, higher)
                print(f"{label.capitalize()}: SVD+QR better at {len(w)} of {len(widths)} widths, tied at {len(t)}, "
                      f"worse at {len(lost)}" + (f" (widths {', '.join(map(str, lost[:10]))})" if lost else "") + ".")
        chosen = [r for r in mine if r["chosen"] == "True"]
        if chosen:
            c = chosen[0]
            print(f"Chosen: {c['neurons_kept']} neurons, accuracy {100 * float(c['accuracy']):.2f} %, "
                  f"energy {float(c['energy_uj']):.2f} µJ (original {float(original['energy_uj']):.2f}).")


if __name__ == "__main__":
    main()
