"""Stages: import every module here so each registers itself in `STAGES`."""

import importlib
import pkgutil

from edgeopt.stages.registry import STAGES, Artifact, StageContext, StageParams, register_stage

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "registry":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["STAGES", "Artifact", "StageContext", "StageParams", "register_stage"]
