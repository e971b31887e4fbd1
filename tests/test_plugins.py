"""Third-party stages through the `edgeopt.stages` entry-point group, from really installed packages.

Two throw-away packages are written into tmp and installed with pip into a folder of their own
(`pip install --target`), never into the shared venv; the CLI runs in a subprocess with that
folder on PYTHONPATH, where importlib.metadata finds them as installed distributions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

GOOD_STAGE = '''
"""A plugin stage: copy the Keras model, noting a label — enough to prove it runs in a recipe."""
import shutil

from pydantic import Field

from edgeopt.stages import Artifact, StageParams, register_stage
from edgeopt.stages.registry import artifact_file


class TagParams(StageParams):
    label: str = Field("tagged", description="written into the step's info")


@register_stage("tag_model", params=TagParams, consumes="keras", produces="keras")
def tag_model(params, ctx, source):
    """Copy the model unchanged and record a label (a test plugin)."""
    ctx.log(f"  tag_model: {params.label}")
    path = artifact_file(ctx.out_dir, "keras")
    shutil.copyfile(source.path, path)
    return Artifact("keras", path, source.dtype, {"label": params.label})
'''


def write_package(root: Path, name: str, module: str, source: str) -> Path:
    folder = root / name
    (folder / module).parent.mkdir(parents=True, exist_ok=True)
    (folder / f"{module}.py").write_text(textwrap.dedent(source))
    (folder / "pyproject.toml").write_text(textwrap.dedent(f"""
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "{name}"
        version = "0.1"

        [project.entry-points."edgeopt.stages"]
        {module} = "{module}"

        [tool.setuptools]
        py-modules = ["{module}"]
        """))
    return folder


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("plugins")
    good = write_package(root, "edgeopt-tagger", "edgeopt_tagger", GOOD_STAGE)
    broken = write_package(root, "edgeopt-broken", "edgeopt_broken", "import a_module_that_is_not_installed\n")
    site = root / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(site), str(good), str(broken)],
                   check=True, capture_output=True, text=True, timeout=300)
    return site


def edgeopt_with(site: Path, *args, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(site)])}
    return subprocess.run([sys.executable, "-m", "edgeopt.cli", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_plugin_stage_is_listed_with_its_package_and_a_broken_one_is_one_warning(plugin_site):
    result = edgeopt_with(plugin_site, "stages")
    assert result.returncode == 0, result.stderr
    assert ("tag_model  (keras → keras)  Copy the model unchanged and record a label (a test plugin).  "
            "[edgeopt-tagger]") in result.stdout
    assert "label: str (default 'tagged')" in result.stdout
    assert "train  (→ keras)" in result.stdout and "[edgeopt]" in result.stdout  # built-ins still there
    warnings = [line for line in result.stderr.splitlines() if line.strip()]
    assert warnings == [
        "edgeopt: warning: plugin 'edgeopt_broken' of package 'edgeopt-broken' (edgeopt_broken) failed to import, "
        "so its stages are unavailable: ModuleNotFoundError: No module named 'a_module_that_is_not_installed'"]


def test_other_commands_work_beside_a_broken_plugin(plugin_site, tmp_path):
    assert edgeopt_with(plugin_site, "validate", "recipes/quickstart.yaml").returncode == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps:\n  - {stage: from_broken_plugin}\n")
    result = edgeopt_with(plugin_site, "validate", bad)
    assert result.returncode == 2 and "1 stage plugin(s) failed to import" in result.stderr


def test_plugin_stage_runs_in_a_recipe(plugin_site, tmp_path):
    recipe = tmp_path / "plugin.yaml"
    recipe.write_text(textwrap.dedent("""
        name: plugin
        data: {name: digits, limit_train: 300, limit_test: 100}
        profile: {runs: 5, warmup: 1, energy: model45}
        steps:
          - {id: base, stage: train, architecture: small_cnn, epochs: 1, profile: false}
          - {id: tagged, stage: tag_model, label: from-the-test, profile: false}
          - {id: tagged_int8, stage: convert, mode: int8, calibration_samples: 50}
        """))
    result = edgeopt_with(plugin_site, "run", recipe, "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr[-3000:]
    step = json.loads((tmp_path / "out" / "tagged" / "step.json").read_text())
    assert step["stage"] == "tag_model" and step["info"]["label"] == "from-the-test"
    rows = json.loads((tmp_path / "out" / "results.json").read_text())["rows"]
    assert [(r["name"], r["from"], r["dtype"]) for r in rows] == [("tagged_int8", "tagged", "int8")]
    assert rows[0]["accuracy"] is not None
