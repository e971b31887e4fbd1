"""Profile a run's models once its steps are done: every `.tflite` row timed together, with resume.

Sequential and Ray runs alike profile here, after the last step, so no figure is measured beside
training and every `.tflite` row is timed side by side with the others in interleaved rounds
(`edgeopt.profile.profile_tflites`): their ratios hold on a busy machine. Keras rows run through
TensorFlow one at a time (`models.keras_profile`).

Resume: each step folder keeps `profile.json`, its row and two keys. `key` digests the step's
fingerprint, the recipe's profile settings and the host: the same file measured the same way.
`group` digests every `.tflite` row's (id, fingerprint) with the settings, host and baseline: the
same rows timed together. An unchanged run reuses every row; a new or changed `.tflite` row makes
all of them be timed together again, reusing only each unchanged file's accuracy.
"""

from __future__ import annotations

import hashlib
import json
import socket
from pathlib import Path
from typing import Callable

from edgeopt.common.atomic import atomic_write_text
from edgeopt.common.row import Row
from edgeopt.data.datasets import Dataset
from edgeopt.run.recipe import Recipe, Step
from edgeopt.rundir.folder import file_sha256, relative_to_run
from edgeopt.stages import Artifact

PROFILE_FILE = "profile.json"


def profile_run(plan: list, artifacts: dict[str, Artifact], recipe: Recipe, dataset: Dataset, out_dir: Path,
                force: bool, log_fn: Callable[[str], None]) -> list[Row]:
    """Rows of every step to profile, in recipe order: Keras rows one by one, `.tflite` rows together.

    Args:
        plan: The recipe's `PlannedStep`s (step and fingerprint).
        artifacts: Step id → its finished artifact.
        recipe: The validated recipe (profile settings, baseline).
        dataset: Test data for accuracy.
        out_dir: The run folder.
        force: Measure everything again.
        log_fn: Progress lines.
    """
    settings = recipe.profile.model_dump(mode="json")
    host = socket.gethostname()
    profiled = [p for p in plan if p.step.profile]
    keys = {p.step.id: _digest([p.fingerprint, settings, host]) for p in profiled}
    saved = {} if force else {p.step.id: _read_saved(artifacts[p.step.id]) for p in profiled}
    tflite = [p for p in profiled if artifacts[p.step.id].kind == "tflite"]
    group = _digest([[[p.step.id, p.fingerprint] for p in tflite], settings, host, recipe.baseline])
    rows: dict[str, Row] = {}

    for p in profiled:
        if artifacts[p.step.id].kind == "tflite":
            continue
        step, artifact = p.step, artifacts[p.step.id]
        if _matches(saved.get(step.id), keys[step.id]):
            log_fn(f"  profile of {step.id} unchanged, reusing it")
            rows[step.id] = Row.from_dict(saved[step.id]["row"])
        else:
            log_fn(f"  profiling {artifact.path.name} of {step.id} ({artifact.kind}, {artifact.dtype})")
            rows[step.id] = _finished(_keras_row(step, artifact, recipe, dataset), step, artifact)
            _save(artifact, keys[step.id], None, rows[step.id])

    if tflite and all(_matches(saved.get(p.step.id), keys[p.step.id], group) for p in tflite):
        for p in tflite:
            log_fn(f"  profile of {p.step.id} unchanged, reusing it")
            rows[p.step.id] = Row.from_dict(saved[p.step.id]["row"])
    elif tflite:
        rows.update(_profile_together(tflite, artifacts, recipe, dataset, saved, keys, group, log_fn))

    for p in profiled:  # relative to the run folder, with the file's hash: a copied folder still resolves
        artifact = artifacts[p.step.id]
        rows[p.step.id].path = relative_to_run(out_dir, artifact.path)
        rows[p.step.id].extra["sha256"] = file_sha256(artifact.path)
    return [rows[p.step.id] for p in profiled]


