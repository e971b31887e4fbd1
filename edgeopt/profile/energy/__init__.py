"""Energy per inference: measured with a meter when one can be read, else estimated, always labelled.

`measure_energy(path, method)` picks the backend:

- "rapl": edgeopt's own powercap reader (`powercap.py`); "pyrapl": the same counters through
  pyRAPL (`pyrapl_meter.py`); "hwmon": hwmon energy counters and power sensors, Jetson's
  INA3221 included (`hwmon.py`, `jetson_iio.py`); "rpi-pmic": the Raspberry Pi 5 PMIC through
  `vcgencmd` (`rpi_pmic.py`). All go through one windowed protocol (`rapl_meter.py`); power
  sensors are sampled and integrated by `sampler.py`. Each gives a clear error when its meter is
  missing, root-only or frozen. When other processes kept the machine busy during the windows
  (`busy.py`), the figure would mean nothing: the row gets a note saying so instead.
- "estimate": the CPU time the interpreter's threads used per inference × the power of a busy core
  (`estimate.py`), labelled an estimate: time the OS gave other processes is not billed;
- "model45": the seed-003 45 nm accelerator-style model of the graph (`model.py`), deterministic
  and machine-independent, never the CPU's energy;
- "auto": the first of rapl, hwmon, rpi-pmic that can be read, else "estimate", with a one-line
  note saying which meters were tried and why each was not used;
- "off": nothing.

Every row says `energy_source`, `energy_scope` (what the figure covers) and `energy_measured`
(True only for meters), and carries the 45 nm figure as `energy_model45_mj`. Like the rest of
`edgeopt.profile`, this package never imports TensorFlow.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from edgeopt.common.errors import EdgeoptError
from edgeopt.profile.energy.busy import BUSY_SHARE, busy_note
from edgeopt.profile.energy.estimate import ThreadPower, check_cpu_watts, thread_power
from edgeopt.profile.energy.meter import (EnergyCounter, EnergyUnavailableError,
                                          MeterFrozenError, MeterPermissionError)
from edgeopt.profile.energy.model import model_energy
from edgeopt.profile.energy.powercap import Powercap, RaplFrozenError, RaplPermissionError
from edgeopt.profile.energy.rapl_meter import (MIN_WINDOWS, PROTOCOL_WINDOW_S, PowercapCounter,
                                               WindowedEnergy, measure_windows)
from edgeopt.profile.tflite_file import inspect_tflite, open_interpreter
from edgeopt.profile.tflite_graph import TfliteInfo

__all__ = [
    "AUTO_METERS", "ENERGY_METHODS", "EnergyResult", "EnergyUnavailableError",
    "MeterFrozenError", "MeterPermissionError", "RaplFrozenError", "RaplPermissionError",
    "apply_energy", "check_energy_method", "derived_metrics", "measure_energy", "open_meter",
]

METERS = ("rapl", "pyrapl", "hwmon", "rpi-pmic")
AUTO_METERS = ("rapl", "hwmon", "rpi-pmic")  # pyRAPL reads the same counters as rapl
ENERGY_METHODS = ("auto", *METERS, "estimate", "model45", "off")
RENAMED = {"model": "model45"}


def check_energy_method(method: str) -> str:
    """`method` if it is one of `ENERGY_METHODS`; a renamed or unknown one is a clear error.

    Example:
        >>> check_energy_method("model45")
        'model45'
    """
    if method in RENAMED:
        raise EdgeoptError(
            f"`energy: {method}` was renamed `{RENAMED[method]}`: it is the 45 nm "
            "accelerator-style model of the neuron-elimination paper (Zhang, Davoodi, Hu), not the CPU's energy. Use "
            f"`--energy {RENAMED[method]}` for it, or `--energy estimate` (the model's CPU time × "
            "CPU power) for a CPU figure without a meter.")
    if method not in ENERGY_METHODS:
        raise EdgeoptError(f"`energy` must be one of {', '.join(ENERGY_METHODS)}. "
                           f"Received: energy={method!r}")
    return method


@dataclass(frozen=True)
class EnergyResult:
    """Energy of one inference and where it came from.

    Attributes:
        method: What was asked ("auto", "rapl", ...).
        source: "rapl", "pyrapl", "hwmon", "rpi-pmic", "estimate", "model45", or None when off.
        scope: What the figure covers: "cpu-package", "board-input", "rail",
            "regulator-rails", "estimate", "model"; None when off.
        measured: True only for meters.
        energy_mj: The headline figure: net (idle-subtracted) energy per inference when
            measured, the 45 nm model's total for model45; None for an estimate until
            `apply_energy` prices the row's CPU time per inference, and None when unknown.
        gross_mj: Measured energy per inference with idle power included.
        net_mj: Measured energy per inference above idle power (may be ≤ 0: lost in noise).
        dram_mj: DRAM energy per inference (measured dram zone, or the model's DRAM share for
            model45).
        idle_w: Measured idle power.
        active_w: Measured power while inferring.
        spread: Std/median of the per-window gross energies.
        windows: Windows kept.
        window_s: Window length.
        inferences: Inferences in the kept windows.
        window_ms_per_inference: Wall time per inference inside the kept inference windows.
        counters: Which counters or rails were summed.
        power: For an estimate: the power of the threads used and how it was obtained.
        model45_mj: The 45 nm model's total (always computed unless off: comparable everywhere).
        model45_dram_mj: The 45 nm model's DRAM share.
        note: What a user must know (which meter auto used or why none, noise, a busy
            machine), None if nothing.
        others_cpu_share: For a meter: the median share of the CPUs other processes used
            during its windows, None where unknown.
        breakdown: Per-operator modelled energy (µJ), when asked for.
    """

    method: str
    source: str | None = None
    scope: str | None = None
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
    window_ms_per_inference: float | None = None
    counters: str | None = None
    power: ThreadPower | None = None
    model45_mj: float | None = None
    model45_dram_mj: float | None = None
    note: str | None = None
    breakdown: list[dict] | None = field(default=None, repr=False)
    others_cpu_share: float | None = None


def measure_energy(path: str | os.PathLike, method: str = "auto", *, threads: int = 1,
                   window_s: float = PROTOCOL_WINDOW_S, windows: int = MIN_WINDOWS,
                   breakdown: bool = False, info: TfliteInfo | None = None,
                   counter: EnergyCounter | None = None, cpu_watts: float | None = None,
                   rail: str | None = None, interpreter=None) -> EnergyResult:
    """Energy of one inference of a `.tflite` model, measured, estimated or modelled.

    Args:
        path: The model file.
        method: One of `ENERGY_METHODS` (see the module docstring).
        threads: Interpreter threads while measuring (and priced by the estimate).
        window_s: Length of each idle and inference window (meter protocol).
        windows: Windows of each kind (≥ 3).
        breakdown: Also return the 45 nm model's per-operator breakdown.
        info: `inspect_tflite(path)` if the caller has it already.
        counter: A ready meter to measure with instead of the one `method` names (tests, or
            a meter on another tree); used for the meter methods and "auto".
        cpu_watts: The CPU package's power (TDP) in W for the estimate; None: look it up.
        rail: Which rail(s) of a power-sensor meter count (comma-separated names); None: the
            meter's default (the board's input rail where one is labelled so).
        interpreter: The model's interpreter, allocated with its inputs set, if the caller has
            it open already (the profiler opens each model once); else one is opened here.

    Returns:
        An `EnergyResult`.

    Raises:
        EdgeoptError: Unknown or renamed method, bad window options, `cpu_watts` not > 0, an
            unknown rail.
        EnergyUnavailableError: A meter was asked for and cannot measure here (the message
            says why and what to do); "auto" moves on to the next meter, then the estimate.
        ModelFileError: The model file is bad.

    Example:
        >>> result = measure_energy("runs/quickstart/base_int8/model.tflite")  # doctest: +SKIP
        >>> result.source, result.scope, result.measured  # doctest: +SKIP
        ('estimate', 'estimate', False)
    """
    check_energy_method(method)
    cpu_watts = check_cpu_watts(cpu_watts)
    if rail is not None and method in ("estimate", "model45", "off"):
        raise EdgeoptError(f"`rail` selects rails of a power-sensor meter (hwmon, rpi-pmic, or "
                           f"auto); `energy: {method}` reads none. Received: rail={rail!r}")
    if method == "off":
        return EnergyResult(method)
    info = info if info is not None else inspect_tflite(path)
    modelled = model_energy(info)
    rows = modelled.breakdown() if breakdown else None
    common = dict(method=method, model45_mj=modelled.total_mj,
                  model45_dram_mj=modelled.dram_mj, breakdown=rows)
    if method == "model45":
        return EnergyResult(source="model45", scope="model", energy_mj=modelled.total_mj,
                            dram_mj=modelled.dram_mj, **common)
    tried: list[str] = []
    if method != "estimate":
        names = [method] if method != "auto" else [
            m for m in AUTO_METERS if rail is None or m not in ("rapl", "pyrapl")]
        for name in names:
            try:
                meter = counter if counter is not None else open_meter(name, rail)
            except EnergyUnavailableError as err:
                if method != "auto":
                    raise
                tried.append(f"{name}: {err.short}")
                continue
            try:
                windowed = _measure_inference(path, meter, threads, window_s, windows, interpreter)
            except EnergyUnavailableError as err:
                if method != "auto":
                    raise
                tried.append(f"{meter.source}: {err.short}")
                if counter is not None:
                    break
                continue
            finally:
                close = getattr(meter, "close", None)
                if close is not None:
                    close()
            note = (f"auto: measured with {meter.source} ({meter.describe()})"
                    + (f" after {'; '.join(tried)}" if tried else ""))
            return _measured(windowed, note if method == "auto" else None, common)
    power = thread_power(threads, cpu_watts)
    # What the figure is comes first; why (no meter) and where the power figure came from follow.
    note = (f"energy is an estimate, not a measurement: the CPU time the interpreter's threads used per inference × "
            f"{power.per_core_w:.3g} W per busy core (time the OS gave other processes is not billed). "
            f"The power: {power.detail}")
    if tried:
        note += f". Why an estimate: no meter could be read ({'; '.join(tried)})"
    return EnergyResult(source="estimate", scope="estimate", power=power, note=note, **common)


def open_meter(name: str, rail: str | None = None) -> EnergyCounter:
    """Open the meter `name` ("rapl", "pyrapl", "hwmon", "rpi-pmic") on this machine.

    Raises:
        EnergyUnavailableError: It is missing, unreadable or frozen (the message says how to fix).
        EdgeoptError: `rail` names no rail of the meter, or the meter takes no rail.
    """
    if rail is not None and name in ("rapl", "pyrapl"):
        raise EdgeoptError(f"`rail` selects rails of a power-sensor meter (hwmon, rpi-pmic); "
                           f"{name} has none. Received: rail={rail!r}")
    if name == "pyrapl":
        from edgeopt.profile.energy.pyrapl_meter import PyraplCounter

        return PyraplCounter()
    if name == "hwmon":
        from edgeopt.profile.energy.hwmon import open_hwmon

        return open_hwmon(rail)
    if name == "rpi-pmic":
        from edgeopt.profile.energy.rpi_pmic import open_rpi_pmic

        return open_rpi_pmic(rail)
    return PowercapCounter(Powercap())


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

    An estimate is priced here, on the row's CPU time per inference (`extra["cpu_ms_per_inference"]`,
    which the profiler measures over the timed invokes); a row without it is priced on its mean
    latency, and its note says so. The EDP uses the mean latency (energy per inference is a mean
    as well).

    Example:
        >>> apply_energy(row, measure_energy(row.path, "model45"))  # doctest: +SKIP
        >>> row.energy_source, row.energy_scope, row.energy_measured  # doctest: +SKIP
        ('model45', 'model', False)
    """
    energy, note = result.energy_mj, result.note
    if result.power is not None:
        cpu_ms = row.extra.get("cpu_ms_per_inference")
        if cpu_ms is not None:
            energy = result.power.energy_for_cpu_mj(cpu_ms)
        else:
            energy = result.power.energy_mj(row.latency_ms_mean)
            note = (f"energy is an estimate, mean latency × {result.power.power_w:.3g} W (no CPU time was "
                    f"measured for this row): {result.power.detail}")
    derived = derived_metrics(energy, row.latency_ms_mean, row.macs)
    row.energy_mj = energy
    row.energy_source = result.source
    row.energy_scope = result.scope
    row.energy_measured = result.measured
    row.edp_mj_ms = derived.pop("edp_mj_ms")
    power = result.power
    row.extra.update({
        "energy_method": result.method,
        "energy_gross_mj": result.gross_mj,
        "energy_net_mj": result.net_mj,
        "energy_spread": result.spread,
        "energy_idle_w": result.idle_w,
        "energy_active_w": result.active_w,
        "energy_windows": result.windows,
        "energy_window_s": result.window_s,
        "energy_window_ms_per_inference": result.window_ms_per_inference,
        "energy_counters": result.counters,
        "energy_power_w": None if power is None else power.power_w,
        "energy_power_source": None if power is None else power.source,
        "energy_cpu_tdp_w": None if power is None else power.tdp_w,
        "dram_energy_mj": result.dram_mj,
        "energy_model45_mj": result.model45_mj,
        "energy_model45_dram_mj": result.model45_dram_mj,
        **derived,
        "energy_others_cpu_share": result.others_cpu_share,
        "energy_note": note,
    })
    if result.breakdown is not None:
        row.extra["energy_breakdown"] = result.breakdown


