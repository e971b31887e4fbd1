"""examples/ stay true: each README's commands run as written, in a copy of the example folder.

`python` and `edgeopt` in the commands are this interpreter and `python -m edgeopt` with this
checkout on PYTHONPATH (small wrapper scripts first on PATH), so nothing is installed anywhere.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
import yaml

from edgeopt.run.recipe import load_recipe

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


def readme_commands(example: str) -> list[str]:
    """The lines of the README's first ```sh block."""
    text = (EXAMPLES / example / "README.md").read_text()
    block = re.search(r"```sh\n(.*?)```", text, re.S)
    assert block, f"examples/{example}/README.md has no ```sh block"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]


@pytest.fixture
def shell(tmp_path):
    """Run a README line with bash in a fresh copy of an example folder."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, command in (("python", f'exec "{sys.executable}" "$@"'),
                          ("edgeopt", f'exec "{sys.executable}" -m edgeopt "$@"')):
        (bin_dir / name).write_text(f"#!/bin/sh\n{command}\n")
        (bin_dir / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(REPO)}

    def copy(example: str) -> Path:
        folder = tmp_path / example
        shutil.copytree(EXAMPLES / example, folder, ignore=shutil.ignore_patterns(
            "runs", "reports", "images", "data.npz", "model.keras", "__pycache__"))
        return folder

    def run(folder: Path, line: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", "-c", line], cwd=folder, env=env, capture_output=True, text=True, timeout=900)

    return copy, run


def test_example_recipes_validate_and_the_workflow_calls_a_makefile_target(tmp_path):
    assert load_recipe(EXAMPLES / "ci" / "ci.yaml").checks.rows == ["base_int8"]
    # The recipe loads the model make_sample.py writes; validation wants it there, a Keras file.
    shutil.copy(EXAMPLES / "own_model" / "recipe.yaml", tmp_path / "recipe.yaml")
    (tmp_path / "model.keras").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))
    own = load_recipe(tmp_path / "recipe.yaml")
    assert [s.stage for s in own.steps] == ["load", "convert", "convert", "prune", "convert"]
    workflow = yaml.safe_load((EXAMPLES / "ci" / "github-workflow.yml").read_text())
    runs = [step["run"] for job in workflow["jobs"].values() for step in job["steps"] if "run" in step]
    targets = re.findall(r"^([a-z]+):", (EXAMPLES / "ci" / "Makefile").read_text(), re.M)
    assert "make gate" in runs and "gate" in targets
    for example in ("ci", "own_model"):
        assert readme_commands(example)


@pytest.mark.slow
def test_ci_example_gate_holds_then_fails_with_junit(shell):
    copy, run = shell
    folder = copy("ci")
    holds, fails = readme_commands("ci")
    result = run(folder, holds)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "4 checks on runs/ci/results.json: 4 passed, 0 failed" in result.stdout
    suite = ElementTree.parse(folder / "reports" / "edgeopt.xml").getroot().find("testsuite")
    assert suite.get("tests") == "4" and suite.get("failures") == "0"

    result = run(folder, fails)
    assert result.returncode != 0 and "FAIL  base_int8  size" in result.stdout
    assert "unchanged, reusing" in result.stdout + result.stderr  # the second make reuses every step
    suite = ElementTree.parse(folder / "reports" / "edgeopt.xml").getroot().find("testsuite")
    failed = [case.get("name") for case in suite.findall("testcase") if case.find("failure") is not None]
    assert failed == ["max_size_kib"]


@pytest.mark.slow
def test_own_model_example_runs_as_its_readme_says(shell):
    copy, run = shell
    folder = copy("own_model")
    outputs = {}
    for line in readme_commands("own_model"):
        result = run(folder, line)
        assert result.returncode == 0, f"{line}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        outputs[line.split()[0] + " " + line.split()[1]] = result.stdout
    assert (folder / "model.keras").is_file() and (folder / "data.npz").is_file()
    assert len(list((folder / "images").iterdir())) == 10
    for run_dir, data in (("own_model", "npz"), ("own_images", "image_folder")):
        document = yaml.safe_load((folder / "runs" / run_dir / "results.json").read_text())  # JSON is YAML
        assert [r["name"] for r in document["rows"]] == ["mine_float32", "mine_int8", "pruned_int8"]
        assert document["dataset"]["name"] == data
        assert all(r["accuracy"] > 0.8 for r in document["rows"])
    assert "PASS  mine_int8  accuracy drop below the baseline" in outputs["edgeopt check"]
    assert "mine_int8 profiled again with 200 runs" in outputs["python api.py"]
