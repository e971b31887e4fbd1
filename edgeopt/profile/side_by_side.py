"""Time several in-memory models side by side: the profiler's interleaved rounds, for search costs.

On a shared machine the speed wanders between minutes; models timed in the same rounds meet the
same wandering, so their ratios hold even when their absolute times do not (docs/timing.md). This is
`rounds.time_in_rounds` (the profiler's own rounds) over models held as bytes — a search's proxies
and a latency kit's single-op files — each summarised by its quiet level (`docs/timing.md`).
"""

from __future__ import annotations

from edgeopt.common.paired_stats import quiet_level
from edgeopt.profile.rounds import cpu_clock_for, time_in_rounds

ROUNDS = 10  # a cost needs a stable level, not an interval: fewer rounds than a profile's 60


def interleaved_quiet_ms(models: list[bytes], *, rounds: int = ROUNDS, runs: int = 100, warmup: int = 10,
                         threads: int = 1, seed: int = 0) -> list[float]:
    """The quiet level (ms) of each in-memory model, all timed together in interleaved rounds.

    Every model's interpreter is made once, with random inputs; `time_in_rounds` times each one
    for a short warmed-up slice per round, in a fresh random order each round.
    """
    from ai_edge_litert.interpreter import Interpreter

    from edgeopt.common.quiet import native_output_captured
    from edgeopt.profile.runner import fill_random_inputs

    interpreters = []
    with native_output_captured():
        for data in models:
            interpreter = Interpreter(model_content=data, num_threads=threads)
            interpreter.allocate_tensors()
            fill_random_inputs(interpreter)
            interpreters.append(interpreter)
    timings = time_in_rounds([i.invoke for i in interpreters], rounds=rounds, runs=max(runs, rounds), warmup=warmup,
                             seed=seed, cpu_clock=cpu_clock_for(threads))
    return [float(quiet_level(t.round_figures_ms())) for t in timings]
