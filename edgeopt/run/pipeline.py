"""run_recipe: run a validated recipe's steps, profile what they make, write results.json.

Data flows one way: recipe → stages → artifacts → profile → rows. Each step writes into a hidden
`.<id>.partial/` folder that is renamed to `<id>/` only when the stage has finished, so an
interrupted run never leaves a half-written artifact behind.

Once every step is done, the artifacts are profiled (`run/profiling.py`): every `.tflite` row
timed together, in interleaved rounds, so their ratios hold on a busy machine.

Resume: a step's `step.json` records a fingerprint of everything that determines its output (its
stage and parameters, its input's fingerprint, the data, the seed, edgeopt's version). A re-run
reuses a finished step whose fingerprint is unchanged, and the profile rows measured for the same
rows on the same machine with the same profile settings; `force=True` redoes everything.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Protocol

from edgeopt import __version__
from edgeopt.common.atomic import atomic_write_text
from edgeopt.common.progress import log
from edgeopt.common.row import SCHEMA_VERSION, Row
from edgeopt.data.checks import dataset_warnings
from edgeopt.data.datasets import Dataset, load_dataset
from edgeopt.run.explain import explain_rows
from edgeopt.run.profiling import keep_op_times, profile_run
from edgeopt.run.recipe import Recipe, Step
from edgeopt.rundir.folder import write_test_split
from edgeopt.stages import STAGES, Artifact, StageContext


@dataclass(frozen=True)
class RunResult:
    out_dir: Path
    rows: list[Row]
    document: dict  # what results.json holds


def run_recipe(recipe: Recipe | str | Path, out_dir: str | Path, *, force: bool = False,
               log_fn: Callable[[str], None] = log, executor: "StepExecutor | None" = None) -> RunResult:
    """Run every step of `recipe`, writing artifacts and results.json under `out_dir`.

    Without `executor` the steps run one after another in this process; with one (e.g.
    `edgeopt.run.ray_executor.RayExecutor`) it runs them. Either way every profile is taken
    afterwards, here: the `.tflite` rows timed together in interleaved rounds, so no figure is
    measured beside training and the rows' ratios are measured side by side.

    Args:
        recipe: A validated `Recipe` (`load_recipe`, with any overrides) or the path of a recipe file.
        out_dir: The run folder; finished steps already in it are reused when unchanged.
        force: Redo every step and profile.
        log_fn: Where progress lines go.
        executor: How the steps run (default: one after another here); recorded in results.json.

    Example:
        >>> result = run_recipe("recipes/quickstart.yaml", "runs/quickstart")
        >>> [row.name for row in result.rows]
        ['base', 'base_float32', 'base_int8']
    """
    if not isinstance(recipe, Recipe):
        from edgeopt.run.recipe import load_recipe

        recipe = load_recipe(recipe)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data_path = recipe.input_path(recipe.data.path) if recipe.data.path else None  # read only, logged in full
    dataset = load_dataset(recipe.data.name, data_path, limit_train=recipe.data.limit_train,
                           limit_test=recipe.data.limit_test, seed=recipe.seed, scaling=recipe.data.scaling(),
                           validation_split=recipe.data.validation_split)
    log_fn(f"data: {dataset.name} — {len(dataset.x_train)} train / {len(dataset.x_test)} test images "
           f"of shape {dataset.input_shape} from {dataset.source}; {dataset.scaling.describe()}")
    for warning in dataset_warnings(dataset):
        log_fn(f"warning: {warning}")
    plan = plan_steps(recipe)
    if executor is None:
        from edgeopt.tf.distribute import prepare_process

        prepare_process([p.step for p in plan])  # logical CPU devices, before TensorFlow starts
        artifacts = _run_sequentially(plan, recipe, dataset, out_dir, force, log_fn)
        executor_record = {"name": "sequential"}
    else:
        artifacts = executor.run_steps(plan, recipe, dataset, out_dir, force=force, log_fn=log_fn)
        executor_record = executor.record()
    rows = profile_run(plan, artifacts, recipe, dataset, out_dir, force, log_fn)
    explain_rows(rows, recipe, out_dir, log_fn)  # per-op times of the baseline and the best rows
    keep_op_times(artifacts, rows)  # so an unchanged rerun reuses them
    test_data = write_test_split(out_dir, dataset.x_test, dataset.y_test, _dataset_record(recipe, dataset),
                                 dataset.scaling)
    document = {**results_document(recipe, rows, dataset, test_data), "executor": executor_record}
    atomic_write_text(out_dir / "results.json", json.dumps(document, indent=2) + "\n")
    return RunResult(out_dir, rows, document)


@dataclass(frozen=True)
class PlannedStep:
    """A step with its place in the recipe and the fingerprint that decides whether it reruns."""

    number: int  # 1-based, in recipe order
    step: Step
    fingerprint: str

    def heading(self, total: int) -> str:
        source = f" ← {self.step.source}" if self.step.source else ""
        return f"[{self.number}/{total}] {self.step.id}: {self.step.stage}{source}"


class StepExecutor(Protocol):
    """A way of running a recipe's steps; it writes each through `commit_step`, as the sequential loop does."""

    def run_steps(self, plan: list[PlannedStep], recipe: Recipe, dataset: Dataset, out_dir: Path, *,
                  force: bool, log_fn: Callable[[str], None]) -> dict[str, Artifact]: ...

    def record(self) -> dict: ...  # what results.json says about how the steps ran


