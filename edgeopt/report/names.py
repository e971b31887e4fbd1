"""What a table calls a model file: short, unique, and the same file never twice.

`edgeopt profile a/x.tflite b/x.tflite` gives `a/x` and `b/x`; a run folder's step file
`runs/q/base_int8/model.tflite` is `base_int8`, the step it came from, not `model`.
"""

from __future__ import annotations

import os
from pathlib import Path

from edgeopt.common.errors import EdgeoptError

GENERIC_STEMS = {"model"}  # a name that says nothing: the folder around it does


def model_names(paths: list[Path]) -> list[str]:
    """The shortest names that tell `paths` apart, each the tail of its path without the suffix.

    Raises EdgeoptError when one file is given twice (two identical rows compare nothing).

    Example:
        >>> model_names([Path("runs/q/base_int8/model.tflite"), Path("vww.tflite")])
        ['base_int8', 'vww']
    """
    seen: dict[str, Path] = {}
    for path in paths:
        key = os.path.realpath(path)
        if key in seen:
            raise EdgeoptError(f"{path} is given twice" + (f" (as {seen[key]})" if str(seen[key]) != str(path) else "")
                               + ": each file makes one row. Give each model once.")
        seen[key] = path
    parts = [Path(os.path.normpath(p)).with_suffix("").parts for p in paths]
    depth = [2 if len(p) > 1 and p[-1] in GENERIC_STEMS else 1 for p in parts]
    while True:
        names = [_without_generic_tail("/".join(p[-d:])) for p, d in zip(parts, depth)]
        clashing = {n for n in names if names.count(n) > 1}
        if not clashing:
            return names
        grown = [d + 1 if n in clashing and d < len(p) else d for n, p, d in zip(names, parts, depth)]
        if grown == depth:  # the same tail all the way up (cannot happen for distinct files, kept safe)
            return [str(p) for p in paths]
        depth = grown


def _without_generic_tail(name: str) -> str:
    head, _, tail = name.rpartition("/")
    return head if head and tail in GENERIC_STEMS else name


def unrelated_reason(input_shapes: list[tuple | None]) -> str | None:
    """Why models with these input shapes are not versions of one model (so not ranked), or None."""
    known = {tuple(s[1:]) for s in input_shapes if s}  # the batch dimension aside
    if len(known) <= 1:
        return None
    return ("the models take different inputs (" + ", ".join("×".join(map(str, s)) for s in sorted(known))
            + "), so they are not versions of one model: the table gives each one's figures without ranking them")
