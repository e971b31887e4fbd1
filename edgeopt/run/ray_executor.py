"""Run a recipe's steps as Ray tasks that follow the `from:` graph (`edgeopt run --executor ray`).

Independent branches run at the same time on the cluster's nodes; a step starts once the step it
is made `from` has finished. The run folder on the machine that ran the command (the driver) stays
the one source of truth, and no shared filesystem is assumed: the driver puts the dataset into
Ray's object store once, each task receives its input model as bytes and sends back every file
its stage wrote, and the driver writes them into `.<id>.partial/` and renames it through
`pipeline.commit_step`, with the same fingerprints and resume as a sequential run.

Each task runs in a fresh worker process (`max_calls=1`): TensorFlow starts clean for every step,
so `distribute: mirrored` can split the CPU, and its thread pools are sized to the step's
`resources.cpus`. `load` steps read a file beside the recipe, so they run on the driver.

Failures are handled as `make -j` does: a failing step stops new steps from starting, the running
ones finish and are kept, then the step's own error is raised (an `EdgeoptError` with its message
unchanged, a bug with the worker's traceback). Ctrl-C or SIGTERM cancels every outstanding task.
Profiling is not done here: `run_recipe` profiles on the driver once every step has finished (every
`.tflite` row timed together, in interleaved rounds), so no latency or energy figure is measured
beside training, and the rows' ratios are measured side by side, as in a sequential run.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from edgeopt.common.errors import EdgeoptError
from edgeopt.run.pipeline import (PlannedStep, _finished_step, _inherit_lineage, _run_step, commit_step, execute_stage,
                                  partial_folder)
from edgeopt.stages import Artifact

INSTALL_HINT = "pip install 'edgeopt[ray]'"
DRIVER_STAGES = ("load",)  # read a file beside the recipe: only the driver is sure to have it


def import_ray():
    """The `ray` module, or an EdgeoptError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise EdgeoptError(f"--executor ray needs Ray, which is not installed in this environment. "
                           f"Install it with: {INSTALL_HINT}") from None
    return ray


@dataclass(frozen=True)
class StepFiles:
    """An artifact as it travels through Ray's object store: its metadata and its folder's files."""

    kind: str
    file: str  # the model file's name among `files`
    dtype: str
    info: dict[str, Any]
    files: dict[str, bytes]  # path relative to the step folder → content

    @classmethod
    def of(cls, artifact: Artifact, folder: Path, *, model_only: bool = False) -> "StepFiles":
        paths = [artifact.path] if model_only else [p for p in folder.rglob("*") if p.is_file()]
        return cls(artifact.kind, artifact.path.name, artifact.dtype, dict(artifact.info),
                   {str(p.relative_to(folder)): p.read_bytes() for p in paths})

    def write_into(self, folder: Path) -> Artifact:
        for name, data in self.files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
        return Artifact(self.kind, folder / self.file, self.dtype, dict(self.info))

    @property
    def size_bytes(self) -> int:
        return sum(len(data) for data in self.files.values())


def run_step_on_worker(step, recipe, dataset, source: StepFiles | None) -> StepFiles:
    """The body of a step's Ray task: make the step in a temporary folder and return its files."""
    from edgeopt.common.progress import log
    from edgeopt.tf.distribute import prepare_process

    _size_tensorflow_threads(step.resources.cpus)
    prepare_process([step])
    with tempfile.TemporaryDirectory(prefix=f"edgeopt-{step.id}-") as tmp:
        source_artifact = source.write_into(Path(tmp, "source")) if source else None
        work = Path(tmp, "step")
        work.mkdir()
        artifact = execute_stage(step, recipe, dataset, source_artifact, work, log)
        artifact.info["ray_node"] = socket.gethostname()
        return StepFiles.of(artifact, work)


def _size_tensorflow_threads(cpus: float) -> None:
    """As many TensorFlow threads as the task reserved cores: tasks sharing a node do not oversubscribe it."""
    from edgeopt.tf.runtime import tf

    threads = max(1, math.ceil(cpus))
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


