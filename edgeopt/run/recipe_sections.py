"""The sections of a recipe other than its steps: `data:`, `profile:` and a step's `resources:`.

Each is a strict pydantic model (unknown keys refused) that `recipe.py` validates and keeps.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edgeopt.common.errors import did_you_mean
from edgeopt.data.datasets import DATASETS
from edgeopt.data.scaling import DEFAULT_RANGE, InputScaling, range_problem
from edgeopt.profile.defaults import PROFILE_DEFAULTS


def is_folder_name(value: object) -> bool:
    """True for letters, digits, '_' and '-' only: what may name a folder edgeopt writes (step ids, recipe names).

    Example:
        >>> is_folder_name("base_int8"), is_folder_name("../elsewhere")
        (True, False)
    """
    return isinstance(value, str) and value.replace("_", "").replace("-", "").isalnum()


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSpec(Strict):
    name: str = Field("mnist_embedded", description="a dataset from `edgeopt datasets`")
    path: str | None = Field(None, description="file or folder to read instead of the default location")
    limit_train: int | None = Field(None, ge=1, description="keep a seeded random subset of the training split")
    limit_test: int | None = Field(None, ge=1, description="keep a seeded random subset of the test split")
    validation_split: float = Field(0.0, ge=0, lt=1, description="fraction of the training split held out, seeded, "
                                    "never trained on (`edgeopt search` selects on it)")
    input_range: tuple[float, float] = Field(DEFAULT_RANGE, description="[lo, hi] the model takes pixels in: "
                                             "0–255 is mapped linearly onto it ([0, 255] raw, [-1, 1] MobileNet-style); "
                                             "float data must already lie in it")
    mean: list[float] | None = Field(None, min_length=1, description="per-channel mean subtracted after input_range "
                                     "(ImageNet-style models), one value or one per channel")
    std: list[float] | None = Field(None, min_length=1, description="per-channel std divided by after the mean")

    # Keys newer than the runs they must resume: left out of step fingerprints while at their default.
    omit_when_default: ClassVar[tuple[str, ...]] = ("validation_split", "input_range", "mean", "std")

    @field_validator("name")
    @classmethod
    def _known_dataset(cls, value: str) -> str:
        if value not in DATASETS:
            raise ValueError(f"unknown dataset '{value}'.{did_you_mean(value, DATASETS)} Known: {', '.join(DATASETS)}")
        return value

    @field_validator("input_range", mode="before")
    @classmethod
    def _two_increasing_numbers(cls, value: Any) -> Any:
        problem = range_problem(value)
        if problem:
            raise ValueError(f"`input_range` {problem}")
        return value

    @model_validator(mode="after")
    def _valid_scaling(self) -> "DataSpec":
        self.scaling()  # std > 0, finite values: the same rules the dataset applies
        return self

    def scaling(self) -> InputScaling:
        """The `InputScaling` this section declares."""
        from edgeopt.common.errors import DataError

        try:
            return InputScaling(tuple(self.input_range), None if self.mean is None else tuple(self.mean),
                                None if self.std is None else tuple(self.std))
        except DataError as err:
            raise ValueError(str(err).split(". Received:")[0].rstrip(".")) from None

    def fingerprint(self) -> dict:
        """What of this section decides a step's output, as step fingerprints digest it."""
        dumped = self.model_dump(mode="json")
        for key in self.omit_when_default:
            default = type(self).model_fields[key].default
            if dumped[key] == (list(default) if isinstance(default, tuple) else default):
                dumped.pop(key)
        return dumped


class ProfileSpec(Strict):
    runs: int = Field(PROFILE_DEFAULTS["runs"], ge=1, le=1_000_000, description="timed invokes per model")
    warmup: int = Field(PROFILE_DEFAULTS["warmup"], ge=0, le=100_000, description="untimed invokes first")
    rounds: int = Field(PROFILE_DEFAULTS["rounds"], ge=1, le=10_000,
                        description="interleaved timing rounds (at most `runs`): every .tflite row timed once per round, "
                        "in random order")
    threads: int = Field(PROFILE_DEFAULTS["threads"], ge=1, le=256, description="interpreter threads")
    energy: str = Field(
        PROFILE_DEFAULTS["energy"], description="auto: the first meter that can be read (rapl, hwmon, rpi-pmic), else the "
        "labelled time × power estimate; rapl | pyrapl | hwmon | rpi-pmic | estimate | model45 | off")
    energy_window_s: float = Field(PROFILE_DEFAULTS["energy_window_s"], gt=0, le=3600,
                                   description="seconds per meter window")
    energy_windows: int = Field(PROFILE_DEFAULTS["energy_windows"], ge=3, le=1000,
                                description="meter idle and inference windows")
    energy_rail: str | None = Field(None, min_length=1, description="power-sensor rail(s) to count, "
                                    "comma-separated (default: the board's input rail)")
    cpu_watts: float | None = Field(None, gt=0, le=10_000, description="the CPU package's power (TDP) in W "
                                    "for estimates; default: CodeCarbon's table by CPU model")
    ops: bool = Field(True, description="time each op of the baseline and the best rows (report.md's "
                      "'where the time goes'); false skips it")

    @model_validator(mode="before")
    @classmethod
    def _renamed_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and "cpu_watts_per_core" in data:
            raise ValueError("`profile.cpu_watts_per_core` was replaced by `profile.cpu_watts`, the CPU "
                             "package's power (TDP) in W, which edgeopt divides by the cores per package; "
                             "leave it out to use CodeCarbon's table")
        return data

    @model_validator(mode="after")
    def _rail_needs_a_rail_meter(self) -> "ProfileSpec":
        if self.energy_rail is not None and self.energy not in ("auto", "hwmon", "rpi-pmic"):
            raise ValueError(f"`profile.energy_rail` selects rails of a power-sensor meter (auto, hwmon, "
                             f"rpi-pmic); `profile.energy: {self.energy}` reads none")
        return self

    @field_validator("energy")
    @classmethod
    def _known_energy(cls, value: str) -> str:
        from edgeopt.common.errors import EdgeoptError
        from edgeopt.profile.energy import check_energy_method

        try:
            return check_energy_method(value)
        except EdgeoptError as err:
            raise ValueError(str(err).split(" Received:")[0].rstrip(". ")) from None


class StepResources(Strict):
    """What a step reserves when steps run as Ray tasks (`--executor ray`); a sequential run ignores it."""

    cpus: float = Field(1, gt=0, le=1024, description="CPU cores reserved; TensorFlow gets as many threads")
    gpus: float = Field(0, ge=0, le=64, description="GPUs reserved (fractions share one)")
