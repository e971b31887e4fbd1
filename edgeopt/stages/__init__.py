"""Stages: import every module here so each registers itself in `STAGES`, then the plugins' stages."""

import importlib
import pkgutil
import sys

from edgeopt.stages.plugins import ENTRY_POINT_GROUP, load_plugins
from edgeopt.stages.registry import STAGES, Artifact, StageContext, StageParams, register_stage

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in ("registry", "plugins"):
        importlib.import_module(f"{__name__}.{_module.name}")

PLUGIN_PROBLEMS: list[str] = load_plugins()  # after the built-ins: a plugin cannot take their names
for _problem in PLUGIN_PROBLEMS:
    print(f"edgeopt: warning: {_problem}", file=sys.stderr)

__all__ = ["ENTRY_POINT_GROUP", "PLUGIN_PROBLEMS", "STAGES", "Artifact", "StageContext", "StageParams",
           "register_stage"]
