"""The CIFAR-10 headline recipe, reduced to a tiny CIFAR-format folder the test writes, run
through the CLI as a user would: every technique branch of `recipes/cifar_full.yaml` runs and
lands in the table, the conv eliminations give physically narrower int8 models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cifar_fakes import write_cifar_folder

REPO = Path(__file__).resolve().parents[1]


def reduced_cifar(tmp_path: Path) -> Path:
    recipe = yaml.safe_load((REPO / "recipes" / "cifar_full.yaml").read_text())
    folder = write_cifar_folder(tmp_path / "cifar-10-batches-py", train_per_batch=60, test=80)
    recipe["data"] = {"name": "cifar10", "path": str(folder)}
    recipe["profile"].update(runs=10, warmup=2, energy="model45")
    for step in recipe["steps"]:
        for key in ("epochs", "finetune_epochs"):
            if step.get(key):
                step[key] = 1
        if "end_epoch" in step:
            step["end_epoch"] = 1
        if step["stage"] == "prune":
            step["frequency"] = 2  # 5 steps an epoch here: the default 100 would never update the mask
        if "calibration_samples" in step:
            step["calibration_samples"] = 60
        if "max_accuracy_drop" in step:
            step["max_accuracy_drop"] = 0.9  # random labels: any width is as good as another
            step["sweep_step"] = 16
    path = tmp_path / "cifar.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def _techniques(recipe: dict) -> set[str]:
    """What a recipe's steps do, by technique rather than by step name."""
    steps = {s["id"]: s for s in recipe["steps"]}
    found = set()
    for s in recipe["steps"]:
        stage, source = s["stage"], steps.get(s.get("from", ""), {})
        if stage in ("swap_fc", "lean_head", "prune"):
            found.add(stage)
        if stage == "eliminate":
            found.add("eliminate_conv" if any(name.startswith("conv") for name in s["layers"]) else "eliminate_fc")
            if source.get("stage") == "eliminate" and s.get("max_accuracy_drop"):
                found.add("conv_then_fc_elimination")
        if str(s.get("precision", "float32")) != "float32":
            found.add("mixed_precision")
        if stage == "prune" and source.get("stage") == "swap_fc":
            found.add("lightdense_prune_chain")
        if stage in ("swap_fc", "lean_head") and source.get("stage") == "eliminate":
            found.add(f"conv_then_{stage}")
        if stage == "convert":
            found.add(f"convert_{s['mode']}")
    return found


def test_cifar_recipe_carries_every_technique_of_the_fashion_recipe():
    fashion, cifar = (yaml.safe_load((REPO / "recipes" / name).read_text()) for name in ("fashion_full.yaml",
                                                                                        "cifar_full.yaml"))
    assert cifar["accuracy_budget"] == fashion["accuracy_budget"] == 1.0
    assert _techniques(fashion) <= _techniques(cifar)
    assert {"eliminate_conv", "eliminate_fc", "lightdense_prune_chain", "mixed_precision", "lean_head",
            "conv_then_swap_fc", "conv_then_lean_head", "conv_then_fc_elimination"} <= _techniques(cifar)


@pytest.mark.slow
def test_reduced_cifar_recipe_runs_every_branch(tmp_path):
    recipe, out = reduced_cifar(tmp_path), tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "edgeopt.cli", "run", str(recipe), "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "within 1 pts" in done.stdout
    doc = json.loads((out / "results.json").read_text())
    steps = yaml.safe_load(recipe.read_text())["steps"]
    assert [r["name"] for r in doc["rows"]] == [s["id"] for s in steps if s.get("profile", True)]
    rows = {r["name"]: r for r in doc["rows"]}
    base = rows["base_int8"]
    for name in ("conv_half_int8", "conv_half_ft_int8", "conv_fc_int8", "conv_lightdense_int8", "conv_lean_head_int8"):
        assert rows[name]["dtype"] == "int8" and rows[name]["macs"] < base["macs"] / 2, name
    half = json.loads((out / "conv_half_ft" / "step.json").read_text())
    assert half["info"]["after"]["conv_filters"] == {"conv1": 16, "conv2": 32, "conv3": 32}
    assert (out / "conv_sweep" / "tradeoff.csv").is_file()
