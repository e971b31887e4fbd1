"""A run folder while `edgeopt run` writes it: one writer, and one line on what was kept if it stops.

`guard_run_folder` holds the folder's lock (`edgeopt.rundir.lock`) around a run. When the run stops
early — Ctrl-C, SIGTERM/SIGHUP, a full disk, a read-only filesystem — the error or interrupt that
reaches the CLI ends with what the folder keeps (the finished steps) and how to go on.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Iterator

from edgeopt.common.atomic import output_write_error
from edgeopt.common.errors import OutputWriteError
from edgeopt.rundir.lock import hold_run_folder


@contextlib.contextmanager
def guard_run_folder(out_dir: str | Path, *, wait: bool = False) -> Iterator[Path]:
    """Hold `out_dir` for one run; say what was kept when the run stops early.

    A disk fault anywhere in the block becomes an `OutputWriteError` naming the path; an
    interrupt gets a `kept` attribute with `kept_summary`, which the CLI prints.

    Example:
        >>> with guard_run_folder("runs/quickstart"):  # doctest: +SKIP
        ...     run_recipe(recipe, "runs/quickstart")
    """
    with hold_run_folder(out_dir, wait=wait):
        try:
            yield Path(out_dir)
        except KeyboardInterrupt as exc:
            exc.kept = kept_summary(out_dir)
            raise
        except OutputWriteError as exc:
            raise OutputWriteError(f"{exc} {_sentence(kept_summary(out_dir))}") from exc
        except OSError as exc:  # a disk fault outside the atomic writers: a folder made, a rename
            error = output_write_error(exc.filename or out_dir, exc)
            if error is None:
                raise
            raise OutputWriteError(f"{error} {_sentence(kept_summary(out_dir))}") from exc


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def finished_steps(out_dir: str | Path) -> list[str]:
    """Ids of the steps whose folders are complete (a `step.json` naming a file that exists)."""
    out_dir = Path(out_dir)
    found = []
    for folder in sorted(p for p in out_dir.iterdir() if p.is_dir() and not p.name.startswith(".")) \
            if out_dir.is_dir() else []:
        try:
            record = json.loads((folder / "step.json").read_text())
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and (folder / str(record.get("file", ""))).is_file() and record.get("file"):
            found.append(folder.name)
    return found


def kept_summary(out_dir: str | Path) -> str:
    """'kept 2 finished steps in runs/x (base, f32); …' — what survives and how to go on.

    Example:
        >>> kept_summary("runs/quickstart")  # doctest: +SKIP
        'kept 1 finished step in runs/quickstart (base); rerun the same command to resume from there.'
    """
    steps = finished_steps(out_dir)
    if not steps:
        return f"no step had finished, so {out_dir} holds no results yet; rerun the same command to start again."
    return (f"kept {len(steps)} finished step{'s' if len(steps) > 1 else ''} in {out_dir} ({', '.join(steps)}); "
            "unfinished work was removed; rerun the same command to resume from there.")
