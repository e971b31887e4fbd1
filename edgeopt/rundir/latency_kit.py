"""`edgeopt profile KIT` on the target: time every file of a latency-table kit, TensorFlow-free.

A kit is a folder with `kit.json` (written by `edgeopt search --kit-only` on the host) and small
`.tflite` files: the model in each precision and single ops at a grid of widths. All files are
timed side by side in interleaved rounds (`profile/side_by_side.py`); the result,
`KIT/latency_table.json`, goes back to the host for `edgeopt search --latency-table`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from edgeopt.common.atomic import atomic_write_text
from edgeopt.common.errors import RunFolderError
from edgeopt.profile.machine import machine_info
from edgeopt.profile.side_by_side import interleaved_quiet_ms
from edgeopt.profile.tflite_file import read_tflite_bytes

KIT_FILE = "kit.json"
TABLE_FILE = "latency_table.json"
KIT_SCHEMA = 1


def is_kit(path: Path) -> bool:
    return (Path(path) / KIT_FILE).is_file()


def read_kit(kit_dir: Path) -> dict:
    try:
        manifest = json.loads((Path(kit_dir) / KIT_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise RunFolderError(f"{kit_dir / KIT_FILE} cannot be read as a latency kit ({exc}). Copy the kit folder "
                             "again from the host.") from None
    if not isinstance(manifest, dict) or manifest.get("schema") != KIT_SCHEMA or "entries" not in manifest:
        raise RunFolderError(f"{kit_dir / KIT_FILE} is not a latency kit this edgeopt reads (schema "
                             f"{KIT_SCHEMA}). Write it again with this version: `edgeopt search ... --kit-only`.")
    return manifest


def measure_kit(kit_dir: str | Path, *, threads: int | None = None, rounds: int = 5,
                log_fn: Callable[[str], None] = print) -> tuple[dict, Path]:
    """Time every file of the kit on this machine; write and return `latency_table.json`.

    Example:
        >>> table, path = measure_kit("runs/search/kit")   # doctest: +SKIP
    """
    kit_dir = Path(kit_dir)
    manifest = read_kit(kit_dir)
    threads = threads or manifest.get("threads", 1)
    files = [m["file"] for m in manifest["models"].values()] + [e["file"] for e in manifest["entries"]]
    log_fn(f"timing {len(files)} kit files side by side ({rounds} rounds, {threads} thread(s)); "
           "nothing more is printed until every file is timed")
    p50 = interleaved_quiet_ms([read_tflite_bytes(kit_dir / f) for f in files], rounds=rounds, threads=threads)
    by_file = dict(zip(files, p50))
    table = {"schema": KIT_SCHEMA, "kind": "edgeopt latency table", "machine": machine_info(), "threads": threads,
             "rounds": rounds,
             "models": {p: {**m, "p50_ms": by_file[m["file"]]} for p, m in manifest["models"].items()},
             "units": manifest["units"],
             "entries": [{**e, "p50_ms": by_file[e["file"]]} for e in manifest["entries"]]}
    path = atomic_write_text(kit_dir / TABLE_FILE, json.dumps(table, indent=2) + "\n")
    return table, path