def _measure_inference(path, counter: EnergyCounter, threads: int, window_s: float,
                       windows: int, interpreter=None) -> WindowedEnergy:
    from edgeopt.profile.runner import fill_random_inputs

    if interpreter is None:
        interpreter = open_interpreter(path, threads=threads)
        fill_random_inputs(interpreter)
    return measure_windows(counter, interpreter.invoke, window_s=window_s, windows=windows)


def _measured(w: WindowedEnergy, auto_note: str | None, common: dict) -> EnergyResult:
    notes = ([auto_note] if auto_note else []) + list(w.notes)
    energy = w.net_mj
    if w.others_cpu_share is not None and w.others_cpu_share > BUSY_SHARE:
        notes.insert(0, busy_note(w.others_cpu_share, w.source, w.gross_mj))
        energy = None
    elif energy <= 0:
        notes.insert(0, f"net energy {w.net_mj:.3g} mJ is at or below the idle noise "
                        f"(idle {w.idle_w:.2f} W, inferring {w.active_w:.2f} W): the inference "
                        "cannot be told apart from idle here; see energy_gross_mj")
        energy = None
    return EnergyResult(
        source=w.source, scope=w.scope, measured=True, energy_mj=energy, gross_mj=w.gross_mj,
        net_mj=w.net_mj, dram_mj=w.dram_mj, idle_w=w.idle_w, active_w=w.active_w,
        spread=w.spread, windows=w.windows, window_s=w.window_s, inferences=w.inferences,
        window_ms_per_inference=w.ms_per_inference,
        counters=w.counters, note="; ".join(notes) or None, others_cpu_share=w.others_cpu_share, **common,
    )
