"""Time several models together, in interleaved rounds, so their ratios survive a busy machine.

A shared machine's speed wanders (neighbours, frequency steps, drift) by up to 2× between minutes
(measured on this project's shared 2-vCPU VMs; docs/timing.md): a model timed alone at its own moment cannot be compared with another timed a
minute later. Here every model is timed in each of R rounds, in a fresh random order per round
(Google Benchmark's random interleaving), for a short slice: untimed invokes first, for `slice_s`
seconds (and at least its share of `warmup`), then timed invokes until the slice holds both its
share of `runs` and `slice_s` seconds. The untimed part is not a formality: measured on this
project's VM, fashion_full's float32 base took 150 µs on its first invoke after the other models
had run and came down in steps to its steady 71 µs only after about 60 invokes (5 ms); the int8
rows were steady at once. A round lasts a few milliseconds per model, so its models see one state of
the machine, and every state the machine passes through is seen by every model
(`edgeopt.common.paired_stats` turns the rounds into speed ratios and intervals).

Only `invoke()` sits between two wall-clock reads, as in `runner.measure_latency`. Each slice
also reads a CPU-time clock before and after: the CPU time the interpreter's threads used, which
the energy estimate bills instead of the wall clock (time the OS gave other processes is not
charged to the model). The clocks and the shuffle are parameters, so the statistics can be
tested with a fake clock: a known drift, a known step, no timing flakes.
"""

from __future__ import annotations

import gc
import math
import random
import time
from dataclasses import dataclass
from typing import Callable, Sequence

from edgeopt.common.errors import EdgeoptError

SLICE_S = 0.005  # the shortest untimed warm-up, and the shortest timed slice, of one model in one round
SLICE_QUANTILE = 0.10  # a round's figure for a model: this quantile of its slice (preemptions land above)
MAX_SLICE_INVOKES = 1_000_000  # a stopped clock cannot hold a slice forever


@dataclass(frozen=True)
class RoundTimes:
    """One model's timings from interleaved rounds.

    Attributes:
        samples_ns: Per round, the wall-clock duration of each timed invoke.
        cpu_ns: Per round, the CPU time spent over the slice's timed invokes (the invoking
            thread's for one interpreter thread, the whole process's for more).
        order: Per round, this model's 0-based place in that round's order.
    """

    samples_ns: tuple[tuple[int, ...], ...]
    cpu_ns: tuple[int, ...]
    order: tuple[int, ...]

    @property
    def rounds(self) -> int:
        return len(self.samples_ns)

    @property
    def all_samples_ns(self) -> list[int]:
        """Every timed invoke of every round, round after round."""
        return [s for samples in self.samples_ns for s in samples]

    def round_figures_ms(self) -> list[float]:
        """Each round's figure, in ms: the slice's fast invoke (`SLICE_QUANTILE`, nearest rank below).

        An invoke the OS preempted, or an interrupt landed in, is slower than the slice's others;
        the slice's low quantile leaves those out, while a state of the machine that slows every
        invoke of the slice (a neighbour on the same core) still shows.
        """
        return [sorted(samples)[int(SLICE_QUANTILE * (len(samples) - 1))] / 1e6 for samples in self.samples_ns]

    def cpu_per_wall_rounds(self) -> list[float]:
        """Each round's CPU time over the wall-clock time of its timed invokes.

        About 1 for one interpreter thread when the OS left it alone (less when it ran someone
        else in between), about the number of busy threads for more.
        """
        return [cpu / max(1, sum(samples)) for cpu, samples in zip(self.cpu_ns, self.samples_ns)]

    def cpu_ms_per_inference(self) -> float:
        """CPU time per timed invoke, in ms, over all rounds."""
        invokes = sum(len(samples) for samples in self.samples_ns)
        return sum(self.cpu_ns) / invokes / 1e6


def cpu_clock_for(threads: int) -> Callable[[], int]:
    """The CPU-time clock of an interpreter with `threads` threads: the calling thread's for one
    (it runs the whole graph itself), the whole process's for more (its worker threads count too)."""
    return time.thread_time_ns if threads == 1 else time.process_time_ns


