"""Profile several `.tflite` models together: one interpreter each, timed in interleaved rounds.

What each model gets, in this order:

1. its file read and checked (`inspect_tflite`), then loaded and invoked once in a child process
   (`sandbox`), so a model that crashes LiteRT cannot take the profiler down;
2. one interpreter, opened here and used for everything below;
3. energy: a meter's windows for this model alone (idle subtracted), or nothing yet for the estimate;
4. latency, with every other model: R rounds, a fresh random order each round, a short slice
   each (`rounds.time_in_rounds`). p50/p90/mean/std over all the model's samples, and against
   the baseline the speed-up from the rounds: the ratio of the two models' quiet levels with a
   paired bootstrap interval (`common.paired_stats`). The CPU time of the timed invokes, at its
   quiet level too, prices the energy estimate;
5. whatever a `hook` adds (a per-op profile, say), on the same warm interpreter;
6. accuracy on the test data, through the same interpreter.

Rows timed together carry the same `timing_session` and their per-round figures
(`latency_ms_rounds`), so the report can tell whether two of them differ significantly.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from edgeopt.common.errors import DataError
from edgeopt.common.paired_stats import quiet_level, speedup
from edgeopt.common.row import Row
from edgeopt.profile.accuracy import check_eval_data, evaluate_tflite
from edgeopt.profile.defaults import PROFILE_DEFAULTS
from edgeopt.profile.energy import apply_energy, check_energy_method, measure_energy
from edgeopt.profile.energy.estimate import check_cpu_watts
from edgeopt.profile.rounds import check_rounds, cpu_clock_for, time_in_rounds
from edgeopt.profile.runner import LatencyStats, check_run_options, fill_random_inputs
from edgeopt.profile.sandbox import check_runs_in_child
from edgeopt.profile.tflite_file import inspect_tflite, open_interpreter

# Called per model after the rounds, with the model's path, its open interpreter and its row: a
# per-op profile (or anything else that wants the interpreter) adds its keys to row.extra there.
ModelHook = Callable[[Path, object, Row], None]


def profile_tflites(paths: Sequence[str | os.PathLike], *, names: Sequence[str] | None = None,
                    x_test: np.ndarray | None = None, y_test: np.ndarray | None = None,
                    runs: int = PROFILE_DEFAULTS["runs"], warmup: int = PROFILE_DEFAULTS["warmup"],
                    threads: int = PROFILE_DEFAULTS["threads"], energy: str = PROFILE_DEFAULTS["energy"],
                    energy_window_s: float = PROFILE_DEFAULTS["energy_window_s"],
                    energy_windows: int = PROFILE_DEFAULTS["energy_windows"],
                    rounds: int = PROFILE_DEFAULTS["rounds"], breakdown: bool = False,
                    cpu_watts: float | None = None, energy_rail: str | None = None,
                    baseline: str | None = None, known_accuracy: dict[str, float] | None = None,
                    seed: int = 0, hook: ModelHook | None = None,
                    log_fn: Callable[[str], None] = lambda _: None) -> list[Row]:
    """Profile `.tflite` models together; their latencies are timed side by side in interleaved rounds.

    Args:
        paths: The model files.
        names: Row names, one per path; default each file's name without its suffix.
        x_test: Float32 NHWC samples in [0, 1] for accuracy, or None to skip it.
        y_test: Integer labels for `x_test`.
        runs: Timed invokes per model, at least (spread over the rounds).
        warmup: Untimed invokes per model before the rounds (and a share of them per slice).
        threads: Interpreter threads.
        energy: One of `edgeopt.profile.energy.ENERGY_METHODS`.
        energy_window_s: Length of each meter idle/inference window.
        energy_windows: Meter windows of each kind (>= 3).
        rounds: Interleaved timing rounds (>= 1; at most `runs`).
        breakdown: Add the 45 nm model's per-operator energy as `extra["energy_breakdown"]`.
        cpu_watts: The CPU package's power (TDP) in W for the estimate; None: CodeCarbon's table.
        energy_rail: Rail(s) of a power-sensor meter, comma-separated; None: the meter's default.
        baseline: The row the speed-ups are against: a name in `names`; None: the first model.
            A name not among them (a Keras baseline, say) gives no speed-ups.
        known_accuracy: Row name -> accuracy already measured on this very file and data (a
            resumed run): not measured again.
        seed: Seeds the rounds' orders.
        hook: Called per model after the rounds, before accuracy, with (path, interpreter, row): the
            interpreter as timed (batch 1, warm), the row with every figure but accuracy.
        log_fn: Progress lines.

    Returns:
        One `Row` per path, in order (see `edgeopt.profile.profile_tflite` for the keys), plus
        rounds, samples, latency_ms_rounds (per round, the slice's fast invoke), latency_ms_quiet
        (their 10th percentile), cpu_ms_per_inference (the CPU time of an undisturbed inference,
        `quiet_cpu_ms`: what the estimate bills), cpu_ms_per_inference_mean (all timed invokes'
        CPU time per invoke), cpu_per_wall_max (the threads' largest CPU/wall ratio over the
        rounds), timing_session and, against the baseline,
        speedup_vs_baseline, speedup_ci_low, speedup_ci_high, speedup_baseline.

    Raises:
        ModelFileError: A model file is missing, corrupt, or cannot be loaded (before any timing).
        DataError: Only one of x_test/y_test is given, or the data does not fit a model.
        EdgeoptError: An option is out of range.
        EnergyUnavailableError: A meter was asked for and cannot measure on this machine.

    Example:
        >>> rows = profile_tflites(["base_f32.tflite", "int8.tflite"], x_test=x, y_test=y)  # doctest: +SKIP
        >>> rows[1].extra["speedup_vs_baseline"], rows[1].extra["speedup_ci_low"]  # doctest: +SKIP
        (1.47, 1.44)
    """
    paths = [Path(p) for p in paths]
    names = list(names) if names is not None else [p.stem for p in paths]
    if len(names) != len(paths):
        raise ValueError(f"{len(names)} names for {len(paths)} models")
    if (x_test is None) != (y_test is None):
        given = "x_test" if y_test is None else "y_test"
        raise DataError(f"Accuracy of {', '.join(map(str, paths))} needs both x_test and y_test; only {given} "
                        "was given. Pass both, or neither to skip accuracy.")
    where = f"model {paths[0]}" if len(paths) == 1 else f"{len(paths)} models"
    check_run_options(runs, warmup, threads, where)
    check_rounds(rounds)
    check_energy_method(energy)
    check_cpu_watts(cpu_watts)
    known_accuracy = known_accuracy or {}

    infos, interpreters = [], []
    for number, (path, name) in enumerate(zip(paths, names), start=1):
        log_fn(f"[{number}/{len(paths)}] loading {name}" + ("" if name == str(path) else f" ({path})"))
        info = inspect_tflite(path)  # first: a bad file fails here with the clearest message
        check_runs_in_child(path, threads=threads)  # a native crash on a bad model must not take us down
        interpreter = open_interpreter(path, threads=threads)
        fill_random_inputs(interpreter)
        if x_test is not None and name not in known_accuracy:
            check_eval_data(path, interpreter, x_test, y_test)  # before minutes of timing
        infos.append(info)
        interpreters.append(interpreter)

    # Meter windows per model, right before the rounds: two phases (timing each invoke would
    # distort the energy loop), back to back, so the EDP combines figures of one state of the machine.
    energies = [measure_energy(path, energy, threads=threads, window_s=energy_window_s, windows=energy_windows,
                               breakdown=breakdown, info=info, cpu_watts=cpu_watts, rail=energy_rail,
                               interpreter=interpreter)
                for path, info, interpreter in zip(paths, infos, interpreters)]
    log_fn(f"timing {len(paths)} model(s) together: {min(rounds, runs)} interleaved rounds, {threads} thread(s)")
    timings = time_in_rounds([it.invoke for it in interpreters], rounds=rounds, runs=runs, warmup=warmup,
                             seed=seed, cpu_clock=cpu_clock_for(threads),
                             log_fn=log_fn)
    session = uuid.uuid4().hex[:12]
    rows = []
    for path, name, info, timing, energy_result in zip(paths, names, infos, timings, energies):
        latency = LatencyStats.from_samples_ns(timing.all_samples_ns, warmup=warmup, threads=threads)
        row = Row(
            name=name, path=str(path), format="tflite", dtype=info.dtype, params=info.params, macs=info.macs,
            size_bytes=info.size_bytes, gzip_bytes=info.gzip_bytes, accuracy=known_accuracy.get(name),
            latency_ms_p50=latency.p50_ms, latency_ms_p90=latency.p90_ms, latency_ms_mean=latency.mean_ms,
            latency_ms_std=latency.std_ms,
            extra={
                "threads": threads, "runs": runs, "warmup": warmup, "rounds": timing.rounds, "samples": latency.runs,
                "latency_ms_min": latency.min_ms, "latency_noisy": latency.noisy,
                "latency_ms_rounds": [round(m, 6) for m in timing.round_figures_ms()],
                "latency_ms_quiet": quiet_level(timing.round_figures_ms()),
                "cpu_ms_per_inference": quiet_cpu_ms(timing.round_figures_ms(), timing.cpu_per_wall_rounds(), threads),
                "cpu_ms_per_inference_mean": timing.cpu_ms_per_inference(),
                "cpu_per_wall_max": max(timing.cpu_per_wall_rounds(), default=None), "timing_session": session,
                "num_classes": info.num_classes, "input_shape": list(info.input_shape),
                "input_dtype": info.input_dtype,
            },
        )
        apply_energy(row, energy_result)
        rows.append(row)
    add_speedups(rows, baseline)
    for path, interpreter, row in zip(paths, interpreters, rows):
        if hook is not None:  # before accuracy, which may resize the interpreter to a batch
            hook(path, interpreter, row)
        if x_test is not None and row.name not in known_accuracy:
            log_fn(f"  accuracy of {row.name}")
            row.accuracy = evaluate_tflite(path, x_test, y_test, threads=threads, interpreter=interpreter)
    return rows


def quiet_cpu_ms(figures_ms: list[float], cpu_per_wall: list[float], threads: int) -> float:
    """CPU time of an inference the machine left alone: its quiet-level time × its threads' CPU/wall ratio.

    The time is the 10th percentile over the rounds of each round's fast invoke (`quiet_level`): an
    invoke the OS did not interrupt and no neighbour slowed, so with one interpreter thread, which
    runs the whole graph on the calling thread, its wall-clock time is its CPU time (ratio 1). With
    worker threads the ratio is measured: the process's CPU time over the wall-clock time of a
    slice's invokes, which only falls when the OS runs someone else in between, so its largest
    value over the rounds is the undisturbed one (a lower bound when every slice was preempted).

    Why not each slice's CPU time per invoke: the CPU clock is read once per slice, so it carries
    whatever slowed part of the slice, and the profiles of one run folder under a neighbour agreed
    on it within 9 %, against 3 % for this. Why not the ratio of the quietest rounds: at a load
    average of 5 on the 2-core VM they were among the most preempted (ratios 0.3–0.5), and at 9 no
    5 ms slice of some models ran unpreempted (largest ratio 0.72).

    Example:
        >>> round(quiet_cpu_ms([0.10, 0.14, 0.10, 0.15, 0.10], [0.5, 0.6, 1.0, 0.7, 0.4], 1), 6)
        0.1
        >>> round(quiet_cpu_ms([0.10, 0.14, 0.10, 0.15, 0.10], [1.2, 1.9, 1.0, 0.7, 1.5], 2), 6)
        0.19
    """
    return quiet_level(figures_ms) * (1.0 if threads == 1 else max(cpu_per_wall, default=1.0))


def add_speedups(rows: list[Row], baseline: str | None) -> None:
    """Set each row's speed-up over the baseline row (in place), from their per-round figures.

    Example:
        >>> add_speedups(rows, "base_float32")  # doctest: +SKIP
        >>> rows[1].extra["speedup_vs_baseline"]  # doctest: +SKIP
        2.91
    """
    base = next((r for r in rows if r.name == baseline), None) if baseline is not None else (rows[0] if rows else None)
    for row in rows:
        if base is None or "latency_ms_rounds" not in row.extra:
            row.extra.update(speedup_vs_baseline=None, speedup_ci_low=None, speedup_ci_high=None,
                             speedup_baseline=None)
            continue
        ratio = speedup(base.extra["latency_ms_rounds"], row.extra["latency_ms_rounds"])
        row.extra.update(speedup_vs_baseline=ratio and ratio.ratio, speedup_ci_low=ratio and ratio.low,
                         speedup_ci_high=ratio and ratio.high, speedup_baseline=base.name if ratio else None)
