"""Latency of one `.tflite` inference through the LiteRT interpreter, measured like pyperf.

Warm up, keep every raw sample, report median/p90/mean/spread. Only `invoke()` sits between
the two clock reads: inputs are set once before the loop, so the figure is the interpreter's
own time, not numpy's or the profiler's.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, field

import numpy as np

from edgeopt.common.errors import EdgeoptError
from edgeopt.profile.tflite_file import open_interpreter

NOISY_SPREAD = 0.10  # std/median above this is worth a warning (DESIGN.md §4, §7.6)


@dataclass(frozen=True)
class LatencyStats:
    """Latency of one inference, in milliseconds.

    Attributes:
        p50_ms: Median.
        p90_ms: 90th percentile.
        mean_ms: Mean.
        std_ms: Sample standard deviation (0.0 for a single run).
        min_ms: Fastest run.
        samples_ms: Every timed run, in order, warm-up excluded.
        runs: Timed runs.
        warmup: Untimed runs before them.
        threads: Interpreter threads.
    """

    p50_ms: float
    p90_ms: float
    mean_ms: float
    std_ms: float
    min_ms: float
    samples_ms: list[float] = field(repr=False)
    runs: int
    warmup: int
    threads: int

    @property
    def noisy(self) -> bool:
        """True when the spread (std / median) exceeds 10 %: rerun on a quieter machine."""
        return self.p50_ms > 0 and self.std_ms / self.p50_ms > NOISY_SPREAD

    @classmethod
    def from_samples_ns(cls, samples_ns: list[int], *, warmup: int, threads: int) -> "LatencyStats":
        """Summarise raw `perf_counter_ns` durations.

        Example:
            >>> LatencyStats.from_samples_ns([1_000_000, 3_000_000], warmup=0, threads=1).p50_ms
            2.0
        """
        ms = [s / 1e6 for s in samples_ns]
        return cls(
            p50_ms=statistics.median(ms),
            p90_ms=float(np.percentile(ms, 90)),
            mean_ms=statistics.fmean(ms),
            std_ms=statistics.stdev(ms) if len(ms) > 1 else 0.0,
            min_ms=min(ms),
            samples_ms=ms,
            runs=len(ms),
            warmup=warmup,
            threads=threads,
        )


def fill_random_inputs(interpreter, seed: int = 0) -> None:
    """Set every input of an allocated interpreter to seeded random data of its dtype.

    Integer inputs span their dtype's whole range; float inputs lie in [0, 1), like images.

    Example:
        >>> fill_random_inputs(open_interpreter("model.tflite"))  # doctest: +SKIP
    """
    rng = np.random.default_rng(seed)
    for detail in interpreter.get_input_details():
        shape, dtype = tuple(detail["shape"]), np.dtype(detail["dtype"])
        if dtype == np.bool_:
            value = rng.integers(0, 2, size=shape).astype(np.bool_)
        elif np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            value = rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
        else:
            value = rng.random(size=shape, dtype=np.float32).astype(dtype)
        interpreter.set_tensor(detail["index"], value)


def check_run_options(runs: int, warmup: int, threads: int, where: str) -> None:
    """Raise EdgeoptError unless runs >= 1, warmup >= 0 and threads >= 1 are integers.

    Example:
        >>> check_run_options(100, 10, 1, "model a.tflite")
    """
    for name, value, low in (("runs", runs, 1), ("warmup", warmup, 0), ("threads", threads, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise EdgeoptError(f"`{name}` must be an integer >= {low}. "
                               f"Received: {name}={value!r} ({where}).")


def measure_latency(path: str | os.PathLike, runs: int = 100, warmup: int = 10,
                    threads: int = 1) -> LatencyStats:
    """Time `runs` inferences of a `.tflite` model after `warmup` untimed ones.

    One interpreter is built and fed seeded random input of the model's dtype; only
    `interpreter.invoke()` is inside the timed region (`time.perf_counter_ns`).

    Args:
        path: The model file.
        runs: Timed inferences (>= 1).
        warmup: Untimed inferences first (>= 0); they page in weights and warm caches.
        threads: Interpreter threads (>= 1).

    Returns:
        `LatencyStats` in milliseconds with the raw samples.

    Raises:
        ModelFileError: The file is missing, corrupt, or cannot be loaded.
        EdgeoptError: `runs`, `warmup` or `threads` is out of range.

    Example:
        >>> stats = measure_latency("model_int8.tflite", runs=200, threads=2)  # doctest: +SKIP
        >>> print(f"{stats.p50_ms:.3f} ms")  # doctest: +SKIP
    """
    check_run_options(runs, warmup, threads, f"model {path}")
    interpreter = open_interpreter(path, threads=threads)
    fill_random_inputs(interpreter)

    invoke = interpreter.invoke  # bound once: no attribute lookups inside the timed loop
    clock = time.perf_counter_ns
    for _ in range(warmup):
        invoke()
    samples = [0] * runs  # preallocated: no list growth between clock reads
    for i in range(runs):
        start = clock()
        invoke()
        samples[i] = clock() - start
    return LatencyStats.from_samples_ns(samples, warmup=warmup, threads=threads)
