"""What users expect around the CLI: `python -m edgeopt`, shell completion, a lazy public API."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def python(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO), **env})


def test_python_dash_m_edgeopt_is_the_cli():
    result = python("-m", "edgeopt", "validate", "recipes/quickstart.yaml")
    assert result.returncode == 0 and "valid" in result.stdout
    assert python("-m", "edgeopt", "validate", "nope.yaml").returncode == 2


def test_shell_completion_is_installed_and_completes_commands_and_options():
    assert "--install-completion" in python("-m", "edgeopt", "--help").stdout
    script = python("-m", "edgeopt", "--show-completion", "bash")
    assert script.returncode == 0 and "_EDGEOPT_COMPLETE=complete_bash" in script.stdout
    command = python("-m", "edgeopt", _EDGEOPT_COMPLETE="complete_bash", COMP_WORDS="edgeopt ch", COMP_CWORD="1")
    assert command.stdout.split() == ["check"]
    option = python("-m", "edgeopt", _EDGEOPT_COMPLETE="complete_bash", COMP_WORDS="edgeopt check r --max-p",
                    COMP_CWORD="3")
    assert option.stdout.split() == ["--max-p50-ms"]


def test_public_api_is_importable_from_edgeopt_without_tensorflow():
    code = ("import sys, edgeopt\n"
            "from edgeopt import load_recipe, profile_tflite, run_recipe\n"
            "r = load_recipe('recipes/quickstart.yaml', ['steps.base.epochs=1'])\n"
            "assert r.step('base').params.epochs == 1\n"
            "assert callable(run_recipe) and callable(profile_tflite)\n"
            "assert {'load_recipe', 'run_recipe', 'profile_tflite'} <= set(dir(edgeopt))\n"
            "heavy = sorted(m for m in ('tensorflow', 'tf_keras', 'keras') if m in sys.modules)\n"
            "print('heavy:', heavy)\n")
    result = python("-c", code)
    assert result.returncode == 0, result.stderr
    assert "heavy: []" in result.stdout


def test_unknown_attribute_is_an_attribute_error():
    result = python("-c", "import edgeopt; edgeopt.nope")
    assert result.returncode == 1 and "AttributeError: module 'edgeopt' has no attribute 'nope'" in result.stderr