def check_rounds(rounds: int) -> int:
    """`rounds` if it is an integer >= 1.

    Example:
        >>> check_rounds(20)
        20
    """
    if not isinstance(rounds, int) or isinstance(rounds, bool) or rounds < 1:
        raise EdgeoptError(f"`rounds` must be an integer >= 1 (interleaved timing rounds). Received: rounds={rounds!r}")
    return rounds


def time_in_rounds(invokes: Sequence[Callable[[], object]], *, rounds: int, runs: int, warmup: int,
                   slice_s: float = SLICE_S, seed: int = 0,
                   clock: Callable[[], int] = time.perf_counter_ns,
                   cpu_clock: Callable[[], int] = time.thread_time_ns,
                   log_fn: Callable[[str], None] = lambda _: None) -> list[RoundTimes]:
    """Time every model's `invoke` in `rounds` interleaved rounds, each round in a fresh random order.

    Args:
        invokes: One inference per model (inputs already set).
        rounds: Rounds (>= 1); no more than `runs` are run (a quick profile, `runs: 5`, stays quick).
        runs: Timed invokes per model in all, at least: each slice holds ceil(runs / rounds).
        warmup: Untimed invokes per model before the first round; each slice then starts
            with untimed invokes of its own: ceil(warmup / rounds), and at least `slice_s` seconds.
        slice_s: A slice's untimed start, and its timed part, each last at least this long (s).
        seed: Seeds the rounds' orders (the same seed gives the same orders).
        clock: Wall clock in ns.
        cpu_clock: CPU-time clock in ns (`time.thread_time_ns` when the interpreter runs on the
            calling thread alone, `time.process_time_ns` when it has worker threads).
        log_fn: Progress lines.

    Returns:
        One `RoundTimes` per model, in the order of `invokes`.

    Example:
        >>> a, b = time_in_rounds([fast.invoke, slow.invoke], rounds=20, runs=300, warmup=30)  # doctest: +SKIP
        >>> speedup(b.round_figures_ms(), a.round_figures_ms()).ratio  # doctest: +SKIP
        2.9
    """
    check_rounds(rounds)
    rounds = max(1, min(rounds, runs))
    per_slice = max(1, math.ceil(runs / rounds))
    slice_warmup = math.ceil(warmup / rounds)
    slice_ns = int(slice_s * 1e9)
    rng = random.Random(seed)
    samples: list[list[tuple[int, ...]]] = [[] for _ in invokes]
    cpu: list[list[int]] = [[] for _ in invokes]
    places: list[list[int]] = [[] for _ in invokes]
    for invoke in invokes:
        for _ in range(warmup):
            invoke()
    was_enabled = gc.isenabled()
    gc.disable()  # no collection pause lands inside one model's slice
    try:
        for number in range(rounds):
            order = list(range(len(invokes)))
            rng.shuffle(order)
            for place, index in enumerate(order):
                timed, used = _slice(invokes[index], per_slice, slice_warmup, slice_ns, clock, cpu_clock)
                samples[index].append(timed)
                cpu[index].append(used)
                places[index].append(place)
            if number == 0 or (number + 1) % max(1, rounds // 4) == 0:
                log_fn(f"  timing round {number + 1}/{rounds}")
    finally:
        if was_enabled:
            gc.enable()
    return [RoundTimes(tuple(s), tuple(c), tuple(p)) for s, c, p in zip(samples, cpu, places)]


def _slice(invoke: Callable[[], object], at_least: int, warmup: int, slice_ns: int,
           clock: Callable[[], int], cpu_clock: Callable[[], int]) -> tuple[tuple[int, ...], int]:
    start, done = clock(), 0
    while (done < warmup or clock() - start < slice_ns) and done < MAX_SLICE_INVOKES:
        invoke()
        done += 1
    durations = []
    append = durations.append
    cpu_start = cpu_clock()
    start = end = clock()
    while (len(durations) < at_least or end - start < slice_ns) and len(durations) < MAX_SLICE_INVOKES:
        begin = clock()
        invoke()
        end = clock()
        append(end - begin)
    return tuple(durations), cpu_clock() - cpu_start