def plan_steps(recipe: Recipe) -> list[PlannedStep]:
    """Every step of the recipe, in order, with its fingerprint (which chains through `from:`)."""
    fingerprints: dict[str, str] = {}
    plan = []
    for number, step in enumerate(recipe.steps, start=1):
        fingerprints[step.id] = step_fingerprint(step, recipe, fingerprints.get(step.source))
        plan.append(PlannedStep(number, step, fingerprints[step.id]))
    return plan


def _run_sequentially(plan: list[PlannedStep], recipe: Recipe, dataset: Dataset, out_dir: Path, force: bool,
                      log_fn: Callable[[str], None]) -> dict[str, Artifact]:
    artifacts: dict[str, Artifact] = {}
    for planned in plan:
        artifacts[planned.step.id] = run_or_reuse_step(planned, planned.heading(len(plan)), recipe, dataset, artifacts,
                                                       out_dir, force, log_fn)
    return artifacts


def run_or_reuse_step(planned: PlannedStep, heading: str, recipe: Recipe, dataset: Dataset,
                      artifacts: dict[str, Artifact], out_dir: Path, force: bool,
                      log_fn: Callable[[str], None]) -> Artifact:
    """One step's artifact: the finished one in `out_dir` when its fingerprint is unchanged, else made now.

    `artifacts` holds the artifacts of earlier steps by id (the step's `from` must be among them).
    """
    step, fingerprint = planned.step, planned.fingerprint
    artifact = None if force else _finished_step(out_dir / step.id, fingerprint)
    if artifact:
        log_fn(f"{heading} — unchanged, reusing {artifact.path}")
    else:
        log_fn(heading)
        artifact = _run_step(step, recipe, dataset, artifacts.get(step.source), out_dir, fingerprint, log_fn)
    _inherit_lineage(artifact, artifacts.get(step.source))
    return artifact


# Facts about a model that survive conversion: an int8 file made from a pruned, mixed-precision
# model is still that pruned, mixed-precision model.
LINEAGE_KEYS = ("sparsity_overall", "sparsity", "precision")


def _inherit_lineage(artifact: Artifact, source: Artifact | None) -> None:
    for key in LINEAGE_KEYS:
        if source is not None and key not in artifact.info and key in source.info:
            artifact.info[key] = source.info[key]


def step_fingerprint(step: Step, recipe: Recipe, source_fingerprint: str | None) -> str:
    """A digest of everything that determines a step's output (not its id, not profiling).

    It digests the values in effect, `--set` overrides included, so an override reruns the steps
    it changes (and the steps downstream of them) and no others.
    """
    params = step.params.model_dump(mode="json")
    for key in getattr(step.params, "omit_when_default", ()):  # keys newer than the runs they must resume
        if params.get(key) == type(step.params).model_fields[key].default:
            params.pop(key)
    payload = {"stage": step.stage, "params": params, "source": source_fingerprint,
               "data": recipe.data.fingerprint(), "seed": recipe.seed, "edgeopt": __version__}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _finished_step(folder: Path, fingerprint: str) -> Artifact | None:
    """The artifact of a step finished by an earlier run with the same fingerprint, if any."""
    try:
        record = json.loads((folder / "step.json").read_text())
    except (OSError, ValueError):
        return None
    path = folder / record.get("file", "")
    if record.get("fingerprint") != fingerprint or not path.is_file():
        return None
    return Artifact(record["kind"], path, record["dtype"], record.get("info", {}))