@dataclass
class RayExecutor:
    """Run steps as Ray tasks on the cluster at `address` (else `RAY_ADDRESS`, else a local Ray).

    Example:
        >>> run_recipe(load_recipe("recipes/quickstart.yaml"), "runs/q", executor=RayExecutor())  # doctest: +SKIP
    """

    address: str | None = None
    num_cpus: int | None = None  # of a local Ray; default: this machine's cores
    _record: dict = field(default_factory=dict)

    def record(self) -> dict:
        return {"name": "ray", **self._record}

    def session(self, log_fn: Callable[[str], None]):
        """Keep one Ray running across several `run_steps` calls (a search runs steps in batches)."""
        return _connected(import_ray(), self.address or os.environ.get("RAY_ADDRESS"), self.num_cpus, log_fn)

    def run_steps(self, plan: list[PlannedStep], recipe, dataset, out_dir: Path, *, force: bool,
                  log_fn: Callable[[str], None]) -> dict[str, Artifact]:
        ray = import_ray()
        for planned in plan:
            if getattr(planned.step.params, "distribute", "none") == "multi_worker":
                raise EdgeoptError(f"step '{planned.step.id}' has distribute: multi_worker, one TensorFlow job over the "
                                   "hosts TF_CONFIG names, which cannot run as a Ray task. Run that recipe without "
                                   "--executor ray on each host, or use distribute: mirrored.")
        with _connected(ray, self.address or os.environ.get("RAY_ADDRESS"), self.num_cpus, log_fn) as where:
            self._record = {**where, "ray_version": ray.__version__}
            _check_resources(ray, [p.step for p in plan if p.step.stage not in DRIVER_STAGES])
            return _Schedule(ray, plan, recipe, dataset, out_dir, force, log_fn).run()


class _connected:
    """Use the Ray this process already joined, or join/start one and leave it afterwards."""

    def __init__(self, ray, address: str | None, num_cpus: int | None, log_fn):
        self.ray, self.address, self.num_cpus, self.log_fn = ray, address, num_cpus, log_fn
        self.joined = False
        self.previous_sigterm = None

    def __enter__(self) -> dict:
        ray = self.ray
        if not ray.is_initialized():
            on_main = threading.current_thread() is threading.main_thread()
            self.previous_sigterm = signal.getsignal(signal.SIGTERM) if on_main else None
            options = dict(include_dashboard=False, logging_level="WARNING", runtime_env=job_runtime_env())
            try:
                if self.address:
                    ray.init(address=self.address, **options)
                else:  # "local": a fresh Ray of our own, even if another runs on this machine
                    ray.init(address="local", num_cpus=self.num_cpus or os.cpu_count() or 1, **options)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise EdgeoptError(f"cannot start or reach Ray at {self.address or 'a new local instance'}: {exc}. "
                                   "Check --ray-address / RAY_ADDRESS (e.g. ray://head:10001 or head:6379) and "
                                   "that the cluster is up (`ray status`).") from None
            self.joined = True
            if on_main:  # ray.init makes SIGTERM exit on the spot; it must stop the run like Ctrl-C
                signal.signal(signal.SIGTERM, self.previous_sigterm if callable(self.previous_sigterm)
                              else _interrupt)
        nodes = [n for n in self.ray.nodes() if n.get("Alive")]
        total = self.ray.cluster_resources()
        where = {"address": self.address or "local", "nodes": len(nodes), "cluster_cpus": total.get("CPU"),
                 "cluster_gpus": total.get("GPU", 0.0)}
        self.log_fn(f"ray: {where['address']} — {len(nodes)} node(s), {total.get('CPU', 0):g} CPUs, "
                    f"{total.get('GPU', 0):g} GPUs")
        return where

    def __exit__(self, *exc) -> None:
        if self.joined:
            self.ray.shutdown()
            if self.previous_sigterm is not None:
                signal.signal(signal.SIGTERM, self.previous_sigterm)


def job_runtime_env() -> dict:
    """Ship this edgeopt's own code to the workers (Ray's `py_modules`): no install of it on the nodes
    is needed, and a node never runs another version. Its dependencies (TensorFlow, …) must be there."""
    return {"py_modules": [str(Path(__file__).resolve().parents[1])], "excludes": ["__pycache__"]}


