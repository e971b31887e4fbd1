"""`edgeopt profile RUN_DIR`: the run's models profiled on this machine, into RUN_DIR/devices/.

The device repeats what the host measured with the run's own settings (runs, warm-up, rounds, threads,
energy; any of them overridable), every `.tflite` row timed together in interleaved rounds as on the
host, on the files the run made (sha256 checked first) and on the
test split it carries (data/test.npz), so its table has the same rows, baseline and budget and
differs from the host's only by the machine. The device document has the shape of
`edgeopt profile --json` (schema_version, machine, rows) plus the run it belongs to.
TensorFlow-free, like everything a device imports.
"""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from typing import Callable

from edgeopt.common.atomic import atomic_write_text
from edgeopt.common.errors import EdgeoptError, RunFolderError
from edgeopt.common.row import SCHEMA_VERSION, Row
from edgeopt.profile.defaults import PROFILE_DEFAULTS
from edgeopt.rundir.folder import DEVICES_DIR, RESULTS_FILE, checked_models, read_results, read_test_split

# Profile settings a device takes from the run unless told otherwise (recipe `profile:` keys).
# `cpu_watts` and `energy_rail` describe a machine, so a device takes them from its command line only.
SETTINGS = tuple(PROFILE_DEFAULTS)
# Facts about a model, not about the machine: carried from the host row so the tables match.
LINEAGE_KEYS = ("stage", "from", "sparsity", "sparsity_per_layer", "precision")
DEVICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def device_file(run_dir: str | Path, device_name: str) -> Path:
    if not DEVICE_NAME.fullmatch(device_name):
        raise EdgeoptError(f"device name {device_name!r} cannot name a file: use letters, digits, '.', '_' and "
                           "'-' (at most 100, starting with a letter or digit), e.g. --device-name pi5-2threads.")
    return Path(run_dir) / DEVICES_DIR / f"{device_name}.json"


def run_identity(results: dict) -> dict:
    """What ties a device file to its run: the recipe's hash and each model file's sha256."""
    recipe = results.get("recipe") or {}
    return {"recipe_name": recipe.get("name"), "recipe_sha256": recipe.get("sha256"),
            "host": (results.get("machine") or {}).get("hostname"),
            "models": {row["name"]: row.get("sha256") for row in results["rows"] if row.get("format") == "tflite"}}


def run_settings(results: dict, overrides: dict) -> dict:
    """The run's profile settings, with the options given on the command line (non-None) on top."""
    recorded = results.get("profile") if isinstance(results.get("profile"), dict) else {}
    settings = {key: recorded.get(key, PROFILE_DEFAULTS[key]) for key in SETTINGS}
    settings.update({key: value for key, value in overrides.items() if value is not None})
    return settings


def profile_run_folder(run_dir: str | Path, *, device_name: str | None = None, overrides: dict | None = None,
                       breakdown: bool = False, log_fn: Callable[[str], None] = lambda _: None) -> tuple[dict, Path]:
    """Profile every `.tflite` row of RUN_DIR/results.json here; write devices/<name>.json.

    Args:
        run_dir: A run folder made by `edgeopt run` (copied whole).
        device_name: Names the device file; default this machine's hostname.
        overrides: Profile settings that replace the run's (runs, warmup, threads, energy, ...).
        breakdown: Keep the 45 nm model's per-operator energy in each row.
        log_fn: Progress lines.

    Returns:
        The device document and the path it was written to.

    Raises:
        RunFolderError: No results.json, another schema version, a model or the test split
            missing or not matching the run's sha256.

    Example:
        >>> document, path = profile_run_folder("runs/quickstart", overrides={"threads": 2})  # doctest: +SKIP
        >>> path.name, [row["name"] for row in document["rows"]]  # doctest: +SKIP
        ('pi5.json', ['base_float32', 'base_int8'])
    """
    from edgeopt.profile import profile_tflites  # here: `edgeopt report` reads device files without LiteRT
    from edgeopt.profile.machine import machine_info

    run_dir = Path(run_dir)
    results = read_results(run_dir)
    target = device_file(run_dir, device_name or socket.gethostname())
    models = checked_models(run_dir, results)  # every file, before any minute is spent
    x_test, y_test = read_test_split(run_dir, results)
    settings = run_settings(results, overrides or {})
    log_fn(f"profiling {len(models)} .tflite model(s) of {run_dir} together")
    recipe = results.get("recipe") or {}
    rows = profile_tflites([path for _, path in models], names=[host_row["name"] for host_row, _ in models],
                           x_test=x_test, y_test=y_test, runs=settings["runs"], warmup=settings["warmup"],
                           threads=settings["threads"], energy=settings["energy"], rounds=settings["rounds"],
                           energy_window_s=settings["energy_window_s"], energy_windows=settings["energy_windows"],
                           breakdown=breakdown, cpu_watts=settings.get("cpu_watts"),
                           energy_rail=settings.get("energy_rail"), baseline=recipe.get("baseline"), log_fn=log_fn)
    for row, (host_row, _) in zip(rows, models):
        row.path = host_row["path"]
        row.extra["sha256"] = host_row["sha256"]
        row.extra.update({key: host_row[key] for key in LINEAGE_KEYS if key in host_row})
    document = {
        "schema_version": SCHEMA_VERSION,
        "device": target.stem,
        "run": run_identity(results),
        "settings": settings,
        "test_data_sha256": results["test_data"]["sha256"],
        "machine": machine_info(),
        "rows": [row.to_dict() for row in rows],
    }
    atomic_write_text(target, json.dumps(document, indent=2) + "\n")
    return document, target


