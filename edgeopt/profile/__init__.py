"""The on-device profiler: one `.tflite` file in, one result `Row` out.

This package must never import TensorFlow, directly or through another edgeopt module: it is
what runs on an edge device where only LiteRT (`ai_edge_litert`) and numpy are installed.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edgeopt.common.errors import DataError
from edgeopt.common.row import Row
from edgeopt.profile.accuracy import evaluate_tflite, predict_tflite
from edgeopt.profile.defaults import PROFILE_DEFAULTS
from edgeopt.profile.energy import apply_energy, measure_energy
from edgeopt.profile.machine import machine_info
from edgeopt.profile.runner import LatencyStats, measure_latency
from edgeopt.profile.sandbox import check_runs_in_child
from edgeopt.profile.tflite_file import inspect_tflite, open_interpreter
from edgeopt.profile.tflite_graph import OpInfo, TfliteInfo

__all__ = [
    "LatencyStats", "OpInfo", "TfliteInfo", "evaluate_tflite", "inspect_tflite",
    "machine_info", "measure_latency", "open_interpreter", "predict_tflite", "profile_tflite",
]


def profile_tflite(path: str | os.PathLike, *, name: str | None = None,
                   x_test: np.ndarray | None = None, y_test: np.ndarray | None = None,
                   runs: int = PROFILE_DEFAULTS["runs"], warmup: int = PROFILE_DEFAULTS["warmup"],
                   threads: int = PROFILE_DEFAULTS["threads"], energy: str = PROFILE_DEFAULTS["energy"],
                   energy_window_s: float = PROFILE_DEFAULTS["energy_window_s"],
                   energy_windows: int = PROFILE_DEFAULTS["energy_windows"],
                   breakdown: bool = False, cpu_watts: float | None = None,
                   energy_rail: str | None = None) -> Row:
    """Profile one `.tflite` model: size, params, MACs, dtype, latency, energy and accuracy.

    Latency and energy are measured in separate phases, so the energy windows never distort
    the latency figures (see `edgeopt.profile.energy`).

    Args:
        path: The model file.
        name: Row name; defaults to the file name without its suffix.
        x_test: Float32 NHWC samples in [0, 1] for accuracy, or None to skip it.
        y_test: Integer labels for `x_test`.
        runs: Timed inferences for latency.
        warmup: Untimed inferences before them.
        threads: Interpreter threads.
        energy: One of `edgeopt.profile.energy.ENERGY_METHODS`: "auto" (the first meter that
            can be read, else the time × power estimate), "rapl", "pyrapl", "hwmon",
            "rpi-pmic", "estimate", "model45" or "off".
        energy_window_s: Length of each meter idle/inference window.
        energy_windows: Meter windows of each kind (>= 3).
        breakdown: Add the 45 nm model's per-operator energy as `extra["energy_breakdown"]`.
        cpu_watts: The CPU package's power (TDP) in W for the estimate; None: CodeCarbon's
            table by CPU model name.
        energy_rail: Rail(s) of a power-sensor meter to count, comma-separated; None: the
            meter's default (the board's input rail).

    Returns:
        A `Row` with format "tflite"; `extra` holds threads, runs, warmup, latency_ms_min,
        latency_noisy, num_classes, input_shape, input_dtype and the energy keys of
        `edgeopt.profile.energy.apply_energy` (energy_gross_mj, energy_net_mj, energy_spread,
        inferences_per_j, ops_per_j, dram_energy_mj, energy_model45_mj, energy_power_w,
        energy_note, ...).

    Raises:
        ModelFileError: The model file is missing, corrupt, or cannot be loaded.
        DataError: Only one of x_test/y_test is given, or the data does not fit the model.
        EnergyUnavailableError: A meter was asked for and cannot measure on this machine.

    Example:
        >>> row = profile_tflite("runs/x/int8/model.tflite", x_test=x, y_test=y)  # doctest: +SKIP
        >>> row.dtype, row.accuracy, row.latency_ms_p50  # doctest: +SKIP
        ('int8', 0.981, 0.026)
    """
    if (x_test is None) != (y_test is None):
        given = "x_test" if y_test is None else "y_test"
        raise DataError(f"Accuracy of {path} needs both x_test and y_test; only {given} was "
                        "given. Pass both, or neither to skip accuracy.")
    info = inspect_tflite(path)  # first: a bad file fails here with the clearest message
    check_runs_in_child(path, threads=threads)  # a native crash on a bad model must not take us down
    # Energy windows first, latency right after them: two separate phases (timing each invoke
    # would distort the energy loop), but back to back, so the EDP combines figures taken in
    # the same state of a shared machine.
    energy_result = measure_energy(path, energy, threads=threads, window_s=energy_window_s,
                                   windows=energy_windows, breakdown=breakdown, info=info,
                                   cpu_watts=cpu_watts, rail=energy_rail)
    latency = measure_latency(path, runs=runs, warmup=warmup, threads=threads)
    accuracy = None
    if x_test is not None:
        accuracy = evaluate_tflite(path, x_test, y_test, threads=threads)
    row = Row(
        name=name if name is not None else Path(path).stem,
        path=str(path),
        format="tflite",
        dtype=info.dtype,
        params=info.params,
        macs=info.macs,
        size_bytes=info.size_bytes,
        gzip_bytes=info.gzip_bytes,
        accuracy=accuracy,
        latency_ms_p50=latency.p50_ms,
        latency_ms_p90=latency.p90_ms,
        latency_ms_mean=latency.mean_ms,
        latency_ms_std=latency.std_ms,
        extra={
            "threads": threads,
            "runs": runs,
            "warmup": warmup,
            "latency_ms_min": latency.min_ms,
            "latency_noisy": latency.noisy,
            "num_classes": info.num_classes,
            "input_shape": list(info.input_shape),
            "input_dtype": info.input_dtype,
        },
    )
    apply_energy(row, energy_result)
    return row
