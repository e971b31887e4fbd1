"""pyRAPL (the meter seed 000 names), wrapped so that its quirks do not reach the user.

pyRAPL 0.2 reads `/sys/class/powercap/intel-rapl/intel-rapl:N` itself (it ignores
`EDGEOPT_POWERCAP_ROOT`) and, bare:
- logs a "You need to install pymongo" warning through the root logger on import (which also
  installs a root handler as a side effect);
- prints each result on `export()` unless given an output;
- lets `PermissionError` escape from `setup()` on kernels where `energy_uj` is root-only;
- does not correct wraparound: a wrapped window comes back with `pkg` None (or a negative entry
  when only one of several sockets wrapped);
- raises `PyRAPLCantRecordEnergyConsumption` on a machine without powercap.

`PyraplCounter` turns each of these into either a dropped window or an `EnergyUnavailableError`
with a message, and plugs into the same protocol as edgeopt's own reader
(`rapl_meter.measure_windows`).
"""

from __future__ import annotations

import contextlib
import io
import logging
from dataclasses import dataclass, field
from types import ModuleType

from edgeopt.profile.energy.powercap import (EnergyDelta, EnergyUnavailableError,
                                             RaplPermissionError, permission_message)


def import_pyrapl() -> ModuleType:
    """Import pyRAPL without its import-time warning or a root logging handler.

    Raises:
        EnergyUnavailableError: pyRAPL is not installed.
    """
    root = logging.getLogger()
    silencer = logging.NullHandler()
    # With a handler present, `logging.warning()` neither prints nor calls basicConfig().
    root.addHandler(silencer)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            import pyRAPL
    except ImportError as err:
        raise EnergyUnavailableError(
            f"pyRAPL is not installed ({err}). Install it with `pip install pyRAPL`, or use "
            "`--energy rapl` (edgeopt's own reader of the same counters).",
            short="pyRAPL is not installed",
        ) from err
    finally:
        root.removeHandler(silencer)
    return pyRAPL


@dataclass
class PyraplCounter:
    """An `EnergyCounter` that reads RAPL through pyRAPL's `Measurement.begin()/end()`.

    Args:
        module: The pyRAPL module; tests pass a fake. Default: the installed pyRAPL.

    Raises:
        RaplPermissionError: pyRAPL's setup hit a root-only counter.
        EnergyUnavailableError: pyRAPL cannot record energy on this machine or is missing.

    Example:
        >>> counter = PyraplCounter()  # doctest: +SKIP
        >>> token = counter.start(); work(); counter.stop(token).package_uj  # doctest: +SKIP
        1834221.0
    """

    module: ModuleType | None = None
    source: str = field(default="pyrapl", init=False)
    scope: str = field(default="cpu-package", init=False)

    def __post_init__(self) -> None:
        self._pyrapl = self.module if self.module is not None else import_pyrapl()
        self._guarded(self._pyrapl.setup)

    def start(self) -> object:
        measurement = self._pyrapl.Measurement("edgeopt", output=_Discard())
        self._guarded(measurement.begin)
        return measurement

    def stop(self, token: object) -> EnergyDelta:
        self._guarded(token.end)
        result = token.result
        seconds = result.duration / 1e6  # pyRAPL gives µs
        pkg = _socket_sum(result.pkg)
        if pkg is None:
            return EnergyDelta(None, None, seconds,
                               "wrapped or unreadable (pyRAPL reports no package energy; it "
                               "does not correct wraparound)")
        if pkg == 0:
            return EnergyDelta(None, None, seconds, "pyRAPL package counter did not move")
        return EnergyDelta(int(round(pkg)), _rounded(_socket_sum(result.dram)), seconds)

    def describe(self) -> str:
        return "pyRAPL package (all sockets)"

    def _guarded(self, call):
        """Run a pyRAPL call with its printing swallowed and its errors made into messages."""
        errors = self._pyrapl
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                return call()
        except PermissionError as err:
            raise RaplPermissionError(
                permission_message(err.filename or "/sys/class/powercap/intel-rapl"),
                short="pyRAPL: RAPL counters are root-only (CVE-2020-8694)",
            ) from err
        except getattr(errors, "PyRAPLCantRecordEnergyConsumption", ()) as err:
            raise EnergyUnavailableError(
                "pyRAPL cannot record energy on this machine: it found no readable package "
                "zone under /sys/class/powercap/intel-rapl (virtual machines usually have none; "
                "pyRAPL does not read EDGEOPT_POWERCAP_ROOT). Use `--energy estimate` for the "
                "labelled time × power estimate.",
                short="pyRAPL cannot record energy here (no /sys/class/powercap/intel-rapl)",
            ) from err
        except (getattr(errors, "PyRAPLException", ()), OSError) as err:
            raise EnergyUnavailableError(
                f"pyRAPL failed: {type(err).__name__}: {err}. Try `--energy rapl` (edgeopt's "
                "own reader) or `--energy estimate`.",
                short=f"pyRAPL failed ({type(err).__name__})",
            ) from err


class _Discard:
    """An output that keeps nothing, so pyRAPL never falls back to printing."""

    def add(self, result) -> None:
        pass

    def save(self) -> None:
        pass


def _socket_sum(values) -> float | None:
    """Sum per-socket µJ; None when pyRAPL gave none or one socket went negative (wrapped)."""
    if values is None:
        return None
    values = list(values)
    if not values or any(v is None or v < 0 for v in values):
        return None
    return float(sum(values))


def _rounded(value: float | None) -> int | None:
    return None if value is None else int(round(value))