def read_device_documents(run_dir: str | Path, results: dict) -> list[dict]:
    """Every RUN_DIR/devices/*.json, each checked to be JSON, of this schema and of this run.

    Raises:
        RunFolderError: A device file is not JSON, of another schema version, or was measured
            on another run (other recipe, or other model files).
    """
    folder = Path(run_dir) / DEVICES_DIR
    if not folder.is_dir():
        return []
    return [read_device_document(path, results, run_dir) for path in sorted(folder.glob("*.json"))]


def read_device_document(path: Path, results: dict, run_dir: str | Path) -> dict:
    """One device file, checked to be JSON, of this schema and measured on this run.

    Raises:
        RunFolderError: As for `read_device_documents`.
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RunFolderError(f"{path} is not a JSON device file ({exc}). Copy it again from the device "
                             "(it is written by `edgeopt profile RUN_DIR` there), or delete it.") from None
    if not isinstance(document, dict) or not isinstance(document.get("run"), dict) \
            or not isinstance(document.get("rows"), list) or not all(
                isinstance(row, dict) and isinstance(row.get("name"), str) for row in document["rows"]):
        raise RunFolderError(f"{path} is not an edgeopt device file (needs `run` and `rows`, as "
                             "`edgeopt profile RUN_DIR` writes). Move it out of devices/.")
    if document.get("schema_version") != SCHEMA_VERSION:
        raise RunFolderError(f"{path} has schema_version {document.get('schema_version')!r}; this edgeopt "
                             f"reads {SCHEMA_VERSION}. Profile the run again on that device with this edgeopt.")
    _check_same_run(path, document["run"], run_identity(results), run_dir)
    return {**document, "device": path.stem}  # the file's name is the one a user sees


def _check_same_run(path: Path, theirs: dict, ours: dict, run_dir) -> None:
    hint = (f"Profile this folder again on that device (`edgeopt profile {run_dir}`), or move the file out "
            f"of {DEVICES_DIR}/.")
    if theirs.get("recipe_sha256") != ours["recipe_sha256"]:
        raise RunFolderError(f"{path} was measured on another run: recipe '{theirs.get('recipe_name')}' (sha256 "
                             f"{str(theirs.get('recipe_sha256'))[:16]}…), but {Path(run_dir) / RESULTS_FILE} is "
                             f"recipe '{ours['recipe_name']}' ({str(ours['recipe_sha256'])[:16]}…). {hint}")
    models = theirs.get("models") if isinstance(theirs.get("models"), dict) else {}
    changed = sorted(name for name in set(models) | set(ours["models"]) if models.get(name) != ours["models"].get(name))
    if changed:
        raise RunFolderError(f"{path} was measured on another run of recipe '{ours['recipe_name']}': the model files "
                             f"of {', '.join(changed)} differ from this folder's (sha256). {hint}")


def device_rows(document: dict) -> list[Row]:
    return [Row.from_dict(row) for row in document["rows"]]
