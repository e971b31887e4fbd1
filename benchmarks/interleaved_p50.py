"""p50 of several .tflite files timed side by side: their invokes alternate within each round, and
the order is reversed every other round, so every file sees the same machine load (docs/timing.md:
only ratios measured this way are trustworthy on a shared VM).

Not a test. Until the profiler times rows in interleaved rounds itself, this is how the figures
in docs/eliminate.md ("Channel groups") were taken:

    python benchmarks/interleaved_p50.py runs/fashion_resnet8/base_int8/model.tflite \\
        runs/fashion_resnet8/resnet_half_ft_int8/model.tflite --rounds 12 --runs 300

Prints, per file, the median over rounds of its p50 and MACs, and each file's per-round ratio to
the first; names the CPU (model name, family, model) and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lean_figures import alternating_p50  # noqa: E402  the interleaving loop, one copy


def cpu() -> str:
    fields = {}
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return f"{fields.get('model name', '?')}, family {fields.get('cpu family', '?')} model {fields.get('model', '?')}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--runs", type=int, default=300, help="timed invokes per file per round")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--json", type=Path, help="also write the raw per-round p50s here")
    args = parser.parse_args()

    from edgeopt.profile.tflite_graph import inspect_tflite

    flatbuffers = {str(path): path.read_bytes() for path in args.files}
    infos = {str(path): inspect_tflite(path) for path in args.files}
    sample = np.random.default_rng(0).random((1, *_input_shape(args.files[0])[1:]), dtype=np.float32)
    load_before = os.getloadavg()
    rounds = []
    names = list(flatbuffers)
    for number in range(args.rounds):
        order = names if number % 2 == 0 else names[::-1]
        rounds += alternating_p50({n: flatbuffers[n] for n in order}, sample, args.runs, args.warmup, 1)
    load_after = os.getloadavg()
    first = names[0]
    print(f"CPU: {cpu()}; LiteRT 1 thread; {args.rounds} rounds × {args.runs} invokes per file; load average "
          f"{load_before[0]:.1f} before, {load_after[0]:.1f} after")
    print("| file | MACs | p50 ms (median of rounds) | × of the first, median (range over rounds) |")
    print("|---|---:|---:|---:|")
    for name in names:
        p50s = np.array([r[name] for r in rounds])
        ratios = p50s / np.array([r[first] for r in rounds])
        print(f"| {name} | {infos[name].macs:,} | {np.median(p50s):.4f} | {np.median(ratios):.3f} "
              f"({ratios.min():.3f}–{ratios.max():.3f}) |")
    if args.json:
        args.json.write_text(json.dumps({"cpu": cpu(), "load_before": load_before, "load_after": load_after,
                                         "rounds": rounds}, indent=1))


def _input_shape(path: Path) -> tuple[int, ...]:
    from ai_edge_litert.interpreter import Interpreter

    return tuple(Interpreter(model_path=str(path)).get_input_details()[0]["shape"])


if __name__ == "__main__":
    main()
