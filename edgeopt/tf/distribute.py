"""Training one model on several devices through tf.distribute (`distribute:` on train/finetune).

- `mirrored`: `tf.distribute.MirroredStrategy`, one replica per GPU of this host, or, with
  `cpu_devices: N`, over N logical CPU devices (the host's CPU split in N; for hosts without a
  GPU, and for tests).
- `multi_worker`: `tf.distribute.MultiWorkerMirroredStrategy` over the hosts that `TF_CONFIG`
  names; each host runs the same `edgeopt run`, the chief's (task 0) run folder is the result.

The recipe's `batch_size` is the global batch, what one optimizer step sees, as in a plain run:
Keras splits each batch evenly across the replicas (the distributed-training guide's
`global_batch_size = per_replica_batch_size * num_replicas_in_sync`), so it must divide by the
number of replicas. Scale `batch_size` yourself to keep each device as busy as before.

Both strategies need TensorFlow configured before it starts (logical devices, collective ops):
`prepare_process` does that once per process, before any step runs, and says clearly when
TensorFlow already started in another configuration.
"""

from __future__ import annotations

import json
import os
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edgeopt.common.errors import EdgeoptError

Distribute = Literal["none", "mirrored", "multi_worker"]

_multi_worker_strategy = None  # TF allows one per process, made at start-up; kept for every step


class DistributeOptions(BaseModel):
    """The `distribute:` keys shared by every stage that trains (mixed into its StageParams).

    A plain pydantic model, not a StageParams: importing the stage registry from here would
    import every stage, and the training stages import this module.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Left out of a step's fingerprint while at their defaults, so runs made before these keys
    # existed still resume.
    omit_when_default: ClassVar[tuple[str, ...]] = ("distribute", "cpu_devices")

    distribute: Distribute = Field("none", description="none | mirrored (GPUs, or cpu_devices logical CPUs) | "
                                   "multi_worker (TF_CONFIG); batch_size stays the global batch")
    cpu_devices: int | None = Field(None, ge=2, le=64, description="with distribute: mirrored, split the CPU into "
                                    "this many logical devices instead of using GPUs")

    @model_validator(mode="after")
    def _cpu_devices_with_mirrored(self) -> "DistributeOptions":
        if self.cpu_devices is not None and self.distribute != "mirrored":
            raise ValueError(f"`cpu_devices` applies only to `distribute: mirrored`. Received: cpu_devices="
                             f"{self.cpu_devices}, distribute={self.distribute!r}")
        batch_size = getattr(self, "batch_size", None)
        if self.cpu_devices and batch_size is not None and batch_size % self.cpu_devices:
            raise ValueError(f"`batch_size` is the global batch and must split evenly over the {self.cpu_devices} "
                             f"replicas. Received: batch_size={batch_size}, cpu_devices={self.cpu_devices}; use "
                             f"{max(self.cpu_devices, batch_size - batch_size % self.cpu_devices)}")
        return self


def prepare_process(steps) -> None:
    """Configure TensorFlow in this process for every distributed step in `steps`, before it starts.

    Example:
        >>> prepare_process(recipe.steps)  # before the first step trains  # doctest: +SKIP
    """
    options = [s.params for s in steps if isinstance(s.params, DistributeOptions) and s.params.distribute != "none"]
    counts = sorted({p.cpu_devices for p in options if p.cpu_devices})
    if len(counts) > 1:
        raise EdgeoptError(f"steps ask for cpu_devices {' and '.join(map(str, counts))}, but one process splits its "
                           "CPU only once. Give them the same cpu_devices, or run with `--executor ray` (one "
                           "process per step).")
    if counts:
        split_cpu(counts[0])
    if any(p.distribute == "multi_worker" for p in options):
        multi_worker_strategy()


def split_cpu(count: int) -> None:
    """Make this process's CPU appear as `count` logical devices (only possible before TF starts)."""
    from edgeopt.tf.runtime import tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError:  # TensorFlow already started: fine only if it already has that split
        have = len(tf.config.list_logical_devices("CPU"))
        if have != count:
            raise EdgeoptError(
                f"distribute: mirrored with cpu_devices: {count} needs the CPU split before TensorFlow starts, but "
                f"TensorFlow already runs in this process with {have} CPU device(s). Run the recipe in a fresh "
                "process (`edgeopt run`), or call run_recipe before any other TensorFlow work.") from None


def multi_worker_strategy():
    """The process's MultiWorkerMirroredStrategy, made from TF_CONFIG on first use."""
    global _multi_worker_strategy
    if _multi_worker_strategy is None:
        from edgeopt.tf.runtime import tf

        _check_tf_config(os.environ.get("TF_CONFIG"))
        try:
            _multi_worker_strategy = tf.distribute.MultiWorkerMirroredStrategy()
        except (RuntimeError, ValueError) as exc:
            raise EdgeoptError(f"distribute: multi_worker could not start ({exc}). It must be set up before "
                               "TensorFlow starts: run the recipe in a fresh process (`edgeopt run`).") from None
    return _multi_worker_strategy


def _check_tf_config(text: str | None) -> None:
    example = ('TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
               '"task": {"type": "worker", "index": 0}}\'')
    if not text:
        raise EdgeoptError(f"distribute: multi_worker needs TF_CONFIG set on every worker, e.g. {example} "
                           "(index 1 on the second host). See docs/scale.md.")
    try:
        config = json.loads(text)
        workers, task = config["cluster"]["worker"], config["task"]
        ok = isinstance(workers, list) and workers and task["type"] in ("worker", "chief") and \
            0 <= int(task["index"]) < len(workers)
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise EdgeoptError(f"TF_CONFIG is not a cluster with a worker list and this host's task. Received: "
                           f"TF_CONFIG={text!r}. Expected e.g. {example}")


def strategy_for(options: DistributeOptions, batch_size: int) -> tuple[Any, dict]:
    """The tf.distribute strategy a step asks for (None for `none`) and the facts to record."""
    if options.distribute == "none":
        return None, {}
    from edgeopt.tf.runtime import tf

    if options.distribute == "multi_worker":
        strategy = multi_worker_strategy()
    elif options.cpu_devices:
        split_cpu(options.cpu_devices)
        strategy = tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(options.cpu_devices)])
    else:
        if not tf.config.list_logical_devices("GPU"):
            raise EdgeoptError("distribute: mirrored found no GPU on this host. Add `cpu_devices: N` to mirror over "
                               "N logical CPU devices, or remove `distribute`.")
        strategy = tf.distribute.MirroredStrategy()
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise EdgeoptError(f"batch_size {batch_size} (the global batch) does not split evenly over the {replicas} "
                           f"replicas of distribute: {options.distribute}. Use a multiple of {replicas}.")
    return strategy, {"distribute": options.distribute, "replicas": replicas,
                      "devices": list(strategy.extended.worker_devices), "global_batch_size": batch_size,
                      "per_replica_batch_size": batch_size // replicas}
