"""Figures for docs/where-time-goes.md: one Conv2D, float32 against int8, op by op; MobileNetV2's ops.

Not a test. Builds (with TensorFlow) and times (with `edgeopt.profile.ops`, LiteRT's own profiler):

1. One Conv2D 3×3, 16 filters, ReLU, a 28×28×16 output from a 30×30×C input, C = 1, 2, 4, 8, 16,
   converted to float32 and full int8. Every model is profiled once per round, in a fresh random
   order each round, so all see the same moments of a shared machine; per model the figures are
   the medians over rounds of its CONV_2D op time and of the interpreter's p50.
2. Keras' MobileNetV2 at 96×96×3 (random weights, 10 classes), float32 and int8: the per-op table
   and how the ops add up against the p50.
3. Any other .tflite files given (e.g. a run's base_float32 and base_int8): their per-op tables.

Models compared with each other (2 and 3) are profiled in the same interleaved rounds as the sweep;
each gets the table of its round with the median p50 (a whole round: its ops were timed together)
and every round's sum against its p50.

    python benchmarks/where_time_goes.py --out runs/where_time_goes
    python benchmarks/where_time_goes.py --out runs/where_time_goes --rounds 7 --runs 300 \
        --model runs/fashion_full/base_float32/model.tflite --model runs/fashion_full/base_int8/model.tflite

Writes OUT/where_time_goes.json (with the CPU's model name, family and model number) and prints tables.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from pathlib import Path

import numpy as np

CHANNELS = (1, 2, 4, 8, 16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--skip-build", action="store_true", help="reuse the .tflite files already in --out")
    parser.add_argument("--model", action="append", default=[], help="another .tflite to profile (repeat)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.skip_build:
        build_models(out)

    from edgeopt.common.row import Row
    from edgeopt.profile.ops import OPS_KEY
    from edgeopt.profile.tflite_file import inspect_tflite
    from edgeopt.report.ops import render_op_times

    cpu = cpu_identity()
    print(f"CPU: {cpu['model_name']} (family {cpu['family']}, model {cpu['model']}); load: {load_average()}")
    sweep = {f"conv_cin{c}_{mode}": out / f"conv_cin{c}_{mode}.tflite" for c in CHANNELS for mode in ("float32", "int8")}
    mobilenet = {f"mobilenetv2_96_{mode}": out / f"mobilenetv2_96_{mode}.tflite" for mode in ("float32", "int8")}
    others = {Path(m).parent.name if Path(m).name == "model.tflite" else Path(m).stem: Path(m) for m in args.model}
    models = {**sweep, **mobilenet, **others}
    profiles = interleaved_rounds(models, args.rounds, args.runs, args.warmup)
    conv_rows = []
    for c in CHANNELS:
        entry = {"input_channels": c, "macs": 28 * 28 * 16 * 9 * c}
        for mode in ("float32", "int8"):
            rounds = profiles[f"conv_cin{c}_{mode}"]
            times = [next(op["time_us"] for op in p["ops"] if op["op_name"] == "CONV_2D") for p in rounds]
            entry[f"{mode}_conv_us"] = statistics.median(times)
            entry[f"{mode}_p50_us"] = statistics.median(1e3 * p["p50_ms"] for p in rounds)
            entry[f"{mode}_conv_us_rounds"] = [round(t, 2) for t in times]
        conv_rows.append(entry)
    print(f"\nConv2D 3×3, 28×28×16 output, median over {args.rounds} rounds (µs):")
    print(f"{'C in':>5} {'MACs':>9} {'f32 conv':>9} {'int8 conv':>10} {'f32 p50':>8} {'int8 p50':>9} {'int8/f32':>9}")
    for e in conv_rows:
        print(f"{e['input_channels']:>5} {e['macs']:>9,} {e['float32_conv_us']:>9.1f} {e['int8_conv_us']:>10.1f} "
              f"{e['float32_p50_us']:>8.1f} {e['int8_p50_us']:>9.1f} {e['int8_conv_us'] / e['float32_conv_us']:>8.2f}×")
    medians = {}
    for name in [*mobilenet, *others]:
        medians[name] = median_round(profiles[name])
        row = Row(name, str(models[name]), "tflite", dtype=inspect_tflite(models[name]).dtype,
                  extra={OPS_KEY: medians[name]})
        coverage = medians[name]["coverage_per_round"]
        print(f"\n(the round with the median p50 of {args.rounds}; the ops' sum / p50 per round: "
              f"{', '.join(f'{100 * c:.0f} %' for c in coverage)}; median {100 * statistics.median(coverage):.1f} %)\n"
              + render_op_times(row))
    document = {"cpu": cpu, "load_average": load_average(), "rounds": args.rounds, "runs": args.runs,
                "warmup": args.warmup, "conv_sweep": conv_rows, "median_rounds": medians, "rounds_of": profiles}
    (out / "where_time_goes.json").write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nwrote {out / 'where_time_goes.json'}")


def interleaved_rounds(models: dict[str, Path], rounds: int, runs: int, warmup: int) -> dict[str, list[dict]]:
    """Every model profiled once per round, in a fresh random order each round (seeded)."""
    from edgeopt.profile.ops import profile_ops

    rng = random.Random(0)
    result: dict[str, list[dict]] = {name: [] for name in models}
    for number in range(1, rounds + 1):
        order = list(models)
        rng.shuffle(order)
        for name in order:
            result[name].append(profile_ops(models[name], runs=runs, warmup=warmup).to_dict())
        print(f"round {number}/{rounds} done (load {load_average()})", flush=True)
    return result


def median_round(rounds: list[dict]) -> dict:
    """The round whose p50 is the median one, whole (its ops were timed together), with every round's
    sum against its p50 and its paired ratio beside it: op medians taken across rounds would mix
    moments of a machine whose speed moved between rounds."""
    chosen = sorted(rounds, key=lambda r: r["p50_ms"])[len(rounds) // 2]
    return {**chosen, "coverage_per_round": [round(r["coverage"], 4) for r in rounds],
            "paired_per_round": [round(r["paired_coverage"], 4) for r in rounds if r.get("paired_coverage")]}


def build_models(out: Path) -> None:
    """The conv sweep and MobileNetV2 as float32 and full-int8 .tflite files (TensorFlow)."""
    from edgeopt.models.conversion import tflite_bytes
    from edgeopt.tf.runtime import keras

    rng = np.random.default_rng(0)
    keras.utils.set_random_seed(0)
    for c in CHANNELS:
        inputs = keras.Input((30, 30, c))
        model = keras.Model(inputs, keras.layers.Conv2D(16, 3, activation="relu")(inputs))
        calibration = rng.random((100, 30, 30, c), dtype=np.float32)
        for mode in ("float32", "int8"):
            (out / f"conv_cin{c}_{mode}.tflite").write_bytes(tflite_bytes(model, mode, calibration))
    model = keras.applications.MobileNetV2(input_shape=(96, 96, 3), weights=None, classes=10)
    calibration = rng.random((100, 96, 96, 3), dtype=np.float32)
    for mode in ("float32", "int8"):
        (out / f"mobilenetv2_96_{mode}.tflite").write_bytes(tflite_bytes(model, mode, calibration))


def cpu_identity() -> dict:
    """Model name, family and model number of the first CPU in /proc/cpuinfo."""
    from edgeopt.profile.machine import read_cpuinfo

    info = read_cpuinfo()
    return {"model_name": info.get("model name"), "family": info.get("cpu family"), "model": info.get("model"),
            "flags_avx512_vnni": "avx512_vnni" in info.get("flags", "").split()}


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


if __name__ == "__main__":
    main()
