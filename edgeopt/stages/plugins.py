"""Third-party stages: packages declare modules under the `edgeopt.stages` entry-point group.

    [project.entry-points."edgeopt.stages"]
    my_stage = "my_pkg.stage"      # importing my_pkg.stage runs its @register_stage

Each module is imported once, when `edgeopt.stages` is; a stage it registers is listed by
`edgeopt stages` with the package it came from and is used in a recipe like a built-in one. A
plugin that fails to import (or registers a name already taken) is left out with one warning line
saying which and why: a broken third-party package must not take every command down with it.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

from edgeopt.stages.registry import STAGES, registering_for

ENTRY_POINT_GROUP = "edgeopt.stages"


def load_plugins() -> list[str]:
    """Import every `edgeopt.stages` entry point; return one problem line per plugin that failed.

    Example:
        >>> load_plugins()  # with no plugin installed
        []
    """
    problems = []
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        package = _package_of(entry)
        before = set(STAGES)
        try:
            with registering_for(package):
                entry.load()
        except Exception as exc:  # any failure inside third-party code: isolate it, say so
            for name in set(STAGES) - before:  # a half-imported module's stages are not trusted
                del STAGES[name]
            problems.append(f"plugin '{entry.name}' of package '{package}' ({entry.value}) failed to import, so its "
                            f"stages are unavailable: {type(exc).__name__}: {exc}")
    return problems


def _package_of(entry: EntryPoint) -> str:
    dist = getattr(entry, "dist", None)
    return dist.name if dist is not None else entry.value.split(":")[0].split(".")[0]