def _profile_together(tflite: list, artifacts: dict[str, Artifact], recipe: Recipe, dataset: Dataset,
                      saved: dict, keys: dict, group: str, log_fn) -> dict[str, Row]:
    from edgeopt.profile import profile_tflites

    known = {p.step.id: saved[p.step.id]["row"].get("accuracy") for p in tflite
             if _matches(saved.get(p.step.id), keys[p.step.id])
             and saved[p.step.id]["row"].get("accuracy") is not None}
    log_fn(f"profiling {len(tflite)} .tflite model(s) together"
           + (f" (the accuracy of {len(known)} unchanged one(s) kept)" if known else ""))
    p = recipe.profile
    measured = profile_tflites([artifacts[q.step.id].path for q in tflite], names=[q.step.id for q in tflite],
                               x_test=dataset.x_test, y_test=dataset.y_test, runs=p.runs, warmup=p.warmup,
                               threads=p.threads, energy=p.energy, energy_window_s=p.energy_window_s,
                               energy_windows=p.energy_windows, rounds=p.rounds, cpu_watts=p.cpu_watts,
                               energy_rail=p.energy_rail, baseline=recipe.baseline, known_accuracy=known,
                               log_fn=log_fn)
    rows = {}
    for q, row in zip(tflite, measured):
        artifact = artifacts[q.step.id]
        rows[q.step.id] = _finished(row, q.step, artifact)
        _save(artifact, keys[q.step.id], group, rows[q.step.id])
    return rows


def _keras_row(step: Step, artifact: Artifact, recipe: Recipe, dataset: Dataset) -> Row:
    from edgeopt.models.keras_profile import profile_keras

    return profile_keras(artifact.path, name=step.id, x_test=dataset.x_test, y_test=dataset.y_test,
                         runs=recipe.profile.runs, warmup=recipe.profile.warmup)


def _finished(row: Row, step: Step, artifact: Artifact) -> Row:
    """The row with what the step itself measured: training time and energy, stage and lineage."""
    row.train_seconds = artifact.info.get("train_seconds")
    if "train_seconds" in artifact.info:  # the stage trained: its energy is training energy
        row.train_energy_j = artifact.info.get("stage_energy_j")
        row.extra["train_energy_source"] = artifact.info.get("stage_energy_source")
    row.extra.update({k: artifact.info.get(k) for k in
                      ("stage_seconds", "stage_energy_j", "stage_energy_source", "stage_energy_scope",
                       "stage_energy_note")})
    row.extra.update({"stage": step.stage, "from": step.source, "sparsity": artifact.info.get("sparsity_overall"),
                      "sparsity_per_layer": artifact.info.get("sparsity"), "precision": artifact.info.get("precision")})
    return row


def _digest(payload) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _read_saved(artifact: Artifact) -> dict | None:
    try:
        saved = json.loads((artifact.path.parent / PROFILE_FILE).read_text())
    except (OSError, ValueError):
        return None  # no usable earlier profile: measure
    return saved if isinstance(saved, dict) and isinstance(saved.get("row"), dict) else None


def _matches(saved: dict | None, key: str, group: str | None = None) -> bool:
    return saved is not None and saved.get("key") == key and (group is None or saved.get("group") == group)


def _save(artifact: Artifact, key: str, group: str | None, row: Row) -> None:
    atomic_write_text(artifact.path.parent / PROFILE_FILE,
                      json.dumps({"key": key, "group": group, "row": row.to_dict()}, indent=2) + "\n")


def keep_op_times(artifacts: dict[str, Artifact], rows: list[Row]) -> None:
    """Write each row's per-op times into its step's saved profile: an unchanged rerun reuses the row
    with them (`explain.py` then times no op again); a changed one measures afresh, without them."""
    from edgeopt.profile.ops import OPS_KEY

    for row in rows:
        artifact = artifacts.get(row.name)
        saved = _read_saved(artifact) if artifact is not None and row.extra.get(OPS_KEY) else None
        if saved is not None and saved["row"].get(OPS_KEY) != row.extra[OPS_KEY]:
            saved["row"][OPS_KEY] = row.extra[OPS_KEY]
            atomic_write_text(artifact.path.parent / PROFILE_FILE, json.dumps(saved, indent=2) + "\n")

