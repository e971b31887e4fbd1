"""A run folder on disk, as `edgeopt run` writes it and a device reads it back.

    RUN_DIR/results.json        rows, recipe, machine; every path in it relative to RUN_DIR
    RUN_DIR/<step>/model.*      one folder per step (its sha256 is in the step's row)
    RUN_DIR/data/test.npz       the test split the run measured accuracy on (hash in results.json)
    RUN_DIR/devices/<name>.json the same models profiled on other machines (`edgeopt profile RUN_DIR`)

The folder is self-contained: copied to a board (rsync, scp) it can be profiled there without the
dataset packages, and its figures compared with the host's. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path, PurePosixPath

import numpy as np

from edgeopt.common.atomic import atomic_write_bytes
from edgeopt.common.errors import DataError, RunFolderError
from edgeopt.common.row import SCHEMA_VERSION
from edgeopt.data.scaling import InputScaling

RESULTS_FILE = "results.json"
TEST_SPLIT_FILE = "data/test.npz"
DEVICES_DIR = "devices"
RERUN_HINT = "Run the recipe again with this edgeopt (`edgeopt run RECIPE --out RUN_DIR`) and copy the new folder."


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def relative_to_run(run_dir: str | Path, path: str | Path) -> str:
    """`path` (inside `run_dir`) as the POSIX path results.json stores: "base_int8/model.tflite"."""
    return Path(path).resolve().relative_to(Path(run_dir).resolve()).as_posix()


def resolve_in_run(run_dir: str | Path, stored: str, what: str) -> Path:
    """The file a results.json path names, refusing paths that leave the folder."""
    pure = PurePosixPath(stored)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise RunFolderError(f"{Path(run_dir) / RESULTS_FILE}: {what} has path '{stored}', which is not inside "
                             f"the run folder (an edgeopt older than relocatable run folders wrote "
                             f"absolute paths). {RERUN_HINT}")
    return Path(run_dir).joinpath(*pure.parts)


def read_results(run_dir: str | Path) -> dict:
    """results.json of `run_dir`, checked: a JSON object of this schema_version with a rows list.

    Raises:
        RunFolderError: The folder or its results.json is missing, unreadable, not JSON, or of
            another schema version.
    """
    run_dir = Path(run_dir)
    path = run_dir / RESULTS_FILE
    if not run_dir.is_dir():
        raise RunFolderError(f"{run_dir} is not a folder. Give a run folder made by `edgeopt run` "
                             "(it holds results.json), or .tflite files.")
    if not path.is_file() and (run_dir / "kit" / "kit.json").is_file():  # `edgeopt search --kit-only` made it
        raise RunFolderError(f"{run_dir} holds a latency kit ({run_dir / 'kit'}) and no table yet: "
                             "`search --kit-only` stops before searching. Time the kit on the target with `edgeopt profile KIT`, then "
                             f"run the search again with --latency-table; {run_dir} then holds a run's table.")
    if not path.is_file():
        raise RunFolderError(f"{run_dir} has no {RESULTS_FILE}, so it is not a finished run folder. Give the "
                             "folder `edgeopt run RECIPE --out DIR` wrote, copied whole, or profile .tflite files.")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RunFolderError(f"{path} is not readable JSON ({exc}). Copy the run folder again.") from None
    if not isinstance(document, dict) or not isinstance(document.get("rows"), list):
        raise RunFolderError(f"{path} is not an edgeopt results file (no `rows` list). Copy the run folder again.")
    version = document.get("schema_version")
    if version != SCHEMA_VERSION:
        wrote = (document.get("machine") or {}).get("packages", {}).get("edgeopt") if isinstance(
            document.get("machine"), dict) else None
        raise RunFolderError(f"{path} has schema_version {version!r}; this edgeopt reads schema_version "
                             f"{SCHEMA_VERSION}. Use the edgeopt that wrote it"
                             + (f" ({wrote})" if wrote else "") + f", or: {RERUN_HINT}")
    return document


def tflite_rows(results: dict) -> list[dict]:
    return [row for row in results["rows"] if isinstance(row, dict) and row.get("format") == "tflite"]


def checked_models(run_dir: str | Path, results: dict) -> list[tuple[dict, Path]]:
    """Every `.tflite` row with its file, each file present and matching the sha256 the run recorded.

    All files are checked before any is profiled, so a stale copy fails before minutes of work.
    """
    rows = tflite_rows(results)
    if not rows:
        raise RunFolderError(f"{Path(run_dir) / RESULTS_FILE} has no .tflite rows: nothing to profile on a "
                             "device. Add a `convert` step to the recipe.")
    checked = []
    for row in rows:
        name = row.get("name")
        path = resolve_in_run(run_dir, str(row.get("path", "")), f"row '{name}'")
        recorded = row.get("sha256")
        if not recorded:
            raise RunFolderError(f"{Path(run_dir) / RESULTS_FILE}: row '{name}' records no sha256, so its file "
                                 f"cannot be checked (written by an older edgeopt). {RERUN_HINT}")
        if not path.is_file():
            raise RunFolderError(f"{path} is missing: row '{name}' of {Path(run_dir) / RESULTS_FILE} needs it. "
                                 "Copy the whole run folder (e.g. rsync -a RUN_DIR device:), not only results.json.")
        found = file_sha256(path)
        if found != recorded:
            raise RunFolderError(f"{path} does not match the run: its sha256 is {found[:16]}…, the run recorded "
                                 f"{recorded[:16]}… for row '{name}'. The file was re-exported or damaged since the "
                                 "run; copy the run folder again (or run the recipe again).")
        checked.append((row, path))
    return checked


# --- the test split ----------------------------------------------------------------------------

ENCODINGS = {
    "uint8": "pixels p (0–255) → the scaling in `scaling`: lo + p·(hi − lo)/255 onto its input_range, then "
             "(x − mean)/std per channel when given (edgeopt.data.scaling) — the inputs the models were measured on",
    "float32": "none — float32 NHWC, the inputs the models were measured on, as they are",
}


def write_test_split(run_dir: str | Path, x_test: np.ndarray, y_test: np.ndarray, dataset: dict,
                     scaling: InputScaling | None = None) -> dict:
    """Write the test split to RUN_DIR/data/test.npz atomically; return its results.json record.

    Pixels are stored as uint8, with the scaling that turns them into the model's inputs, when
    the inputs are exactly that scaling of uint8 pixels (every dataset edgeopt loads from image
    files); else as the float32 inputs themselves. Either way the device decodes bit-identical inputs.

    Args:
        run_dir: The run folder.
        x_test: The float32 NHWC inputs accuracy was measured on.
        y_test: Their integer labels.
        dataset: What to record about the data (name, source, seed, limits): kept in the file.
        scaling: How pixels became `x_test` (the data section's input_range, mean, std).

    Returns:
        {"path", "sha256", "samples", "encoding", "preprocessing", "scaling", "dataset"} for results.json.
    """
    x_test = np.asarray(x_test)
    scaling = scaling or InputScaling()
    pixels = scaling.to_pixels(x_test)
    encoding = "uint8" if pixels is not None else "float32"
    stored = pixels if pixels is not None else x_test.astype(np.float32)
    meta = {"dataset": dataset, "samples": int(len(x_test)), "encoding": encoding,
            "preprocessing": ENCODINGS[encoding], "shape": list(x_test.shape[1:])}
    if encoding == "uint8":
        meta["scaling"] = scaling.record()
    buffer = io.BytesIO()
    np.savez_compressed(buffer, x_test=stored, y_test=np.asarray(y_test, dtype=np.int64),
                        meta=np.array(json.dumps(meta, sort_keys=True)))
    path = atomic_write_bytes(Path(run_dir) / TEST_SPLIT_FILE, buffer.getvalue())
    return {"path": TEST_SPLIT_FILE, "sha256": file_sha256(path), **meta}


def read_test_split(run_dir: str | Path, results: dict) -> tuple[np.ndarray, np.ndarray]:
    """The run's test split as the float32 inputs and labels the host measured accuracy on.

    Raises:
        RunFolderError: results.json records no split, or the file is missing, changed or unreadable.
    """
    record = results.get("test_data")
    if not isinstance(record, dict) or not record.get("sha256"):
        raise RunFolderError(f"{Path(run_dir) / RESULTS_FILE} records no test split ({TEST_SPLIT_FILE}), so a "
                             f"device cannot measure accuracy on the run's images. {RERUN_HINT}")
    path = resolve_in_run(run_dir, str(record.get("path", "")), "the test split")
    if not path.is_file():
        raise RunFolderError(f"{path} is missing: the run's test split travels with the folder. Copy the whole "
                             "run folder again.")
    found = file_sha256(path)
    if found != record["sha256"]:
        raise RunFolderError(f"{path} does not match the run: its sha256 is {found[:16]}…, the run recorded "
                             f"{record['sha256'][:16]}…. Copy the run folder again.")
    try:
        with np.load(path, allow_pickle=False) as f:
            stored, labels = f["x_test"], f["y_test"]
            meta = json.loads(str(f["meta"]))
    except (OSError, ValueError, KeyError) as exc:
        raise RunFolderError(f"{path} is not a readable test split ({exc}). Copy the run folder again.") from None
    if meta.get("encoding") == "uint8":  # an older run has no `scaling`: its pixels were p / 255
        try:
            return InputScaling.from_record(meta.get("scaling")).from_pixels(stored), labels
        except (DataError, TypeError, ValueError) as exc:
            raise RunFolderError(f"{path} records a scaling this edgeopt cannot apply ({exc}). "
                                 "Copy the run folder again.") from None
    return stored.astype(np.float32, copy=False), labels
