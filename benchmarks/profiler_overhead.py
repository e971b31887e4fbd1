"""How much does the profiler add to what it measures? Compare with a bare invoke() loop.

Usage:
    python benchmarks/profiler_overhead.py [MODEL.tflite] [--runs 300] [--rounds 5] [--threads 1]

Without a model path it takes the newest `*.tflite` under `runs/`. Each round times
`measure_latency` and a bare loop over the same model (its own interpreter, same input), in
alternating order so that drift of the machine hits both; it prints the median over rounds of
each p50 and the overhead in percent. The target is an overhead within 5 %. Run it on a quiet
machine: other load moves single-run latencies by far more than the profiler does.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from edgeopt.profile import measure_latency, open_interpreter
from edgeopt.profile.runner import fill_random_inputs


def newest_model(root: Path = Path("runs")) -> Path | None:
    if not root.is_dir():
        return None
    models = sorted(root.rglob("*.tflite"), key=lambda p: p.stat().st_mtime)
    return models[-1] if models else None


def bare_loop_p50_ms(path: Path, runs: int, warmup: int, threads: int) -> tuple[float, float]:
    """p50 of per-invoke timings, and the mean of one untimed-inside loop (no per-run clocks)."""
    interpreter = open_interpreter(path, threads=threads)
    fill_random_inputs(interpreter)
    for _ in range(warmup):
        interpreter.invoke()
    samples = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        interpreter.invoke()
        samples.append(time.perf_counter_ns() - start)
    start = time.perf_counter_ns()
    for _ in range(runs):
        interpreter.invoke()
    loop_mean_ms = (time.perf_counter_ns() - start) / runs / 1e6
    return statistics.median(samples) / 1e6, loop_mean_ms


def timer_cost_ns(repeats: int = 100_000) -> float:
    """Median cost of the profiler's timed region around nothing: two perf_counter_ns calls."""
    clock = time.perf_counter_ns
    samples = [0] * repeats
    for i in range(repeats):
        start = clock()
        samples[i] = clock() - start
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", type=Path, help="a .tflite file (default: newest "
                        "under runs/)")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    model = args.model or newest_model()
    if model is None:
        print("No model given and no *.tflite under runs/. Pass a path.", file=sys.stderr)
        return 2

    profiler, bare, loop = [], [], []
    for i in range(args.rounds):
        # ABBA order: a machine that speeds up or slows down during the bench (frequency,
        # other load) biases neither side.
        for side in ("profiler", "bare") if i % 2 == 0 else ("bare", "profiler"):
            if side == "profiler":
                stats = measure_latency(model, runs=args.runs, warmup=args.warmup,
                                        threads=args.threads)
                profiler.append(stats.p50_ms)
            else:
                p50, loop_mean = bare_loop_p50_ms(model, args.runs, args.warmup, args.threads)
                bare.append(p50)
                loop.append(loop_mean)

    p_prof, p_bare, m_loop = (statistics.median(v) for v in (profiler, bare, loop))
    # Adjacent rounds see the same machine state, so the per-round ratio cancels most drift.
    paired_pct = statistics.median((p - b) / b * 100 for p, b in zip(profiler, bare))
    clock_ns = timer_cost_ns()
    print(f"model            {model} ({model.stat().st_size} bytes), threads={args.threads}, "
          f"{args.rounds} rounds x {args.runs} runs")
    print(f"measure_latency  p50 {p_prof * 1000:9.2f} us   (median over rounds)")
    print(f"bare invoke loop p50 {p_bare * 1000:9.2f} us   (whole-loop mean without per-run "
          f"clocks: {m_loop * 1000:.2f} us)")
    print(f"timer cost       {clock_ns:9.0f} ns per sample = "
          f"{clock_ns / (p_bare * 1e6) * 100:.2f} % of the bare p50")
    verdict = "OK" if abs(paired_pct) <= 5 else "OVER 5 %"
    print(f"overhead         {paired_pct:+.2f} %  (median of per-round ratios)  [{verdict}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
