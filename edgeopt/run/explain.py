"""After a run is profiled: time each op of its baseline and best rows (where the time goes).

The rows chosen are the report's (`edgeopt.report.ops.rows_to_explain`), the measurement is the
device side's (`edgeopt.profile.ops`); this only chains the two for `run_recipe` (and for `edgeopt
search`, on its reference and chosen rows), so results.json and report.md carry the per-op tables
of the rows a reader looks at first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from edgeopt.common.row import Row
from edgeopt.profile.ops import OPS_KEY, attach_op_times
from edgeopt.report.ops import rows_to_explain
from edgeopt.run.recipe import Recipe


def explain_rows(rows: list[Row], recipe: Recipe, out_dir: Path, log_fn: Callable[[str], None]) -> None:
    """Put `op_times` on the baseline and the best rows within budget, when the recipe asks (`profile.ops`)."""
    if not recipe.profile.ops:
        return
    names = rows_to_explain(rows, recipe.baseline, recipe.accuracy_budget)
    explain_named_rows(rows, names, out_dir, log_fn, runs=recipe.profile.runs, warmup=recipe.profile.warmup,
                       threads=recipe.profile.threads)


def explain_named_rows(rows: list[Row], names: list[str], out_dir: Path, log_fn: Callable[[str], None],
                       **settings) -> None:
    """Put `op_times` on the rows named (paths relative to `out_dir`); notes for what could not be timed.

    `settings`: `runs`, `warmup`, `threads` as for `edgeopt.profile.ops.attach_op_times`.
    """
    if not names:
        return
    log_fn("where the time goes (docs/where-time-goes.md):")
    # A row reused unchanged from the last run brings the op times measured with it (run/profiling.py
    # keeps them in the step's profile.json): timing its ops again would only cost time.
    reused = [row.name for row in rows if row.name in names and row.extra.get(OPS_KEY)]
    if reused:
        log_fn(f"  per-op times of {', '.join(reused)} unchanged, reusing them")
    for note in attach_op_times(rows, [n for n in names if n not in reused], lambda row: out_dir / row.path,
                                log_fn=log_fn, **settings):
        log_fn(f"note: {note}")
