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
from typing import Any, Sequence

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from edgeopt.common.errors import RecipeError, did_you_mean
from edgeopt.report.check import ChecksSpec
from edgeopt.run.overrides import apply_overrides
from edgeopt.run.recipe_sections import DataSpec, ProfileSpec, StepResources, Strict, is_folder_name  # noqa: F401
from edgeopt.stages import PLUGIN_PROBLEMS, STAGES
from edgeopt.stages.registry import StageParams

STEP_KEYS = ("id", "stage", "from", "profile", "resources")  # every other key of a step is a stage parameter
RESERVED_IDS = frozenset({"data", "devices"})  # RUN_DIR/data/test.npz and RUN_DIR/devices/ (rundir/folder.py)
_UNNAMED = Path("<recipe>")  # parse_recipe's placeholder path for text that came from no file


class _RecipeFile(Strict):
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
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise RecipeError(f"{where}: YAML does not parse{at}: {problem}. "
                          "Fix the syntax there (indentation, colons, quotes).") from None
    if raw is None:
        raise RecipeError(f"{where}: the recipe is empty. A recipe is a mapping with at least a `steps:` list; "
                          "start from recipes/quickstart.yaml.")
    if not isinstance(raw, dict):
        raise RecipeError(f"{where}: a recipe is a mapping with at least a `steps:` list. Received: a YAML "
                          f"{_yaml_kind(raw)}. See recipes/quickstart.yaml.")
    raw = apply_overrides(raw, overrides, str(path))
    problems: list[str] = []
    top = _validate_top(raw, where, problems)  # every top-level problem, and the steps checked all the same
    if top is None:
        raise RecipeError("\n".join(problems))

    steps: list[Step] = []
    produced: dict[str, str] = {}  # step id → artifact kind it produces
    for index, raw_step in enumerate(top.steps, start=1):
        step, problem = _parse_step(index, raw_step, produced)
        if problem:
            problems.extend(f"{where}: {line}" for line in problem.splitlines())
        if step:
            steps.append(step)
            problems.extend(f"{where}: {line}" for line in _input_file_problems(index, step, path))
        if isinstance(raw_step, dict) and isinstance(raw_step.get("stage") or raw_step.get("id"), str):
            # Known even when its stage or parameters are wrong, so later steps are not blamed for it;
            # an unknown stage makes an unknown kind (None), which later steps are not checked against.
            stage = raw_step.get("stage")
            step_id = raw_step.get("id", stage)
            if isinstance(step_id, str):
                known = isinstance(stage, str) and stage in STAGES
                produced.setdefault(step_id, STAGES[stage].produces if known else None)

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


def _validate_top(raw: dict, where: str, problems: list[str]) -> _RecipeFile | None:
    """The top level validated; its problems appended to `problems`.

    A key with a problem is set aside and the rest validated again, so the steps are still checked
    and one `edgeopt validate` lists every problem. None when even that fails (no usable `steps:`).
    """
    try:
        return _RecipeFile.model_validate(raw)
    except ValidationError as exc:
        problems.extend(_describe(where, None, exc, _RecipeFile).splitlines())
        broken = {err["loc"][0] for err in exc.errors() if err["loc"]}
    if "steps" in broken or "steps" not in raw:
        return None
    try:
        return _RecipeFile.model_validate({k: v for k, v in raw.items() if k not in broken})
    except ValidationError:
        return None


def _yaml_kind(value: Any) -> str:
    kinds = {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}
    return kinds.get(type(value), type(value).__name__)


def _input_file_problems(index: int, step: Step, recipe_path: Path) -> list[str]:
    """A `load` step's model file must exist and be a Keras file: found now, not after the data has loaded."""
    from edgeopt.models.keras_file import keras_file_problem

    if step.stage != "load" or recipe_path == _UNNAMED:
        return []
    file = Path(step.params.path).expanduser()
    full = (file if file.is_absolute() else recipe_path.parent / file).resolve()
    problem = keras_file_problem(full)
    if problem is None:
        return []
    return [f"step {index} '{step.id}' (stage load): `path` must be a Keras model file (.keras or .h5); "
            f"{full} {problem}. Received: path={step.params.path!r}. Relative paths start at the recipe's folder."]


def _parse_step(index: int, raw: Any, produced: dict[str, str]) -> tuple[Step | None, str | None]:
    if not isinstance(raw, dict):
        return None, f"step {index} must be a mapping like `{{id: base, stage: train, ...}}`. Received: {raw!r}"
    stage = raw.get("stage")
    if not isinstance(stage, str) or stage not in STAGES:
        hint = did_you_mean(stage, STAGES) if isinstance(stage, str) else ""
        what = "has no `stage:` key" if stage is None else f"names an unknown stage. Received: stage={stage!r}."
        broken = f" {len(PLUGIN_PROBLEMS)} stage plugin(s) failed to import: see the warning above." if PLUGIN_PROBLEMS else ""
        named = f" '{raw['id']}'" if isinstance(raw.get("id"), str) else ""
        return None, f"step {index}{named} {what}{hint} Stages: {', '.join(sorted(STAGES))} (`edgeopt stages`).{broken}"
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
    source, problems = _source(label, raw, spec, produced)
    # The source, the resources and the parameters are checked each, so one run lists all their problems.
    resources = params = None
    if not isinstance(raw.get("resources", {}), dict):
        problems.append(f"{label}: `resources` must be a mapping like {{cpus: 1, gpus: 0}}. "
                        f"Received: resources={raw['resources']!r}")
    else:
        try:
            resources = StepResources.model_validate(raw.get("resources", {}))
        except ValidationError as exc:
            problems.append(_describe(None, f"{label}: resources", exc, StepResources))
    try:
        params = spec.params.model_validate({k: v for k, v in raw.items() if k not in STEP_KEYS})
    except ValidationError as exc:
        problems.append(_describe(None, label, exc, spec.params))
    if problems:
        return None, "\n".join(problems)
    return Step(step_id, stage, source if spec.consumes else None, profile, params, resources), None


def _source(label: str, raw: dict, spec, produced: dict[str, str | None]) -> tuple[str | None, list[str]]:
    """The step a step reads (`from`, by default the step before it), and what is wrong with it."""
    previous = next(reversed(produced), None)  # dicts keep insertion order: the step before
    source = raw.get("from", previous if spec.consumes else None)
    if spec.consumes is None and "from" in raw:
        return None, [f"{label}: this stage starts from scratch and takes no `from`. Received: from={raw['from']!r}"]
    if source is not None and not isinstance(source, str):
        return None, [f"{label}: `from` must be the id of an earlier step. Received: from={source!r}"]
    if spec.consumes and source is None:
        return None, [f"{label}: needs a {spec.consumes} model as input, but no step comes before it. "
                      "Add a step that makes one."]
    if spec.consumes and source not in produced:
        return None, [f"{label}: `from` names no earlier step. Received: from={source!r}."
                      f"{did_you_mean(source, produced)} Earlier steps: {', '.join(produced) or 'none'}."]
    if spec.consumes and produced[source] not in (spec.consumes, None):
        return None, [f"{label}: needs a {spec.consumes} model, but step '{source}' makes a {produced[source]} model. "
                      f"Place it before the conversion, or set `from:` to a step that makes a {spec.consumes} model."]
    return source, []


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
