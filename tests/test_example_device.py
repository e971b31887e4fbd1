"""examples/device/walkthrough.sh does what docs/device.md says, on a tiny recipe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

TINY = """
name: tiny_walkthrough
seed: 2
data: {name: digits, limit_train: 300, limit_test: 100}
profile: {runs: 10, warmup: 1, energy: model45}
baseline: f32
accuracy_budget: 3.0
steps:
  - {id: base, stage: train, architecture: small_cnn, epochs: 2, batch_size: 32}
  - {id: f32, stage: convert, from: base, mode: float32}
  - {id: int8, stage: convert, from: base, mode: int8, calibration_samples: 40}
"""


@pytest.mark.slow  # trains, converts and profiles twice through subprocesses: minutes on 2 cores
def test_walkthrough_runs_copies_profiles_and_reports(tmp_path):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY)
    command = f"{sys.executable} -m edgeopt.cli"
    env = {**os.environ, "PYTHONPATH": str(REPO), "RECIPE": str(recipe), "HOST_EDGEOPT": command,
           "DEVICE_EDGEOPT": command, "DEVICE_NAME": "board", "DEVICE_THREADS": "2"}
    result = subprocess.run(["bash", REPO / "examples" / "device" / "walkthrough.sh", tmp_path / "work"], cwd=REPO,
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    host_run = tmp_path / "work" / "host" / "run"
    device = json.loads((host_run / "devices" / "board.json").read_text())
    assert device["settings"]["threads"] == 2 and [r["name"] for r in device["rows"]] == ["f32", "int8"]
    report = (host_run / "report.md").read_text()
    assert "## board" in report and "## Best within budget per machine" in report
    assert (tmp_path / "work" / "device" / "run" / "results.json").is_file()
