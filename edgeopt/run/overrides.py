"""`--set KEY=VALUE`: change a recipe from the command line without editing its file.

Keys are dotted paths into the recipe; a step is addressed by its id (`steps.base.epochs=1`), so
reordering the file does not change what an override means. Values are parsed as YAML, exactly
as they would be written in the file (`1` is an int, `[fc1]` a list, `'1'` a string). The result
is validated like the file itself, so an override can never smuggle in what the file could not.
"""

from __future__ import annotations

import copy
from typing import Any, Sequence

import yaml

from edgeopt.common.errors import RecipeError, did_you_mean


def apply_overrides(raw: dict, overrides: Sequence[str], where: str) -> dict:
    """A copy of the parsed recipe `raw` with each `KEY=VALUE` override set.

    Example:
        >>> raw = {"steps": [{"id": "base", "stage": "train", "epochs": 8}]}
        >>> apply_overrides(raw, ["steps.base.epochs=1", "data.limit_train=2000"], "x.yaml")
        {'steps': [{'id': 'base', 'stage': 'train', 'epochs': 1}], 'data': {'limit_train': 2000}}

    Raises:
        RecipeError: An override is not `KEY=VALUE`, its value is not YAML, or its key names no
            step or passes through a value that is not a mapping.
    """
    result = copy.deepcopy(raw)
    for override in overrides:
        keys, value = _split(override, where)
        target, name = result, "the recipe"
        if keys[0] == "steps":
            if len(keys) < 3:
                raise RecipeError(f"{where}: --set {override}: a step is changed one key at a time: "
                                  "`--set steps.<id>.<key>=<value>`, e.g. steps.base.epochs=1.")
            steps = result.get("steps") if isinstance(result.get("steps"), list) else []
            ids = [s.get("id", s.get("stage")) for s in steps if isinstance(s, dict)]
            if keys[1] not in ids:
                raise RecipeError(f"{where}: --set {override}: no step has id {keys[1]!r}."
                                  f"{did_you_mean(keys[1], [str(i) for i in ids])} Steps: {', '.join(map(str, ids)) or 'none'}.")
            target, name, keys = [s for s in steps if isinstance(s, dict)][ids.index(keys[1])], f"step {keys[1]!r}", keys[2:]
        for depth, key in enumerate(keys[:-1]):
            inner = target.setdefault(key, {})
            if inner is None:  # `data:` left empty in the file reads as null: a mapping to fill
                inner = target[key] = {}
            if not isinstance(inner, dict):
                raise RecipeError(f"{where}: --set {override}: `{'.'.join(keys[:depth + 1])}` in {name} is "
                                  f"{inner!r}, not a mapping, so it has no key {keys[depth + 1]!r}.")
            target = inner
        target[keys[-1]] = value
    return result


def _split(override: str, where: str) -> tuple[list[str], Any]:
    key, sep, text = override.partition("=")
    keys = key.strip().split(".")
    if not sep or not all(keys):
        raise RecipeError(f"{where}: --set takes KEY=VALUE with a dotted key, e.g. --set steps.base.epochs=1 "
                          f"or --set data.limit_train=2000. Received: {override!r}")
    try:
        return keys, yaml.safe_load(text) if text.strip() else None
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        problem = getattr(exc, "problem", None) or exc
        raise RecipeError(f"{where}: --set {override}: the value does not parse as YAML ({problem}). "
                          "Quote it if it is text.") from None
