"""Helpers for tests that start real `edgeopt` processes and stop or race them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SLEEPY_CLI = REPO / "tests" / "sleepy_stage_cli.py"


def sleepy_recipe(folder: Path, seconds: float = 60, name: str = "sleepy") -> Path:
    """A recipe of two `sleepy` steps (the second takes `seconds`) on a tiny .npz beside it."""
    rng = np.random.default_rng(0)
    np.savez(folder / "d.npz", x_train=rng.integers(0, 255, (16, 8, 8), dtype=np.uint8), y_train=rng.integers(0, 3, 16),
             x_test=rng.integers(0, 255, (8, 8, 8), dtype=np.uint8), y_test=rng.integers(0, 3, 8))
    recipe = folder / f"{name}.yaml"
    recipe.write_text(f"""name: {name}
data: {{name: npz, path: d.npz}}
profile: {{energy: "off"}}
steps:
  - {{id: first, stage: sleepy, seconds: 0, profile: false}}
  - {{id: second, stage: sleepy, seconds: {seconds}, profile: false}}
""")
    return recipe


def start(*args, cli: Path | None = SLEEPY_CLI, cwd: Path = REPO, env: dict | None = None) -> subprocess.Popen:
    """Start `edgeopt ARGS` (with the sleepy stage, unless `cli` is None) as a real process."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", **(env or {})}
    command = [sys.executable, str(cli)] if cli else [sys.executable, "-m", "edgeopt.cli"]
    return subprocess.Popen(command + [str(a) for a in args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for_line(process: subprocess.Popen, needle: str, timeout_s: float = 600) -> list[str]:
    """Read the process's stderr until a line contains `needle`; return the lines read.

    The deadline guards against a hang, not a speed: a busy machine may take minutes to start
    TensorFlow."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            raise AssertionError(f"process ended before printing {needle!r}:\n" + "".join(lines))
        lines.append(line)
        if needle in line:
            return lines
    raise AssertionError(f"no {needle!r} within {timeout_s} s:\n" + "".join(lines))
