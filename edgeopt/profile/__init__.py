"""The on-device profiler: `.tflite` files in, one result `Row` each out, timed side by side.

This package must never import TensorFlow, directly or through another edgeopt module: it is
what runs on an edge device where only LiteRT (`ai_edge_litert`) and numpy are installed.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edgeopt.common.row import Row
from edgeopt.profile.accuracy import evaluate_tflite, predict_tflite
from edgeopt.profile.defaults import PROFILE_DEFAULTS
from edgeopt.profile.machine import machine_info
from edgeopt.profile.runner import LatencyStats, measure_latency
from edgeopt.profile.tflite_file import inspect_tflite, open_interpreter
from edgeopt.profile.tflite_graph import OpInfo, TfliteInfo
from edgeopt.profile.together import profile_tflites

__all__ = [
    "LatencyStats", "OpInfo", "TfliteInfo", "evaluate_tflite", "inspect_tflite",
    "machine_info", "measure_latency", "open_interpreter", "predict_tflite", "profile_tflite",
    "profile_tflites",
]


def profile_tflite(path: str | os.PathLike, *, name: str | None = None,
                   x_test: np.ndarray | None = None, y_test: np.ndarray | None = None,
                   runs: int = PROFILE_DEFAULTS["runs"], warmup: int = PROFILE_DEFAULTS["warmup"],
                   threads: int = PROFILE_DEFAULTS["threads"], energy: str = PROFILE_DEFAULTS["energy"],
                   energy_window_s: float = PROFILE_DEFAULTS["energy_window_s"],
                   energy_windows: int = PROFILE_DEFAULTS["energy_windows"],
                   rounds: int = PROFILE_DEFAULTS["rounds"],
                   breakdown: bool = False, cpu_watts: float | None = None,
                   energy_rail: str | None = None) -> Row:
    """Profile one `.tflite` model: size, params, MACs, dtype, latency, energy and accuracy.

    One model through `profile_tflites` (several models are best profiled in one call: their
    latencies are then timed side by side and their ratios survive a busy machine). The model's
    interpreter is opened once, for energy, latency and accuracy; latency and energy are measured
    in separate phases, so the energy windows never distort the latency figures.

    Args:
        path: The model file.
        name: Row name; defaults to the file name without its suffix.
        x_test: Float32 NHWC samples in [0, 1] for accuracy, or None to skip it.
        y_test: Integer labels for `x_test`.
        runs: Timed inferences for latency, at least (spread over the rounds).
        warmup: Untimed inferences before them.
        threads: Interpreter threads.
        energy: One of `edgeopt.profile.energy.ENERGY_METHODS`: "auto" (the first meter that
            can be read, else the estimate from the model's CPU time), "rapl", "pyrapl", "hwmon",
            "rpi-pmic", "estimate", "model45" or "off".
        energy_window_s: Length of each meter idle/inference window.
        energy_windows: Meter windows of each kind (>= 3).
        rounds: Timing rounds (slices) the timed inferences are spread over.
        breakdown: Add the 45 nm model's per-operator energy as `extra["energy_breakdown"]`.
        cpu_watts: The CPU package's power (TDP) in W for the estimate; None: CodeCarbon's
            table by CPU model name.
        energy_rail: Rail(s) of a power-sensor meter to count, comma-separated; None: the
            meter's default (the board's input rail).

    Returns:
        A `Row` with format "tflite"; `extra` holds threads, runs, warmup, rounds, samples,
        latency_ms_min, latency_noisy, latency_ms_rounds, cpu_ms_per_inference, num_classes,
        input_shape, input_dtype and the energy keys of `edgeopt.profile.energy.apply_energy`
        (energy_gross_mj, energy_net_mj, energy_spread, inferences_per_j, ops_per_j,
        dram_energy_mj, energy_model45_mj, energy_power_w, energy_note, ...).

    Raises:
        ModelFileError: The model file is missing, corrupt, or cannot be loaded.
        DataError: Only one of x_test/y_test is given, or the data does not fit the model.
        EnergyUnavailableError: A meter was asked for and cannot measure on this machine.

    Example:
        >>> row = profile_tflite("runs/x/int8/model.tflite", x_test=x, y_test=y)  # doctest: +SKIP
        >>> row.dtype, row.accuracy, row.latency_ms_p50  # doctest: +SKIP
        ('int8', 0.981, 0.026)
    """
    return profile_tflites([path], names=[name if name is not None else Path(path).stem], x_test=x_test,
                           y_test=y_test, runs=runs, warmup=warmup, threads=threads, energy=energy,
                           energy_window_s=energy_window_s, energy_windows=energy_windows, rounds=rounds,
                           breakdown=breakdown, cpu_watts=cpu_watts, energy_rail=energy_rail)[0]
