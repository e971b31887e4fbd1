"""Recipes: parse and validate a whole YAML recipe before anything runs.

A recipe names a dataset, how to profile, and a list of steps. Each step runs one registered
stage on the output of an earlier step (`from`, by default the step before it), so a recipe can
branch. Every problem found is reported at once, each line naming the file, the step, the key and
the value received; nothing is auto-corrected.

    name: quickstart
    seed: 0
    data: {name: mnist_embedded}
    profile: {runs: 100, warmup: 10, threads: 1}
    steps:
      - {id: base, stage: train, architecture: gap_cnn, epochs: 3}
      - {id: base_int8, stage: convert, from: base, mode: int8}
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Sequence

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from edgeopt.common.errors import RecipeError, did_you_mean
from edgeopt.data.datasets import DATASETS
from edgeopt.data.scaling import DEFAULT_RANGE, InputScaling, range_problem
from edgeopt.profile.defaults import PROFILE_DEFAULTS
from edgeopt.report.check import ChecksSpec
from edgeopt.run.overrides import apply_overrides
from edgeopt.stages import PLUGIN_PROBLEMS, STAGES
from edgeopt.stages.registry import StageParams

STEP_KEYS = ("id", "stage", "from", "profile", "resources")  # every other key of a step is a stage parameter
RESERVED_IDS = frozenset({"data", "devices"})  # RUN_DIR/data/test.npz and RUN_DIR/devices/ (rundir/folder.py)
_UNNAMED = Path("<recipe>")  # parse_recipe's placeholder path for text that came from no file


def is_folder_name(value: object) -> bool:
    """True for letters, digits, '_' and '-' only: what may name a folder edgeopt writes (step ids, recipe names).

    Example:
        >>> is_folder_name("base_int8"), is_folder_name("../elsewhere")
        (True, False)
    """
    return isinstance(value, str) and value.replace("_", "").replace("-", "").isalnum()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSpec(_Strict):
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


class ProfileSpec(_Strict):
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


class StepResources(_Strict):
    """What a step reserves when steps run as Ray tasks (`--executor ray`); a sequential run ignores it."""

    cpus: float = Field(1, gt=0, le=1024, description="CPU cores reserved; TensorFlow gets as many threads")
    gpus: float = Field(0, ge=0, le=64, description="GPUs reserved (fractions share one)")


class _RecipeFile(_Strict):
    name: str | None = Field(None, description="names the default output folder runs/<name>")
    seed: int = Field(0, ge=0, le=2**31 - 1)
    data: DataSpec = DataSpec()
    profile: ProfileSpec = ProfileSpec()
    baseline: str | None = Field(None, description="step id the table's deltas are against (default: the first)")
    accuracy_budget: float | None = Field(None, ge=0, le=100, description="largest accuracy drop, in points, "
                                          "against the baseline that a row may have and still count")
    checks: ChecksSpec = Field(ChecksSpec(), description="thresholds for `edgeopt check` (a CI gate)")
    steps: list[dict[str, Any]] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _name_is_a_folder_name(cls, value: str | None) -> str | None:
        # A shared recipe must not choose where edgeopt writes: `name: ../../x` would escape runs/.
        if value is not None and not is_folder_name(value):
            raise ValueError("`name` must be letters, digits, '_' or '-' (it names the output folder runs/<name>)")
        return value


@dataclass(frozen=True)
class Step:
    id: str
    stage: str
    source: str | None  # id of the step whose artifact this one consumes
    profile: bool
    params: StageParams
    resources: StepResources = StepResources()


@dataclass(frozen=True)
class Recipe:
    name: str
    path: Path
    seed: int
    data: DataSpec
    profile: ProfileSpec
    baseline: str
    accuracy_budget: float | None  # points
    steps: tuple[Step, ...]
    checks: ChecksSpec  # thresholds `edgeopt check` applies to the run (may be empty)
    text: str  # the YAML as written, kept for results.json and the report
    overrides: tuple[str, ...] = ()  # `--set KEY=VALUE`s applied over `text`, in order

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def step(self, step_id: str) -> Step:
        return next(s for s in self.steps if s.id == step_id)

    def input_path(self, path: str | Path) -> Path:
        """A path the recipe names (data.path, a model to load), resolved against the recipe's folder.

        Such paths are only ever read; the full path is what the run logs.

        Example:
            >>> load_recipe("recipes/mine.yaml").input_path("data/x.npz")  # doctest: +SKIP
            PosixPath('/home/me/project/recipes/data/x.npz')
        """
        path = Path(path).expanduser()
        return (path if path.is_absolute() else self.path.parent / path).resolve()


def load_recipe(path: str | Path, overrides: Sequence[str] = ()) -> Recipe:
    """Read, parse and validate a recipe file; raise one RecipeError listing every problem.

    Args:
        path: The YAML file.
        overrides: `KEY=VALUE` changes applied before validation, as `--set` does
            (`steps.<id>.<key>`, dotted keys, values parsed as YAML; see `edgeopt.run.overrides`).

    Example:
        >>> recipe = load_recipe("recipes/quickstart.yaml", ["steps.base.epochs=1"])
        >>> [s.stage for s in recipe.steps], recipe.step("base").params.epochs
        (['train', 'convert', 'convert'], 1)
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeError(f"recipe file {path} not found. Check the path; examples are in recipes/.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"cannot read recipe {path}: {exc}") from None
    return parse_recipe(text, path, overrides)


def parse_recipe(text: str, path: Path = _UNNAMED, overrides: Sequence[str] = ()) -> Recipe:
    """Validate recipe `text` (as read from `path`, which names it in messages) with `overrides` applied."""
    overrides = tuple(overrides)
    where = f"{path} with --set {' --set '.join(overrides)}" if overrides else str(path)
    try:
        raw = yaml.safe_load(text)
    except (ValueError, RecursionError) as exc:  # e.g. a date like 2024-13-45, or absurd nesting
        raise RecipeError(f"{where}: YAML does not parse: {exc}. Quote values that are meant as text.") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise RecipeError(f"{where}: YAML does not parse{at}: {problem}. Fix the syntax (indentation, colons, quotes).") from None
    if not isinstance(raw, dict):
        raise RecipeError(f"{where}: a recipe is a mapping with at least a `steps:` list; got {type(raw).__name__}. "
                          "See recipes/quickstart.yaml.")
    raw = apply_overrides(raw, overrides, str(path))
    try:
        top = _RecipeFile.model_validate(raw)
    except ValidationError as exc:
        raise RecipeError(_describe(where, None, exc, _RecipeFile)) from None

    problems: list[str] = []
    steps: list[Step] = []
    produced: dict[str, str] = {}  # step id → artifact kind it produces
    for index, raw_step in enumerate(top.steps, start=1):
        step, problem = _parse_step(index, raw_step, produced)
        if problem:
            problems.append(f"{where}: {problem}")
        if step:
            steps.append(step)
        if isinstance(raw_step, dict) and isinstance(raw_step.get("stage"), str) and raw_step["stage"] in STAGES:
            # Known even when its parameters are wrong, so later steps are not blamed for it.
            step_id = raw_step.get("id", raw_step["stage"])
            if isinstance(step_id, str):
                produced.setdefault(step_id, STAGES[raw_step["stage"]].produces)

    baseline = top.baseline or next((s.id for s in steps if s.profile), steps[0].id if steps else "")
    if top.baseline and top.baseline not in produced:
        problems.append(f"{where}: `baseline` names no step. Received: baseline={top.baseline!r}."
                        f"{did_you_mean(top.baseline, produced)}")
    unprofiled = {s.id for s in steps if not s.profile}
    for name in top.checks.rows or ():
        if name not in produced or name in unprofiled:
            what = "names no step" if name not in produced else "names a step with `profile: false`, which has no row"
            problems.append(f"{where}: `checks.rows` {what}. Received: {name!r}."
                            + (did_you_mean(name, produced) if name not in produced else ""))
    name = top.name or ("recipe" if path == _UNNAMED else path.stem)
    if not is_folder_name(name):
        problems.append(f"{where}: the recipe has no `name:` and its file name {path.stem!r} cannot name the output "
                        "folder (letters, digits, '_' or '-' only). Add a line like `name: my_recipe`.")
    if problems:
        raise RecipeError("\n".join(problems))
    return Recipe(name, path, top.seed, top.data, top.profile, baseline, top.accuracy_budget,
                  tuple(steps), top.checks, text, overrides)


def _parse_step(index: int, raw: Any, produced: dict[str, str]) -> tuple[Step | None, str | None]:
    if not isinstance(raw, dict):
        return None, f"step {index} must be a mapping like `{{id: base, stage: train, ...}}`. Received: {raw!r}"
    stage = raw.get("stage")
    if not isinstance(stage, str) or stage not in STAGES:
        hint = did_you_mean(stage, STAGES) if isinstance(stage, str) else ""
        what = "has no `stage:` key" if stage is None else f"names an unknown stage. Received: stage={stage!r}."
        broken = f" {len(PLUGIN_PROBLEMS)} stage plugin(s) failed to import: see the warning above." if PLUGIN_PROBLEMS else ""
        return None, f"step {index} {what}{hint} Stages: {', '.join(sorted(STAGES))} (`edgeopt stages`).{broken}"
    step_id = raw.get("id", stage)
    label = f"step {index} '{step_id}' (stage {stage})"
    if not is_folder_name(step_id):
        return None, f"{label}: `id` must be letters, digits, '_' or '-' (it names the output folder). Received: id={step_id!r}"
    if step_id in RESERVED_IDS:
        return None, (f"{label}: id '{step_id}' names a folder the run folder keeps for itself "
                      f"({', '.join(sorted(RESERVED_IDS))}); choose another `id`, e.g. '{step_id}_model'.")
    if step_id in produced:
        return None, f"{label}: id '{step_id}' is used twice; give each step its own `id`."
    profile = raw.get("profile", True)
    if not isinstance(profile, bool):
        return None, f"{label}: `profile` must be true or false. Received: profile={profile!r}"
    spec = STAGES[stage]
    previous = next(reversed(produced), None)  # dicts keep insertion order: the step before
    source = raw.get("from", previous if spec.consumes else None)
    if spec.consumes is None and "from" in raw:
        return None, f"{label}: this stage starts from scratch and takes no `from`. Received: from={raw['from']!r}"
    if source is not None and not isinstance(source, str):
        return None, f"{label}: `from` must be the id of an earlier step. Received: from={source!r}"
    if spec.consumes and source is None:
        return None, f"{label}: needs a {spec.consumes} model as input, but no step comes before it. Add a step that makes one."
    if spec.consumes and source not in produced:
        return None, (f"{label}: `from` names no earlier step. Received: from={source!r}."
                      f"{did_you_mean(source, produced)} Earlier steps: {', '.join(produced) or 'none'}.")
    if spec.consumes and produced[source] != spec.consumes:
        return None, (f"{label}: needs a {spec.consumes} model, but step '{source}' makes a {produced[source]} model. "
                      f"Place it before the conversion, or set `from:` to a step that makes a {spec.consumes} model.")
    if not isinstance(raw.get("resources", {}), dict):
        return None, f"{label}: `resources` must be a mapping like {{cpus: 1, gpus: 0}}. Received: resources={raw['resources']!r}"
    try:
        resources = StepResources.model_validate(raw.get("resources", {}))
    except ValidationError as exc:
        return None, _describe(None, f"{label}: resources", exc, StepResources)
    params_raw = {k: v for k, v in raw.items() if k not in STEP_KEYS}
    try:
        params = spec.params.model_validate(params_raw)
    except ValidationError as exc:
        return None, _describe(None, label, exc, spec.params)
    return Step(step_id, stage, source if spec.consumes else None, profile, params, resources), None


def _describe(path: str | None, label: str | None, exc: ValidationError, model: type[BaseModel]) -> str:
    """Turn pydantic's errors into lines naming the place, the key and the value received."""
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        where = ": ".join(x for x in (str(path) if path else None, label) if x)
        msg = err["msg"].removeprefix("Value error, ").replace("Input should be", "must be")
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(model, err["loc"])
            text = f"unknown key `{key}`.{did_you_mean(str(err['loc'][-1]), allowed)} Allowed: {', '.join(allowed)}."
        elif err["type"] == "missing":
            text = f"missing required key `{key}`."
        elif err["type"].startswith("value_error") or err["type"] == "assertion_error":
            text = f"{msg}. Received: {key}={err['input']!r}" if key else msg
        else:
            text = f"`{key}` {msg}. Received: {key}={err['input']!r}"
        lines.append(f"{where}: {text}" if where else text)
    return "\n".join(lines)


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    for part in loc[:-1]:  # walk into nested sections (data:, profile:)
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
    keys = list(model.model_fields)
    return keys + [k for k in STEP_KEYS if k not in keys] if issubclass(model, StageParams) else keys
