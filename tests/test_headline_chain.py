"""The headline recipe's chain, reduced to tiny data, run through the CLI as a user would.

`recipes/fashion_full.yaml` itself takes ~15 minutes on full Fashion-MNIST; this runs the same
steps (same stages, same branches) on 600 UCI digits with one epoch each, and checks the
outputs a user reads: the table with a budget column, the best-row lines, results.json, report.md
and pareto.png — and that a second run reuses everything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def reduced_headline(tmp_path: Path) -> Path:
    recipe = yaml.safe_load((REPO / "recipes" / "fashion_full.yaml").read_text())
    recipe["data"] = {"name": "digits", "limit_train": 600, "limit_test": 200}
    recipe["profile"].update(runs=20, warmup=2)
    for step in recipe["steps"]:
        if step["stage"] == "train":
            step.update(architecture="small_cnn", epochs=12, batch_size=32, learning_rate=0.01)
        elif "epochs" in step:
            step["epochs"] = 1
        if step["stage"] == "lean_head":
            step["preserved"] = 4  # small_cnn's fc1 reads 16 features
        if step["stage"] == "prune":
            step["frequency"] = 2  # 19 steps an epoch here: the default 100 would never update the mask
        if "calibration_samples" in step:
            step["calibration_samples"] = 100
        if step["stage"] == "eliminate":
            step["layers"] = [name for name in step["layers"] if name != "conv3"]  # small_cnn has two convs
            if "max_accuracy_drop" in step:
                step["max_accuracy_drop"] = 0.2  # 200 test images after 12 epochs: one image is half a point
    path = tmp_path / "headline.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


@pytest.mark.slow
def test_the_headline_chain_runs_end_to_end_and_resumes(tmp_path):
    recipe, out = reduced_headline(tmp_path), tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "edgeopt.cli", "run", str(recipe), "--out", str(out)]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1200)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "within 1 pts" in first.stdout and "Lowest latency within 1 points" in first.stdout

    doc = json.loads((out / "results.json").read_text())
    steps = yaml.safe_load(recipe.read_text())["steps"]
    assert [r["name"] for r in doc["rows"]] == [s["id"] for s in steps if s.get("profile", True)]
    assert all(r["within_budget"] in (True, False) for r in doc["rows"])
    assert all(r["energy_source"] == "estimate" and r["energy_measured"] is False
               for r in doc["rows"] if r["format"] == "tflite")  # no meter on CI: labelled estimate
    chain = next(r for r in doc["rows"] if r["name"] == "chain_int8")
    assert chain["dtype"] == "int8" and chain["params"] < next(r for r in doc["rows"] if r["name"] == "base_int8")["params"]
    assert (out / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    assert "pareto.png" in (out / "report.md").read_text()

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.stderr.count("— unchanged, reusing") == len(steps)
    again = json.loads((out / "results.json").read_text())
    assert [r["accuracy"] for r in again["rows"]] == [r["accuracy"] for r in doc["rows"]]
