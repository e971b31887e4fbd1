"""Where the time goes: a time per op of one `.tflite`, next to the model's p50 taken alongside.

`profile_ops` builds two runners of the same file: the LiteRT `Interpreter` that `edgeopt profile`
times (its p50 is the figure the ops must add up to) and a CompiledModel with LiteRT's profiler on
(`litert_profiler`), whose events give each op's time (`op_times`). The two alternate invoke by
invoke, so both see the same moments of a shared machine; profiling slows the profiled runner's
own inference (its bookkeeping sits between ops), never the interpreter's. The profiled runner is
built on the same TFLite interpreter and XNNPACK delegate; the two agree on which ops XNNPACK takes
(`xnnpack_partitions` reads the interpreter's, and `op_times` says when the profiled one differs).
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from edgeopt.common.errors import EdgeoptError
from edgeopt.common.row import Row
from edgeopt.profile.defaults import PROFILE_DEFAULTS
from edgeopt.profile.litert_profiler import OpProfilerUnavailable, ProfiledModel, check_op_profiler
from edgeopt.profile.op_times import OpTime, attribute, collect, paired_ratio
from edgeopt.profile.runner import fill_random_inputs
from edgeopt.profile.tflite_file import inspect_tflite, open_interpreter, read_tflite_bytes

SUM_TOLERANCE = 0.15  # the ops should add up to the p50 within this fraction (issue #24)
METHOD = "litert-profiler"
TWO_SPEEDS = 1.5  # p75 / p25 of the timed inferences above this: a load that comes and goes
OPS_KEY = "op_times"  # the row key (results.json, device files, `edgeopt profile --json`) that holds them


@dataclass(frozen=True)
class OpsProfile:
    """The time of each op of one model and how they add up.

    Attributes:
        ops: One row per op, in the file's op order (`OpTime`).
        p50_ms: The interpreter's median inference, timed alongside the profiled runs.
        ops_sum_ms: The ops' times added up.
        method: How op times were taken ("litert-profiler": LiteRT's own per-op events).
        runs: Profiled inferences.
        typical_runs: The inferences the op times average: the pairs nearest a typical pair.
        threads: CPU threads.
        partitions: XNNPACK partitions the interpreter made.
        notes: What was uncertain or did not add up.
        paired_coverage: Inference by inference, the profiled inference's op total over the timed
            inference just before it; the median of those ratios. Robust where the machine's load
            moves the two medians apart; None when unknown.
    """

    ops: tuple[OpTime, ...]
    p50_ms: float
    ops_sum_ms: float
    method: str
    runs: int
    typical_runs: int
    threads: int
    partitions: int
    notes: tuple[str, ...] = field(default=())
    paired_coverage: float | None = None

    @property
    def coverage(self) -> float | None:
        """The ops' sum as a fraction of the p50 (1.0 = they add up exactly)."""
        return self.ops_sum_ms / self.p50_ms if self.p50_ms else None

    @property
    def adds_up(self) -> bool:
        return self.coverage is not None and abs(self.coverage - 1) <= SUM_TOLERANCE

    def to_dict(self) -> dict:
        return {"method": self.method, "p50_ms": self.p50_ms, "ops_sum_ms": self.ops_sum_ms,
                "coverage": self.coverage, "runs": self.runs, "typical_runs": self.typical_runs,
                "threads": self.threads, "partitions": self.partitions, "notes": list(self.notes),
                "paired_coverage": self.paired_coverage, "ops": [op.to_dict() for op in self.ops]}

    @classmethod
    def from_dict(cls, data: dict) -> "OpsProfile":
        ops = tuple(OpTime(**{**op, "output_shape": tuple(op["output_shape"]), "kernels": tuple(op["kernels"])})
                    for op in data["ops"])
        return cls(ops=ops, p50_ms=data["p50_ms"], ops_sum_ms=data["ops_sum_ms"], method=data["method"],
                   runs=data["runs"], typical_runs=data["typical_runs"], threads=data["threads"],
                   partitions=data["partitions"], notes=tuple(data.get("notes", ())),
                   paired_coverage=data.get("paired_coverage"))


def xnnpack_partitions(interpreter) -> list[list[int]]:
    """The op indices inside each XNNPACK partition of an allocated interpreter, in execution order.

    A partition is a DELEGATE node; its ops are found by walking back from its outputs to its inputs.
    Delegate nodes are numbered after the file's ops in the order they were made, which is the order
    they run.

    Example:
        >>> xnnpack_partitions(open_interpreter("model.tflite"))  # doctest: +SKIP
        [[0, 1, 2, 3, 4, 5, 6, 7]]
    """
    ops = interpreter._get_ops_details()  # the public API has no node list; tests pin this call
    delegates = sorted((op for op in ops if op["op_name"] == "DELEGATE"), key=lambda op: op["index"])
    producer = {t: op["index"] for op in ops if op["op_name"] != "DELEGATE" for t in op["outputs"]}
    partitions = []
    for delegate in delegates:
        inside: set[int] = set()
        boundary = set(int(t) for t in delegate["inputs"])
        stack = [int(t) for t in delegate["outputs"]]
        while stack:
            tensor = stack.pop()
            node = producer.get(tensor)
            if tensor in boundary or node is None or node in inside:
                continue
            inside.add(node)
            stack.extend(int(t) for t in ops[node]["inputs"] if t >= 0)
        partitions.append(sorted(inside))
    return partitions


def profile_ops(path: str | os.PathLike, *, runs: int = PROFILE_DEFAULTS["runs"],
                warmup: int = PROFILE_DEFAULTS["warmup"], threads: int = PROFILE_DEFAULTS["threads"],
                clock: Callable[[], int] = time.perf_counter_ns) -> OpsProfile:
    """Time each op of a `.tflite` model with LiteRT's profiler, beside the interpreter's p50.

    Args:
        path: The model file.
        runs: Profiled inferences, each right after one timed interpreter inference (>= 4).
        warmup: Untimed inferences of each runner first.
        threads: CPU threads of both runners.
        clock: Nanosecond clock for the interpreter's p50.

    Returns:
        An `OpsProfile`.

    Raises:
        ModelFileError: The file is missing, corrupt, or cannot be loaded.
        OpProfilerUnavailable: This LiteRT has no per-op profiler (ai-edge-litert >= 2.2 has one).
        EdgeoptError: `runs` < 4 or `warmup` < 0.

    Example:
        >>> profile = profile_ops("runs/x/base_int8/model.tflite", runs=300)  # doctest: +SKIP
        >>> [(op.op_name, op.time_us) for op in profile.ops][:2]  # doctest: +SKIP
        [('CONV_2D', 71.9), ('MAX_POOL_2D', 2.1)]
    """
    for name, value, low in (("runs", runs, 4), ("warmup", warmup, 0)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise EdgeoptError(f"`{name}` must be an integer >= {low} for per-op times. "
                               f"Received: {name}={value!r} (model {path}).")
    info = inspect_tflite(path)
    interpreter = open_interpreter(path, threads=threads)
    fill_random_inputs(interpreter)
    partitions = xnnpack_partitions(interpreter)
    with ProfiledModel(read_tflite_bytes(path), threads=threads) as model:
        samples_ns, events = _alternate(interpreter.invoke, model, runs, warmup, clock)
    samples = collect(events)
    if not samples.keys:
        raise EdgeoptError(f"{path}: LiteRT's profiler recorded no op in {runs} inferences; per-op times "
                           "are not available for this model on this LiteRT.")
    ops, notes = attribute(samples, info.ops, partitions, samples_ns)
    _, typical = samples.typical_means(samples_ns)
    p50_ms = statistics.median(samples_ns) / 1e6
    ops_sum_ms = sum(op.time_us or 0.0 for op in ops) / 1e3
    paired = paired_ratio(samples, samples_ns)
    if samples.skipped:
        notes.append(f"{samples.skipped} of {runs} profiled inferences had events of another shape and were left out.")
    profile = OpsProfile(ops=tuple(ops), p50_ms=p50_ms, ops_sum_ms=ops_sum_ms, method=METHOD, runs=runs,
                         typical_runs=typical, threads=threads, partitions=len(partitions), notes=tuple(notes),
                         paired_coverage=paired)
    if not profile.adds_up:
        gap_us = 1e3 * (p50_ms - ops_sum_ms)
        text = (f"the ops add up to {100 * profile.coverage:.0f} % of the p50 timed alongside them (a gap of "
                f"{gap_us:.1f} µs), outside ±{100 * SUM_TOLERANCE:.0f} %. ")
        q25, q75 = np.percentile(samples_ns, [25, 75]) / 1e3
        if paired is not None and abs(paired - 1) <= SUM_TOLERANCE:
            text += (f"Inference by inference they were {100 * paired:.0f} % of the timed inference beside them: "
                     "the machine's load moved the medians apart"
                     + (f" (the timed inferences ran at two speeds, a quarter under {q25:.0f} µs and a quarter "
                        f"over {q75:.0f} µs, so the p50 is no speed the model ran at)" if q75 > TWO_SPEEDS * q25 else "")
                     + ". Rerun on a quieter machine.")
        else:
            text += ("A gap of a few µs that stays on a quiet machine is the interpreter's own work per inference "
                     "and XNNPACK's µs rounding, which weigh on a model this small; a larger one: rerun on a "
                     "quieter machine.")
        profile = OpsProfile(**{**profile.__dict__, "notes": tuple(notes + [text])})
    return profile


def _alternate(invoke: Callable[[], None], model: ProfiledModel, runs: int, warmup: int,
               clock: Callable[[], int]) -> tuple[list[int], list[list]]:
    """Interpreter inference (timed), profiled inference (its events kept), and again, `runs` times."""
    for _ in range(warmup):
        invoke()
        model.run()
    samples = [0] * runs
    events = []
    for i in range(runs):
        start = clock()
        invoke()
        samples[i] = clock() - start
        model.start()  # clears the previous inference's events
        model.run()
        events.append(model.events())
    return samples, events


def attach_op_times(rows: list[Row], names: list[str], resolve: Callable[[Row], os.PathLike], *,
                    runs: int = PROFILE_DEFAULTS["runs"], warmup: int = PROFILE_DEFAULTS["warmup"],
                    threads: int = PROFILE_DEFAULTS["threads"],
                    log_fn: Callable[[str], None] = lambda _: None) -> list[str]:
    """Time each op of the named rows' models; put `OpsProfile.to_dict()` in `row.extra[OPS_KEY]`.

    Args:
        rows: The table's rows; only those named are profiled.
        names: Which rows (e.g. `edgeopt.report.ops.rows_to_explain`).
        resolve: The model file of a row (a run folder's rows hold paths relative to it).
        runs, warmup, threads: As for `profile_ops` (runs below 4 are raised to 4).
        log_fn: Progress lines.

    Returns:
        Notes for the user: why op times are missing, if they are (this LiteRT has no profiler, or
        one model could not be profiled; the others still are).

    Example:
        >>> attach_op_times(rows, ["base_float32"], lambda row: run_dir / row.path)  # doctest: +SKIP
        []
    """
    try:
        check_op_profiler()
    except OpProfilerUnavailable as why:
        return [f"no per-op times: {why}"]
    notes = []
    for row in rows:
        if row.name not in names:
            continue
        log_fn(f"  timing each op of {row.name}")
        try:
            profile = profile_ops(resolve(row), runs=max(runs, 4), warmup=warmup, threads=threads)
        except EdgeoptError as why:  # one model LiteRT's profiler cannot run: say so, go on with the others
            notes.append(f"no per-op times for {row.name}: {why}")
            continue
        row.extra[OPS_KEY] = profile.to_dict()
    return notes
