"""Training throughput (images/s) per precision on this machine: float32, auto, and the others.

Usage:
    python benchmarks/train_throughput.py [--dataset mnist_embedded] [--images 4000] [--rounds 5]
                                          [--precisions float32,auto,mixed_bfloat16,mixed_float16]

Each precision gets its own copy of the same small CNN (the seed-000 GAP CNN), built the way the
train/finetune/prune stages build it (`for_policy` inside `dtype_policy`, seeded, deterministic
ops). After one warm-up epoch on a slice (graph tracing), rounds of one epoch each run the
precisions in alternating order (ABBA), so drift of a shared machine hits all of them; it prints
the median images/s over rounds (wall clock), the spread, images per CPU-second (less sensitive
to other load on the machine), and each precision's speed-up over float32 as the median of the
per-round ratios. It says what `auto` resolved to and why. Figures, not tests: no assertion.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist_embedded", help="a dataset from `edgeopt datasets`")
    parser.add_argument("--architecture", default="gap_cnn")
    parser.add_argument("--images", type=int, default=4000, help="training images per timed epoch")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--precisions", default="float32,auto,mixed_bfloat16,mixed_float16")
    args = parser.parse_args(argv)

    from edgeopt.common.errors import EdgeoptError
    from edgeopt.data.datasets import load_dataset
    from edgeopt.models.architectures import build_model
    from edgeopt.tf.precision import PRECISIONS, cpu_flags, dtype_policy, for_policy, resolve_precision
    from edgeopt.tf.training import compile_classifier, seed_everything

    names = [p.strip() for p in args.precisions.split(",") if p.strip()]
    unknown = [p for p in names if p not in PRECISIONS]
    if unknown or "float32" not in names:
        print(f"--precisions must list float32 and known precisions ({', '.join(PRECISIONS)}); "
              f"received {args.precisions!r}", file=sys.stderr)
        return 2
    try:
        ds = load_dataset(args.dataset, limit_train=args.images)
    except EdgeoptError as exc:
        print(exc, file=sys.stderr)
        return 2
    from edgeopt.tf.runtime import tf

    x, y = ds.x_train, ds.y_train
    flags = sorted(f for f in cpu_flags() if "bf16" in f or "amx" in f or f in ("avx512f", "avx512_vnni"))
    print(f"machine: {_cpu_model()}, {os.cpu_count()} CPUs, flags {' '.join(flags) or 'none of interest'}; "
          f"load average {os.getloadavg()[0]:.2f}; TensorFlow {tf.__version__}, Python {platform.python_version()}")
    print(f"model: {args.architecture} on {ds.name} {ds.input_shape}, {len(x)} images/epoch, batch {args.batch_size}, "
          f"{args.rounds} rounds")

    models = {}
    for name in names:
        choice = resolve_precision(name)
        print(f"  {name:>15} → {choice.policy} ({choice.reason})")
        seed_everything(0)
        base = build_model(args.architecture, ds.input_shape, ds.num_classes)
        with dtype_policy(choice.policy):
            model = compile_classifier(for_policy(base, choice.policy), 1e-3)
            model.fit(x[: args.batch_size * 4], y[: args.batch_size * 4], batch_size=args.batch_size, epochs=1,
                      verbose=0)  # trace the graphs outside the timed rounds
        models[name] = (model, choice.policy)

    wall = {name: [] for name in names}
    cpu = {name: [] for name in names}
    for round_index in range(args.rounds):
        order = names if round_index % 2 == 0 else names[::-1]
        for name in order:
            model, policy = models[name]
            with dtype_policy(policy):
                start_wall, start_cpu = time.perf_counter(), time.process_time()
                model.fit(x, y, batch_size=args.batch_size, epochs=1, shuffle=True, verbose=0)
                wall[name].append(len(x) / (time.perf_counter() - start_wall))
                cpu[name].append(len(x) / (time.process_time() - start_cpu))

    print(f"\n{'precision':>15} {'policy':>15} {'images/s':>9} {'min–max':>13} {'img/CPU-s':>9} {'vs float32':>10}")
    for name in names:
        ratios = [a / b for a, b in zip(wall[name], wall["float32"])]
        median = statistics.median(wall[name])
        spread = (max(wall[name]) - min(wall[name])) / median
        print(f"{name:>15} {models[name][1]:>15} {median:9.0f} {min(wall[name]):6.0f}–{max(wall[name]):<6.0f} "
              f"{statistics.median(cpu[name]):9.0f} {statistics.median(ratios):9.2f}x"
              + ("   (spread > 10 %: the machine is busy)" if spread > 0.10 else ""))
    return 0


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