def _interrupt(signum, frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _check_resources(ray, steps) -> None:
    """Refuse, before anything runs, a step that no node of the cluster could ever take."""
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    most_cpus = max((n.get("CPU", 0) for n in nodes), default=0)
    most_gpus = max((n.get("GPU", 0) for n in nodes), default=0)
    for step in steps:
        if step.resources.cpus > most_cpus or step.resources.gpus > most_gpus:
            raise EdgeoptError(
                f"step '{step.id}' asks for resources {{cpus: {step.resources.cpus:g}, gpus: "
                f"{step.resources.gpus:g}}}, but no node of the Ray cluster has that much (the largest has "
                f"{most_cpus:g} CPUs, {most_gpus:g} GPUs). Lower the step's `resources:` or add a node.")


class _Schedule:
    """One Ray run of a plan: release each step when its source is done, commit results as they come."""

    def __init__(self, ray, plan, recipe, dataset, out_dir: Path, force: bool, log_fn):
        self.ray, self.plan, self.recipe, self.dataset = ray, plan, recipe, dataset
        self.out_dir, self.force, self.log = out_dir, force, log_fn
        self.done: dict[str, Artifact] = {}
        self.sent: dict[str, Any] = {}  # step id → ObjectRef of its StepFiles, for the steps made from it
        self.running: dict[Any, tuple[PlannedStep, float]] = {}
        self.task = ray.remote(max_calls=1)(run_step_on_worker)  # a fresh process, so TF starts clean

    def run(self) -> dict[str, Artifact]:
        ray = self.ray
        waiting = list(self.plan)
        failure: BaseException | None = None
        dataset_ref = ray.put(self.dataset)  # sent to each node once, shared by its tasks
        try:
            while waiting or self.running:
                if failure is None:
                    waiting = self._release(waiting, dataset_ref)
                else:
                    waiting = []  # as `make -j`: after a failure nothing new starts
                if not self.running:
                    continue
                ready, _ = ray.wait(list(self.running), num_returns=1)
                planned, started = self.running.pop(ready[0])
                try:
                    files = ray.get(ready[0])
                except Exception as exc:  # noqa: BLE001 — Ray wraps whatever the step raised
                    error = _step_error(ray, planned, exc)
                    self.log(f"{planned.heading(len(self.plan))} — failed ({type(error).__name__}, reported below)")
                    failure = failure or error
                    if self.running:
                        self.log(f"  waiting for {len(self.running)} running step(s) to finish; they will be kept")
                    continue
                self._commit(planned, files, ready[0], started)
        except BaseException:
            for ref in self.running:
                ray.cancel(ref, force=True)
            if self.running:
                self.log(f"cancelled {len(self.running)} running step(s): "
                         + ", ".join(p.step.id for p, _ in self.running.values()))
            raise
        if failure is not None:
            raise failure
        return self.done

    def _release(self, waiting: list[PlannedStep], dataset_ref) -> list[PlannedStep]:
        """Start (or reuse) every waiting step whose source is done; return those still waiting."""
        still = []
        for planned in waiting:  # recipe order: a source always comes before the steps made from it
            step = planned.step
            if step.source is not None and step.source not in self.done:
                still.append(planned)
                continue
            heading = planned.heading(len(self.plan))
            source = self.done.get(step.source)
            reused = None if self.force else _finished_step(self.out_dir / step.id, planned.fingerprint)
            if reused:
                self.log(f"{heading} — unchanged, reusing {reused.path}")
                self._keep(step, reused)
            elif step.stage in DRIVER_STAGES:
                self.log(f"{heading} — on the driver")
                self._keep(step, _run_step(step, self.recipe, self.dataset, source, self.out_dir,
                                           planned.fingerprint, self.log))
            else:
                r = step.resources
                ref = self.task.options(num_cpus=r.cpus, num_gpus=r.gpus, name=f"edgeopt:{step.id}").remote(
                    step, self.recipe, dataset_ref, self._sendable(step.source))
                self.running[ref] = (planned, time.perf_counter())
                self.log(f"{heading} — started as a Ray task ({r.cpus:g} CPU, {r.gpus:g} GPU)")
        return still

    def _sendable(self, step_id: str | None):
        """The input a task needs: the ObjectRef a task returned, or the driver's file put into the store."""
        if step_id is None:
            return None
        if step_id not in self.sent:
            artifact = self.done[step_id]
            self.sent[step_id] = self.ray.put(StepFiles.of(artifact, artifact.path.parent, model_only=True))
        return self.sent[step_id]

    def _commit(self, planned: PlannedStep, files: StepFiles, ref, started: float) -> None:
        step = planned.step
        partial = partial_folder(self.out_dir, step.id)
        try:
            artifact = files.write_into(partial)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        artifact = commit_step(step, planned.fingerprint, artifact, partial, self.out_dir)
        self.sent[step.id] = ref  # the task's own result feeds the steps made from it, without re-sending
        self._keep(step, artifact)
        self.log(f"{planned.heading(len(self.plan))} — done in {time.perf_counter() - started:.1f} s on "
                 f"{artifact.info.get('ray_node')}, {files.size_bytes / 1024:.0f} KiB sent back")

    def _keep(self, step, artifact: Artifact) -> None:
        _inherit_lineage(artifact, self.done.get(step.source))
        self.done[step.id] = artifact


def _step_error(ray, planned: PlannedStep, exc: Exception) -> BaseException:
    """What a sequential run would have raised: the user error as it was, a bug with its traceback."""
    cause = getattr(exc, "cause", None)
    if isinstance(exc, ray.exceptions.RayTaskError) and isinstance(cause, EdgeoptError):
        return cause
    if isinstance(exc, ray.exceptions.RayTaskError):
        return exc  # an instance of the bug's own class too; its message carries the worker's traceback
    return EdgeoptError(f"step '{planned.step.id}' did not finish: Ray lost its task ({type(exc).__name__}: "
                        f"{str(exc)[:300]}). Finished steps are kept; run the recipe again to resume.")
