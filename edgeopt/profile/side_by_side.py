"""Time several in-memory models side by side: interleaved rounds, a fresh random order each.

On a shared machine the speed wanders between minutes; models timed in the same rounds meet the
same wandering, so their ratios hold even when their absolute times do not (DESIGN.md §5).
"""

from __future__ import annotations

import numpy as np


def interleaved_p50_ms(models: list[bytes], *, rounds: int = 5, invokes: int = 40, warmup: int = 10,
                       threads: int = 1, seed: int = 0) -> list[float]:
    """p50 latency of each in-memory model, timed in `rounds` rounds of a fresh random order.

    Every model's interpreter is made once; each round gives every model a short warm-up and then
    `invokes` timed invokes, so a busy second on a shared machine lands on all models alike.
    """
    import time

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
    samples: list[list[float]] = [[] for _ in models]
    rng = np.random.default_rng(seed)
    clock = time.perf_counter
    for _ in range(rounds):
        for index in rng.permutation(len(models)):
            invoke = interpreters[index].invoke
            for _ in range(warmup):
                invoke()
            for _ in range(invokes):
                start = clock()
                invoke()
                samples[index].append((clock() - start) * 1e3)
    return [float(np.median(s)) for s in samples]
