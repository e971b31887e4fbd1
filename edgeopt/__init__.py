"""edgeopt: optimise CNNs for CPU-bound edge devices and measure what it buys.

Importing `edgeopt` is cheap and TensorFlow-free; the public API below is imported on first use,
and stages and layers import TensorFlow only when they run.

Example:
    >>> import edgeopt
    >>> recipe = edgeopt.load_recipe("recipes/quickstart.yaml", ["steps.base.epochs=1"])
    >>> result = edgeopt.run_recipe(recipe, "runs/quickstart")          # trains: TensorFlow now
    >>> row = edgeopt.profile_tflite("runs/quickstart/base_int8/model.tflite", runs=50)
    >>> row.latency_ms_p50, row.size_bytes
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Public name → the module that defines it; imported by __getattr__ on first access (PEP 562).
_API = {
    "load_recipe": "edgeopt.run.recipe",
    "parse_recipe": "edgeopt.run.recipe",
    "run_recipe": "edgeopt.run.pipeline",
    "profile_tflite": "edgeopt.profile",
    "profile_tflites": "edgeopt.profile",
    "Row": "edgeopt.common.row",
    "EdgeoptError": "edgeopt.common.errors",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'edgeopt' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
