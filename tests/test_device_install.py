"""`pip install edgeopt` alone (no extras) profiles a run folder made by the full install.

Builds a fresh virtual environment from this checkout with no extras — what a Raspberry Pi gets —
checks that TensorFlow cannot be imported there, and runs the device walk-through in it. Slow
(a pip install, about a minute with pip's cache), so marked; `make test` and CI run it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shared_runs import TINY_DIGITS, run_shared

REPO = Path(__file__).resolve().parents[1]

def device_venv(tmp_path: Path) -> Path:
    """A venv holding `pip install <copy of this checkout>`: the package and its base dependencies only."""
    source = tmp_path / "src"
    source.mkdir()
    for item in ("edgeopt", "pyproject.toml", "README.md"):  # a copy: pip's build files stay out of the repo
        (shutil.copytree if (REPO / item).is_dir() else shutil.copy)(REPO / item, source / item)
    venv = tmp_path / "device-venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True, timeout=300)
    subprocess.run([venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    str(source)], check=True, timeout=900, env={**os.environ, "PIP_NO_INPUT": "1"})
    return venv


@pytest.mark.slow
def test_plain_install_has_no_tensorflow_and_profiles_a_run_folder(tmp_path, tmp_path_factory):
    # The session's tiny digits run, copied: this test adds devices/ and a report to it.
    shared = run_shared(TINY_DIGITS, tmp_path_factory, "tiny_device").out_dir
    host_run = Path(shutil.copytree(shared, tmp_path / "host" / "tiny_install"))
    board_run = Path(shutil.copytree(host_run, tmp_path / "board" / "tiny_install"))  # "rsync to the board"

    venv = device_venv(tmp_path)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    no_tf = subprocess.run([venv / "bin" / "python", "-c", "import tensorflow"], capture_output=True, text=True,
                           env=env, timeout=600)
    assert no_tf.returncode != 0 and "No module named 'tensorflow'" in no_tf.stderr

    edgeopt = str(venv / "bin" / "edgeopt")
    profiled = subprocess.run([edgeopt, "profile", board_run, "--device-name", "board"], capture_output=True,
                              text=True, env=env, cwd=tmp_path, timeout=600)
    assert profiled.returncode == 0, profiled.stderr
    device = json.loads((board_run / "devices" / "board.json").read_text())
    host = {row["name"]: row for row in json.loads((host_run / "results.json").read_text())["rows"]}
    assert [row["name"] for row in device["rows"]] == ["f32", "int8"]
    for row in device["rows"]:
        assert row["accuracy"] == host[row["name"]]["accuracy"]
    assert device["machine"]["packages"]["ai-edge-litert"] and "within 5 pts" in profiled.stdout

    # Training needs the extra: one sentence saying so, no ImportError.
    run = subprocess.run([edgeopt, "run", REPO / "recipes" / "quickstart.yaml", "--out", tmp_path / "nope"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 2 and "install edgeopt[train]" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "nope").exists()

    shutil.copytree(board_run / "devices", host_run / "devices")  # "copy devices/ back"
    reported = subprocess.run([edgeopt, "report", host_run], capture_output=True, text=True, env=env, timeout=300)
    assert reported.returncode == 0, reported.stderr
    assert "## board" in (host_run / "report.md").read_text()

    # The latency-table kit: written on the host, timed on the board without TensorFlow, and the
    # host's search then chooses by the board's table.
    from edgeopt.run.search.driver import search
    from edgeopt.run.search.options import search_options

    options = dict(model=host_run / "base" / "model.keras", data="digits", limit_train=600, limit_test=120,
                   budget=5, precisions=("float32", "int8"), time_limit_min=0.7, seed=1)
    host_search = tmp_path / "host" / "search"
    search(search_options(**options, kit_only=True), host_search, log_fn=lambda _: None)
    board_kit = Path(shutil.copytree(host_search / "kit", tmp_path / "board" / "kit"))
    timed = subprocess.run([edgeopt, "profile", board_kit], capture_output=True, text=True, env=env, cwd=tmp_path,
                           timeout=600)
    assert timed.returncode == 0, timed.stderr
    table = json.loads((board_kit / "latency_table.json").read_text())
    assert table["entries"] and all(entry["p50_ms"] > 0 for entry in table["entries"])
    assert table["machine"]["packages"]["ai-edge-litert"]
    chosen = search(search_options(**options, latency_table=board_kit / "latency_table.json"), host_search,
                    log_fn=lambda _: None)
    assert chosen.best is not None and "on the target's latency table" in chosen.trace["final"]["why"]
    assert chosen.best.extra["target_p50_ms"] > 0