def _run_step(step: Step, recipe: Recipe, dataset: Dataset, source: Artifact | None, out_dir: Path,
              fingerprint: str, log_fn: Callable[[str], None]) -> Artifact:
    partial = partial_folder(out_dir, step.id)
    try:
        artifact = execute_stage(step, recipe, dataset, source, partial, log_fn)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return commit_step(step, fingerprint, artifact, partial, out_dir)


def partial_folder(out_dir: Path, step_id: str) -> Path:
    """A fresh, empty `.<id>.partial/` folder for a step being made (an earlier leftover is removed)."""
    partial = out_dir / f".{step_id}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    return partial


def execute_stage(step: Step, recipe: Recipe, dataset: Dataset, source: Artifact | None, work_dir: Path,
                  log_fn: Callable[[str], None]) -> Artifact:
    """Run the step's stage into `work_dir`; its artifact's info gains the stage's time and energy."""
    ctx = StageContext(step.id, work_dir, dataset, recipe.seed, recipe.path.parent, log_fn)
    meter = _stage_meter(recipe)
    start = time.perf_counter()
    with meter or contextlib.nullcontext():
        artifact = STAGES[step.stage].fn(step.params, ctx, source)
    info = {"stage_seconds": time.perf_counter() - start, **(meter.result.info() if meter else {}),
            **artifact.info}
    return replace(artifact, info=info)


def commit_step(step: Step, fingerprint: str, artifact: Artifact, partial: Path, out_dir: Path) -> Artifact:
    """Record the finished step in `partial/step.json` and rename the folder to `<id>/`.

    The artifact's file must already lie in `partial` under `artifact.path.name`. Until the
    rename the step is unfinished: a failure here removes the folder.
    """
    try:
        step_record = {"id": step.id, "stage": step.stage, "from": step.source, "fingerprint": fingerprint,
                       "kind": artifact.kind, "file": artifact.path.name, "dtype": artifact.dtype,
                       "params": step.params.model_dump(mode="json"), "info": artifact.info}
        atomic_write_text(partial / "step.json", json.dumps(step_record, indent=2, default=str) + "\n")
        final = out_dir / step.id
        shutil.rmtree(final, ignore_errors=True)
        partial.rename(final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return replace(artifact, path=final / artifact.path.name)


def _stage_meter(recipe: Recipe):
    """Energy of a stage follows profile.energy: off → none, estimate/model45 → CPU-time estimate, else a meter."""
    from edgeopt.profile.energy.stage_meter import stage_meter_for

    p = recipe.profile
    return stage_meter_for(p.energy, p.cpu_watts, p.energy_rail)


def _dataset_record(recipe: Recipe, dataset: Dataset) -> dict:
    return {"name": dataset.name, "source": dataset.source, "limit_test": recipe.data.limit_test,
            "seed": recipe.seed}


def results_document(recipe: Recipe, rows: list[Row], dataset: Dataset, test_data: dict | None = None) -> dict:
    """The results.json contract (DESIGN.md §3); paths in it are relative to the run folder."""
    from edgeopt.profile.machine import machine_info
    from edgeopt.report.table import within_budget

    verdicts = within_budget(rows, recipe.baseline, recipe.accuracy_budget)
    return {
        "schema_version": SCHEMA_VERSION,
        "recipe": {"name": recipe.name, "path": str(recipe.path), "sha256": recipe.sha256, "seed": recipe.seed,
                   "baseline": recipe.baseline, "accuracy_budget": recipe.accuracy_budget,
                   "checks": recipe.checks.model_dump(exclude_none=True) or None,
                   "overrides": list(recipe.overrides), "text": recipe.text},
        "dataset": {"name": dataset.name, "source": dataset.source, "train": len(dataset.x_train),
                    "test": len(dataset.x_test), "input_shape": list(dataset.input_shape),
                    "scaling": dataset.scaling.record()},
        "profile": recipe.profile.model_dump(mode="json"),  # what `edgeopt profile RUN_DIR` repeats
        "test_data": test_data,  # data/test.npz: the split accuracy was measured on, with its sha256
        "machine": machine_info(),
        "rows": [{**row.to_dict(), "within_budget": verdicts[row.name]} for row in rows],
    }
