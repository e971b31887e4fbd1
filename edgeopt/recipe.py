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
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from edgeopt.data import DATASETS, did_you_mean
from edgeopt.errors import RecipeError
from edgeopt.stages import STAGES
from edgeopt.stages.registry import StageParams

STEP_KEYS = ("id", "stage", "from", "profile", "resources")  # every other key of a step is a stage parameter


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSpec(_Strict):
    name: str = Field("mnist_embedded", description="a dataset from `edgeopt datasets`")
    path: str | None = Field(None, description="file or folder to read instead of the default location")
    limit_train: int | None = Field(None, ge=1, description="keep a seeded random subset of the training split")
    limit_test: int | None = Field(None, ge=1, description="keep a seeded random subset of the test split")

    @field_validator("name")
    @classmethod
    def _known_dataset(cls, value: str) -> str:
        if value not in DATASETS:
            raise ValueError(f"unknown dataset '{value}'.{did_you_mean(value, DATASETS)} Known: {', '.join(DATASETS)}")
        return value


class ProfileSpec(_Strict):
    runs: int = Field(100, ge=1, le=1_000_000, description="timed invokes per model")
    warmup: int = Field(10, ge=0, le=100_000, description="untimed invokes first")
    threads: int = Field(1, ge=1, le=256, description="interpreter threads")
    energy: Literal["auto", "rapl", "pyrapl", "model", "off"] = Field(
        "auto", description="auto: RAPL if readable, else the 45 nm model (labelled); off: none")
    energy_window_s: float = Field(1.0, gt=0, le=3600, description="seconds per RAPL window")
    energy_windows: int = Field(3, ge=3, le=1000, description="RAPL idle and inference windows")
    cpu_watts_per_core: float = Field(15.0, gt=0, le=1000,
                                      description="per-core power for the stage energy estimate without RAPL")


class StepResources(_Strict):
    """What a step reserves when steps run as Ray tasks (`--executor ray`); a sequential run ignores it."""

    cpus: float = Field(1, gt=0, le=1024, description="CPU cores reserved; TensorFlow gets as many threads")
    gpus: float = Field(0, ge=0, le=64, description="GPUs reserved (fractions share one)")


class _RecipeFile(_Strict):
    name: str | None = None
    seed: int = Field(0, ge=0, le=2**31 - 1)
    data: DataSpec = DataSpec()
    profile: ProfileSpec = ProfileSpec()
    baseline: str | None = Field(None, description="step id the table's deltas are against (default: the first)")
    accuracy_budget: float | None = Field(None, ge=0, le=100, description="largest accuracy drop, in points, "
                                          "against the baseline that a row may have and still count")
    steps: list[dict[str, Any]] = Field(min_length=1)


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
    text: str  # the YAML as written, kept for results.json and the report

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def step(self, step_id: str) -> Step:
        return next(s for s in self.steps if s.id == step_id)


def load_recipe(path: str | Path) -> Recipe:
    """Read, parse and validate a recipe file; raise one RecipeError listing every problem.

    Example:
        >>> recipe = load_recipe("recipes/quickstart.yaml")
        >>> [s.stage for s in recipe.steps]
        ['train', 'convert', 'convert']
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeError(f"recipe file {path} not found. Check the path; examples are in recipes/.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"cannot read recipe {path}: {exc}") from None
    return parse_recipe(text, path)


def parse_recipe(text: str, path: Path = Path("<recipe>")) -> Recipe:
    """Validate recipe `text` (as read from `path`, which only names it in messages)."""
    try:
        raw = yaml.safe_load(text)
    except (ValueError, RecursionError) as exc:  # e.g. a date like 2024-13-45, or absurd nesting
        raise RecipeError(f"{path}: YAML does not parse: {exc}. Quote values that are meant as text.") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise RecipeError(f"{path}: YAML does not parse{at}: {problem}. Fix the syntax (indentation, colons, quotes).") from None
    if not isinstance(raw, dict):
        raise RecipeError(f"{path}: a recipe is a mapping with at least a `steps:` list; got {type(raw).__name__}. "
                          "See recipes/quickstart.yaml.")
    try:
        top = _RecipeFile.model_validate(raw)
    except ValidationError as exc:
        raise RecipeError(_describe(path, None, exc, _RecipeFile)) from None

    problems: list[str] = []
    steps: list[Step] = []
    produced: dict[str, str] = {}  # step id → artifact kind it produces
    for index, raw_step in enumerate(top.steps, start=1):
        step, problem = _parse_step(index, raw_step, produced)
        if problem:
            problems.append(f"{path}: {problem}")
        if step:
            steps.append(step)
        if isinstance(raw_step, dict) and isinstance(raw_step.get("stage"), str) and raw_step["stage"] in STAGES:
            # Known even when its parameters are wrong, so later steps are not blamed for it.
            step_id = raw_step.get("id", raw_step["stage"])
            if isinstance(step_id, str):
                produced.setdefault(step_id, STAGES[raw_step["stage"]].produces)

    baseline = top.baseline or next((s.id for s in steps if s.profile), steps[0].id if steps else "")
    if top.baseline and top.baseline not in produced:
        problems.append(f"{path}: `baseline` names no step. Received: baseline={top.baseline!r}."
                        f"{did_you_mean(top.baseline, produced)}")
    if problems:
        raise RecipeError("\n".join(problems))
    return Recipe(top.name or path.stem, path, top.seed, top.data, top.profile, baseline, top.accuracy_budget,
                  tuple(steps), text)


def _parse_step(index: int, raw: Any, produced: dict[str, str]) -> tuple[Step | None, str | None]:
    if not isinstance(raw, dict):
        return None, f"step {index} must be a mapping like `{{id: base, stage: train, ...}}`. Received: {raw!r}"
    stage = raw.get("stage")
    if not isinstance(stage, str) or stage not in STAGES:
        hint = did_you_mean(stage, STAGES) if isinstance(stage, str) else ""
        what = "has no `stage:` key" if stage is None else f"names an unknown stage. Received: stage={stage!r}."
        return None, f"step {index} {what}{hint} Stages: {', '.join(sorted(STAGES))} (`edgeopt stages`)."
    step_id = raw.get("id", stage)
    label = f"step {index} '{step_id}' (stage {stage})"
    if not isinstance(step_id, str) or not step_id.replace("_", "").replace("-", "").isalnum():
        return None, f"{label}: `id` must be letters, digits, '_' or '-' (it names the output folder). Received: id={step_id!r}"
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


def _describe(path: Path | None, label: str | None, exc: ValidationError, model: type[BaseModel]) -> str:
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
