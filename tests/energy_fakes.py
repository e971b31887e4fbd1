"""Fake powercap trees and energy counters for the energy tests (a helper, not a test module).

A fake tree has the files real sysfs has — `name`, `energy_uj`, `max_energy_range_uj` — in
folders named like the kernel names them (`intel-rapl:<hex>[:<hex>]`, `intel-rapl-mmio:<hex>`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

MAX_RANGE_UJ = 262_143_328_850  # a real Intel package's max_energy_range_uj


def write_zone(root: Path, zone_id: str, name: str, energy_uj: int = 1_000_000, *,
               max_energy_range_uj: int | None = MAX_RANGE_UJ, parent: str | None = None) -> Path:
    """Create one zone folder; a sub-zone goes inside its parent's folder, as in sysfs."""
    folder = (root / parent / zone_id) if parent else (root / zone_id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "name").write_text(name + "\n")
    set_energy(folder, energy_uj)
    if max_energy_range_uj is not None:
        (folder / "max_energy_range_uj").write_text(f"{max_energy_range_uj}\n")
    return folder


def set_energy(zone: Path, energy_uj: int) -> None:
    """Set a counter atomically, so a concurrent reader never sees half a number."""
    tmp = zone / ".energy_uj.tmp"
    tmp.write_text(f"{energy_uj}\n")
    os.replace(tmp, zone / "energy_uj")


def denying_reader(denied: str):
    """A reader that raises PermissionError for files whose path ends with `denied`."""

    def read(path: Path) -> str:
        if str(path).endswith(denied):
            raise PermissionError(13, "Permission denied", str(path))
        return Path(path).read_text()

    return read


def start_constant_power_writer(zone: Path, watts: float) -> subprocess.Popen:
    """A separate process advancing `zone`'s counter at `watts`, about every millisecond.

    A process rather than a thread, so the writer never competes with the measured inference
    loop for the GIL. The counter is computed from the clock at each write, so a late write is
    late, never wrong.
    """
    code = textwrap.dedent(f"""
        import os, sys, time
        zone, watts = {str(zone)!r}, {watts!r}
        start = time.perf_counter()
        base = 5_000_000
        tmp = os.path.join(zone, ".writer.tmp")
        while True:
            value = base + int(watts * (time.perf_counter() - start) * 1e6)
            with open(tmp, "w") as f:
                f.write(f"{{value}}\\n")
            os.replace(tmp, os.path.join(zone, "energy_uj"))
            time.sleep(0.001)
    """)
    return subprocess.Popen([sys.executable, "-c", code])


# --- every meter hidden: what this project's machines look like ----------------------------


def hide_meters(monkeypatch, tmp_path: Path) -> None:
    """No RAPL, no hwmon, no Jetson IIO, no vcgencmd: the machine has no meter at all."""
    from edgeopt.profile.energy.hwmon import HWMON_ROOT_ENV
    from edgeopt.profile.energy.jetson_iio import IIO_ROOT_ENV
    from edgeopt.profile.energy.powercap import POWERCAP_ROOT_ENV

    monkeypatch.setenv(POWERCAP_ROOT_ENV, str(tmp_path / "no-powercap"))
    monkeypatch.setenv(HWMON_ROOT_ENV, str(tmp_path / "no-hwmon"))
    monkeypatch.setenv(IIO_ROOT_ENV, str(tmp_path / "no-ina3221x"))
    empty = tmp_path / "empty-bin"
    empty.mkdir(exist_ok=True)
    monkeypatch.setenv("PATH", str(empty))


# --- hwmon trees -------------------------------------------------------------------------------


def write_chip(root: Path, folder: str, name: str, files: dict[str, object]) -> Path:
    """One hwmon chip folder: its `name` and the given attribute files (values as text)."""
    chip = root / folder
    chip.mkdir(parents=True, exist_ok=True)
    (chip / "name").write_text(name + "\n")
    for file, value in files.items():
        set_value(chip / file, value)
    return chip


def set_value(path: Path, value: object) -> None:
    """Write an attribute atomically, so a concurrent reader never sees half a number."""
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text(f"{value}\n")
    os.replace(tmp, path)


def write_orin_ina3221(root: Path, folder: str = "hwmon3", *, vdd_in_mv: int = 5000,
                       vdd_in_ma: int = 1000) -> Path:
    """A Jetson Orin's INA3221: VDD_IN (the board input) and two rails inside it."""
    return write_chip(root, folder, "ina3221", {
        "in1_label": "VDD_IN", "in1_input": vdd_in_mv, "curr1_input": vdd_in_ma,
        "in2_label": "VDD_CPU_GPU_CV", "in2_input": 4992, "curr2_input": 320,
        "in3_label": "VDD_SOC", "in3_input": 4984, "curr3_input": 560,
        "in4_input": 12, "in5_input": 3, "in6_input": 5,  # shunt voltages: never paired
    })


