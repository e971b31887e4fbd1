"""Energy per inference: measured with RAPL (own reader or pyRAPL) when possible, else modelled.

`measure_energy(path, method)` picks the backend:

- "rapl": edgeopt's own powercap reader (`powercap.py`) under the windowed protocol
  (`rapl_meter.py`); a clear error when the counters are missing, root-only or frozen;
- "pyrapl": the same protocol through pyRAPL, wrapped (`pyrapl_meter.py`);
- "model": the seed-003 analytical estimate from the graph (`model.py`), labelled a model;
- "auto": "rapl" if it can be read, else "model", with a one-line note saying why;
- "off": nothing.

Nothing is ever reported as measured that was not: `energy_measured` is True only for RAPL
figures, and `energy_source` names the backend. Like the rest of `edgeopt.profile`, this package
never imports TensorFlow.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from edgeopt.errors import EdgeoptError
from edgeopt.profile.energy.model import ModelEnergy, model_energy
from edgeopt.profile.energy.powercap import (EnergyUnavailableError, Powercap,
                                             RaplFrozenError, RaplPermissionError)
from edgeopt.profile.energy.rapl_meter import (MIN_WINDOWS, PROTOCOL_WINDOW_S, EnergyCounter,
                                               PowercapCounter, WindowedEnergy, measure_windows)
from edgeopt.profile.tflite_model import TfliteInfo, inspect_tflite, open_interpreter

__all__ = [
    "ENERGY_METHODS", "EnergyResult", "EnergyUnavailableError", "RaplFrozenError",
    "RaplPermissionError", "apply_energy", "derived_metrics", "measure_energy",
]

ENERGY_METHODS = ("auto", "rapl", "pyrapl", "model", "off")
MODEL_LABEL = "45 nm analytical model (seed 003): an estimate, not a measurement"


@dataclass(frozen=True)
class EnergyResult:
    """Energy of one inference and where it came from.

    Attributes:
        method: What was asked ("auto", "rapl", ...).
        source: "rapl", "pyrapl", "model", or None when off.
        measured: True only for hardware counters.
        energy_mj: The headline figure: net (idle-subtracted) energy per inference when
            measured, the model's total when modelled; None when unknown.
        gross_mj: Measured energy per inference with idle power included.
        net_mj: Measured energy per inference above idle power (may be ≤ 0: lost in noise).
        dram_mj: DRAM energy per inference (measured dram zone, or the model's DRAM share).
        idle_w: Measured idle package power.
        active_w: Measured package power while inferring.
        spread: Std/median of the per-window gross energies.
        windows: Windows kept.
        window_s: Window length.
        inferences: Inferences in the kept windows.
        counters: Which counters were summed.
        model_mj: The 45 nm model's total (always computed unless off: comparable everywhere).
        note: What a user must know (fallback reason, noise warning), None when nothing.
        breakdown: Per-operator modelled energy (µJ), when asked for.
    """

    method: str
    source: str | None = None
    measured: bool = False
    energy_mj: float | None = None
    gross_mj: float | None = None
    net_mj: float | None = None
    dram_mj: float | None = None
    idle_w: float | None = None
    active_w: float | None = None
    spread: float | None = None
    windows: int | None = None
    window_s: float | None = None
    inferences: int | None = None
    counters: str | None = None
    model_mj: float | None = None
    note: str | None = None
    breakdown: list[dict] | None = field(default=None, repr=False)


def measure_energy(path: str | os.PathLike, method: str = "auto", *, threads: int = 1,
                   window_s: float = PROTOCOL_WINDOW_S, windows: int = MIN_WINDOWS,
                   breakdown: bool = False, info: TfliteInfo | None = None,
                   counter: EnergyCounter | None = None) -> EnergyResult:
    """Energy of one inference of a `.tflite` model, measured or modelled (see module doc).

    Args:
        path: The model file.
        method: One of `ENERGY_METHODS`.
        threads: Interpreter threads while measuring.
        window_s: Length of each idle and inference window (RAPL protocol).
        windows: Windows of each kind (≥ 3).
        breakdown: Also return the model's per-operator breakdown.
        info: `inspect_tflite(path)` if the caller has it already.
        counter: A ready energy counter to measure with instead of the one `method` names
            (e.g. a RAPL reader on another tree); used for "rapl"/"pyrapl"/"auto".

    Returns:
        An `EnergyResult`.

    Raises:
        EdgeoptError: Unknown method or bad window options.
        EnergyUnavailableError: "rapl"/"pyrapl" was asked for and cannot measure here (the
            message says why and what to do); "auto" falls back to the model instead.
        ModelFileError: The model file is bad.

    Example:
        >>> result = measure_energy("runs/quickstart/base_int8/model.tflite")  # doctest: +SKIP
        >>> result.source, result.measured, result.note  # doctest: +SKIP
        ('model', False, 'no RAPL: /sys/class/powercap does not exist; ...')
    """
    if method not in ENERGY_METHODS:
        raise EdgeoptError(f"`energy` must be one of {', '.join(ENERGY_METHODS)}. "
                           f"Received: energy={method!r}")
    if method == "off":
        return EnergyResult(method)
    info = info if info is not None else inspect_tflite(path)
    modelled = model_energy(info)
    rows = modelled.breakdown() if breakdown else None
    fallback = None
    if method != "model":
        try:
            if counter is None:
                counter = _counter(method)
            windowed = _measure_inference(path, counter, threads, window_s, windows)
            return _measured(method, windowed, modelled, rows)
        except EnergyUnavailableError as err:
            if method != "auto":
                raise
            fallback = f"RAPL unavailable: {err.short}; energy is the {MODEL_LABEL}"
    return EnergyResult(
        method=method, source="model", measured=False, energy_mj=modelled.total_mj,
        dram_mj=modelled.dram_mj, model_mj=modelled.total_mj, note=fallback, breakdown=rows,
    )


def derived_metrics(energy_mj: float | None, latency_ms: float | None,
                    macs: int | None) -> dict[str, float | None]:
    """EDP, inferences per joule and operations per joule (2·MACs / energy), None when unknown.

    Example:
        >>> derived_metrics(0.5, 2.0, 1_000_000)
        {'edp_mj_ms': 1.0, 'inferences_per_j': 2000.0, 'ops_per_j': 4000000000.0}
    """
    known = energy_mj is not None and energy_mj > 0
    return {
        "edp_mj_ms": energy_mj * latency_ms if known and latency_ms is not None else None,
        "inferences_per_j": 1e3 / energy_mj if known else None,
        "ops_per_j": 2 * macs / (energy_mj * 1e-3) if known and macs is not None else None,
    }


def apply_energy(row, result: EnergyResult) -> None:
    """Fill a profiler `Row`'s energy fields and extra keys from `result` (in place).

    The EDP uses the row's mean latency (energy per inference is a mean as well).

    Example:
        >>> apply_energy(row, measure_energy(row.path, "model"))  # doctest: +SKIP
        >>> row.energy_source, row.energy_measured  # doctest: +SKIP
        ('model', False)
    """
    derived = derived_metrics(result.energy_mj, row.latency_ms_mean, row.macs)
    row.energy_mj = result.energy_mj
    row.energy_source = result.source
    row.energy_measured = result.measured
    row.edp_mj_ms = derived.pop("edp_mj_ms")
    row.extra.update({
        "energy_method": result.method,
        "energy_gross_mj": result.gross_mj,
        "energy_net_mj": result.net_mj,
        "energy_spread": result.spread,
        "energy_idle_w": result.idle_w,
        "energy_active_w": result.active_w,
        "energy_windows": result.windows,
        "energy_window_s": result.window_s,
        "energy_counters": result.counters,
        "dram_energy_mj": result.dram_mj,
        "energy_model_mj": result.model_mj,
        **derived,
        "energy_note": result.note,
    })
    if result.breakdown is not None:
        row.extra["energy_breakdown"] = result.breakdown


def _counter(method: str) -> EnergyCounter:
    if method == "pyrapl":
        from edgeopt.profile.energy.pyrapl_meter import PyraplCounter

        return PyraplCounter()
    return PowercapCounter(Powercap())


def _measure_inference(path, counter: EnergyCounter, threads: int, window_s: float,
                       windows: int) -> WindowedEnergy:
    from edgeopt.profile.runner import fill_random_inputs

    interpreter = open_interpreter(path, threads=threads)
    fill_random_inputs(interpreter)
    return measure_windows(counter, interpreter.invoke, window_s=window_s, windows=windows)


def _measured(method: str, w: WindowedEnergy, modelled: ModelEnergy,
              rows: list[dict] | None) -> EnergyResult:
    notes = list(w.notes)
    energy = w.net_mj
    if energy <= 0:
        notes.insert(0, f"net energy {w.net_mj:.3g} mJ is at or below the idle noise "
                        f"(idle {w.idle_w:.2f} W, inferring {w.active_w:.2f} W): the inference "
                        "cannot be told apart from idle here; see energy_gross_mj")
        energy = None
    return EnergyResult(
        method=method, source=w.source, measured=True, energy_mj=energy, gross_mj=w.gross_mj,
        net_mj=w.net_mj, dram_mj=w.dram_mj, idle_w=w.idle_w, active_w=w.active_w,
        spread=w.spread, windows=w.windows, window_s=w.window_s, inferences=w.inferences,
        counters=w.counters, model_mj=modelled.total_mj, note="; ".join(notes) or None,
        breakdown=rows,
    )
