"""The Raspberry Pi 5's PMIC through `vcgencmd pmic_read_adc` (meter "rpi-pmic").

The Pi 5's power-management IC measures the current and voltage of each regulator output.
`vcgencmd pmic_read_adc` prints them, one per line:

    VDD_CORE_A current(7)=0.92871990A
    VDD_CORE_V volt(15)=0.72097620V

Current and voltage of one rail are paired by the rail's name (`VDD_CORE`), never by the
bracketed channel number (they differ); power is Σ V·I over the paired rails. Lines without a
partner (`EXT5V_V`, `BATT_V`) are voltages only and are not counted. This is the power after the
board's regulators, not at its 5 V input (conversion losses and USB devices are not in it): the
row's scope says "regulator-rails". A Pi 4 has no current sensing.

Each reading runs `vcgencmd` (a few ms of CPU), so the sampler reads every 0.1 s: windows of
10 s give the protocol's hundred readings (shorter windows get a note). `vcgencmd` is found on
`PATH`.
"""

from __future__ import annotations

import re
import shutil
import subprocess

from edgeopt.profile.energy.meter import EnergyUnavailableError, MeterPermissionError
from edgeopt.profile.energy.rails import Rail, select_rails
from edgeopt.profile.energy.sampler import SampledPowerCounter

SAMPLE_PERIOD_S = 0.1
COMMAND = ("vcgencmd", "pmic_read_adc")
_LINE = re.compile(r"^\s*(?P<rail>\S+)_(?P<unit>[AV])\s+(?:current|volt)\(\d+\)="
                   r"(?P<value>[-+0-9.eE]+)(?P=unit)\s*$")
_NO_ACCESS = ("vchiq", "permission denied", "/dev/vcio", "failed to open")


def parse_pmic_adc(text: str) -> tuple[dict[str, tuple[float, float]], list[str]]:
    """Pair currents and voltages by rail name.

    Returns:
        ({rail: (volts, amps)}, [names of lines without a partner]).

    Example:
        >>> parse_pmic_adc("VDD_CORE_A current(7)=0.5A\\nVDD_CORE_V volt(15)=0.8V\\n"
        ...                "EXT5V_V volt(24)=5.1V")
        ({'VDD_CORE': (0.8, 0.5)}, ['EXT5V_V'])
    """
    amps: dict[str, float] = {}
    volts: dict[str, float] = {}
    for line in text.splitlines():
        m = _LINE.match(line)
        if m:
            (amps if m["unit"] == "A" else volts)[m["rail"]] = float(m["value"])
    paired = {rail: (volts[rail], amps[rail]) for rail in amps if rail in volts}
    alone = [f"{r}_A" for r in amps if r not in volts] + [f"{r}_V" for r in volts if r not in amps]
    return paired, alone


def open_rpi_pmic(rail: str | None = None, *, period_s: float = SAMPLE_PERIOD_S,
                  timeout_s: float = 5.0) -> SampledPowerCounter:
    """The Pi 5 PMIC meter over the chosen rails (default: every paired rail, summed).

    Raises:
        EnergyUnavailableError: `vcgencmd` is missing, fails, or prints no current readings
            (`MeterPermissionError` when it may not open /dev/vcio).
        EdgeoptError: `rail` names no rail of the PMIC.
    """
    executable = shutil.which(COMMAND[0])
    if executable is None:
        raise EnergyUnavailableError(
            "No Raspberry Pi PMIC: `vcgencmd` is not on PATH (Raspberry Pi OS ships it; "
            "elsewhere there is no PMIC to read). Use `--energy estimate` for the labelled "
            "time × power estimate.",
            short="vcgencmd not found on PATH",
        )
    command = [executable, *COMMAND[1:]]

    def run() -> dict[str, tuple[float, float]]:
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise EnergyUnavailableError(f"`{' '.join(command)}` failed: {err}.",
                                         short=f"vcgencmd failed ({type(err).__name__})") from err
        output = done.stdout + done.stderr
        if any(word in output.lower() for word in _NO_ACCESS):
            raise MeterPermissionError(
                f"`{' '.join(command)}` may not open the VideoCore mailbox: "
                f"{output.strip()[:200]!r}. Run as root, or add yourself to group `video` "
                "(`sudo usermod -aG video $USER`, then log in again). Or use `--energy "
                "estimate` for the labelled time × power estimate.",
                short="vcgencmd may not open /dev/vcio (join group `video`)",
            )
        paired, _ = parse_pmic_adc(done.stdout)
        if done.returncode != 0 or not paired:
            raise EnergyUnavailableError(
                f"`{' '.join(command)}` gave no current readings (exit {done.returncode}: "
                f"{output.strip()[:200]!r}). Only a Raspberry Pi 5 has PMIC current sensing; a "
                "Pi 4 has none. Use `--energy estimate` for the labelled time × power estimate.",
                short="vcgencmd pmic_read_adc gives no current readings (Pi 5 only)",
            )
        return paired

    first = run()
    rails = [Rail(name, name, "pmic", "power", (" ".join(COMMAND),), "rail", True)
             for name in first]
    chosen, scope = select_rails(rails, rail, "rpi-pmic", "`vcgencmd pmic_read_adc` rails",
                                 default_scope=None if rail else "regulator-rails")
    names = [r.name for r in chosen]

    def read() -> tuple[float, tuple]:
        paired = run()
        missing = [n for n in names if n not in paired]
        if missing:
            raise EnergyUnavailableError(
                f"`{' '.join(command)}` stopped reporting rail(s) {', '.join(missing)}.",
                short=f"vcgencmd lost rail(s) {', '.join(missing)}")
        raw = tuple(paired[n] for n in names)
        return sum(v * a for v, a in raw), raw

    what = ("Σ V·I of " + ", ".join(names) if len(names) > 1 else f"{names[0]} V·I") + \
        " (vcgencmd pmic_read_adc, after the regulators)"
    return SampledPowerCounter(read, "rpi-pmic", scope, what, [" ".join(COMMAND)],
                               period_s=period_s)