def start_constant_rail_writer(chip: Path, watts: float, channel: int = 1,
                               millivolts: int = 5000) -> subprocess.Popen:
    """A process holding an INA3221 channel at `watts` on average, as a real sensor jitters.

    The current alternates one step (1 mA) either side of watts / volts every millisecond, so
    the readings change (a sensor that never changes is frozen) while the mean power is exact.
    """
    mean_ma = round(watts / (millivolts / 1e3) * 1e3)
    code = textwrap.dedent(f"""
        import os, time
        chip, ch, mean = {str(chip)!r}, {channel}, {mean_ma}
        path = os.path.join(chip, f"curr{{ch}}_input")
        tmp = os.path.join(chip, ".writer.tmp")
        step = 0
        while True:
            with open(tmp, "w") as f:
                f.write(f"{{mean + (1 if step % 2 else -1)}}\\n")
            os.replace(tmp, path)
            step += 1
            time.sleep(0.001)
    """)
    return subprocess.Popen([sys.executable, "-c", code])


def write_iio_device(root: Path, rails: dict[str, int], *, bus: str = "6-0040",
                     device: str = "iio:device0") -> Path:
    """A JetPack 4 ina3221x IIO device: `rail_name_<ch>` and `in_power<ch>_input` (mW)."""
    folder = root / bus / device
    folder.mkdir(parents=True, exist_ok=True)
    for ch, (name, mw) in enumerate(rails.items()):
        (folder / f"rail_name_{ch}").write_text(name + "\n")
        set_value(folder / f"in_power{ch}_input", mw)
    return folder


# --- Raspberry Pi 5 ----------------------------------------------------------------------------

# `vcgencmd pmic_read_adc` on a Raspberry Pi 5 (the format of real firmware output: currents
# first, then voltages, channel numbers that differ between a rail's current and its voltage).
PI5_PMIC_DUMP = """\
 3V7_WL_SW_A current(0)=0.00000000A
   3V3_SYS_A current(1)=0.05561838A
   1V8_SYS_A current(2)=0.17567850A
  DDR_VDD2_A current(3)=0.02049600A
  DDR_VDDQ_A current(4)=0.00000000A
   1V1_SYS_A current(5)=0.18545110A
   0V8_SW_A current(6)=0.31717260A
  VDD_CORE_A current(7)=0.92871990A
   3V3_DAC_A current(17)=0.00061050A
   3V3_ADC_A current(18)=0.00018315A
   0V8_AON_A current(16)=0.00396825A
     HDMI_A current(22)=0.00000000A
 3V7_WL_SW_V volt(8)=3.71533300V
   3V3_SYS_V volt(9)=3.30548800V
   1V8_SYS_V volt(10)=1.80183100V
  DDR_VDD2_V volt(11)=1.11245400V
  DDR_VDDQ_V volt(12)=0.60640640V
   1V1_SYS_V volt(13)=1.10622700V
   0V8_SW_V volt(14)=0.80146500V
  VDD_CORE_V volt(15)=0.72097620V
   3V3_DAC_V volt(20)=3.30402300V
   3V3_ADC_V volt(21)=3.30622000V
   0V8_AON_V volt(19)=0.80073230V
     HDMI_V volt(23)=5.14652000V
    EXT5V_V volt(24)=5.14652000V
     BATT_V volt(25)=0.00000000V
"""


def install_fake_vcgencmd(monkeypatch, folder: Path, dump: str = PI5_PMIC_DUMP, *,
                          jitter: bool = True, exit_code: int = 0) -> Path:
    """A `vcgencmd` script on PATH that prints `dump` for `pmic_read_adc`.

    With `jitter`, each call nudges VDD_CORE's current by one least significant digit (odd and
    even calls), as a live PMIC does; without it the readings never change (a frozen sensor).
    """
    folder.mkdir(parents=True, exist_ok=True)
    state = folder / "calls"
    script = folder / "vcgencmd"
    script.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import sys
        from pathlib import Path
        if sys.argv[1:] != ["pmic_read_adc"]:
            sys.exit(f"unexpected arguments {{sys.argv[1:]}}")
        state = Path({str(state)!r})
        n = int(state.read_text()) if state.exists() else 0
        state.write_text(str(n + 1))
        dump = {dump!r}
        if {jitter!r} and n % 2:
            dump = dump.replace("0.92871990A", "0.92871991A")
        sys.stdout.write(dump)
        sys.exit({exit_code})
    """))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")
    return script


def pmic_watts(dump: str = PI5_PMIC_DUMP) -> float:
    """Σ V·I of a dump's paired rails, computed independently of edgeopt's parser."""
    import re

    values = dict(re.findall(r"(\S+)\s+(?:current|volt)\(\d+\)=([0-9.]+)[AV]", dump))
    rails = {k[:-2] for k in values if k.endswith("_A")} & {k[:-2] for k in values if k.endswith("_V")}
    return sum(float(values[r + "_A"]) * float(values[r + "_V"]) for r in rails)


def build_midsize_float32(folder: Path) -> Path:
    """A float32 CNN of about 2.6 M MACs (tens of µs per inference, like the quickstart model).

    Large enough that the Python around `invoke()` is negligible next to the inference itself,
    which the end-to-end energy checks need; the weights are random (seeded): only time matters.
    """
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import tensorflow as tf
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.layers.Input((28, 28, 1)),
        keras.layers.Conv2D(16, 3, activation="relu"),
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(10),
    ])
    path = folder / "midsize_float32.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    return path
